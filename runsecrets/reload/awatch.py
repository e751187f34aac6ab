"""``store.awatch()``: the asyncio form of subscribing to a store's changes."""

from __future__ import annotations

import contextlib
from collections import deque

from .._forksafe import ForkSafeLock
from .snapshot import merge_changes

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncGenerator, AsyncIterator, Callable

    from .snapshot import Changes
    from .store import SecretStore

#: How many separate changes ``awatch()`` holds for a consumer that falls behind; past that,
#: each new change is merged into the last one held.
AWATCH_MAX_PENDING = 16


class _Inbox:
    """Changes waiting for one ``awatch()`` consumer: bounded, merging, filled by the watcher.

    The watcher thread appends under a lock and wakes the event loop only when the inbox was
    empty, so neither the inbox nor the loop's queue of callbacks grows with a slow consumer.
    """

    __slots__ = ("_guard", "_limit", "_loop", "_pending", "_signalled", "ready")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        import asyncio

        self._loop = loop
        self._limit = max(1, limit)
        self._guard = ForkSafeLock()
        self._pending: deque[Changes] = deque()
        self._signalled = False
        self.ready = asyncio.Event()

    def put(self, changes: Changes) -> None:
        """Called in the watcher thread (a subscriber)."""
        with self._guard:
            if len(self._pending) >= self._limit:
                self._pending[-1] = merge_changes(self._pending[-1], changes)
            else:
                self._pending.append(changes)
            if self._signalled:
                return
            self._signalled = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
            self._loop.call_soon_threadsafe(self.ready.set)

    def take(self) -> Changes | None:
        """The oldest pending change, or ``None`` (then wait for :attr:`ready`). Loop thread."""
        with self._guard:
            if self._pending:
                return self._pending.popleft()
            self._signalled = False
            self.ready.clear()
            return None

    def __len__(self) -> int:
        return len(self._pending)


class _Subscription:
    """An ``awatch()``'s hold on its store; ending it twice is harmless."""

    __slots__ = ("_started", "_store", "_unsubscribe")

    def __init__(self, store: SecretStore, unsubscribe: Callable[[], None], started: bool) -> None:
        self._store = store
        self._unsubscribe: Callable[[], None] | None = unsubscribe
        self._started = started

    def end(self) -> None:
        """Stop delivering; stop the watcher if this subscription started it."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is None:
            return
        unsubscribe()
        if self._started:
            self._store.close()


async def _iterate(inbox: _Inbox, subscription: _Subscription) -> AsyncGenerator[Changes, None]:
    # A free function holding neither the AsyncChanges nor the store's subscriber list: when a
    # consumer drops the iteration (a ``break`` out of ``async for``), the generator is freed at
    # once and asyncio closes it, running the ``finally``.
    try:
        while True:
            changes = inbox.take()
            if changes is None:
                await inbox.ready.wait()
            elif changes:  # a merge can cancel out
                yield changes
    finally:
        subscription.end()


class AsyncChanges:
    """``store.awatch()``: an async iterator of :class:`Changes` (and an async context manager).

    It subscribes on entering the context (or at the first iteration) and unsubscribes when the
    iteration is closed, cancelled, left by ``break`` (once asyncio finalizes it) or the context
    exits. A consumer that falls behind gets at most ``max_pending`` changes, the last merged.
    """

    __slots__ = ("_closed", "_iterator", "_max_pending", "_store", "_subscription")

    def __init__(self, store: SecretStore, max_pending: int = AWATCH_MAX_PENDING) -> None:
        self._store = store
        self._max_pending = max_pending
        self._iterator: AsyncGenerator[Changes, None] | None = None
        self._subscription: _Subscription | None = None
        self._closed = False

    def _open(self) -> AsyncGenerator[Changes, None]:
        if self._iterator is None:
            import asyncio

            inbox = _Inbox(asyncio.get_running_loop(), self._max_pending)
            unsubscribe = self._store.subscribe(inbox.put)
            started = not self._store.running
            if started:
                self._store.start()
            self._subscription = _Subscription(self._store, unsubscribe, started)
            self._iterator = _iterate(inbox, self._subscription)
        return self._iterator

    def __aiter__(self) -> AsyncIterator[Changes]:
        return self

    async def __anext__(self) -> Changes:
        if self._closed:
            raise StopAsyncIteration
        return await self._open().__anext__()

    async def __aenter__(self) -> AsyncChanges:
        if not self._closed:
            self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop delivering; stop the watcher if this iteration started it."""
        self._closed = True
        if self._iterator is not None:
            await self._iterator.aclose()
        if self._subscription is not None:
            # An iteration never started has no ``finally`` to run.
            self._subscription.end()
