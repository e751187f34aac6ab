"""Helpers and fixtures for the SecretStore tests: self-checking values, writer processes, leaks.

Import the fixtures into a test module (``from ._store_fixtures import no_leaked_threads``): the
autouse fixture then checks every test of that module.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

WRITER_SCRIPT = Path(__file__).with_name("_store_writers.py")


def make_value(n: int, size: int = 40) -> str:
    """A value that proves itself whole: ``n:payload:crc32(payload):n``."""
    payload = (f"{n:x}" * (size // 2 + 1))[: size + n % 17]
    return f"{n}:{payload}:{zlib.crc32(payload.encode())}:{n}"


def is_whole(value: str) -> bool:
    """Whether ``value`` is exactly one value made by :func:`make_value`."""
    parts = value.split(":")
    if len(parts) != 4 or parts[0] != parts[3]:
        return False
    try:
        return zlib.crc32(parts[1].encode()) == int(parts[2])
    except ValueError:
        return False


def number(value: str) -> int:
    """The rotation number of a whole value."""
    return int(value.split(":", 1)[0])


def refuse_torn(snapshot: object) -> bool:
    """A store validator: every value in the snapshot must be whole."""
    return all(is_whole(v) for _, v in snapshot.items())  # type: ignore[attr-defined]


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` (a liveness bound, not a timing check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return bool(predicate())


def start_writer(
    style: str, directory: Path, names: list[str], count: int, interval: float = 0.002
) -> subprocess.Popen[bytes]:
    """Start a writer process (see ``_store_writers.py``); it exits after ``count`` rotations."""
    return subprocess.Popen(
        [
            sys.executable,
            str(WRITER_SCRIPT),
            style,
            str(directory),
            ",".join(names),
            str(count),
            str(interval),
        ],
        stdout=subprocess.PIPE,
    )


def finish_writer(process: subprocess.Popen[bytes]) -> str:
    """Wait for a writer and return what it printed (its timing lines)."""
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    return out.decode()


class Reader(threading.Thread):
    """Reads ``names`` from the store the whole time, counting values that are not whole."""

    def __init__(self, read: Callable[[], list[str]]) -> None:
        super().__init__(name="test-reader", daemon=True)
        self._read = read
        self.stop = threading.Event()
        self.reads = 0
        self.torn = 0
        self.mismatched = 0

    def run(self) -> None:
        while not self.stop.is_set():
            values = self._read()
            self.reads += 1
            if not all(is_whole(v) for v in values):
                self.torn += 1
            elif len({number(v) for v in values}) > 1:
                self.mismatched += 1

    def finish(self) -> None:
        self.stop.set()
        self.join(10)


def _os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread behind (Python's, and watchfiles' Rust threads)."""
    before = set(threading.enumerate())
    os_before = _os_threads()
    yield

    def settled() -> bool:
        return not (set(threading.enumerate()) - before) and _os_threads() <= os_before

    # A store closed from inside its own callback ends its thread just after: allow a moment.
    if not wait_for(settled, timeout=5.0):
        leaked = sorted(t.name for t in set(threading.enumerate()) - before)
        pytest.fail(
            f"leaked threads: {leaked}; OS threads {os_before} -> {_os_threads()}", pytrace=False
        )
