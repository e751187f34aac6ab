"""Removing every trace of a cluster, orderly or after a crash, and listing what is left.

:func:`purge` needs nothing but the layout: it finds the engines' processes by the state
directory in their command lines, their tasks by their cgroups, mounts under the state
directory, namespaces and links by name, the FORWARD rule by its text. It is what runs before a
session (leftovers of a crashed or interrupted run) and last in every session's teardown, after
the orderly removal of Swarm objects and membership.

``ip netns add`` makes ``/run/netns`` a mount point the first time it runs on a machine. When
this harness found it unmounted, it leaves a marker in :data:`STATE_ROOT`, and :func:`purge_all`
unmounts it again once no namespace is left in it (a plain ``umount``, which refuses while any
other namespace is mounted there).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess

from . import _engine, _network
from ._layout import LAYOUTS, STATE_ROOT, Layout, log

NETNS_MARKER = STATE_ROOT / "netns-dir-mounted-here"


def note_netns_dir() -> None:
    """Before the first namespace: remember whether ``/run/netns`` is ours to unmount later."""
    if not _engine.is_mount_point(_network.NETNS_DIR):
        STATE_ROOT.mkdir(parents=True, exist_ok=True)
        NETNS_MARKER.touch()


def purge(layout: Layout) -> None:
    """Remove everything of ``layout``: engines, tasks, mounts, network, files."""
    pids = _engine.stop_processes(layout)
    if pids:
        log.info("%s: stopped leftover processes %s", layout.prefix, pids)
    _engine.remove_cgroups(layout)
    _engine.unmount_under(layout.state_dir)
    _network.remove(layout)
    _engine.remove_files(layout)


def purge_all() -> None:
    """Purge every layout this harness makes, then its share of ``/run/netns``."""
    for layout in LAYOUTS:
        purge(layout)
    if NETNS_MARKER.exists():
        directory = _network.NETNS_DIR
        if _engine.is_mount_point(directory) and not any(directory.iterdir()):
            subprocess.run(["umount", str(directory)], capture_output=True, check=False, timeout=30)
        if not _engine.is_mount_point(directory):
            with contextlib.suppress(OSError):
                directory.rmdir()
        NETNS_MARKER.unlink(missing_ok=True)
    if STATE_ROOT.exists() and not any(STATE_ROOT.iterdir()):
        shutil.rmtree(STATE_ROOT, ignore_errors=True)


def leftovers(layout: Layout) -> list[str]:
    """Everything of ``layout`` that still exists (empty when the purge was complete)."""
    return _engine.leftovers(layout) + _network.leftovers(layout)


def all_leftovers() -> list[str]:
    """Leftovers of every layout, and the harness's ``/run/netns`` mount if it stayed."""
    found = [item for layout in LAYOUTS for item in leftovers(layout)]
    if NETNS_MARKER.exists() and _engine.is_mount_point(_network.NETNS_DIR):
        found.append(f"mount {_network.NETNS_DIR}")
    return found
