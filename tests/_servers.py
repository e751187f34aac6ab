"""Running example servers for tests: start a command, wait for its port, stop it cleanly."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import ModuleType

from ._postgres import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
BIN = os.path.dirname(sys.executable)

__all__ = [
    "BIN",
    "EXAMPLES",
    "ROOT",
    "Server",
    "free_port",
    "get_json",
    "load_example",
    "running",
    "server_env",
]


def server_env(secrets_dir: str | os.PathLike[str], **extra: str) -> dict[str, str]:
    """A minimal environment for an example server: its secrets directory, unbuffered output
    (the test reads the log) and nothing of the test runner's own environment but ``PATH``."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "RUNSECRETS_DIR": os.fspath(secrets_dir),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (the examples directory is not a package)."""
    import sys

    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _unverified() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the examples' certificates are self-signed
    return context


def get_json(
    url: str, timeout: float = 10.0, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    """GET ``url`` and return ``(status, decoded JSON body)``; HTTP errors are returned too."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    context = _unverified() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class Server:
    """A server process started by :func:`running`."""

    def __init__(
        self, process: subprocess.Popen[bytes], port: int, log_path: str, scheme: str = "http"
    ) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.scheme = scheme

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def get(
        self, path: str, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, object]]:
        """GET ``path`` and return ``(status, JSON)``."""
        return get_json(self.url(path), headers=headers)

    def log(self) -> str:
        """Everything the server printed so far."""
        with open(self.log_path, errors="replace") as f:
            return f.read()


@contextmanager
def running(
    command: Sequence[str],
    *,
    port: int,
    ready_path: str,
    env: Mapping[str, str],
    cwd: str,
    log_path: str,
    timeout: float = 60.0,
    scheme: str = "http",
    ready_headers: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Start ``command``, wait until ``ready_path`` answers, yield, then SIGTERM and wait."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, port, log_path, scheme)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited with {process.returncode}:\n{server.log()}")
            try:
                server.get(ready_path, ready_headers)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"server not ready:\n{server.log()}") from None
                time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
