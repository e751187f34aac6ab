"""SQLAlchemy: an engine whose new connections log in with the current rotated credentials.

::

    from sqlalchemy import create_engine
    from runsecrets.integrations.sqlalchemy import follow_credentials

    engine = create_engine("postgresql+psycopg://app@db/app")   # no password in the URL
    credentials = follow_credentials(engine, password="db_password")
    ...
    credentials.detach()   # at shut-down, or use it as a context manager

It works the same for an ``AsyncEngine`` and for any dialect whose driver takes the user and
password as keyword arguments (every PostgreSQL and MySQL/MariaDB driver SQLAlchemy ships).
Through SQLAlchemy's public events:

- ``do_connect``: each new connection takes the user and password from one snapshot of the
  store; a refused login re-reads the store and is retried with backoff for
  ``retry_seconds``, then fails with :class:`~runsecrets.CredentialsError`.
- ``checkout``: a pooled connection made before the credentials changed is replaced (SQLAlchemy
  invalidates it and connects again, as for a dropped connection); ``checkin``: one returned
  after the change is closed. The pool is drained that way, lazily, in the thread (or event
  loop) that uses it: an async driver's connections are never touched from another thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, exc, util

from ._credentials import DEFAULT_RETRY_SECONDS, CredentialFollower
from ._spec import CredentialSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect, Engine
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import ConnectionPoolEntry

    from .._types import DirsArg
    from ..reload.store import SecretStore
    from ._spec import Credentials

__all__ = ["CredentialFollower", "follow_credentials"]

#: Where a pooled connection records the snapshot version of its credentials.
VERSION_KEY = "runsecrets.credentials_version"
# Set on a connection just made, until its first checkout: that one is never refused, even if
# the credentials changed while it connected (it is used once, then closed on its return), so
# a checkout cannot run out of attempts while rotations follow each other.
_FRESH_KEY = "runsecrets.fresh"
# Stand-ins given to the dialect to find the keyword arguments that carry the credentials.
_PROBE_USER = "runsecrets-probe-user"
_PROBE_PASSWORD = "runsecrets-probe-password"  # noqa: S105  (not a secret: a marker)


def _credential_keys(engine: Engine) -> tuple[str | None, str]:
    """The driver's keyword arguments for the user and the password (``user``/``passwd`` for
    mysqlclient...), found by asking the dialect to translate a URL with stand-ins."""
    url = engine.url.set(username=_PROBE_USER, password=_PROBE_PASSWORD)
    try:
        _, cparams = engine.dialect.create_connect_args(url)
    except exc.ArgumentError:
        cparams = {}  # sqlite: a URL with a user is an error
    user_key = next((k for k, v in cparams.items() if v == _PROBE_USER), None)
    password_key = next((k for k, v in cparams.items() if v == _PROBE_PASSWORD), None)
    if password_key is None:
        raise ValueError(
            f"the {engine.dialect.name}+{engine.dialect.driver} dialect does not pass the "
            "password as a keyword argument; follow_credentials cannot set it"
        )
    return user_key, password_key


# SQLAlchemy 2.1 renamed await_only to await_ (the old name stays until 2.2).
_await: Callable[[Any], Any] = getattr(util, "await_", None) or util.await_only


def _greenlet_sleep(seconds: float) -> None:
    """Sleep without blocking the event loop, from SQLAlchemy's greenlet (async engines)."""
    _await(asyncio.sleep(seconds))


def _sync_engine(engine: Engine | AsyncEngine) -> Engine:
    """The engine whose pool and events do the work (an ``AsyncEngine`` wraps one). Not an
    ``isinstance`` test: ``sqlalchemy.ext.asyncio`` needs greenlet, a sync app may lack it."""
    inner: Engine | None = getattr(engine, "sync_engine", None)
    return inner if inner is not None else engine  # type: ignore[return-value]


def _hooks(
    follower: CredentialFollower, user_key: str | None, password_key: str, *, is_async: bool
) -> tuple[tuple[str, Callable[..., Any]], ...]:
    """The three pool events, as ``(name, listener)`` pairs."""
    sleep = _greenlet_sleep if is_async else time.sleep

    def do_connect(
        dialect: Dialect,
        record: ConnectionPoolEntry,
        cargs: list[Any],
        cparams: dict[str, Any],
    ) -> Any:
        def attempt(credentials: Credentials) -> Any:
            params = dict(cparams)
            params[password_key] = credentials.password
            if credentials.user is not None and user_key is not None:
                params[user_key] = credentials.user
            connection = dialect.connect(*cargs, **params)
            record.info[VERSION_KEY] = credentials.version
            record.info[_FRESH_KEY] = True
            return connection

        return follower.connect_with(attempt, sleep=sleep)

    def checkout(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        if record.info.pop(_FRESH_KEY, False):
            return
        if follower.is_stale(record.info.get(VERSION_KEY, -1)):
            # The pool invalidates this connection and connects the same entry again.
            raise exc.DisconnectionError("credentials rotated: replacing an older connection")

    def checkin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        if dbapi_connection is not None and follower.is_stale(record.info.get(VERSION_KEY, -1)):
            record.invalidate()

    return (("do_connect", do_connect), ("checkout", checkout), ("checkin", checkin))


def follow_credentials(
    engine: Engine | AsyncEngine,
    *,
    password: str = "db_password",  # noqa: S107  (a secret name)
    user: str | None = None,
    store: SecretStore | None = None,
    dirs: DirsArg | None = None,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
    is_authentication_failure: Callable[[BaseException], bool] | None = None,
) -> CredentialFollower:
    """Make every new connection of ``engine`` log in with the current credentials.

    Args:
        engine: An ``Engine`` or ``AsyncEngine``. A password or user in its URL is replaced
            at each connect.
        password: The secret holding the password.
        user: The secret holding the user name (``None``: the URL's user). With one, the user
            and the password always come from the same snapshot (alternating-users rotation).
        store: Read this store (you start and close it); by default one is made for these
            secrets, started, and closed by ``detach()``.
        dirs: Secrets directories for the store made here.
        retry_seconds: How long a refused login is retried with re-read credentials.
        is_authentication_failure: Tells a refused login from other connect errors, for a
            driver runsecrets does not know.

    Returns:
        The handle: ``detach()`` removes the events (and closes a store made here); it also
        holds counters (``connects``, ``refusals``, ``failures``, ``changes``).

    Raises:
        ValueError: A secret name is not valid, or the dialect takes no password keyword.
    """
    sync_engine = _sync_engine(engine)
    user_key, password_key = _credential_keys(sync_engine)
    follower = CredentialFollower(
        CredentialSpec(password, user),
        store=store,
        dirs=dirs,
        retry_seconds=retry_seconds,
        is_authentication_failure=is_authentication_failure,
        label=f"sqlalchemy {sync_engine.dialect.name}",
    )
    hooks = _hooks(follower, user_key, password_key, is_async=sync_engine.dialect.is_async)
    for name, hook in hooks:
        event.listen(sync_engine, name, hook)

    def remove_hooks() -> None:
        for name, hook in hooks:
            event.remove(sync_engine, name, hook)

    follower.on_detach(remove_hooks)
    return follower
