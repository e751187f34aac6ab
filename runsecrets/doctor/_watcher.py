"""The watcher's limits: are inotify watches and instances left for a store to follow rotation?

A watching store needs one inotify instance and one watch per directory it follows (the
secrets directories and the directory of each ``_FILE`` target: the store's own
``runsecrets.reload.watch.paths.watch_paths``). The kernel limits both per user:
``fs.inotify.max_user_instances`` and ``fs.inotify.max_user_watches``. What is in use is counted
from ``/proc``: every process of this user that the doctor can see, its descriptors that are
inotify instances (``anon_inode:inotify``) and their watches (the ``inotify wd:`` lines of
``fdinfo``). Processes of the same user in other containers are not visible, so the count is a
lower bound and "left" an upper one.

Rules (codes in :data:`~runsecrets.doctor.CODES`), Linux only:

- ``inotify_watches_low``: fewer watches left than the directories a store here would watch.
- ``inotify_instances_low``: no instance left.
- ``inotify_unavailable``: ``/proc`` is there but ``/proc/sys/fs/inotify`` is not (a kernel
  without inotify). In all three cases a store falls back to polling every second.
- ``not_checked``: the limits cannot be read.
"""

from __future__ import annotations

import os

from ._finding import Finding

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._context import Context

_INOTIFY_LINK = "anon_inode:inotify"
_WATCH_LINE = b"inotify wd:"
_FALLBACK = "a watching store falls back to polling every second"


class InotifyUse:
    """What the visible processes of one user hold.

    Attributes:
        instances: inotify instances (open descriptors).
        watches: watches on those instances.
        processes: processes of the user that were looked at.
    """

    __slots__ = ("instances", "processes", "watches")

    def __init__(self, instances: int = 0, watches: int = 0, processes: int = 0) -> None:
        self.instances = instances
        self.watches = watches
        self.processes = processes


def read_limits(proc_root: str) -> tuple[int, int]:
    """``(max_user_watches, max_user_instances)`` from ``<proc_root>/sys/fs/inotify``.

    Raises:
        OSError: A file cannot be read (``FileNotFoundError`` when there is no inotify).
        ValueError: A file does not hold a number.
    """
    base = os.path.join(proc_root, "sys", "fs", "inotify")
    values = []
    for name in ("max_user_watches", "max_user_instances"):
        with open(os.path.join(base, name), "rb") as file:
            values.append(int(file.read().strip()))
    return values[0], values[1]


def count_use(proc_root: str, uid: int) -> InotifyUse:
    """The inotify instances and watches held by the processes of ``uid`` visible in
    ``proc_root``; a process that vanishes or cannot be looked into is skipped."""
    use = InotifyUse()
    try:
        pids = [entry.name for entry in os.scandir(proc_root) if entry.name.isdigit()]
    except OSError:
        return use
    for pid in pids:
        process = os.path.join(proc_root, pid)
        try:
            if os.stat(process).st_uid != uid:
                continue
            descriptors = os.listdir(os.path.join(process, "fd"))
        except OSError:
            continue
        use.processes += 1
        for fd in descriptors:
            watches = _inotify_watches(process, fd)
            if watches is not None:
                use.instances += 1
                use.watches += watches
    return use


def _inotify_watches(process: str, fd: str) -> int | None:
    """The watches on descriptor ``fd`` of ``process``, or ``None`` if it is no inotify."""
    try:
        if os.readlink(os.path.join(process, "fd", fd)) != _INOTIFY_LINK:
            return None
        with open(os.path.join(process, "fdinfo", fd), "rb") as file:
            return sum(1 for line in file if line.startswith(_WATCH_LINE))
    except OSError:
        return None


def check_watcher(context: Context) -> Iterator[Finding]:
    """The inotify findings (Linux only)."""
    if not context.linux:
        return
    subject = "fs.inotify"
    try:
        max_watches, max_instances = read_limits(context.proc_root)
    except FileNotFoundError:
        if os.path.isdir(os.path.join(context.proc_root, "self")):
            yield Finding(
                "inotify_unavailable",
                subject,
                f"this kernel offers no inotify, so {_FALLBACK}; set RUNSECRETS_POLL=1 to say "
                "so, or run on a kernel with inotify",
            )
        else:
            yield _not_checked(context.proc_root, "it is not a readable /proc")
        return
    except (OSError, ValueError) as e:
        yield _not_checked(context.proc_root, type(e).__name__)
        return
    uid = os.geteuid()
    use = count_use(context.proc_root, uid)
    needed = len(_watched_directories(context))
    watches_left = max_watches - use.watches
    seen = f"{use.processes} visible process(es) of uid {uid}"
    if watches_left < needed:
        yield Finding(
            "inotify_watches_low",
            "fs.inotify.max_user_watches",
            f"{max(watches_left, 0)} watch(es) left of {max_watches} ({use.watches} in use by "
            f"{seen}), and a store here watches {needed} directories: {_FALLBACK}; raise "
            "fs.inotify.max_user_watches on the host (sysctl)",
        )
    if max_instances - use.instances < 1:
        yield Finding(
            "inotify_instances_low",
            "fs.inotify.max_user_instances",
            f"no instance left of {max_instances} ({use.instances} in use by {seen}): "
            f"{_FALLBACK}; raise fs.inotify.max_user_instances on the host (sysctl)",
        )


def _watched_directories(context: Context) -> list[str]:
    from ..reload.watch.paths import watch_paths

    targets = [
        context.environ[file_variable]
        for _, file_variable in context.file_variables
        if os.path.lexists(context.environ[file_variable])
    ]
    return watch_paths(context.dirs, targets)


def _not_checked(proc_root: str, why: str) -> Finding:
    return Finding(
        "not_checked",
        os.path.join(proc_root, "sys", "fs", "inotify"),
        f"cannot read the inotify limits ({why}): whether a store can watch was not checked; "
        "run where /proc is mounted",
    )
