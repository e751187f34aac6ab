"""The watcher thread behind ``SecretStore.watch()``: backends, fall-backs, re-arming after fork.

This is the only module that imports watchfiles. Three backends, chosen by
:func:`resolve_watcher_mode` (argument, then ``RUNSECRETS_POLL``, then the platform):

- ``inotify`` (Linux): a blocking ``poll`` on an inotify descriptor (see ``_inotify.py`` for why
  this is not watchfiles on Linux): no wake-ups while idle, events seen within microseconds.
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

import contextlib
import errno
import logging
import os
import select
import sys
import threading
import time
import weakref

from ._forksafe import ForkSafeLock
from ._platform import current_platform, flag_value
from ._warn import warn
from .exceptions import WatchFallbackWarning

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Protocol

    class WatchTarget(Protocol):
        """What the watcher needs from a store."""

        def _refresh_for_watcher(self, reason: str) -> float | None: ...
        def _watch_paths(self) -> list[str]: ...
        def _last_read_cost(self) -> float: ...
        def _is_relevant(self, name: str) -> bool: ...
        def _after_fork_in_child(self, *, rearmed: bool) -> None: ...
        def _note_problem(self, problem: str) -> None: ...

    class Backend(Protocol):
        """One way of waiting for changes."""

        mode: str

        def arm(self, paths: Sequence[str]) -> bool: ...
        def wait(self, timeout: float, on_event: Callable[[], None]) -> str: ...
        def wake(self) -> None: ...
        def close(self) -> None: ...
        def forget_after_fork(self) -> None: ...


logger = logging.getLogger("runsecrets.watch")

WATCHER_MODES = ("auto", "inotify", "watchfiles", "poll")
#: A true value (``1``, ``yes``...: ``_platform.flag_value``) forces polling (events lost).
POLL_VARIABLE = "RUNSECRETS_POLL"
#: Defaults of the quiet period that ends a burst of events, per backend, in seconds.
DEFAULT_STEP = {"inotify": 0.002, "watchfiles": 0.005}

# What ``Backend.wait`` returns.
CHANGED = "changed"  # something relevant happened: re-read
REARM = "rearm"  # a watched directory went away or events were lost: re-read and re-watch
IGNORED = "ignored"  # only writer debris moved: nothing to do
TIMEOUT = "timeout"
STOP = "stop"

#: The interpreter's thread switch interval during a watcher's work window, in seconds.
PROMPT_SWITCH_INTERVAL = 0.0002
# How long the watcher waits after a re-read that raised before trying again.
_RETRY_AFTER_FAILURE = 1.0
#: The backup re-read (notifications working) waits at least this many times what the last
#: read of the files cost in CPU (at most ten intervals): at most 0.05% of a core, however
#: many secrets a store tracks.
BACKUP_COST_FACTOR = 2000.0


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
        # Read at each construction, not at import: a benchmark compares values in one run.
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


def _reset_switching_in_child() -> None:
    # A window open in the parent's watcher thread never ends in the child: that thread is gone.
    # (The lock is new already: see ``_forksafe``.)
    if _switch.users:
        _switch.users = 0
        _restore_switch_interval()


def resolve_watcher_mode(mode: str, environ: Mapping[str, str], platform: str | None = None) -> str:
    """Choose the backend: the argument, else ``RUNSECRETS_POLL``, else the platform's best.

    Raises:
        ValueError: ``mode`` is not one of :data:`WATCHER_MODES`.
    """
    if mode not in WATCHER_MODES:
        raise ValueError(f"unknown watcher {mode!r}: use one of {', '.join(WATCHER_MODES)}")
    if mode != "auto":
        return mode
    if flag_value(environ.get(POLL_VARIABLE)):
        return "poll"
    return "inotify" if current_platform(platform).startswith("linux") else "watchfiles"


def watch_paths(dirs: Iterable[str], file_targets: Iterable[str]) -> list[str]:
    """The directories to watch for ``dirs`` and the files named by ``_FILE`` variables.

    A missing directory is replaced by its nearest existing ancestor, so its creation is seen.
    A ``_FILE`` target adds its directory, and the directory of the file it links to when that
    lies elsewhere (a link into a renewer's output directory). Watches are not recursive.
    """
    wanted: list[str] = []
    for directory in dirs:
        wanted.append(_existing_ancestor(os.path.abspath(directory)))
    for target in file_targets:
        parent = _existing_ancestor(os.path.dirname(os.path.abspath(target)))
        wanted.append(parent)
        real_parent = os.path.dirname(os.path.realpath(target))
        # A Kubernetes key resolves into ``..<timestamp>/``, which changes with every swap;
        # the swap itself shows in the volume directory, watched already.
        swapped = os.path.basename(real_parent).startswith("..") and (
            os.path.dirname(real_parent) in wanted
        )
        if real_parent not in wanted and not swapped:
            wanted.append(_existing_ancestor(real_parent))
    return sorted(set(wanted))


def _existing_ancestor(path: str) -> str:
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


class PollBackend:
    """No notifications: the watcher thread sleeps until the next poll or until woken."""

    mode = "poll"

    def __init__(self, woken: threading.Event | None = None) -> None:
        self._woken = woken if woken is not None else threading.Event()

    def arm(self, paths: Sequence[str]) -> bool:
        """Nothing to arm."""
        return False

    def wait(self, timeout: float, on_event: Callable[[], None]) -> str:
        """Sleep ``timeout`` seconds unless woken."""
        return STOP if self._woken.wait(timeout) else TIMEOUT

    def wake(self) -> None:
        """End a :meth:`wait` now."""
        self._woken.set()

    def close(self) -> None:
        """Nothing to release."""

    def forget_after_fork(self) -> None:
        """Nothing is shared with the parent."""


class InotifyBackend:
    """Linux inotify on each watched directory; waits in ``poll`` with no periodic wake-up.

    Args:
        step: The quiet period that ends a burst of events, in seconds.
        debounce: The longest a burst is grouped before the store re-reads anyway.
        relevant: Whether an entry name matters (writer debris does not).
    """

    mode = "inotify"

    def __init__(self, step: float, debounce: float, relevant: Callable[[str], bool]) -> None:
        from ._inotify import Inotify

        self._step = step
        self._debounce = debounce
        self._relevant = relevant
        self._inotify = Inotify()
        self._wake_read = self._wake_write = -1
        try:
            self._wake_read, self._wake_write = os.pipe()
            os.set_blocking(self._wake_read, False)
            os.set_blocking(self._wake_write, False)
            self._poller = select.poll()
            self._poller.register(self._inotify.fd, select.POLLIN)
            self._poller.register(self._wake_read, select.POLLIN)
        except BaseException:
            # Out of descriptors after inotify_init (EMFILE): the caller falls back to polling,
            # and must not keep an inotify instance it can never close.
            self._inotify.close()
            for fd in (self._wake_read, self._wake_write):
                if fd >= 0:
                    os.close(fd)
            raise
        # Guards the wake-up descriptor: a wake racing a close must not write into a reused fd.
        self._fd_lock = threading.Lock()
        self._watches: dict[str, tuple[int, int, int]] = {}  # path -> (wd, st_dev, st_ino)
        self._paths_by_wd: dict[int, str] = {}

    def arm(self, paths: Sequence[str]) -> bool:
        """Watch exactly ``paths``; returns whether a watch was added (re-read after adding).

        Raises:
            OSError: The kernel refused a watch (``ENOSPC``: the watch limit is reached).
        """
        added = False
        wanted = set(paths)
        for path in list(self._watches):
            if path not in wanted:
                wd = self._watches.pop(path)[0]
                self._paths_by_wd.pop(wd, None)
                self._inotify.remove(wd)
        for path in wanted:
            try:
                st = os.stat(path)
            except OSError:
                continue  # gone again; the next re-read re-arms
            known = self._watches.get(path)
            if known is not None and known[1:] == (st.st_dev, st.st_ino):
                continue
            try:
                wd = self._inotify.add(path)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ENOTDIR):
                    continue
                raise
            self._watches[path] = (wd, st.st_dev, st.st_ino)
            self._paths_by_wd[wd] = path
            added = True
        return added

    def wait(self, timeout: float, on_event: Callable[[], None]) -> str:
        """Wait for a burst of events to end (or ``timeout``), then classify it.

        ``on_event`` is called as soon as the burst starts: the work window opens there.
        """
        ready = self._poller.poll(max(0.0, timeout) * 1000.0)
        if not ready:
            return TIMEOUT
        if self._woken(ready):
            return STOP
        on_event()
        events = self._inotify.read()
        deadline = time.monotonic() + self._debounce
        while True:
            remaining = min(self._step, deadline - time.monotonic())
            if remaining <= 0:
                break
            ready = self._poller.poll(remaining * 1000.0)
            if not ready:
                break
            if self._woken(ready):
                return STOP
            events.extend(self._inotify.read())
        return self._classify(events)

    def _woken(self, ready: list[tuple[int, int]]) -> bool:
        return any(fd == self._wake_read for fd, _ in ready)

    def _classify(self, events: list[tuple[int, int, str]]) -> str:
        from ._inotify import IN_IGNORED, REARM_MASK

        outcome = IGNORED
        for wd, mask, name in events:
            if mask & REARM_MASK:
                if mask & IN_IGNORED:
                    path = self._paths_by_wd.pop(wd, None)
                    if path is not None and self._watches.get(path, (None,))[0] == wd:
                        del self._watches[path]
                outcome = REARM
            elif outcome == IGNORED and (not name or self._relevant(name)):
                outcome = CHANGED
        return outcome

    def wake(self) -> None:
        """End a :meth:`wait` now (from another thread)."""
        with self._fd_lock:
            if self._wake_write < 0:
                return
            with contextlib.suppress(BlockingIOError):  # already woken: the pipe is full
                os.write(self._wake_write, b"x")

    def close(self) -> None:
        """Release the descriptors."""
        with self._fd_lock:
            fds = (self._wake_read, self._wake_write)
            self._wake_read = self._wake_write = -1
            self._inotify.close()
            for fd in fds:
                if fd >= 0:
                    os.close(fd)

    def forget_after_fork(self) -> None:
        """In a child: drop the descriptors inherited from the parent (the parent keeps its own)."""
        self._fd_lock = threading.Lock()  # the parent's may have been held by a vanished thread
        self.close()


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

    def wait(self, timeout: float, on_event: Callable[[], None]) -> str:
        """Let watchfiles group a burst of events (or time out), then classify it.

        The grouping happens in Rust, out of sight: the work window opens on return.
        """
        if self._notify is None:
            return STOP if self._stop.wait(timeout) else TIMEOUT
        result = self._notify.watch(
            self._debounce_ms, self._step_ms, max(1, round(timeout * 1000)), self._stop
        )
        if result == "stop" or self._stop.is_set():
            return STOP
        if not isinstance(result, set):
            return TIMEOUT
        outcome = IGNORED
        for _change, path in result:
            if path in self._paths:
                return REARM  # a watched directory itself changed (removed, moved)
            if outcome == IGNORED and self._relevant(os.path.basename(path)):
                outcome = CHANGED
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


def open_backend(
    mode: str,
    paths: Sequence[str],
    *,
    step: float | None,
    debounce: float,
    relevant: Callable[[str], bool],
    on_fallback: Callable[[str], None],
    stop_event: threading.Event | None = None,
) -> Backend:
    """Start the ``mode`` backend on ``paths``, or fall back to polling and say why.

    Args:
        mode: ``inotify``, ``watchfiles`` or ``poll``.
        paths: The directories to watch.
        step: The quiet period ending a burst (default per backend, see :data:`DEFAULT_STEP`).
        debounce: The longest a burst is grouped.
        relevant: Whether an entry name matters.
        on_fallback: Called with a message when notifications cannot be used.
        stop_event: The event that ends a poll backend's wait.
    """
    if mode == "poll":
        return PollBackend(stop_event)
    backend: Backend | None = None
    try:
        chosen_step = DEFAULT_STEP[mode] if step is None else step
        if mode == "inotify":
            backend = InotifyBackend(chosen_step, debounce, relevant)
        else:
            backend = WatchfilesBackend(chosen_step, debounce, relevant)
        backend.arm(paths)
    except (OSError, ImportError) as e:
        if backend is not None:
            backend.close()
        on_fallback(_fallback_message(mode, e))
        return PollBackend(stop_event)
    return backend


def _fallback_message(mode: str, error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        why = "the inotify watch limit (fs.inotify.max_user_watches) is reached"
    elif isinstance(error, OSError) and error.errno == errno.EMFILE:
        why = "no inotify instance is left (fs.inotify.max_user_instances) or no descriptor"
    else:
        why = f"{type(error).__name__}: {error}"
    return f"secret watcher: {mode} notifications unavailable ({why}); polling instead"


class Watcher:
    """The daemon thread that re-reads a store when its files change.

    Args:
        target: The store.
        mode: The resolved backend mode (see :func:`resolve_watcher_mode`).
        step: Quiet period ending a burst of events (seconds; ``None``: the backend's default).
        debounce: Longest grouping of a burst (seconds).
        poll_interval: Seconds between re-reads when polling alone.
        backup_poll_interval: Seconds between re-reads when notifications work (longer, up to
            ten times, for a store whose read costs more than ``1/BACKUP_COST_FACTOR`` of it).
        rearm_after_fork: Start a new watcher in a child process after ``os.fork()``.
    """

    def __init__(
        self,
        target: WatchTarget,
        *,
        mode: str,
        step: float | None,
        debounce: float,
        poll_interval: float,
        backup_poll_interval: float,
        rearm_after_fork: bool,
    ) -> None:
        self._target = target
        self._requested_mode = mode
        self._step = step
        self._debounce = debounce
        self._poll_interval = poll_interval
        self._backup_poll_interval = backup_poll_interval
        self._rearm_after_fork = rearm_after_fork
        self._backend: Backend | None = None
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._prompt = PromptSwitching()

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
        self._stop_event = threading.Event()
        self._backend = open_backend(
            self._requested_mode,
            self._target._watch_paths(),
            step=self._step,
            debounce=self._debounce,
            relevant=self._target._is_relevant,
            on_fallback=on_fallback,
            stop_event=self._stop_event,
        )
        self._thread = threading.Thread(target=self._run, name="runsecrets-watch", daemon=True)
        _running.add(self)
        self._thread.start()

    def stop(self, *, join: bool, timeout: float = 5.0) -> None:
        """Ask the thread to end; wait for it unless ``join`` is false or this is that thread."""
        self._stop_event.set()
        _running.discard(self)
        backend, thread = self._backend, self._thread
        if backend is not None:
            backend.wake()
        if join and thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _interval(self, backend: Backend) -> float:
        if backend.mode == "poll":
            return self._poll_interval
        # Lost events are rare with notifications: a big store is re-read less often rather
        # than cost more while idle (1,000 secrets: about every 25 s instead of 10 s), within
        # bounds: a lost event is still picked up within ten intervals.
        spaced = self._target._last_read_cost() * BACKUP_COST_FACTOR
        return min(max(self._backup_poll_interval, spaced), 10 * self._backup_poll_interval)

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
                    if stop_event.is_set() or outcome == STOP:
                        break
                    if outcome == IGNORED:
                        continue
                    prompt.begin()
                    if time.monotonic() >= next_poll:
                        next_poll = time.monotonic() + self._interval(self._current_backend())
                    retry = self._refresh({TIMEOUT: "poll"}.get(outcome, outcome), stop_event)
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

    def _backend_wait(self, timeout: float, on_event: Callable[[], None]) -> str:
        backend = self._current_backend()
        try:
            return backend.wait(max(0.0, timeout), on_event)
        except Exception as e:  # noqa: BLE001  never leave a dead watcher behind: poll from now on
            self._fall_back(f"secret watcher: {backend.mode} failed ({type(e).__name__})")
            return CHANGED

    def _reread(self, reason: str) -> float | None:
        try:
            return self._target._refresh_for_watcher(reason)
        except Exception as e:  # noqa: BLE001  the thread must outlive any one bad read
            # The type only: a message might quote what was read.
            logger.error("secret watcher: re-read failed (%s); retrying", type(e).__name__)
            self._target._note_problem(f"re-read failed ({type(e).__name__})")
            return _RETRY_AFTER_FAILURE

    def _refresh(self, reason: str, stop_event: threading.Event) -> float | None:
        retry = self._reread(reason)
        backend = self._backend
        if stop_event.is_set() or backend is None:
            return retry
        try:
            added = backend.arm(self._target._watch_paths())
        except OSError as e:
            self._fall_back(_fallback_message(backend.mode, e))
            added = False
        if added and not stop_event.is_set():
            # Files may have arrived in a directory between the re-read and the new watch.
            retry = self._reread("rearm")
        return retry

    def _fall_back(self, message: str) -> None:
        logger.warning("%s", message)
        self._target._note_problem(message)
        old, self._backend = self._backend, PollBackend(self._stop_event)
        if old is not None:
            old.close()

    def _restart_in_child(self) -> None:
        # Only the thread that called fork() survives in the child: this watcher's thread is
        # gone and its descriptors are shared with the parent. Drop them and start afresh.
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.forget_after_fork()
        self._thread = None
        self._prompt = PromptSwitching()  # the old one's window died with the parent's thread
        self._target._after_fork_in_child(rearmed=self._rearm_after_fork)
        if not self._rearm_after_fork:
            _running.discard(self)
            return
        self.start(on_fallback=lambda message: logger.warning("%s", message))


#: Watchers running in this process, for re-arming after fork (weak: a dropped store is gone).
_running: weakref.WeakSet[Watcher] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    _reset_switching_in_child()
    for watcher in list(_running):
        try:
            watcher._restart_in_child()
        except Exception as e:  # noqa: BLE001  a failure here must not break the child process
            logger.error("secret watcher: cannot restart after fork (%s)", type(e).__name__)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def warn_fallback(message: str) -> None:
    """Emit the fall-back as a :class:`WatchFallbackWarning` and a log record."""
    logger.warning("%s", message)
    warn(message, WatchFallbackWarning)
