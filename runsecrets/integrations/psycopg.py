"""psycopg_pool: ``ConnectionPool`` and ``AsyncConnectionPool`` that follow rotated credentials.

::

    from psycopg_pool import ConnectionPool
    from runsecrets.integrations.psycopg import follow_credentials

    pool = ConnectionPool("host=db dbname=app user=app", open=False)
    credentials = follow_credentials(pool, password="db_password")
    pool.open()

The pool's own hooks do the work, in the form psycopg_pool expects: its ``connection_class``
becomes a subclass of the one it had, whose ``connect()`` puts the current user and password
(from one snapshot) into each new connection's arguments and retries a refused login with
re-read credentials for ``retry_seconds``; a change of the credentials calls the pool's
``drain()`` (idle connections replaced now, checked-out ones closed when returned), on the
pool's event loop for an ``AsyncConnectionPool``. While the credentials are incomplete (a secret
missing, empty) the pool's connect attempts fail with :class:`~runsecrets.CredentialsError` in
its log and it keeps serving with the connections it has; ``getconn()`` waits as for any
server outage.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool, ConnectionPool

from ._credentials import DEFAULT_RETRY_SECONDS, CredentialFollower
from ._loops import LoopDrain
from ._spec import CredentialSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._types import DirsArg
    from ..reload.store import SecretStore
    from ._spec import Credentials

__all__ = ["follow_credentials"]


# A connection whose credentials were rotated while it was being made would be added to the
# pool after the drain (psycopg_pool dates a connection when its connect and configure return):
# it is made again, at most this many times.
_REMAKES = 3
# The pool's configure step runs after our connect returns; a connect in flight during a drain,
# or one that returned just before it, may thus land after it. The pool is drained once more
# this long after such a drain.
_SECOND_DRAIN = 0.25


class _InFlight:
    """Counts the connects in progress and dates the last one to return, so a drain knows
    whether a connection may land in the pool after it."""

    __slots__ = ("count", "returned_at")

    def __init__(self) -> None:
        self.count = 0
        self.returned_at = -math.inf

    def returned(self) -> None:
        self.count -= 1
        self.returned_at = time.monotonic()

    def may_land(self) -> bool:
        """Whether a connection may still reach the pool: one is being made, or one was
        returned to the pool's worker so recently that it may still be in its configure step
        (our connect returns before it; the pool adds the connection after)."""
        return self.count > 0 or time.monotonic() - self.returned_at < _SECOND_DRAIN


def _sync_drain(pool: ConnectionPool[Any], in_flight: _InFlight) -> Callable[[], None]:
    def drain() -> None:
        busy = in_flight.may_land()
        pool.drain()
        if busy:
            again = threading.Timer(_SECOND_DRAIN, pool.drain)
            again.daemon = True
            again.start()

    return drain


def _rotating_class(
    base: Any, follower: CredentialFollower, drain: LoopDrain | None, in_flight: _InFlight
) -> Any:
    """A subclass of the pool's connection class whose ``connect()`` follows the credentials."""
    if drain is None:

        def connect(cls: Any, /, conninfo: str = "", **kwargs: Any) -> Any:
            used: list[int] = []

            def attempt(credentials: Credentials) -> Any:
                used.append(credentials.version)
                return super(rotating, cls).connect(
                    conninfo, **{**kwargs, **credentials.as_kwargs()}
                )

            in_flight.count += 1
            try:
                for _ in range(_REMAKES):
                    connection = follower.connect_with(attempt)
                    if not follower.is_stale(used[-1]):
                        break
                    connection.close()
                return connection
            finally:
                in_flight.returned()

    else:

        async def connect(cls: Any, /, conninfo: str = "", **kwargs: Any) -> Any:  # type: ignore[misc]
            drain.seen()
            used: list[int] = []

            async def attempt(credentials: Credentials) -> Any:
                used.append(credentials.version)
                parent = super(rotating, cls).connect
                return await parent(conninfo, **{**kwargs, **credentials.as_kwargs()})

            in_flight.count += 1
            try:
                for _ in range(_REMAKES):
                    connection = await follower.aconnect_with(attempt)
                    if not follower.is_stale(used[-1]):
                        break
                    await connection.close()
                return connection
            finally:
                in_flight.returned()

    rotating: Any = type(base.__name__, (base,), {"connect": classmethod(connect)})
    rotating.__module__ = base.__module__
    rotating.__qualname__ = base.__qualname__
    rotating.__doc__ = base.__doc__
    return rotating


def follow_credentials(
    pool: ConnectionPool[Any] | AsyncConnectionPool[Any],
    *,
    password: str = "db_password",  # noqa: S107  (a secret name)
    user: str | None = None,
    store: SecretStore | None = None,
    dirs: DirsArg | None = None,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
    is_authentication_failure: Callable[[BaseException], bool] | None = None,
    store_options: Mapping[str, Any] | None = None,
) -> CredentialFollower:
    """Make every new connection of ``pool`` log in with the current credentials.

    Call it before the pool opens (``open=False``) so that no connection is made without it.
    A ``user`` or ``password`` in the pool's ``conninfo`` or ``kwargs`` is overridden.

    Args:
        pool: A psycopg_pool ``ConnectionPool`` or ``AsyncConnectionPool`` (3.3 or later).
        password: The secret holding the password.
        user: The secret holding the user name (``None``: the pool's own user).
        store: Read this store (you start and close it); by default one is made for these
            secrets, started, and closed by ``detach()``.
        dirs: Secrets directories for the store made here.
        retry_seconds: How long a refused login is retried with re-read credentials.
        is_authentication_failure: Tells a refused login from other connect errors.
        store_options: More keyword arguments for the store made here (``prefix``...).

    Returns:
        The handle; ``detach()`` gives the pool its connection class back.
    """
    if not isinstance(pool, (ConnectionPool, AsyncConnectionPool)):
        raise TypeError(f"expected a psycopg_pool pool, not {type(pool).__name__}")
    follower = CredentialFollower(
        CredentialSpec(password, user),
        store=store,
        dirs=dirs,
        retry_seconds=retry_seconds,
        is_authentication_failure=is_authentication_failure,
        label=f"psycopg pool {pool.name!r}",
        store_options=store_options,
    )
    original = pool.connection_class
    in_flight = _InFlight()
    if isinstance(pool, AsyncConnectionPool):
        async_pool = pool

        async def drain_twice() -> None:
            import asyncio

            busy = in_flight.may_land()
            await async_pool.drain()
            if busy:
                await asyncio.sleep(_SECOND_DRAIN)
                await async_pool.drain()

        drain = LoopDrain(drain_twice, follower.label)
        follower.on_change(drain)
        pool.connection_class = _rotating_class(original, follower, drain, in_flight)
    else:
        follower.on_change(_sync_drain(pool, in_flight))
        pool.connection_class = _rotating_class(original, follower, None, in_flight)

    def restore() -> None:
        pool.connection_class = original

    follower.on_detach(restore)
    return follower
