"""The watcher thread behind ``SecretStore.watch()``.

Three backends, chosen by :func:`~.options.resolve_watcher_mode` (argument, then
``RUNSECRETS_POLL``, then the platform), one module each:

- ``inotify`` (Linux): a blocking ``poll`` on an inotify descriptor (see ``inotify_ctypes.py``
  for why this is not watchfiles on Linux): no wake-ups while idle, events seen within
  microseconds.
- ``watchfiles`` (macOS, Windows, or on request): watchfiles' Rust notifier, with a short step
  and debounce instead of its 50 ms / 1.6 s defaults.
- ``poll``: a timer alone, when notifications are unavailable, their limit is exhausted, or
  polling is asked for.

Every backend watches directories, never single files (watching a symlinked file sees only the
first Kubernetes swap): each secrets directory, or its nearest existing ancestor while it is
missing, and the directory of every ``_FILE`` target. A slow timer re-reads everything even when
notifications work, because they get lost (NFS, SMB, FUSE, overflowing queues).
"""

from __future__ import annotations

import logging
import threading
import time

from ..._warn import warn
from ...exceptions import WatchFallbackWarning
from . import fork
from .backends import fallback_message, open_backend
from .outcomes import Outcome
from .poll import PollBackend
from .switching import NoSwitching, PromptSwitching

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .options import WatchOptions
    from .outcomes import Backend
    from .target import WatchTarget

logger = logging.getLogger("runsecrets.watch")

# How long the watcher waits after a re-read that raised before trying again.
_RETRY_AFTER_FAILURE = 1.0
#: The backup re-read (notifications working) waits at least this many times what the last
#: read of the files cost in CPU (at most ten intervals): at most 0.05% of a core, however
#: many secrets a store tracks.
BACKUP_COST_FACTOR = 2000.0


class Watcher:
    """The daemon thread that re-reads a store when its files change.

    Args:
        target: The store's side (its publisher), driven through public methods only.
        options: How to wait and re-read.
    """

    def __init__(self, target: WatchTarget, options: WatchOptions) -> None:
        self._target = target
        self._options = options
        self._backend: Backend | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._prompt = self._new_window()

    def _new_window(self) -> PromptSwitching | NoSwitching:
        return PromptSwitching() if self._options.prompt_switching else NoSwitching()

    @property
    def mode(self) -> str:
        """``inotify``, ``watchfiles`` or ``poll`` while running, else ``stopped``."""
        backend = self._backend
        return backend.mode if backend is not None else "stopped"

    @property
    def thread_ident(self) -> int | None:
        """The watcher thread's identifier, while it runs."""
        thread = self._thread
        return thread.ident if thread is not None else None

    def end_window(self) -> None:
        """Close the work window early, before subscribers run (called from the watcher thread
        only): the application's callbacks must not run with the process switching fast."""
        if threading.get_ident() == self.thread_ident:
            self._prompt.end()

    def start(self, on_fallback: Callable[[str], None]) -> None:
        """Open the backend in the calling thread (a fall-back warns there), then start."""
        options = self._options
        self._stop_event = threading.Event()
        self._backend = open_backend(
            options.mode,
            self._target.watch_paths(),
            step=options.step,
            debounce=options.debounce,
            relevant=self._target.is_relevant,
            complete=self._target.covers_every_file,
            on_fallback=on_fallback,
            stop_event=self._stop_event,
        )
        self._thread = threading.Thread(target=self._run, name="runsecrets-watch", daemon=True)
        fork.started(self)
        self._thread.start()

    def stop(self, *, join: bool, timeout: float = 5.0) -> None:
        """Ask the thread to end; wait for it unless ``join`` is false or this is that thread."""
        self._stop_event.set()
        fork.stopped(self)
        backend, thread = self._backend, self._thread
        if backend is not None:
            backend.wake()
        if join and thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _interval(self, backend: Backend) -> float:
        options = self._options
        if backend.mode == "poll":
            return options.poll_interval
        # Lost events are rare with notifications: a big store is re-read less often rather
        # than cost more while idle (1,000 secrets: about every 25 s instead of 10 s), within
        # bounds: a lost event is still picked up within ten intervals.
        spaced = self._target.read_cost * BACKUP_COST_FACTOR
        backup = options.backup_poll_interval
        return min(max(backup, spaced), 10 * backup)

    def _run(self) -> None:
        stop_event = self._stop_event
        prompt = self._prompt
        try:
            with prompt:
                retry = self._refresh("start", stop_event)
            next_poll = time.monotonic() + self._interval(self._current_backend())
            while not stop_event.is_set():
                now = time.monotonic()
                deadline = next_poll if retry is None else min(next_poll, now + retry)
                try:
                    # The window opens at the event (or here, for a timer or a backend that
                    # reports only once its burst is over) and closes after the publish.
                    outcome = self._backend_wait(deadline - now, prompt.begin)
                    if stop_event.is_set() or outcome is Outcome.STOP:
                        break
                    if outcome is Outcome.IGNORED:
                        continue
                    prompt.begin()
                    if time.monotonic() >= next_poll:
                        next_poll = time.monotonic() + self._interval(self._current_backend())
                    reason = "poll" if outcome is Outcome.TIMEOUT else outcome.value
                    retry = self._refresh(reason, stop_event)
                finally:
                    prompt.end()
        finally:
            prompt.end()
            backend, self._backend = self._backend, None
            if backend is not None:
                backend.close()

    def _current_backend(self) -> Backend:
        backend = self._backend
        assert backend is not None
        return backend

    def _backend_wait(self, timeout: float, on_event: Callable[[], None]) -> Outcome:
        backend = self._current_backend()
        try:
            return backend.wait(max(0.0, timeout), on_event)
        except Exception as e:  # noqa: BLE001  never leave a dead watcher behind: poll from now on
            self._fall_back(f"secret watcher: {backend.mode} failed ({type(e).__name__})")
            return Outcome.CHANGED

    def _reread(self, reason: str) -> float | None:
        try:
            return self._target.refresh_for_watcher(reason)
        except Exception as e:  # noqa: BLE001  the thread must outlive any one bad read
            # The type only: a message might quote what was read.
            logger.error("secret watcher: re-read failed (%s); retrying", type(e).__name__)
            self._target.note_problem(f"re-read failed ({type(e).__name__})")
            return _RETRY_AFTER_FAILURE

    def _refresh(self, reason: str, stop_event: threading.Event) -> float | None:
        retry = self._reread(reason)
        backend = self._backend
        if stop_event.is_set() or backend is None:
            return retry
        try:
            added = backend.arm(self._target.watch_paths())
        except OSError as e:
            self._fall_back(fallback_message(backend.mode, e))
            added = False
        if added and not stop_event.is_set():
            # Files may have arrived in a directory between the re-read and the new watch.
            retry = self._reread("rearm")
        return retry

    def _fall_back(self, message: str) -> None:
        logger.warning("%s", message)
        self._target.note_problem(message)
        old, self._backend = self._backend, PollBackend(self._stop_event)
        if old is not None:
            old.close()

    def restart_in_child(self) -> None:
        """In a forked child (the fork handler calls it): drop what the parent's thread left
        (it is gone, its descriptors are shared), then start afresh unless told not to."""
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.forget_after_fork()
        self._thread = None
        self._prompt = self._new_window()  # the old one's window died with the parent's thread
        rearm = self._options.rearm_after_fork
        self._target.after_fork_in_child(rearmed=rearm)
        if not rearm:
            fork.stopped(self)
            return
        self.start(on_fallback=lambda message: logger.warning("%s", message))


def warn_fallback(message: str) -> None:
    """Emit the fall-back as a :class:`WatchFallbackWarning` and a log record."""
    logger.warning("%s", message)
    warn(message, WatchFallbackWarning)
