"""Locks a forked child gets afresh, and state a child resets, kept in one place.

Only the thread that called ``fork()`` exists in the child. A lock another thread held at that
moment (a store's watcher thread in the middle of a rotation, a worker thread building a TLS
context) stays held in the child for ever, by a thread that does not exist there: the child
never sees another rotation, and its ``reload()`` hangs. That is gunicorn ``--preload``
restarting a worker during a rotation.

So every lock that a watcher thread, a subscriber or a server's worker thread can hold is a
:class:`ForkSafeLock`, and every object whose state names a thread (the delivery loop's owner)
registers with :func:`reset_after_fork`. In the child, before anything else of runsecrets runs
there (before the stores' watchers restart, which needs those locks), each lock is replaced by
a new, unowned one and each registered object resets. Nothing here holds a value.

No lock of ours is ever held around code that could itself fork: subscribers run outside every
lock (see ``reload/listeners.py``), so the thread that forks never holds one of these locks.
"""

from __future__ import annotations

import os
import threading
import weakref

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _thread
    from collections.abc import Callable
    from types import MethodType


class ForkSafeLock:
    """A ``threading.Lock`` (or ``RLock`` with ``reentrant``) that a forked child gets afresh.

    Used as the lock it wraps: ``with lock:``, :meth:`acquire`, :meth:`release`.
    """

    __slots__ = ("__weakref__", "_lock", "_reentrant")

    def __init__(self, *, reentrant: bool = False) -> None:
        self._reentrant = reentrant
        self._lock: _thread.LockType | _thread.RLock = _new_lock(reentrant)
        _locks.add(self)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """As ``threading.Lock.acquire``."""
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        """As ``threading.Lock.release``."""
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()

    def renew(self) -> None:
        """Replace the lock with a new, unowned one (in a forked child, before anything runs)."""
        self._lock = _new_lock(self._reentrant)

    def __repr__(self) -> str:
        kind = "RLock" if self._reentrant else "Lock"
        return f"ForkSafeLock({kind})"


def _new_lock(reentrant: bool) -> _thread.LockType | _thread.RLock:
    return threading.RLock() if reentrant else threading.Lock()


def reset_after_fork(reset: Callable[[], None]) -> None:
    """Call the bound method ``reset`` in every child forked from now on, as long as its object
    lives (the object is held weakly)."""
    method: MethodType = reset  # type: ignore[assignment]  # a bound method, as documented
    _resets[method.__self__] = method.__func__


_locks: weakref.WeakSet[ForkSafeLock] = weakref.WeakSet()
#: Objects with state to reset in a forked child, each with the function that resets it.
_resets: weakref.WeakKeyDictionary[object, Callable[[object], None]] = weakref.WeakKeyDictionary()


def _after_fork_in_child() -> None:
    for lock in list(_locks):
        lock.renew()
    for target, reset in list(_resets.items()):
        reset(target)


if hasattr(os, "register_at_fork"):
    # Registered when this module is first imported, which every module holding a lock does
    # before it registers anything of its own: child handlers run in registration order, so
    # the locks are new before a store's watcher restarts in the child.
    os.register_at_fork(after_in_child=_after_fork_in_child)
