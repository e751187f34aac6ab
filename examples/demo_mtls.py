"""``make demo``, mutual TLS part: a client and a server rotate their certificates under load.

A stand-in CA (``mtls/ca.py``) issues a server certificate and a client certificate from one
root. ``mtls/server.py`` requires client certificates (RotatingServerContext); ``mtls/client.py``
sends requests without pause from two threads (RotatingClientContext and httpx). Meanwhile the
CA renews both certificates three times, one file of each pair 50 ms before the other (the key
first, then the certificate first, in turn). Neither process is restarted; no request fails;
each thread sees the certificates in the order they were issued.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent / "mtls"
RENEWALS = 3


def _ca() -> object:
    spec = importlib.util.spec_from_file_location("example_mtls_ca", HERE / "ca.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _env(secrets: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "RUNSECRETS_DIR": str(secrets), "PYTHONUNBUFFERED": "1", **extra}


def run_demo() -> None:
    """Run the scenario and print what each side saw."""
    ca = _ca()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ca_dir, server_dir, client_dir = root / "ca", root / "server", root / "client"
        ca.init(ca_dir)  # type: ignore[attr-defined]
        issued = {
            role: [ca.issue(ca_dir, directory, role)]  # type: ignore[attr-defined]
            for role, directory in (("server", server_dir), ("client", client_dir))
        }
        server = subprocess.Popen(
            [sys.executable, str(HERE / "server.py")],
            env=_env(server_dir, PORT="0"),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        port = server.stdout.readline().split()[-1]
        seconds = 0.9 * (RENEWALS + 1)
        client = subprocess.Popen(
            [sys.executable, str(HERE / "client.py"), f"https://localhost:{port}/", str(seconds)],
            env=_env(client_dir),
            stdout=subprocess.PIPE,
            text=True,
        )
        for renewal in range(RENEWALS):
            time.sleep(0.8)
            key_first = renewal % 2 == 0
            for role, directory in (("server", server_dir), ("client", client_dir)):
                serial = ca.issue(ca_dir, directory, role, key_first=key_first)  # type: ignore[attr-defined]
                issued[role].append(serial)
        out, _ = client.communicate(timeout=60)
        server.terminate()
        server_out, _ = server.communicate(timeout=30)
    # Serials are long: each is shown by its role and issue number (S1, S2... C1, C2...).
    labels = {
        serial: f"{role[0].upper()}{number}"
        for role, serials in issued.items()
        for number, serial in enumerate(serials, 1)
    }
    print(f"server certificates issued: {' '.join(labels[s] for s in issued['server'])}")
    print(f"client certificates issued: {' '.join(labels[s] for s in issued['client'])}")
    for line in out.splitlines():
        head, _, serials = line.partition(": ")
        if head.startswith("thread "):
            line = f"{head}: {' '.join(labels.get(s, s) for s in serials.split())}"
        print(line)
    print(server_out.strip())
    print(f"exit codes: client {client.returncode}, server {server.returncode}")


if __name__ == "__main__":
    run_demo()
