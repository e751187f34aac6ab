"""The uvicorn example, really run: two workers, TLS from secrets, a renewal under load."""

from __future__ import annotations

import os
import pickle
import sys
import time
from pathlib import Path

import pytest

from runsecrets.integrations.uvicorn import ssl_context_factory

from .._servers import EXAMPLES, free_port, load_example, running, server_env

pytest.importorskip("uvicorn")
pytest.importorskip("cryptography")

demo = load_example("demo_sidecar")


def test_renewed_certificate_reaches_every_worker(tmp_path: Path) -> None:
    """After a renewal, consecutive handshakes (spread over the workers) all get the new one."""
    secrets = tmp_path / "secrets"
    first = demo.renew(secrets)
    port = free_port()
    env = server_env(secrets, PORT=str(port))
    with running(
        [sys.executable, "serve.py"],
        port=port,
        ready_path="/",
        env=env,
        cwd=os.path.join(EXAMPLES, "uvicorn"),
        log_path=str(tmp_path / "uvicorn.log"),
        scheme="https",
    ) as server:
        pids: set[object] = set()
        for _ in range(200):  # bounded: the two workers share the socket
            pids.add(server.get("/")[1]["pid"])
            if len(pids) == 2:
                break
        assert len(pids) == 2, server.log()
        assert demo.served_serial(port) == first
        serial = demo.renew(secrets)
        deadline = time.monotonic() + 20
        while not all(demo.served_serial(port) == serial for _ in range(10)):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        assert server.process.poll() is None


def test_factory_pickles_as_its_arguments(tmp_path: Path) -> None:
    """uvicorn pickles its config for spawned workers: the factory survives, context unbuilt."""
    demo.renew(tmp_path)
    factory = ssl_context_factory("tls.crt", "tls.key")
    clone = pickle.loads(pickle.dumps(factory))  # noqa: S301  (our own bytes)
    assert repr(clone) == repr(factory)
    from runsecrets import Secrets

    context = ssl_context_factory(
        "tls.crt", "tls.key", secrets=Secrets([tmp_path]), watch=False
    ).get()
    assert context.material.serial_hex
