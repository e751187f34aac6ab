"""Helpers for your own tests and demos: write secrets the way real producers do, rotate
credentials the way operators do, and measure an application under load while they change.

Each writer reproduces one producer's exact sequence of file-system calls, so code that reads
or watches secrets can be tested against the real thing rather than a mock:

- :func:`write_rename`: Vault Agent, consul-template, cert renewers (temp file, then rename).
- :func:`write_in_place`: a naive writer (truncate, then write; readers can see it half done).
- :func:`kubernetes_swap`: the kubelet's atomic writer (timestamped directory, ``..data`` link).

:class:`SecretsDir` puts them together behind one object. For database and cache credentials:

- :func:`rotate_password`: one user whose password changes, the server and the file a moment
  apart, in either order (what the integrations' bounded retry must cover);
- :func:`switch_user`: the alternating-users rotation (a standby user gets a new password, the
  secrets switch user and password together, the old user is retired after a grace period);
- :class:`Load`: operations from several threads, each one timed, every failure counted.

Example, with your own app's engine::

    with Load(lambda: check_db(engine), threads=4) as load:
        time.sleep(0.5)
        start = load.mark()
        rotate_password(secrets, "n3w", set_on_server=lambda p: alter_user("app", p))
        end = load.mark()
        time.sleep(0.5)
    assert load.failures == []
    print(load.percentile(99, start, end), load.percentile(99, end=start))
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = [
    "Load",
    "SecretsDir",
    "kubernetes_swap",
    "rotate_password",
    "switch_user",
    "wait_until",
    "write_in_place",
    "write_rename",
]

#: The link the kubelet swaps on every update; each key links through it.
KUBERNETES_DATA_LINK = "..data"
_KUBERNETES_TMP_LINK = "..data_tmp"


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def write_rename(path: str | os.PathLike[str], value: str | bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` atomically: write a temporary file beside it, fsync, rename over it.

    The temporary name starts with a dot, as consul-template's does, so readers skip it.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, _as_bytes(value))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, target)


def write_in_place(
    path: str | os.PathLike[str], value: str | bytes, *, pause: float = 0.0, chunk: int = 0
) -> None:
    """Truncate ``path`` and write the new value into the same inode.

    Args:
        path: The file to rewrite.
        value: The new content.
        pause: Seconds to wait between the truncate and the write, so a reader can catch the
            file empty, as happens with real naive writers.
        chunk: Write in pieces of this many bytes (pausing ``pause`` between them) to expose a
            partly written file too; 0 writes everything at once.
    """
    data = _as_bytes(value)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if pause:
            time.sleep(pause)
        step = chunk or len(data) or 1
        for start in range(0, len(data), step):
            os.write(fd, data[start : start + step])
            if pause and start + step < len(data):
                time.sleep(pause)
    finally:
        os.close(fd)


def kubernetes_swap(directory: str | os.PathLike[str], files: Mapping[str, str | bytes]) -> None:
    """Publish ``files`` into ``directory`` exactly as the kubelet's atomic writer does.

    1. write every file into a new ``..<timestamp>`` directory;
    2. point a temporary link ``..data_tmp`` at it and rename that over ``..data`` (atomic);
    3. create ``key -> ..data/key`` links for new keys, remove the links of dropped keys;
    4. remove the previous timestamped directory.

    Readers of ``key`` see either the whole old set or the whole new set.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    data_link = root / KUBERNETES_DATA_LINK
    previous = os.readlink(data_link) if data_link.is_symlink() else None
    stamp = time.strftime("%Y_%m_%d_%H_%M_%S", time.gmtime())
    new_dir = root / f"..{stamp}.{time.monotonic_ns() % 10**9:09d}"
    new_dir.mkdir()
    for name, value in files.items():
        (new_dir / name).write_bytes(_as_bytes(value))
    tmp_link = root / _KUBERNETES_TMP_LINK
    if tmp_link.is_symlink():
        tmp_link.unlink()
    tmp_link.symlink_to(new_dir.name)
    os.replace(tmp_link, data_link)
    for name in files:
        key = root / name
        if not key.is_symlink():
            key.symlink_to(f"{KUBERNETES_DATA_LINK}/{name}")
    if previous is not None:
        old_dir = root / previous
        for entry in os.listdir(old_dir):
            if entry not in files and (root / entry).is_symlink():
                (root / entry).unlink()
        for entry in os.listdir(old_dir):
            (old_dir / entry).unlink()
        old_dir.rmdir()


class SecretsDir:
    """A secrets directory for tests and demos.

    Args:
        path: The directory (created if missing).
        kubernetes: Lay it out as a Kubernetes secret volume; every write is then a
            whole-volume :func:`kubernetes_swap`.

    Example::

        d = SecretsDir(tmp_path)
        d.write("db_password", "s3cret")                  # temp file + rename, atomic
        d.write("db_password", "n3w", style="in_place")   # truncate + write, same inode
    """

    def __init__(self, path: str | os.PathLike[str], *, kubernetes: bool = False) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.kubernetes = kubernetes
        self._current: dict[str, bytes] = {}

    def write(self, name: str, value: str | bytes, *, style: str = "rename") -> Path:
        """Write one secret with the given writer style (``rename`` or ``in_place``).

        In a Kubernetes directory every write is a full swap that keeps the other keys.
        """
        if self.kubernetes:
            self.write_all({**self._current, name: _as_bytes(value)})
            return self.path / name
        if style == "rename":
            write_rename(self.path / name, value)
        elif style == "in_place":
            write_in_place(self.path / name, value)
        else:
            raise ValueError(f"unknown writer style {style!r}: use 'rename' or 'in_place'")
        self._current[name] = _as_bytes(value)
        return self.path / name

    def write_all(self, files: Mapping[str, str | bytes]) -> None:
        """Replace the whole set of secrets (one atomic swap in a Kubernetes directory)."""
        values = {name: _as_bytes(value) for name, value in files.items()}
        if self.kubernetes:
            kubernetes_swap(self.path, values)
        else:
            for name in set(self._current) - set(values):
                (self.path / name).unlink(missing_ok=True)
            for name, value in values.items():
                write_rename(self.path / name, value)
        self._current = values

    def remove(self, name: str) -> None:
        """Remove one secret (a swap without it, in a Kubernetes directory)."""
        if self.kubernetes:
            self.write_all({k: v for k, v in self._current.items() if k != name})
        else:
            (self.path / name).unlink(missing_ok=True)
            self._current.pop(name, None)

    @property
    def current(self) -> dict[str, bytes]:
        """The secrets written through this object, as bytes."""
        return dict(self._current)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        kind = ", kubernetes=True" if self.kubernetes else ""
        return f"SecretsDir({str(self.path)!r}{kind})"


def wait_until(
    condition: Callable[[], object], timeout: float = 5.0, *, interval: float = 0.005
) -> None:
    """Poll ``condition()`` until it is true.

    Raises:
        TimeoutError: Still false after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition still false after {timeout}s")
        time.sleep(interval)


ROTATION_ORDERS = ("server_first", "file_first")


def rotate_password(
    secrets: SecretsDir,
    password: str,
    *,
    set_on_server: Callable[[str], object],
    secret: str = "db_password",  # noqa: S107  (a secret name)
    order: str = "server_first",
    gap: float = 0.2,
) -> None:
    """Rotate one user's password: the server and the file, ``gap`` seconds apart.

    Between the two steps the server and the file disagree, and a new connection's login is
    refused: what an application's retry must absorb. (Redis ACLs, which hold two passwords
    at once, need no such window: add the new one, write the file, remove the old one.)

    Args:
        secrets: The secrets directory the application reads.
        password: The new password.
        set_on_server: Gives the user ``password`` on the server (``ALTER ROLE ...``).
        secret: The password's secret name.
        order: ``"server_first"`` or ``"file_first"``.
        gap: Seconds between the two steps.
    """
    if order not in ROTATION_ORDERS:
        raise ValueError(f"order must be one of {ROTATION_ORDERS}, not {order!r}")

    def server() -> None:
        set_on_server(password)

    def file() -> None:
        secrets.write(secret, password)

    first, second = (server, file) if order == "server_first" else (file, server)
    first()
    time.sleep(gap)
    second()


def switch_user(
    secrets: SecretsDir,
    user: str,
    password: str,
    *,
    prepare: Callable[[str, str], object],
    retire: Callable[[], object] | None = None,
    user_secret: str = "db_user",  # noqa: S107  (a secret name)
    password_secret: str = "db_password",  # noqa: S107  (a secret name)
    grace: float = 1.0,
) -> None:
    """The alternating-users rotation (AWS Secrets Manager's): no login is ever refused.

    1. ``prepare(user, password)``: the standby ``user`` gets the new password (and may log in);
    2. both secrets switch together (the user's file first, so that a reader that sees only
       one of them sees a new user without its password, which the integrations refuse as
       half a rotation and keep the previous pair);
    3. after ``grace`` seconds, ``retire()`` disables the previous user.
    """
    prepare(user, password)
    secrets.write_all({**secrets.current, user_secret: user, password_secret: password})
    time.sleep(grace)
    if retire is not None:
        retire()


class Load:
    """Runs ``operation`` from ``threads`` threads until stopped, timing each call.

    Failures are recorded by type (``type(error).__name__``), never by message: a test that
    prints them cannot leak what a driver put in its text. Loops stop by themselves after
    ``max_seconds``.

    Attributes:
        failures: ``(when, error type)`` of each failed call (``time.monotonic()``).
        samples: ``(when it started, seconds it took)`` of each successful call.
    """

    def __init__(
        self, operation: Callable[[], object], *, threads: int = 4, max_seconds: float = 120.0
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.operation = operation
        self.failures: list[tuple[float, str]] = []
        self.samples: list[tuple[float, float]] = []
        self._max_seconds = max_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"load-{i}", daemon=True)
            for i in range(threads)
        ]

    def _run(self) -> None:
        deadline = time.monotonic() + self._max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                self.operation()
            except Exception as e:  # noqa: BLE001  (recorded: counting failures is the point)
                with self._lock:
                    self.failures.append((started, type(e).__name__))
            else:
                with self._lock:
                    self.samples.append((started, time.monotonic() - started))

    def start(self) -> Load:
        """Start the threads."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> Load:
        """Stop the threads and wait for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return self

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def mark() -> float:
        """Now, on the clock the samples use (to bound a window such as a rotation)."""
        return time.monotonic()

    @property
    def operations(self) -> int:
        """Successful calls so far."""
        return len(self.samples)

    def latencies(self, start: float | None = None, end: float | None = None) -> list[float]:
        """Durations of the calls running at some moment of ``[start, end)``, sorted.

        A call slowed by a rotation may have started before it: it counts in the window.
        """
        return sorted(
            took
            for when, took in self.samples
            if (start is None or when + took >= start) and (end is None or when < end)
        )

    def percentile(self, q: float, start: float | None = None, end: float | None = None) -> float:
        """The ``q``-th percentile latency (nearest rank) of the calls in ``[start, end)``."""
        values = self.latencies(start, end)
        if not values:
            raise ValueError("no call ran in that window")
        rank = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
        return values[rank]
