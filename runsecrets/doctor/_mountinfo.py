"""Reading ``/proc/self/mountinfo``: which mount holds a path, and what kind it is.

Each line reads ``ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE
SUPER_OPTIONS`` (proc(5)). The kernel writes a space, tab, newline and backslash inside ROOT,
MOUNT_POINT and SOURCE as the octal escapes ``\\040``, ``\\011``, ``\\012`` and ``\\134``; they are
decoded on bytes, so a path that is not UTF-8 compares equal to what ``os`` functions return. A
backslash followed by anything else is kept as it is, and a line that does not have this shape
is counted, not fatal.
"""

from __future__ import annotations

import os
import re

#: File systems whose content lives in memory only (nothing reaches a disk).
MEMORY_FILESYSTEMS = frozenset(("tmpfs", "ramfs"))

_ESCAPE = re.compile(rb"\\([0-3][0-7]{2})")
# Docker Swarm mounts each secret from a per-container tmpfs, as a file named by the secret's
# 25-character swarmkit id.
_SWARM_ROOT = re.compile(r"/[a-z0-9]{25}")


class Mount:
    """One line of the mount table.

    Attributes:
        mount_point: Where it is mounted, as this process sees it.
        root: The path inside its file system that is mounted there (``/`` for a whole file
            system; a file or sub-directory for a bind mount).
        fstype: The file system type (``tmpfs``, ``ext4``, ``overlay``...).
        source: The mount source (a device, ``tmpfs``, ``none``...).
        options: The per-mount options (``ro``, ``nosuid``...).
    """

    __slots__ = ("fstype", "mount_point", "options", "root", "source")

    def __init__(
        self, *, mount_point: str, root: str, fstype: str, source: str, options: tuple[str, ...]
    ) -> None:
        self.mount_point = mount_point
        self.root = root
        self.fstype = fstype
        self.source = source
        self.options = options

    @property
    def read_only(self) -> bool:
        """Whether it is mounted read-only."""
        return "ro" in self.options

    @property
    def memory_backed(self) -> bool:
        """Whether its file system keeps content in memory only (tmpfs, ramfs)."""
        return self.fstype in MEMORY_FILESYSTEMS

    @property
    def kubernetes_subpath(self) -> bool:
        """Whether the mounted root lies inside a Kubernetes ``..<timestamp>`` directory: what a
        ``subPath`` mount of a secret or ConfigMap volume binds (the kubelet resolves the key's
        link, so one version is pinned)."""
        return any(part.startswith("..") and part != ".." for part in self.root.split("/"))

    @property
    def swarm_secret(self) -> bool:
        """Whether this is how Docker Swarm mounts a secret: a file of a read-only tmpfs named
        by its secret id. Such a file never changes by design: Swarm rotates by replacing the
        task."""
        return self.fstype == "tmpfs" and self.read_only and bool(_SWARM_ROOT.fullmatch(self.root))

    def __repr__(self) -> str:
        return f"Mount({self.mount_point!r}, {self.fstype}, root={self.root!r})"


class MountTable:
    """The mounts of a mount namespace, looked up by path.

    Attributes:
        mounts: Every mount, in the table's order (later mounts shadow earlier ones).
        bad_lines: How many lines could not be parsed (and were left out).
    """

    __slots__ = ("_by_point", "bad_lines", "mounts")

    def __init__(self, mounts: list[Mount], bad_lines: int = 0) -> None:
        self.mounts = mounts
        self.bad_lines = bad_lines
        # The last mount on a point is the visible one.
        self._by_point = {mount.mount_point: mount for mount in mounts}

    def at(self, path: str) -> Mount | None:
        """The mount whose mount point is exactly ``path`` (an absolute, resolved path)."""
        return self._by_point.get(path)

    def holding(self, path: str) -> Mount | None:
        """The mount that holds ``path`` (absolute and resolved): the deepest mount point on
        the way from ``path`` up to ``/``."""
        current = path
        while True:
            mount = self._by_point.get(current)
            if mount is not None:
                return mount
            parent = os.path.dirname(current)
            if parent == current:
                return None
            current = parent


def unescape(field: bytes) -> str:
    """Decode the kernel's octal escapes (``\\040`` is a space) and return an ``os`` path string.

    Escapes above ``\\377`` and backslashes followed by anything else stay as they are.
    """
    return os.fsdecode(_ESCAPE.sub(lambda match: bytes((int(match.group(1), 8),)), field))


def parse_line(line: bytes) -> Mount | None:
    """One line of the table, or ``None`` when it does not have mountinfo's shape."""
    fields = line.split(b" ")
    try:
        separator = fields.index(b"-", 6)
    except ValueError:
        return None
    after = fields[separator + 1 :]
    if len(after) < 2 or not fields[4].startswith(b"/"):
        return None
    return Mount(
        mount_point=os.path.normpath(unescape(fields[4])),
        root=unescape(fields[3]),
        fstype=os.fsdecode(after[0]),
        source=unescape(after[1]),
        options=tuple(os.fsdecode(fields[5]).split(",")),
    )


def parse_mountinfo(data: bytes) -> MountTable:
    """Parse a whole ``mountinfo`` file's bytes."""
    mounts = []
    bad = 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        mount = parse_line(line.rstrip(b"\r"))
        if mount is None:
            bad += 1
        else:
            mounts.append(mount)
    return MountTable(mounts, bad)


def read_mountinfo(proc_root: str) -> MountTable:
    """Read and parse ``<proc_root>/self/mountinfo``.

    Raises:
        OSError: The file cannot be read.
    """
    with open(os.path.join(proc_root, "self", "mountinfo"), "rb") as file:
        return parse_mountinfo(file.read())
