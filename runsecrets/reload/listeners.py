"""The one subscriber list, and the one loop that calls it: in publish order, outside every lock.

Every publisher (a store, live settings, a rotating TLS context, a derived value) keeps its
subscribers in a :class:`Listeners`. Subscribing returns the function that unsubscribes: each
subscription has its own token, so it removes exactly that one, never another subscription of
an equal callback.

A publisher queues what it published with :meth:`Listeners.publish`
while it holds its own lock, so items queue in publish order, and calls
:meth:`Listeners.deliver` once it has released that lock. The first thread to find no loop
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

from .._callbacks import log_callback_error
from .._forksafe import ForkSafeLock, reset_after_fork
from .._generic import Generic, T

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable


class Listeners(Generic[T]):
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

    def __init__(self, *, merge: Callable[[T, T], T], logger: logging.Logger, what: str) -> None:
        self._merge = merge
        self._logger = logger
        self._what = what
        self._guard = ForkSafeLock()
        self._callbacks: tuple[tuple[object, Callable[[T], object]], ...] = ()
        self._pending: list[T] = []
        self._current: T | None = None  # what the loop is delivering now
        self._owner: int | None = None  # the thread running the loop
        self.errors = 0
        reset_after_fork(self._reset_after_fork)

    def subscribe(self, callback: Callable[[T], object]) -> Callable[[], None]:
        """Add ``callback`` (called after those added before); returns its remover, which
        removes this subscription alone (the same callback subscribed twice is called twice,
        and each remover removes one)."""
        token = object()
        with self._guard:
            self._callbacks = (*self._callbacks, (token, callback))

        def unsubscribe() -> None:
            with self._guard:
                self._callbacks = tuple(c for c in self._callbacks if c[0] is not token)

        return unsubscribe

    def publish(self, item: T) -> None:
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
