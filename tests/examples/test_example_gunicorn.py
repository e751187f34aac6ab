"""The gunicorn example, really run: two workers, TLS, a token and a certificate rotated."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runsecrets.testing import write_rename

from .._servers import BIN, EXAMPLES, Server, free_port, load_example, running, server_env

pytest.importorskip("gunicorn")
pytest.importorskip("cryptography")

demo = load_example("demo_sidecar")
EXAMPLE = os.path.join(EXAMPLES, "gunicorn")


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


from contextlib import contextmanager  # noqa: E402


@contextmanager
def _gunicorn(
    tmp_path: Path, secrets: Path, config: str, scheme: str, token: str
) -> Iterator[Server]:
    port = free_port()
    env = server_env(secrets, PORT=str(port))
    command = [os.path.join(BIN, "gunicorn"), "-c", config, "app:application"]
    with running(
        command,
        port=port,
        ready_path="/",
        env=env,
        cwd=EXAMPLE,
        log_path=str(tmp_path / "gunicorn.log"),
        scheme=scheme,
        ready_headers={"Authorization": f"Bearer {token}"},
    ) as server:
        yield server


@pytest.fixture
def secrets(tmp_path: Path, sentinel: str) -> Path:
    """A certificate, its key and an API token."""
    directory = tmp_path / "secrets"
    demo.renew(directory)
    write_rename(directory / "api_token", sentinel)
    return directory


def _workers_answering(server: Server, token: str, version: int, workers: int = 2) -> bool:
    """Whether ``workers`` distinct workers answer with ``version`` and accept ``token``."""
    seen: set[object] = set()
    for _ in range(200):
        status, body = server.get("/", {"Authorization": f"Bearer {token}"})
        if status == 200 and body["version"] == version and body["authorized"]:
            seen.add(body["pid"])
            if len(seen) >= workers:
                return True
        elif status == 200 and body["version"] != version:
            return False
    return False


def test_rotation_reaches_every_worker_and_tls_follows(
    tmp_path: Path, secrets: Path, sentinel: str
) -> None:
    """Every worker re-armed its watcher; new handshakes get the renewed certificate."""
    config = os.path.join(EXAMPLE, "gunicorn.conf.py")
    with _gunicorn(tmp_path, secrets, config, "https", sentinel) as server:
        assert wait_until(lambda: _workers_answering(server, sentinel, 0)), server.log()
        assert server.log().count("re-armed 1 secret watcher(s)") >= 2
        new_token = sentinel + "-2"
        write_rename(secrets / "api_token", new_token)
        assert wait_until(lambda: _workers_answering(server, new_token, 1)), server.log()
        serial = demo.renew(secrets)
        # Each worker has its own context and watcher: ten handshakes in a row get the new one.
        assert wait_until(
            lambda: all(demo.served_serial(server.port) == serial for _ in range(10))
        ), server.log()
        assert sentinel not in server.log()


def test_missing_required_secret_stops_gunicorn_with_its_name(tmp_path: Path) -> None:
    """on_starting refuses to start and names the missing secret and where it looked."""
    import subprocess

    secrets = tmp_path / "secrets"
    demo.renew(secrets)  # TLS material present, api_token missing
    env = {
        "PATH": os.environ.get("PATH", ""),
        "RUNSECRETS_DIR": str(secrets),
        "PORT": str(free_port()),
    }
    result = subprocess.run(
        [os.path.join(BIN, "gunicorn"), "-c", "gunicorn.conf.py", "app:application"],
        env=env,
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "'api_token'" in result.stderr
    assert str(secrets / "api_token") in result.stderr


def test_restart_workers_on_reloads_workers_when_a_secret_changes(
    tmp_path: Path, sentinel: str
) -> None:
    """Without preload, a change of a restart_workers_on secret replaces every worker."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "api_token", sentinel)
    write_rename(secrets / "app_mode", "blue")
    config = tmp_path / "restart.conf.py"
    config.write_text(
        "import os\n"
        "from runsecrets.integrations import gunicorn as runsecrets_hooks\n"
        "bind = f\"127.0.0.1:{os.environ['PORT']}\"\n"
        "workers = 2\n"
        "hooks = runsecrets_hooks.Hooks(restart_workers_on=['app_mode'])\n"
        "when_ready = hooks.when_ready\n"
        "on_exit = hooks.on_exit\n"
    )
    with _gunicorn(tmp_path, secrets, str(config), "http", sentinel) as server:
        pids = _pids(server, sentinel)
        write_rename(secrets / "app_mode", "green")
        assert wait_until(lambda: not (_pids(server, sentinel) & pids), timeout=30), server.log()
        assert "app_mode changed; reloading the workers" in server.log()


def _pids(server: Server, token: str) -> set[object]:
    return {server.get("/", {"Authorization": f"Bearer {token}"})[1]["pid"] for _ in range(20)}
