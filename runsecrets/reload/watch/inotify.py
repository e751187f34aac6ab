"""The Linux backend: inotify on each watched directory, a blocking ``poll`` with no periodic
wake-up (see ``inotify_ctypes.py`` for why this is not watchfiles on Linux)."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import time

from .inotify_ctypes import IN_CLOSE_WRITE, IN_IGNORED, IN_MOVED_TO, REARM_MASK, Inotify
from .outcomes import Outcome

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence, Set

    #: Whether files written completely (absolute paths) are all a rotation can change.
    CompleteTest = Callable[[Set[str]], bool]

#: The events that end a write: the file closed after writing, or renamed into place.
_WRITTEN = IN_CLOSE_WRITE | IN_MOVED_TO


class InotifyBackend:
    """Linux inotify on each watched directory; waits in ``poll`` with no periodic wake-up.

    Args:
        step: The quiet period that ends a burst of events, in seconds.
        debounce: The longest a burst is grouped before the store re-reads anyway.
        relevant: Whether an entry name matters (writer debris does not).
        complete: Whether the files a burst finished writing are every file the store reads:
            the burst then ends at once, there being nothing left to wait for (``None``:
            bursts end by their quiet period only).
    """

    mode = "inotify"

    def __init__(
        self,
        step: float,
        debounce: float,
        relevant: Callable[[str], bool],
        complete: CompleteTest | None = None,
    ) -> None:
        self._step = step
        self._debounce = debounce
        self._relevant = relevant
        self._complete = complete
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

    def wait(self, timeout: float, on_event: Callable[[], None]) -> Outcome:
        """Wait for a burst of events to end (or ``timeout``), then classify it.

        ``on_event`` is called as soon as the burst starts: the work window opens there.
        """
        ready = self._poller.poll(max(0.0, timeout) * 1000.0)
        if not ready:
            return Outcome.TIMEOUT
        if self._woken(ready):
            return Outcome.STOP
        on_event()
        events = self._inotify.read()
        written: set[str] = set()
        batch = events
        deadline = time.monotonic() + self._debounce
        while not self._completes(batch, written):
            remaining = min(self._step, deadline - time.monotonic())
            if remaining <= 0:
                break
            ready = self._poller.poll(remaining * 1000.0)
            if not ready:
                break
            if self._woken(ready):
                return Outcome.STOP
            batch = self._inotify.read()
            events.extend(batch)
        return self._classify(events)

    def _completes(self, batch: list[tuple[int, int, str]], written: set[str]) -> bool:
        """Whether the burst, with ``batch``, has finished writing every file the store reads
        (``written``: the paths finished by the batches before, brought up to date): the rest
        of the quiet period would then only delay the re-read."""
        complete = self._complete
        if complete is None:
            return False
        before = len(written)
        for wd, mask, name in batch:
            directory = self._paths_by_wd.get(wd)
            if mask & _WRITTEN and name and directory is not None:
                written.add(os.path.join(directory, name))
        return len(written) > before and complete(written)

    def _woken(self, ready: list[tuple[int, int]]) -> bool:
        return any(fd == self._wake_read for fd, _ in ready)

    def _classify(self, events: list[tuple[int, int, str]]) -> Outcome:

        outcome = Outcome.IGNORED
        for wd, mask, name in events:
            if mask & REARM_MASK:
                if mask & IN_IGNORED:
                    path = self._paths_by_wd.pop(wd, None)
                    if path is not None and self._watches.get(path, (None,))[0] == wd:
                        del self._watches[path]
                outcome = Outcome.REARM
            elif outcome == Outcome.IGNORED and (not name or self._relevant(name)):
                outcome = Outcome.CHANGED
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
