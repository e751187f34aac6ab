"""What wakes the supervisor's loop: signals, and the store's changes, through one pipe.

The loop sleeps in ``select`` on the pipe's reading end. ``signal.set_wakeup_fd`` makes the
interpreter write a byte there for every signal, in its C-level handler, whichever thread the
kernel chose; the Python-level handlers below only note the signal, and the loop acts on it.
The store's watcher thread writes a byte too after each publish. Nothing else wakes the loop
(no timer while idle).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from collections import deque

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType, TracebackType

#: The signals forwarded to the command (the usual ones an init forwards).
FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
)


class Wakeup:
    """A non-blocking pipe: :meth:`wait` sleeps until a byte arrives or the timeout passes."""

    def __init__(self) -> None:
        self._read, self.fd = os.pipe()
        for fd in (self._read, self.fd):
            os.set_blocking(fd, False)
        self._changed = threading.Event()

    def changed(self, changes: object = None) -> None:
        """Note a change and wake the loop (a store subscriber: runs in the watcher thread)."""
        self._changed.set()
        self.poke()

    def take_changed(self) -> bool:
        """Whether a change was noted since the last call."""
        if not self._changed.is_set():
            return False
        self._changed.clear()
        return True

    def poke(self) -> None:
        """Wake the loop."""
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is pending anyway
            os.write(self.fd, b"\0")

    def wait(self, timeout: float | None) -> None:
        """Sleep until woken or ``timeout`` seconds (``None``: no limit) have passed."""
        readable, _, _ = select.select([self._read], [], [], timeout)
        if readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._read, 4096):
                    pass

    def close(self) -> None:
        os.close(self._read)
        os.close(self.fd)

    def __enter__(self) -> Wakeup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ForwardedSignals:
    """The handlers for the forwarded signals and ``SIGCHLD``, installed while in use.

    A forwarded signal the caller ignored (``nohup``'s ``SIGHUP``) keeps being ignored, here
    and in the command, which inherits that. Everything is put back on exit: the handlers, the
    wake-up descriptor.
    """

    def __init__(self, wake: Wakeup) -> None:
        self._wake = wake
        self._received: deque[int] = deque()
        self._previous: dict[int, object] = {}
        self._previous_fd: int | None = None

    def __enter__(self) -> ForwardedSignals:
        self._previous_fd = signal.set_wakeup_fd(self._wake.fd, warn_on_full_buffer=False)
        for signum in (*FORWARDED, signal.SIGCHLD):
            if signum != signal.SIGCHLD and signal.getsignal(signum) == signal.SIG_IGN:
                continue
            self._previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        signal.set_wakeup_fd(-1 if self._previous_fd is None else self._previous_fd)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        if signum != signal.SIGCHLD:
            self._received.append(signum)

    def take(self) -> list[int]:
        """The forwarded signals received since the last call, in order."""
        taken = []
        while self._received:
            taken.append(self._received.popleft())
        return taken

    @contextlib.contextmanager
    def blocked(self) -> Iterator[None]:
        """Block these signals in this thread for the block's duration: a thread started
        inside inherits the mask, so the kernel delivers them to this (main) thread only."""
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, set(self._previous))
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
