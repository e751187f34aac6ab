"""asyncpg: a pool whose new connections log in with the current rotated credentials.

::

    import asyncpg
    from runsecrets.integrations.asyncpg import PoolCredentials

    credentials = PoolCredentials(password="db_password", user="db_user")
    pool = await asyncpg.create_pool("postgresql://db/app", connect=credentials.connect)
    credentials.follow(pool)
    ...
    await pool.close()
    credentials.detach()

In the form asyncpg expects: :meth:`PoolCredentials.connect` is the pool's ``connect=`` factory
(asyncpg 0.30 or later); it puts the current user and password (from one snapshot) into each
new connection's arguments and retries a refused login with re-read credentials for
``retry_seconds``. A change of the credentials calls ``Pool.expire_connections()`` on the pool's
loop for each pool given to :meth:`PoolCredentials.follow`: idle connections are replaced at
their next ``acquire()``, and those in use are closed when released.
"""

from __future__ import annotations

import contextlib

import asyncpg

from ._credentials import DEFAULT_RETRY_SECONDS, CredentialFollower
from ._loops import LoopDrain
from ._spec import CredentialSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .._types import DirsArg
    from ..reload.store import SecretStore
    from ._spec import Credentials

__all__ = ["PoolCredentials"]


class PoolCredentials(CredentialFollower):
    """Credentials from secrets for asyncpg pools (the ``connect=`` factory and the drain).

    Args:
        password: The secret holding the password.
        user: The secret holding the user name (``None``: the DSN's or the pool's own user).
        store: Read this store (you start and close it); by default one is made for these
            secrets, started, and closed by
            :meth:`~runsecrets.integrations.sqlalchemy.CredentialFollower.detach`.
        dirs: Secrets directories for the store made here.
        retry_seconds: How long a refused login is retried with re-read credentials.
        is_authentication_failure: Tells a refused login from other connect errors.
    """

    def __init__(
        self,
        *,
        password: str = "db_password",  # noqa: S107  (a secret name)
        user: str | None = None,
        store: SecretStore | None = None,
        dirs: DirsArg | None = None,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        is_authentication_failure: Callable[[BaseException], bool] | None = None,
    ) -> None:
        super().__init__(
            CredentialSpec(password, user),
            store=store,
            dirs=dirs,
            retry_seconds=retry_seconds,
            is_authentication_failure=is_authentication_failure,
            label="asyncpg pool",
        )
        self._drains: dict[int, LoopDrain] = {}

    async def connect(self, *args: Any, **kwargs: Any) -> asyncpg.Connection:
        """``asyncpg.connect(*args, **kwargs)`` with the current user and password, retried
        while the server refuses the login (the pool calls it with its own arguments)."""
        for drain in self._drains.values():
            drain.seen()

        async def attempt(credentials: Credentials) -> asyncpg.Connection:
            return await asyncpg.connect(*args, **{**kwargs, **credentials.as_kwargs()})

        connection: asyncpg.Connection = await self.aconnect_with(attempt)
        return connection

    def follow(self, pool: asyncpg.Pool) -> None:
        """Expire ``pool``'s connections whenever the credentials change."""
        if id(pool) in self._drains:
            return
        drain = LoopDrain(pool.expire_connections, self.label)
        # Usually called right after create_pool, inside its loop; else the first connect
        # records the loop.
        with contextlib.suppress(RuntimeError):
            drain.seen()
        self._drains[id(pool)] = drain
        self.on_change(drain)
