"""Warnings attributed to the application's code, not to a line inside runsecrets, and said
once per file."""

from __future__ import annotations

import stat
import sys

from .exceptions import InsecurePermissionsWarning

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from collections.abc import Callable

#: Packages whose frames are skipped: runsecrets itself, and the libraries that call into it
#: (pydantic builds a settings source; the user's line is the ``Settings()`` call).
_LIBRARIES = ("runsecrets", "pydantic", "pydantic_core", "pydantic_settings")


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` with the stack level of the first frame outside those libraries.

    So the warning shows the application's line, and ``filterwarnings(..., module=...)`` with
    the application's module name applies, whichever public entry point led here.
    """
    import warnings

    level = 2  # 1 is this function; 2 its caller
    frame = sys._getframe(1)  # noqa: SLF001  (the caller's frame, without importing inspect)
    while frame.f_back is not None and _is_library(frame.f_globals.get("__name__", "")):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def _is_library(module: str) -> bool:
    return module.partition(".")[0] in _LIBRARIES


class WarnedFiles:
    """The files one resolver or store has already warned about, so a service polling a lax
    file logs one warning, not thousands.

    Each resolver and store owns one (no state is shared between instances), and it is bounded:
    past ``limit`` files the oldest are forgotten, so a directory churning through new inodes
    cannot grow it for ever. It holds (device, inode) pairs only, never content. A race between
    two threads can at worst warn twice, which is why no lock is taken.

    Attributes:
        report: Where a warning goes instead of ``warnings.warn`` (``None``: warned). A store
            sets it while its watcher thread reads: a warning raised there (``-W error``)
            would fail every re-read, and nobody would see it anyway.
    """

    __slots__ = ("_limit", "_seen", "report")

    def __init__(self, limit: int = 1024) -> None:
        self._limit = limit
        self._seen: dict[tuple[int, int], None] = {}
        self.report: Callable[[str], None] | None = None

    def first_time(self, key: tuple[int, int]) -> bool:
        """Whether ``key`` is new (it is remembered from now on)."""
        if key in self._seen:
            return False
        if len(self._seen) >= self._limit:
            # Dicts keep insertion order: the first key is the oldest.
            self._seen.pop(next(iter(self._seen)), None)
        self._seen[key] = None
        return True

    def __len__(self) -> int:
        return len(self._seen)


def warn_writable(
    path: str, name: str | None, st: os.stat_result, warned: WarnedFiles | None
) -> None:
    """Warn that the secret file at ``path`` is writable by its group or others, once per file
    for ``warned`` (through its ``report`` when it has one)."""
    if warned is not None and not warned.first_time((st.st_dev, st.st_ino)):
        return
    writers = [
        who
        for bit, who in ((stat.S_IWGRP, "its group"), (stat.S_IWOTH, "others"))
        if st.st_mode & bit
    ]
    message = (
        f"secret {name!r}: {path} is writable by {' and '.join(writers)} "
        f"(mode {stat.S_IMODE(st.st_mode):04o}); anyone with that access can replace it"
    )
    report = None if warned is None else warned.report
    if report is not None:
        report(message)
    else:
        warn(message, InsecurePermissionsWarning)
