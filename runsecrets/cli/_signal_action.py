"""``watch --signal``: find the process to signal, make sure it is the right one, signal it.

A sidecar often runs as root next to an app that runs as another user, so nothing that app
could write is taken on trust:

- A pid file must be a regular file that neither group nor others may write. When it is owned
  by neither root nor the watcher's own user, the process it names must belong to the file's
  owner (an app may name its own processes, not another user's). A process that started after
  the file was last written cannot be the one that wrote it: the pid was reused, and it is
  refused.
- The watcher never signals itself, nor PID 1 (the init of its PID namespace, which is rarely
  the app) unless ``--allow-pid-1`` is given.
- A name that matches several processes is refused unless ``--all`` is given; ``--full``
  matches the whole command line instead of the program's name.
- Each target is found with its start time and checked again right before the signal: a
  process that exited and whose pid was reused in between is not signalled. ``--pid`` is
  bound to the process that held the pid when the watch started.

Log lines name what was signalled: pid and command name.
"""

from __future__ import annotations

import os
import signal
import stat

from ..exceptions import ActionError
from ._process import Process, all_processes, process, same_process

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..reload.snapshot import Changes

#: A process may start up to this long (seconds) after its pid file's time and still be the
#: one that wrote it: ``btime`` is whole seconds, and wall clocks get adjusted.
_PIDFILE_SLACK = 1.0


def parse_signal(text: str) -> signal.Signals:
    """``HUP``, ``SIGHUP`` or ``1`` to a signal.

    Raises:
        ValueError: Not a signal of this platform.
    """
    name = text.strip().upper()
    if name.isdigit():
        return signal.Signals(int(name))
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return signal.Signals[name]
    except KeyError:
        raise ValueError(f"unknown signal {text!r}") from None


class PidFile:
    """What a pid file says, and who may have written it.

    Attributes:
        pid: The pid it holds.
        owner: Its owner's uid.
        mtime: When it was last written (``time.time()``).
    """

    __slots__ = ("mtime", "owner", "path", "pid")

    def __init__(self, path: str, pid: int, owner: int, mtime: float) -> None:
        self.path = path
        self.pid = pid
        self.owner = owner
        self.mtime = mtime

    def check(self, target: Process) -> None:
        """Refuse a target this file may not name.

        Raises:
            ActionError: The file's owner is another user than the target's (and neither root
                nor this watcher's), or the target started after the file was written.
        """
        trusted = (0, os.geteuid())
        if self.owner not in trusted and target.uid != self.owner:
            raise ActionError(
                f"pid file {self.path} is owned by uid {self.owner} but names process "
                f"{target.label} of uid {target.uid}: not signalled"
            )
        started = target.started_at()
        if started is not None and started > self.mtime + _PIDFILE_SLACK:
            raise ActionError(
                f"pid file {self.path} is older than process {target.label}, which started "
                "after the file was written: a stale pid file and a reused pid; not signalled"
            )


def read_pidfile(path: str) -> PidFile:
    """The pid in ``path`` (first line, surrounding space ignored), its owner and time.

    Raises:
        ActionError: Missing, unreadable, not a regular file, writable by group or others, or
            not holding a positive number.
    """
    try:
        # Non-blocking and checked: a FIFO at that path must not hang the action thread.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ActionError(f"pid file {path} is not a regular file")
            if info.st_mode & 0o022:
                raise ActionError(
                    f"pid file {path} is writable by group or others (mode "
                    f"{stat.S_IMODE(info.st_mode):04o}): anyone could point the signal "
                    "elsewhere; not trusted"
                )
            text = os.read(fd, 64).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
    except OSError as e:
        raise ActionError(f"cannot read pid file {path}: {e.strerror}") from e
    if not text.isdigit() or int(text) <= 0:
        raise ActionError(f"pid file {path} does not hold a process id")
    return PidFile(path, int(text), info.st_uid, info.st_mtime)


def processes_named(name: str, *, full: bool = False) -> list[Process]:
    """Processes other than this one whose command name or program file name is ``name``.

    With ``full``, those whose whole command line (arguments joined by spaces) is ``name``.
    """
    me = os.getpid()
    found = []
    for candidate in all_processes():
        if candidate.pid == me:
            continue
        if full:
            matches = " ".join(candidate.argv) == name
        else:
            # comm is cut at 15 characters, so a long name is matched on argv[0] too.
            program = os.path.basename(candidate.argv[0]) if candidate.argv else ""
            matches = name in (candidate.comm, program)
        if matches:
            found.append(candidate)
    return sorted(found, key=lambda p: p.pid)


class SignalAction:
    """Send a signal to the process given by pid, pid file or process name (see the module)."""

    def __init__(
        self,
        signum: signal.Signals,
        *,
        pid: int | None = None,
        pidfile: str | None = None,
        process_name: str | None = None,
        full: bool = False,
        all_matches: bool = False,
        allow_pid_1: bool = False,
    ) -> None:
        self.signum = signum
        self.pid = pid
        self.pidfile = pidfile
        self.process_name = process_name
        self.full = full
        self.all_matches = all_matches
        self.allow_pid_1 = allow_pid_1
        # --pid: the process that held it when the watch started.
        self._bound: Process | None = None if pid is None else process(pid)

    def startup_warnings(self) -> list[str]:
        """What is already wrong with the target when the watch starts (the watch goes on)."""
        if self.pid is not None and self._bound is None:
            return [f"process {self.pid} does not exist (yet)"]
        if self.process_name is not None and not self._named():
            return [f"no process matches {self._what()} (yet)"]
        return []

    def targets(self) -> list[Process]:
        """The processes to signal now, checked.

        Raises:
            ActionError: No target, an ambiguous name, or a target that may not be signalled.
        """
        if self.pid is not None:
            found = [self._by_pid()]
        elif self.pidfile is not None:
            pidfile = read_pidfile(self.pidfile)
            target = self._existing(pidfile.pid, f"pid file {self.pidfile}")
            pidfile.check(target)
            found = [target]
        else:
            found = self._named()
            if not found:
                raise ActionError(f"no process matches {self._what()}")
            if len(found) > 1 and not self.all_matches:
                listed = ", ".join(p.label for p in found)
                raise ActionError(
                    f"{len(found)} processes match {self._what()} ({listed}): none signalled; "
                    "narrow it (--full matches the whole command line) or give --all"
                )
        for target in found:
            self._check(target)
        return found

    def __call__(self, changes: Changes) -> str:
        sent = []
        for target in self.targets():
            if not same_process(target):
                raise ActionError(
                    f"process {target.label} exited or its pid was reused before the signal: "
                    "not signalled"
                )
            try:
                os.kill(target.pid, self.signum)
            except ProcessLookupError as e:
                raise ActionError(f"process {target.label} does not exist") from e
            except PermissionError as e:
                raise ActionError(f"not allowed to signal process {target.label}") from e
            sent.append(target.label)
        return f"sent {self.signum.name} to {', '.join(sent)}"

    def _by_pid(self) -> Process:
        assert self.pid is not None
        if self._bound is None:
            self._bound = self._existing(self.pid, "--pid")
        elif not same_process(self._bound):
            raise ActionError(
                f"process {self._bound.label} given with --pid is gone (its pid is free or "
                "another process's now): not signalled; use --pidfile for an app that restarts"
            )
        return self._bound

    def _existing(self, pid: int, origin: str) -> Process:
        found = process(pid)
        if found is None:
            raise ActionError(f"process {pid} (from {origin}) does not exist")
        return found

    def _check(self, target: Process) -> None:
        if target.pid == os.getpid():
            raise ActionError(f"process {target.label} is this watcher itself: not signalled")
        if target.pid == 1 and not self.allow_pid_1:
            raise ActionError(
                f"process {target.label} is PID 1, the init of this PID namespace (rarely the "
                "app): not signalled; give --allow-pid-1 if it really is the target"
            )

    def _named(self) -> list[Process]:
        assert self.process_name is not None
        return processes_named(self.process_name, full=self.full)

    def _what(self) -> str:
        # A command line may hold a token: it is not repeated.
        return "the command line given" if self.full else f"the name {self.process_name!r}"
