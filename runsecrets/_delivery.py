"""One subscriber list and the one loop that calls it: in publish order, outside every lock.

A publisher (a store, live settings) queues what it published with :meth:`Deliveries.publish`
while it holds its own lock, so items queue in publish order, and calls
:meth:`Deliveries.deliver` once it has released that lock. The first thread to find no loop
running runs it; any other call returns at once, its item left to that loop. Hence:

- a subscriber never runs under the publisher's lock: one that blocks delays later
  deliveries, but never a ``reload()``, ``subscribe()`` or ``close()`` in another thread;
- a subscriber that publishes again (calls ``reload()``) has the new item delivered to every
  subscriber after the current one, never in the middle of it: every subscriber ends on the
  newest item;
- items that pile up while a subscriber is slow are merged into one (``merge``), so a slow
  subscriber is not fed a backlog, and a merge that cancels out (rotated and rotated back) is
  not delivered at all.
"""

from __future__ import annotations

import functools
import threading

from ._callbacks import log_callback_error
from ._forksafe import ForkSafeLock, reset_after_fork

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable
    from typing import Generic, TypeVar

    _T = TypeVar("_T")

    class _Generic(Generic[_T]):
        """``Generic`` for the type checker."""

else:  # no ``typing`` at run time (the store imports this module; it loads on first use)
    _T = object

    class _Generic:
        __slots__ = ()

        def __class_getitem__(cls, item: object) -> type:
            return cls


class Deliveries(_Generic[_T]):
    """The subscribers of one publisher, and the loop that delivers to them.

    Args:
        merge: Two consecutive items as one (the first's start, the second's end).
        logger: Where a failing subscriber is logged (its type and place, never its message).
        what: What the subscribers are, in the plural, for that log line.

    Attributes:
        errors: How many times a subscriber raised.
    """

    __slots__ = (
        "__weakref__",
        "_callbacks",
        "_current",
        "_guard",
        "_logger",
        "_merge",
        "_owner",
        "_pending",
        "_what",
        "errors",
    )

    def __init__(self, *, merge: Callable[[_T, _T], _T], logger: logging.Logger, what: str) -> None:
        self._merge = merge
        self._logger = logger
        self._what = what
        self._guard = ForkSafeLock()
        self._callbacks: tuple[tuple[object, Callable[[_T], object]], ...] = ()
        self._pending: list[_T] = []
        self._current: _T | None = None  # what the loop is delivering now
        self._owner: int | None = None  # the thread running the loop
        self.errors = 0
        reset_after_fork(self)

    def subscribe(self, callback: Callable[[_T], object]) -> Callable[[], None]:
        """Add ``callback`` (called after those added before); returns its remover."""
        token = object()
        with self._guard:
            self._callbacks = (*self._callbacks, (token, callback))

        def unsubscribe() -> None:
            with self._guard:
                self._callbacks = tuple(c for c in self._callbacks if c[0] is not token)

        return unsubscribe

    def publish(self, item: _T) -> None:
        """Queue ``item`` for every subscriber (call it under the publisher's lock)."""
        with self._guard:
            self._pending.append(item)

    @property
    def subscriber_count(self) -> int:
        """How many subscribers there are."""
        return len(self._callbacks)

    @property
    def delivering_here(self) -> bool:
        """Whether the calling thread is the one running the loop (inside a subscriber)."""
        return self._owner == threading.get_ident()

    def deliver(self) -> None:
        """Deliver what is queued, unless a loop already runs (in another thread, or further up
        in this one): that loop delivers it. Call it with no lock held."""
        if not self._pending:
            # Nothing queued (read without the guard: a publish racing this call is followed
            # by that publisher's own call).
            return
        with self._guard:
            if self._owner is not None or not self._pending:
                return
            self._owner = threading.get_ident()
        try:
            while True:
                with self._guard:
                    if not self._pending:
                        self._owner = self._current = None
                        return
                    item = functools.reduce(self._merge, self._pending)
                    self._pending.clear()
                    self._current = item
                    callbacks = self._callbacks
                if not item:  # a merge that cancelled out
                    continue
                for _, callback in callbacks:
                    try:
                        callback(item)
                    except Exception as e:  # noqa: BLE001  one bad subscriber must not stop the rest
                        self.errors += 1
                        log_callback_error(self._logger, self._what, callback, e)
        except BaseException:
            with self._guard:
                self._owner = self._current = None
            raise

    def _reset_after_fork(self) -> None:
        # In a child: the loop's thread is gone. What it was delivering may have reached only
        # some subscribers: it goes back first in line, for the child's next delivery.
        if self._owner is not None and self._current is not None:
            self._pending.insert(0, self._current)
        self._owner = self._current = None
