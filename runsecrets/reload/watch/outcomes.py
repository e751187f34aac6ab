"""What a backend's wait ends with, and what a backend is."""

from __future__ import annotations

import enum

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Protocol


class Outcome(enum.Enum):
    """How :meth:`Backend.wait` ended."""

    #: Something relevant happened: re-read.
    CHANGED = "changed"
    #: A watched directory went away or events were lost: re-read and watch again.
    REARM = "rearm"
    #: Only writer debris moved: nothing to do.
    IGNORED = "ignored"
    #: Nothing happened before the timeout: the timer's re-read is due.
    TIMEOUT = "timeout"
    #: The watcher is stopping.
    STOP = "stop"


if TYPE_CHECKING:

    class Backend(Protocol):
        """One way of waiting for changes."""

        mode: str

        def arm(self, paths: Sequence[str]) -> bool:
            """Watch exactly ``paths``; whether a watch was added (then re-read)."""

        def wait(self, timeout: float, on_event: Callable[[], None]) -> Outcome:
            """Wait for a burst of events (``on_event`` at its start) or ``timeout``."""

        def wake(self) -> None:
            """End a :meth:`wait` now (from another thread)."""

        def close(self) -> None:
            """Release what it holds."""

        def forget_after_fork(self) -> None:
            """In a forked child: drop what is shared with the parent."""
