"""The child process of ``exec --restart-on-change``: starting it, signalling it, reaping it.

The child is started with ``posix_spawn``, never ``fork``: the supervisor has a watcher thread,
and forking a threaded interpreter can copy a lock held by that thread into a child that then
never gets it. ``posix_spawn`` runs no Python code between the fork and the ``exec``, and gives
the child the signal state a shell would: an empty signal mask, and ``SIGPIPE`` and ``SIGXFSZ``
(ignored by the interpreter at start-up) back at their default. A signal the caller ignored
(``nohup``'s ``SIGHUP``) stays ignored, as with plain ``exec``.

Each child leads a process group of its own, so that a restart stops all of it (a shell wrapper
and what it started), and so that a terminal's Ctrl-C reaches it once, not twice: when
runsecrets holds the terminal's foreground, it hands the foreground to the child's group.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from ._exec import INTERPRETER_IGNORED_SIGNALS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

#: ``prctl`` option making this process the reaper of its orphaned descendants (Linux 3.4+).
_PR_SET_CHILD_SUBREAPER = 36


class Child:
    """One run of the command.

    Attributes:
        pid: Its process id (also its process group's id).
        env: The environment it was started with.
        started_at: When it started (``time.monotonic()``).
        after_restart: Whether runsecrets started it to replace another (a restart).
        signalled: The signals forwarded to it.
    """

    __slots__ = ("after_restart", "env", "pid", "signalled", "started_at")

    def __init__(self, pid: int, env: dict[str, str], *, after_restart: bool) -> None:
        self.pid = pid
        self.env = env
        self.started_at = time.monotonic()
        self.after_restart = after_restart
        self.signalled: set[int] = set()

    def uptime(self) -> float:
        """Seconds since it started."""
        return time.monotonic() - self.started_at

    def send(self, signum: int) -> None:
        """Send ``signum`` to the child itself (not its group), as ``tini`` forwards."""
        self.signalled.add(signum)
        _kill(os.kill, self.pid, signum)

    def send_group(self, signum: int) -> bool:
        """Send ``signum`` to every process of the child's group; whether any was there."""
        return _kill(os.killpg, self.pid, signum)

    def end_group(self, timeout: float = 1.0) -> None:
        """Kill what is left of the child's group and reap it (it is this process's, as the
        subreaper), waiting at most ``timeout`` seconds: leaving, runsecrets must not hand
        zombies to an init that may never reap them."""
        deadline = time.monotonic() + timeout
        while self.send_group(signal.SIGKILL) and time.monotonic() < deadline:
            for _ in reap():
                pass
            time.sleep(0.005)

    def __repr__(self) -> str:
        return f"Child(pid={self.pid})"


def _kill(send: object, target: int, signum: int) -> bool:
    try:
        send(target, signum)  # type: ignore[operator]
    except (ProcessLookupError, PermissionError):
        return False  # gone already (a zombie not yet reaped still takes signals)
    return True


def spawn(command: Sequence[str], env: Mapping[str, str]) -> int:
    """Start ``command`` with ``env`` in a process group of its own; return its pid.

    The program is searched for in ``env``'s ``PATH``, as ``os.execvpe`` (plain ``exec``)
    searches it.

    Raises:
        FileNotFoundError: No such program on that ``PATH``.
        OSError: It exists but cannot be run (``PermissionError`` for one not executable).
    """
    program = command[0]
    defaults = [
        number
        for number in (getattr(signal, name, None) for name in INTERPRETER_IGNORED_SIGNALS)
        if number is not None and signal.getsignal(number) == signal.SIG_IGN
    ]
    options = {"setpgroup": 0, "setsigmask": (), "setsigdef": defaults}
    if os.path.dirname(program):
        return os.posix_spawn(program, list(command), dict(env), **options)  # type: ignore[arg-type]
    failure: OSError | None = None
    for directory in os.get_exec_path(env):
        path = os.path.join(directory, program)
        try:
            return os.posix_spawn(path, list(command), dict(env), **options)  # type: ignore[arg-type]
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as e:  # the first that exists but fails (EACCES), as execvp reports
            failure = failure or e
    raise failure or FileNotFoundError(program)


def exit_code(status: int) -> int:
    """A wait status as a shell shows it: the exit code, or 128 + the signal that killed it."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def reap() -> Iterator[tuple[int, int]]:
    """Every child that has ended, as ``(pid, wait status)``, without waiting: the command and
    any orphan handed to this process (PID 1, or a subreaper) alike, so none stays a zombie."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def become_subreaper() -> bool:
    """Make orphaned descendants this process's children (Linux), so that a restart or the
    end can stop what the command left behind and reap it. Whether it worked; PID 1 is the
    reaper of its namespace already."""
    if os.getpid() == 1:
        return True
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


class Terminal:
    """The controlling terminal's foreground, handed to each child's process group.

    Only when standard input is a terminal whose foreground is this process's group (``docker
    run -it``, or an interactive shell): the child can then read it, and Ctrl-C reaches the
    child alone. Anything else (no terminal, or runsecrets in the background) changes nothing.
    """

    __slots__ = ("_fd",)

    def __init__(self, fd: int = 0) -> None:
        self._fd: int | None = None
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                self._fd = fd
        except OSError:
            pass

    def give(self, pgid: int) -> None:
        """Make ``pgid`` the foreground; the group is continued in case it read the terminal
        in the moment before and was stopped for it."""
        if self._fd is not None:
            self._set(pgid)
            _kill(os.killpg, pgid, signal.SIGCONT)

    def take_back(self) -> None:
        """Make this process's group the foreground again (the child has ended)."""
        if self._fd is not None:
            self._set(os.getpgrp())

    def _set(self, pgid: int) -> None:
        assert self._fd is not None
        # A group outside the foreground changing it gets SIGTTOU unless it ignores it.
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(self._fd, pgid)
        except OSError:
            pass  # the group is gone already, or the terminal was closed
        finally:
            signal.signal(signal.SIGTTOU, previous)
