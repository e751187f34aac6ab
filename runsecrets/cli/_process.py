"""Processes as ``/proc`` shows them, for ``watch --signal``: who a pid is, and since when.

A pid alone names whatever process holds it now: the one meant may have exited and the number
been given to another. A pid together with its start time (``/proc/PID/stat``, field 22, in
clock ticks since boot) names one process for good, so the sidecar records both when it finds
a target and checks both again right before it signals.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

PROC = "/proc"


class Process:
    """One process: its pid, start time, real uid, command name and command line.

    Attributes:
        pid: The process id.
        start: When it started, in clock ticks since boot (with ``pid``, its identity).
        uid: Its real user id.
        comm: Its command name (the kernel cuts it at 15 characters).
        argv: Its command line.
    """

    __slots__ = ("argv", "comm", "pid", "start", "uid")

    def __init__(self, pid: int, start: int, uid: int, comm: str, argv: list[str]) -> None:
        self.pid = pid
        self.start = start
        self.uid = uid
        self.comm = comm
        self.argv = argv

    @property
    def label(self) -> str:
        """``1234 (nginx)``: how log lines name it."""
        return f"{self.pid} ({self.comm})"

    def started_at(self, proc: str = PROC) -> float | None:
        """When it started, as ``time.time()`` would have said (about a second's precision)."""
        boot = boot_time(proc)
        if boot is None:
            return None
        return boot + self.start / os.sysconf("SC_CLK_TCK")

    def __repr__(self) -> str:
        return f"Process({self.label}, uid={self.uid})"


def process(pid: int, proc: str = PROC) -> Process | None:
    """The process holding ``pid`` now, or ``None`` (gone, or hidden from this one)."""
    base = os.path.join(proc, str(pid))
    try:
        with open(os.path.join(base, "stat"), "rb") as f:
            stat = f.read().decode(errors="replace")
        with open(os.path.join(base, "status"), "rb") as f:
            status = f.read().decode(errors="replace")
        with open(os.path.join(base, "cmdline"), "rb") as f:
            cmdline = f.read()
    except OSError:
        return None
    # "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so split at the last ")".
    head, _, rest = stat.rpartition(")")
    fields = rest.split()
    uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), "")
    if len(fields) < 20 or not fields[19].isdigit() or not uid.isdigit():
        return None
    comm = head.partition("(")[2]
    argv = [part.decode(errors="replace") for part in cmdline.split(b"\0")[:-1]]
    return Process(pid, int(fields[19]), int(uid), comm, argv)


def same_process(known: Process, proc: str = PROC) -> bool:
    """Whether ``known.pid`` still belongs to that very process (same start time)."""
    now = process(known.pid, proc)
    return now is not None and now.start == known.start


def all_processes(proc: str = PROC) -> Iterator[Process]:
    """Every process this one can see (those that exit meanwhile are left out)."""
    try:
        entries = os.listdir(proc)
    except OSError:
        return
    for entry in entries:
        if entry.isdigit():
            found = process(int(entry), proc)
            if found is not None:
                yield found


def boot_time(proc: str = PROC) -> float | None:
    """The boot time (``btime`` in ``/proc/stat``), in seconds since the epoch."""
    try:
        with open(os.path.join(proc, "stat"), "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except (OSError, ValueError):
        return None
    return None
