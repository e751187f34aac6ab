"""The interpreter's thread switch interval, lowered during a watcher's work window (opt-in).

The switch interval is process-wide, so changing it is the application's business: a store
does it only when asked (``SecretStore(prompt_switching=True)``). See :class:`PromptSwitching`
for why a busy process may want it.
"""

from __future__ import annotations

import sys

from ..._forksafe import ForkSafeLock

#: The interpreter's thread switch interval during a watcher's work window, in seconds.
PROMPT_SWITCH_INTERVAL = 0.0002


class _SwitchState:
    """Process-wide bookkeeping behind :class:`PromptSwitching` (the interval is process-wide)."""

    def __init__(self) -> None:
        # A ForkSafeLock: its module's fork handler, registered on import before this module's
        # own (below), renews every such lock before the watchers restart in a child.
        self.lock = ForkSafeLock()
        self.users = 0
        self.saved: float | None = None  # the interval before the first user lowered it
        self.ours: float | None = None  # the interval set, to see whether someone changed it


_switch = _SwitchState()


class PromptSwitching:
    """Lower the interpreter's thread switch interval during a watcher's work window.

    Why: every system call of a re-read releases the GIL, and getting it back means waiting for
    the running thread to hand it over, which CPython asks for only after the switch interval
    (5 ms by default). With application threads busy in Python (readers calling ``get()`` in a
    loop), a re-read of a few dozen system calls then waits 5 ms per call: a rotation took
    hundreds of milliseconds to publish instead of a few. At 0.2 ms, the window costs the other
    threads more frequent hand-overs for a few milliseconds per rotation, nothing while idle.

    The tradeoff: the interval is process-wide, so every thread of the process switches more
    often during a window. The previous value is restored when the last window in the process
    ends (windows of several stores nest: a count under a lock), unless someone else changed the
    interval meanwhile, in which case theirs stays. Nothing changes when the interval is
    already at or below this one.

    ``begin()`` and ``end()`` are idempotent per object (an inotify backend begins at the first
    event, the watcher ends after the publish); it is also a context manager.
    """

    __slots__ = ("_active", "interval")

    def __init__(self, interval: float | None = None) -> None:
        # Read at each construction, not at import: a test may change the module's value.
        self.interval = PROMPT_SWITCH_INTERVAL if interval is None else interval
        self._active = False

    @property
    def active(self) -> bool:
        """Whether this object's window is open."""
        return self._active

    def begin(self) -> None:
        """Open the window (no-op when open)."""
        if self._active:
            return
        with _switch.lock:
            if _switch.users == 0:
                current = sys.getswitchinterval()
                if self.interval < current:
                    sys.setswitchinterval(self.interval)
                    _switch.saved = current
                    _switch.ours = sys.getswitchinterval()
            _switch.users += 1
            self._active = True

    def end(self) -> None:
        """Close the window (no-op when closed); the last one restores the interval."""
        if not self._active:
            return
        with _switch.lock:
            self._active = False
            _switch.users -= 1
            if _switch.users == 0:
                _restore_switch_interval()

    def __enter__(self) -> PromptSwitching:
        self.begin()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.end()


def _restore_switch_interval() -> None:
    # Called with the lock held (or in a child after fork, where no other thread exists).
    saved, ours = _switch.saved, _switch.ours
    _switch.saved = _switch.ours = None
    if saved is not None and sys.getswitchinterval() == ours:
        sys.setswitchinterval(saved)


def reset_switching_in_child() -> None:
    # A window open in the parent's watcher thread never ends in the child: that thread is gone.
    # (The lock is new already: see ``_forksafe``.)
    if _switch.users:
        _switch.users = 0
        _restore_switch_interval()


class NoSwitching:
    """The work window of a store that leaves the switch interval alone (the default)."""

    __slots__ = ()

    active = False

    def begin(self) -> None:
        """Nothing to do."""

    def end(self) -> None:
        """Nothing to do."""

    def __enter__(self) -> NoSwitching:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass
