"""Re-arming after ``fork``: every running watcher restarts in the child, or is forgotten.

Only the thread that called ``fork()`` survives in a child: each watcher's thread is gone and
its descriptors are shared with the parent. The handler registered here (after the fork-safe
locks' own, see ``_forksafe.py``) restarts each watcher that asks to be, so a gunicorn worker
forked from a preloading master follows rotation as the master did.
"""

from __future__ import annotations

import logging
import os
import weakref

from .switching import reset_switching_in_child

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .thread import Watcher

logger = logging.getLogger("runsecrets.watch")

#: Watchers running in this process, for re-arming after fork (weak: a dropped store is gone).
_running: weakref.WeakSet[Watcher] = weakref.WeakSet()


def running() -> list[Watcher]:
    """The watchers running in this process (a gunicorn hook reports them after a fork)."""
    return list(_running)


def started(watcher: Watcher) -> None:
    """Count ``watcher`` as running: it restarts in a forked child."""
    _running.add(watcher)


def stopped(watcher: Watcher) -> None:
    """Count ``watcher`` as stopped."""
    _running.discard(watcher)


def _after_fork_in_child() -> None:
    reset_switching_in_child()
    for watcher in running():
        try:
            watcher.restart_in_child()
        except Exception as e:  # noqa: BLE001  a failure here must not break the child process
            logger.error("secret watcher: cannot restart after fork (%s)", type(e).__name__)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
