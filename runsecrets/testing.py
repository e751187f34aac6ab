"""Helpers for your own tests and demos: write secrets the way real producers do.

Each writer reproduces one producer's exact sequence of file-system calls, so code that reads
or watches secrets can be tested against the real thing rather than a mock:

- :func:`write_rename`: Vault Agent, consul-template, cert renewers (temp file, then rename).
- :func:`write_in_place`: a naive writer (truncate, then write; readers can see it half done).
- :func:`kubernetes_swap`: the kubelet's atomic writer (timestamped directory, ``..data`` link).

:class:`SecretsDir` puts them together behind one object.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = ["SecretsDir", "kubernetes_swap", "write_in_place", "write_rename"]

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

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        kind = ", kubernetes=True" if self.kubernetes else ""
        return f"SecretsDir({str(self.path)!r}{kind})"
