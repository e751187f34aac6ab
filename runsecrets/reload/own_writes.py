"""Which files this very process holds open for writing, and how fast a store may publish.

Two guards against a store feeding on itself. A file the process writes (its own log named by
``LOG_FILE``-like variable, a state file) is never a secret, and following it turns every
"secrets updated" log line into another change: one line became 1,100 publishes in 3 s. So a
store that chose its secrets by itself asks :func:`open_for_writing` about its files at the
first read, and about a file that keeps changing, and stops tracking those this process writes.
Where nothing can tell (no ``/proc``, or a writer in another process the app started),
:class:`PublishBudget` bounds how often the store publishes on its own initiative.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Set

    from .scan import Entry

    FileKey = tuple[int, int]  # (st_dev, st_ino)

_PROC_SELF = "/proc/self/" if sys.platform.startswith("linux") else None
_WRITE_MODES = (os.O_WRONLY, os.O_RDWR)

#: Publishes a store may make on its own initiative at once, then per second (a token bucket):
#: far above any real rotation (and the benchmarks' 33 a second), far below a feedback loop.
PUBLISH_BURST = 100
PUBLISH_RATE = 50.0


def open_for_writing(keys: Set[FileKey]) -> set[FileKey]:
    """The files among ``keys`` that a descriptor of this process has open for writing.

    One ``stat`` per open descriptor, and the descriptor's flags read for a match only; an
    empty set where the platform cannot tell (no ``/proc``).
    """
    if _PROC_SELF is None or not keys:
        return set()
    try:
        fds = os.listdir(_PROC_SELF + "fd")
    except OSError:
        return set()
    found: set[FileKey] = set()
    for fd in fds:
        try:
            st = os.stat(f"{_PROC_SELF}fd/{fd}")
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, for one)
        key = (st.st_dev, st.st_ino)
        if key in keys and key not in found and _writable(fd):
            found.add(key)
    return found


def _writable(fd: str) -> bool:
    try:
        with open(f"{_PROC_SELF}fdinfo/{fd}", encoding="ascii") as info:
            for line in info:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE in _WRITE_MODES
    except (OSError, ValueError, IndexError):
        pass
    return False


class PublishBudget:
    """How often a store may publish on its own initiative: :data:`PUBLISH_BURST` at once, then
    :data:`PUBLISH_RATE` a second (an explicit ``reload()`` is never held back).

    Attributes:
        storming: Whether a publish was held back and the budget has not filled up again since.
    """

    __slots__ = ("_stamp", "_tokens", "storming")

    def __init__(self) -> None:
        self._tokens = float(PUBLISH_BURST)
        self._stamp = time.monotonic()
        self.storming = False

    def take(self) -> float:
        """Spend one publish: 0.0 when it may go now, else the seconds until one may."""
        now = time.monotonic()
        self._tokens = min(PUBLISH_BURST, self._tokens + (now - self._stamp) * PUBLISH_RATE)
        self._stamp = now
        if self._tokens >= PUBLISH_BURST:
            self.storming = False  # calm for as long as a full burst takes to refill
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        self.storming = True
        return (1.0 - self._tokens) / PUBLISH_RATE


#: A name found changing fast is checked for being this process's own file at most this often.
CHURN_RECHECK = 10.0


class OwnFiles:
    """Finds the tracked files this process holds open for writing: never secrets.

    A store made without ``names`` asks about every file at its first read, then about the
    files that changed (since the pass before) three times within a second, each at most once
    every :data:`CHURN_RECHECK` seconds.
    """

    __slots__ = ("_churn",)

    def __init__(self) -> None:
        # Per name: when its current one-second window of changes started, and how many.
        self._churn: dict[str, tuple[float, int]] = {}

    def written_here(
        self, entries: Mapping[str, Entry], previous_pass: Mapping[str, Entry] | None
    ) -> list[str]:
        """The names among ``entries`` whose file this process writes: all of them asked
        about at the first read (``previous_pass`` ``None``), else those churning."""
        suspects = (
            list(entries) if previous_pass is None else self._churning(entries, previous_pass)
        )
        keys = {
            name: fingerprint[:2]
            for name in suspects
            if (fingerprint := entries[name].fingerprint) is not None
        }
        if not keys:
            return []
        own = open_for_writing(set(keys.values()))
        return [name for name, key in keys.items() if key in own]

    def _churning(
        self, entries: Mapping[str, Entry], previous_pass: Mapping[str, Entry]
    ) -> list[str]:
        now = time.monotonic()
        churning = []
        for name, entry in entries.items():
            before = previous_pass.get(name)
            if before is None or before is entry or before.raw == entry.raw:
                continue
            started, count = self._churn.get(name, (now, 0))
            if now - started > 1.0:
                started, count = now, 0
            count += 1
            if count == 3:
                # Asked about once per window, and the window then lasts CHURN_RECHECK
                # seconds: a file someone else rotates this fast is not asked about each time.
                churning.append(name)
                started = now + CHURN_RECHECK - 1.0
            self._churn[name] = (started, count)
        return churning
