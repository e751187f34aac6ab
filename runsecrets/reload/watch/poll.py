"""The backend without notifications: a timer alone."""

from __future__ import annotations

import threading

from .outcomes import Outcome

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


class PollBackend:
    """No notifications: the watcher thread sleeps until the next poll or until woken."""

    mode = "poll"

    def __init__(self, woken: threading.Event | None = None) -> None:
        self._woken = woken if woken is not None else threading.Event()

    def arm(self, paths: Sequence[str]) -> bool:
        """Nothing to arm."""
        return False

    def wait(self, timeout: float, on_event: Callable[[], None]) -> Outcome:
        """Sleep ``timeout`` seconds unless woken."""
        return Outcome.STOP if self._woken.wait(timeout) else Outcome.TIMEOUT

    def wake(self) -> None:
        """End a :meth:`wait` now."""
        self._woken.set()

    def close(self) -> None:
        """Nothing to release."""

    def forget_after_fork(self) -> None:
        """Nothing is shared with the parent."""
