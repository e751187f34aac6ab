"""The watchfiles backend: the only module that imports watchfiles (an adapter).

It drives watchfiles' Rust notifier directly, ``watchfiles._rust_notify.RustNotify``: a private
API, so the supported range is bounded in ``pyproject.toml`` (``watchfiles>=0.20,<2``) and the
compatibility suite runs the watcher tests at both ends. Everything it relies on is here:

- ``RustNotify(paths, debug, force_polling, poll_delay_ms, recursive, ignore_permission_denied)``
  and ``watch(debounce_ms, step_ms, timeout_ms, stop_event)``, which returns a set of
  ``(change, path)``, ``"timeout"`` or ``"stop"``; ``close()``.
- Its repr names the watcher kind: ``RustNotify(Poll...)`` when it fell back to polling.
"""

from __future__ import annotations

import errno
import os
import threading

from .outcomes import Outcome

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

#: The watchfiles versions this adapter is written for (``pyproject.toml`` says the same).
SUPPORTED = ">=0.20,<2"


class WatchfilesBackend:
    """watchfiles' Rust notifier, with a short step and debounce.

    Raises:
        OSError: Native notifications cannot start (watchfiles would silently poll instead).
    """

    mode = "watchfiles"

    def __init__(self, step: float, debounce: float, relevant: Callable[[str], bool]) -> None:
        from watchfiles._rust_notify import RustNotify

        self._rust_notify = RustNotify
        self._step_ms = max(1, round(step * 1000))
        self._debounce_ms = max(self._step_ms, round(debounce * 1000))
        self._relevant = relevant
        self._notify: RustNotify | None = None
        self._key: tuple[tuple[str, int, int], ...] | None = None
        self._paths: frozenset[str] = frozenset()
        self._stop = threading.Event()
        # After a fork the parent's notifier is left alone, never closed: its Rust thread did
        # not survive, and closing it could wait on state that thread held.
        self._abandoned: list[object] = []

    def arm(self, paths: Sequence[str]) -> bool:
        """Watch exactly ``paths`` (a new notifier when the set or a directory's inode changed)."""
        key = []
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            key.append((path, st.st_dev, st.st_ino))
        if tuple(key) == self._key:
            return False
        try:
            notify = self._rust_notify([k[0] for k in key], False, False, 300, False, False)
        except FileNotFoundError:
            return False  # a directory vanished meanwhile: the next re-read re-arms
        except RuntimeError as e:  # WatchfilesRustInternalError: the native watcher failed
            raise OSError(errno.EMFILE, str(e)) from e
        if repr(notify).startswith("RustNotify(Poll"):
            # watchfiles falls back to its own poller without saying so (ENOSYS); ours is
            # cheaper and compares content, so say it and use ours.
            notify.close()
            raise OSError(errno.ENOSYS, "watchfiles has no native notifications here")
        old, self._notify = self._notify, notify
        self._key = tuple(key)
        self._paths = frozenset(k[0] for k in key)
        if old is not None:
            old.close()
        return True

    def wait(self, timeout: float, on_event: Callable[[], None]) -> Outcome:
        """Let watchfiles group a burst of events (or time out), then classify it.

        The grouping happens in Rust, out of sight: the work window opens on return.
        """
        if self._notify is None:
            return Outcome.STOP if self._stop.wait(timeout) else Outcome.TIMEOUT
        result = self._notify.watch(
            self._debounce_ms, self._step_ms, max(1, round(timeout * 1000)), self._stop
        )
        if result == "stop" or self._stop.is_set():
            return Outcome.STOP
        if not isinstance(result, set):
            return Outcome.TIMEOUT
        outcome = Outcome.IGNORED
        for _change, path in result:
            if path in self._paths:
                return Outcome.REARM  # a watched directory itself changed (removed, moved)
            if outcome == Outcome.IGNORED and self._relevant(os.path.basename(path)):
                outcome = Outcome.CHANGED
        return outcome

    def wake(self) -> None:
        """End a :meth:`wait` within one step."""
        self._stop.set()

    def close(self) -> None:
        """Stop the Rust thread."""
        if self._notify is not None:
            self._notify.close()
            self._notify = None

    def forget_after_fork(self) -> None:
        """In a child: abandon the parent's notifier (see ``_abandoned``)."""
        if self._notify is not None:
            self._abandoned.append(self._notify)
        self._notify = None
        self._key = None
