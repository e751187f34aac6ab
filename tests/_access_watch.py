"""Proving that code reads nothing: inotify's access events (any process), a disk-less block.

The kernel reports ``IN_OPEN`` and ``IN_ACCESS`` for each file in a watched directory (and for
the directory itself when it is listed), whoever opens it: the tests use this to prove that a
scrape reads no secret, in this process or in a sidecar's.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from runsecrets.reload.watch.inotify_ctypes import Inotify

IN_ACCESS = 0x00000001
IN_OPEN = 0x00000020


class AccessWatch:
    """Opens and reads in ``directories`` from now on; :meth:`events` drains them."""

    def __init__(self, *directories: Path) -> None:
        self._inotify = Inotify()
        libc = ctypes.CDLL(None, use_errno=True)
        for directory in directories:
            wd = libc.inotify_add_watch(
                self._inotify.fd, os.fsencode(directory), IN_OPEN | IN_ACCESS
            )
            if wd < 0:
                raise OSError(ctypes.get_errno(), "inotify_add_watch", str(directory))

    def events(self) -> list[tuple[int, str]]:
        """``(mask, name)`` of each open or read since the last call (name empty: the
        directory itself, listed)."""
        return [(mask, name) for _wd, mask, name in self._inotify.read()]

    def close(self) -> None:
        self._inotify.close()

    def __enter__(self) -> AccessWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def disk_forbidden() -> Iterator[None]:
    """In this process, every open, stat and directory listing raises for the block's length:
    code that works inside it reads nothing from the disk."""

    def no_disk(*args: object, **kwargs: object) -> None:
        raise AssertionError("the disk was touched")

    with pytest.MonkeyPatch.context() as patched:
        for module, name in (
            (os, "stat"),
            (os, "lstat"),
            (os, "listdir"),
            (os, "scandir"),
            (os, "open"),
            (builtins, "open"),
        ):
            patched.setattr(module, name, no_disk)
        yield
