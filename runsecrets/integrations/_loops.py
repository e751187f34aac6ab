"""Draining an asyncio pool on its own event loop, from whichever thread saw the change."""

from __future__ import annotations

import logging

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable

__all__ = ["LoopDrain"]

logger = logging.getLogger("runsecrets.credentials")


class LoopDrain:
    """Runs an asyncio pool's drain coroutine on the pool's own event loop, from any thread.

    An async driver's connections belong to one loop; the store's watcher runs in a thread of
    its own. :meth:`seen` records the loop of each connect; :meth:`__call__` (an
    :meth:`CredentialFollower.on_change` callback) schedules ``drain()`` there.
    """

    __slots__ = ("_drain", "_label", "_loop")

    def __init__(self, drain: Callable[[], Awaitable[object]], label: str) -> None:
        self._drain = drain
        self._label = label
        self._loop: asyncio.AbstractEventLoop | None = None

    def seen(self) -> None:
        """Note the running loop (call from a connect, inside the loop)."""
        import asyncio  # here: sync applications need not load it

        self._loop = asyncio.get_running_loop()

    def __call__(self) -> None:
        import asyncio

        loop = self._loop
        if loop is None or loop.is_closed():
            return  # no connection made yet on a live loop: nothing to drain
        future = asyncio.run_coroutine_threadsafe(self._run(), loop)
        future.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def _run(self) -> None:
        try:
            await self._drain()
        except Exception as e:  # noqa: BLE001  (the pool's own error; its text is not ours to log)
            logger.error("%s: draining the pool failed with %s", self._label, type(e).__name__)
