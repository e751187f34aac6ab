"""Skip a test for want of a server binary, unless CI requires it (then fail)."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable

import pytest


def unavailable(message: str, require_env: str) -> None:
    """Skip with ``message``; fail instead when ``require_env`` is set to ``1`` (CI)."""
    if os.environ.get(require_env) == "1":
        pytest.fail(f"{message}; {require_env}=1 requires it")
    pytest.skip(message)


def require_program(name: str, require_env: str, package: str, *extra: str) -> str:
    """The path of program ``name`` (searched on ``PATH`` and in ``extra`` directories)."""
    path = shutil.which(name, path=os.pathsep.join((os.environ.get("PATH", ""), *extra)))
    if path is None:
        unavailable(f"{name} not found (apt-get install {package})", require_env)
    assert path is not None
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(
    ready: Callable[[], bool], timeout: float, what: str, log: Callable[[], str]
) -> None:
    """Poll ``ready()`` until it is true, or fail after ``timeout`` seconds with the log."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:.0f}s:\n{log()}")
        time.sleep(0.05)
