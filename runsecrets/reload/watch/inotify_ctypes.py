"""Linux inotify through ctypes: a watcher thread that sleeps in ``poll`` until something happens.

Why not watchfiles here: its Rust side has no blocking wait, so the Python side wakes every
``step`` milliseconds to collect events. Measured on the reference machine, each wake-up costs
about 60 us of CPU, so a 5 ms step (needed for a 10 ms median latency) burns about 1% of a core
while nothing happens, ten times the idle budget. A blocking ``poll`` on the inotify descriptor
costs nothing while idle and wakes within microseconds of an event. watchfiles remains the
watcher on other platforms (see ``thread.py``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = 0o2000000

#: Everything that can change what a directory's entries resolve to.
DIRECTORY_MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
#: Events saying the watch itself is gone or unreliable: the watch set must be rebuilt.
REARM_MASK = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)


def _libc() -> ctypes.CDLL:
    # dlopen(NULL) finds the C library's symbols with glibc and musl alike.
    return ctypes.CDLL(None, use_errno=True)


class Inotify:
    """One inotify instance: add and remove directory watches, read pending events.

    Raises:
        OSError: The kernel refused (``EMFILE``: the per-user instance limit is reached;
            ``ENOSYS``: no inotify). ``add`` raises ``ENOSPC`` when the watch limit is reached.
    """

    def __init__(self) -> None:
        self._libc = _libc()
        fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_init1: {os.strerror(code)}")
        self.fd: int = fd

    def add(self, path: str) -> int:
        """Watch the directory ``path``; returns the watch descriptor."""
        wd = int(self._libc.inotify_add_watch(self.fd, os.fsencode(path), DIRECTORY_MASK))
        if wd < 0:
            code = ctypes.get_errno()
            message = os.strerror(code)
            if code == errno.ENOSPC:
                message = "the inotify watch limit (fs.inotify.max_user_watches) is reached"
            raise OSError(code, f"inotify_add_watch: {message}", path)
        return wd

    def remove(self, wd: int) -> None:
        """Stop watching (errors ignored: the kernel may have dropped the watch already)."""
        self._libc.inotify_rm_watch(self.fd, wd)

    def read(self) -> list[tuple[int, int, str]]:
        """Every pending event as ``(wd, mask, name)``; empty when none is pending."""
        events: list[tuple[int, int, str]] = []
        while True:
            try:
                buffer = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            offset = 0
            while offset < len(buffer):
                wd, mask, _cookie, length = _HEADER.unpack_from(buffer, offset)
                offset += _HEADER.size
                raw_name = buffer[offset : offset + length].split(b"\0", 1)[0]
                offset += length
                events.append((wd, mask, os.fsdecode(raw_name)))

    def close(self) -> None:
        """Close the descriptor (the kernel drops every watch)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
