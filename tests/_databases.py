"""The databases the data-layer tests run on, behind one small interface.

A :class:`Database` is a private server (PostgreSQL or MariaDB) with the statements a rotation
needs (create a user, change its password, lock it, count its sessions); an :class:`Engine`
is a SQLAlchemy engine on it, sync or async, driven from the test's thread (an async one runs
on an event loop of its own).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

TYPE_CHECKING = False
if TYPE_CHECKING:
    import pytest

    from ._mariadb import MariaDBServer
    from ._postgres import PostgresServer


def user_names(
    request: pytest.FixtureRequest, drop: Callable[[str], object], count: int = 2
) -> list[str]:
    """Fresh user names for one test; each is dropped (with its sessions) at the end."""
    names = [f"app_{secrets.token_hex(4)}" for _ in range(count)]

    def drop_all() -> None:
        for name in names:
            drop(name)

    request.addfinalizer(drop_all)
    return names


class Database:
    """One server and the SQL of its rotation steps."""

    kind = ""

    def url(self, driver: str, user: str) -> str:
        raise NotImplementedError

    def create_user(self, name: str, password: str) -> None:
        raise NotImplementedError

    def set_password(self, name: str, password: str) -> None:
        raise NotImplementedError

    def lock(self, name: str) -> None:
        raise NotImplementedError

    def sessions(self, name: str) -> int:
        raise NotImplementedError

    def drop_user(self, name: str) -> None:
        raise NotImplementedError

    #: Selects the session's user name.
    current_user_sql = ""


class Postgres(Database):
    kind = "postgresql"
    current_user_sql = "SELECT current_user"

    def __init__(self, server: PostgresServer) -> None:
        self.server = server

    def url(self, driver: str, user: str) -> str:
        return f"postgresql+{driver}://{user}@{self.server.host}:{self.server.port}/postgres"

    def create_user(self, name: str, password: str) -> None:
        # psycopg cannot bind parameters in utility statements; test passwords are hex-safe.
        self.server.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")

    def set_password(self, name: str, password: str) -> None:
        self.server.execute(f"ALTER ROLE {name} PASSWORD '{password}'")

    def lock(self, name: str) -> None:
        self.server.execute(f"ALTER ROLE {name} NOLOGIN")

    def sessions(self, name: str) -> int:
        rows = self.server.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (name,)
        )
        return int(str(rows[0][0]))

    def drop_user(self, name: str) -> None:
        self.server.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
        )
        self.server.execute(f"DROP ROLE IF EXISTS {name}")


class MariaDB(Database):
    kind = "mariadb"
    current_user_sql = "SELECT SUBSTRING_INDEX(USER(), '@', 1)"

    def __init__(self, server: MariaDBServer) -> None:
        self.server = server

    def url(self, driver: str, user: str) -> str:
        return f"mysql+{driver}://{user}@{self.server.host}:{self.server.port}/"

    def create_user(self, name: str, password: str) -> None:
        self.server.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (name, password))

    def set_password(self, name: str, password: str) -> None:
        self.server.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (name, password))

    def lock(self, name: str) -> None:
        self.server.execute("ALTER USER %s@'%%' ACCOUNT LOCK", (name,))

    def sessions(self, name: str) -> int:
        rows = self.server.execute(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (name,)
        )
        return int(str(rows[0][0]))

    def drop_user(self, name: str) -> None:
        for (session,) in self.server.execute(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (name,)
        ):
            self.server.execute(f"KILL {int(str(session))}")
        self.server.execute("DROP USER IF EXISTS %s@'%%'", (name,))


def connect_args(driver: str) -> dict[str, Any]:
    """The driver's connect arguments for these servers. PyMySQL 1.2 builds a default TLS
    context (the system's CA bundle, about 20 ms of CPU) for every connection unless told the
    server speaks plain TCP, as the test servers do: on a 2-core CI machine that alone would
    make the tests' load mostly that."""
    return {"ssl_disabled": True} if driver == "pymysql" else {}


class Engine:
    """A SQLAlchemy engine (``create_engine`` or ``create_async_engine``) used synchronously."""

    def __init__(self, database: Database, driver: str, user: str, **options: Any) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.ext.asyncio import create_async_engine

        self.database = database
        self.is_async = driver in ("asyncpg", "aiomysql")
        url = database.url(driver, user)
        self.loop = asyncio.new_event_loop() if self.is_async else None
        options.setdefault("connect_args", connect_args(driver))
        self.engine: Any = (create_async_engine if self.is_async else create_engine)(url, **options)

    def run(self, coroutine: Any) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(coroutine)

    def current_user(self) -> str:
        """Check a connection out, ask the server who it is, return it to the pool."""
        from sqlalchemy import text

        query = text(self.database.current_user_sql)
        if self.is_async:

            async def ask() -> str:
                async with self.engine.connect() as connection:
                    return str((await connection.execute(query)).scalar())

            return str(self.run(ask()))
        with self.engine.connect() as connection:
            return str(connection.execute(query).scalar())

    @contextmanager
    def checked_out(self) -> Iterator[Any]:
        """Hold one connection checked out for the duration of the block."""
        if self.is_async:
            connection = self.run(self.engine.connect())
            try:
                yield connection
            finally:
                self.run(connection.close())
        else:
            with self.engine.connect() as connection:
                yield connection

    def scalar(self, connection: Any, sql: str) -> object:
        from sqlalchemy import text

        if self.is_async:
            return self.run(connection.scalar(text(sql)))
        return connection.scalar(text(sql))

    def dispose(self) -> None:
        if self.is_async:
            self.run(self.engine.dispose())
            assert self.loop is not None
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()
        else:
            self.engine.dispose()
