"""The data layer: what following rotated credentials costs, and what a rotation costs under load.

On private servers started here (PostgreSQL, MariaDB, Redis, as the tests start them):

1. Added cost per new connection, per driver: a connection with the credentials followed from a
   store against the same connection with a static password, interleaved; the difference as a
   share of the static connect (target <= 5 %). The follower's own work per connect (the
   credentials from the snapshot, the staleness test) is timed alone too, being far below the
   noise of a whole connect.
2. Under load (4 threads, a new connection per operation, SQLAlchemy + psycopg and + PyMySQL):
   a one-user rotation (server, then the file 0.2 s later) and an alternating-users rotation;
   failed operations (target 0) and the p99 latency during the rotation window against the
   steady state before it.
3. From the secret's change (both files written) to the first connection logged in with the
   new credentials, made by a client the moment it hears of the change: median over
   alternating rotations (target <= 10 ms); beside it the store's publish latency (when the
   next connect takes the new credentials), the connect that follows, and one connect alone
   made in the same loop (see ``bench_latency``).

Run: ``.venv/bin/python benchmarks/bench_data.py`` (``--section 3``: that section alone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' server helpers
from _timing import time_calls, verdict

from runsecrets import SecretStore
from runsecrets.integrations._credentials import CredentialFollower
from runsecrets.integrations._spec import CredentialSpec
from runsecrets.testing import Load, SecretsDir, rotate_password, switch_user, wait_until
from tests._databases import Database, MariaDB, Postgres, connect_args
from tests._mariadb import running_mariadb
from tests._postgres import running_postgres
from tests._redis import running_redis

PAIRS = 200
LATENCY_ROTATIONS = 30


def paired(static: Callable[[], object], followed: Callable[[], object]) -> tuple[float, float]:
    """Median static time and median added time, over ``PAIRS`` interleaved pairs of single
    calls (the order inside each pair alternates, so drift and load hit both alike)."""
    static_times, added = [], []
    for i in range(PAIRS):
        order = (static, followed) if i % 2 else (followed, static)
        took = {}
        for call in order:
            start = time.perf_counter()
            call()
            took[call] = time.perf_counter() - start
        static_times.append(took[static])
        added.append(took[followed] - took[static])
    return statistics.median(static_times), statistics.median(added)


def _users(database: Database, directory: SecretsDir, password: str) -> tuple[str, str]:
    blue, green = (f"bench_{secrets.token_hex(3)}" for _ in range(2))
    database.create_user(blue, password)
    database.create_user(green, password + "-green")
    directory.write_all({"db_user": blue, "db_password": password})
    return blue, green


def _report(label: str, timings: tuple[float, float]) -> None:
    static, added = timings
    share = added / static
    print(
        f"  {label:30s} static connect {static * 1e3:7.3f} ms  added (median of pairs) "
        f"{added * 1e6:+7.1f} us = {share * 100:+5.1f} %  {verdict(share, 0.05)}"
    )


# ------------------------------------------------------------------ 1. cost per connection
def bench_sqlalchemy(
    database: Database, driver: str, directory: SecretsDir, user: str, password: str
) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from runsecrets.integrations.sqlalchemy import follow_credentials

    url = database.url(driver, user)
    is_async = driver in ("asyncpg", "aiomysql")
    make = create_async_engine if is_async else create_engine
    options: dict[str, object] = {"poolclass": NullPool, "connect_args": _connect_args(driver)}
    static = make(make_url(url).set(password=password), **options)
    followed = make(url, **options)
    follower = follow_credentials(followed, user="db_user", dirs=[directory.path])
    loop = asyncio.new_event_loop() if is_async else None
    query = text("SELECT 1")

    def connect(engine: object) -> Callable[[], None]:
        if loop is None:

            def once() -> None:
                with engine.connect() as connection:  # type: ignore[attr-defined]
                    connection.execute(query)

            return once

        async def aonce() -> None:
            async with engine.connect() as connection:  # type: ignore[attr-defined]
                await connection.execute(query)

        return lambda: loop.run_until_complete(aonce())

    _report(f"sqlalchemy {database.kind}+{driver}", paired(connect(static), connect(followed)))
    follower.detach()
    for engine in (static, followed):
        if loop is None:
            engine.dispose()
        else:
            loop.run_until_complete(engine.dispose())
    if loop is not None:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def bench_psycopg_pool_class(
    database: Postgres, directory: SecretsDir, user: str, password: str
) -> None:
    import psycopg
    from psycopg_pool import ConnectionPool

    from runsecrets.integrations.psycopg import follow_credentials

    server = database.server
    conninfo = f"host={server.host} port={server.port} dbname=postgres user={user}"
    pool = ConnectionPool(conninfo, open=False)
    follower = follow_credentials(pool, user="db_user", dirs=[directory.path])
    rotating = pool.connection_class

    def static() -> None:
        psycopg.Connection.connect(conninfo, password=password).close()

    def followed() -> None:
        rotating.connect(conninfo).close()

    _report("psycopg_pool connection class", paired(static, followed))
    follower.detach()


def bench_asyncpg(database: Postgres, directory: SecretsDir, user: str, password: str) -> None:
    import asyncpg

    from runsecrets.integrations.asyncpg import PoolCredentials

    server = database.server
    credentials = PoolCredentials(user="db_user", dirs=[directory.path])
    loop = asyncio.new_event_loop()
    args = {"host": server.host, "port": server.port, "database": "postgres", "user": user}

    async def static() -> None:
        await (await asyncpg.connect(**args, password=password)).close()

    async def followed() -> None:
        await (await credentials.connect(**args)).close()

    timings = paired(
        lambda: loop.run_until_complete(static()), lambda: loop.run_until_complete(followed())
    )
    _report("asyncpg connect= factory", timings)
    credentials.detach()
    loop.close()


def bench_redis(server: object, directory: SecretsDir, password: str) -> None:
    import redis

    from runsecrets.integrations.redis import CredentialProvider

    user = f"bench_{secrets.token_hex(3)}"
    server.add_user(user, password)  # type: ignore[attr-defined]
    directory.write_all({"redis_user": user, "redis_password": password})
    provider = CredentialProvider("redis_password", "redis_user", dirs=[directory.path])
    host, port = server.host, server.port  # type: ignore[attr-defined]

    def static() -> None:
        connection = redis.Connection(host=host, port=port, username=user, password=password)
        connection.connect()
        connection.disconnect()

    def followed() -> None:
        connection = redis.Connection(host=host, port=port, credential_provider=provider)
        connection.connect()
        connection.disconnect()

    _report("redis CredentialProvider", paired(static, followed))
    provider.close()


def bench_follower_alone(directory: SecretsDir) -> None:
    with SecretStore([directory.path], names=["db_user", "db_password"]) as store:
        follower = CredentialFollower(CredentialSpec("db_password", "db_user"), store=store)

        def per_connect() -> None:
            credentials = follower.connect_with(lambda c: c)
            follower.is_stale(credentials.version)

        medians = time_calls({"call": lambda: None, "follower": per_connect}, 15, 20_000)
        print(
            f"  the follower's own work per connect (credentials + retry frame + staleness): "
            f"{(medians['follower'] - medians['call']) * 1e6:.2f} us"
        )
        follower.detach()


def bench_checkout(database: Postgres, directory: SecretsDir, user: str, password: str) -> None:
    """A pooled engine's checkout and checkin (no connect): the two events added by
    follow_credentials run at each one."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from runsecrets.integrations.sqlalchemy import follow_credentials

    url = database.url("psycopg", user)
    static = create_engine(make_url(url).set(password=password), pool_size=1)
    followed = create_engine(url, pool_size=1)
    follower = follow_credentials(followed, user="db_user", dirs=[directory.path])
    medians = time_calls(
        {
            "static": lambda: static.connect().close(),
            "followed": lambda: followed.connect().close(),
        },
        15,
        2_000,
    )
    print(
        f"  pooled checkout+checkin (no connect): static {medians['static'] * 1e6:.1f} us, "
        f"followed {medians['followed'] * 1e6:.1f} us "
        f"({(medians['followed'] - medians['static']) * 1e6:+.1f} us)"
    )
    follower.detach()
    static.dispose()
    followed.dispose()


# ------------------------------------------------------------------ 2. under load
def _engine(database: Database) -> object:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    driver = "psycopg" if database.kind == "postgresql" else "pymysql"
    return create_engine(
        database.url(driver, "nobody"), poolclass=NullPool, connect_args=_connect_args(driver)
    )


_connect_args = connect_args  # PyMySQL: no TLS context per connect (see tests/_databases.py)


def _operation(engine: object, database: Database) -> Callable[[], None]:
    from sqlalchemy import text

    query = text(database.current_user_sql)

    def run() -> None:
        with engine.connect() as connection:  # type: ignore[attr-defined]
            connection.execute(query)

    return run


def bench_load(database: Database, root: Path) -> None:
    from runsecrets.integrations.sqlalchemy import follow_credentials

    for protocol in ("one user, server first", "one user, file first", "alternating users"):
        directory = SecretsDir(root / secrets.token_hex(4))
        password = secrets.token_hex(12)
        blue, green = _users(database, directory, password)
        engine = _engine(database)
        with follow_credentials(engine, user="db_user", dirs=[directory.path]) as follower:  # type: ignore[arg-type]
            with Load(_operation(engine, database), threads=4) as load:
                time.sleep(1.0)
                steady_end = start = load.mark()
                if protocol.startswith("one user"):
                    rotate_password(
                        directory,
                        password + "-2",
                        set_on_server=lambda p, user=blue: database.set_password(user, p),
                        order="server_first" if "server" in protocol else "file_first",
                        gap=0.2,
                    )
                else:
                    switch_user(
                        directory,
                        green,
                        password + "-green",
                        prepare=database.set_password,
                        retire=lambda user=blue: database.lock(user),
                        grace=0.3,
                    )
                wait_until(lambda: follower.changes >= 1)
                end = load.mark() + 0.1
                time.sleep(1.0)
            steady = load.percentile(99, end=steady_end)
            during = load.percentile(99, start, end)
            print(
                f"  {database.kind:10s} {protocol:24s} ops {load.operations:5d}  failed "
                f"{len(load.failures)}  refusals {follower.refusals:3d}  p99 steady "
                f"{steady * 1e3:6.2f} ms  during {during * 1e3:7.2f} ms  ({during / steady:5.1f}x)"
                f"  {verdict(len(load.failures), 0)}"
            )
        engine.dispose()  # type: ignore[attr-defined]
        for user in (blue, green):
            database.drop_user(user)


# ------------------------------------------------------------------ 3. change to connection
def bench_latency(database: Database, root: Path) -> None:
    """A client that connects the moment it hears of a change: from the secret's change (both
    files written) to that connection logged in with the new credentials and its query
    answered, over alternating rotations.

    The client hears from the follower itself (``on_change``, called once the new pair is
    the one the next connect takes); waiting on a store subscriber instead raced with the
    follower, which is told after the store's subscribers. The connect it is compared with
    is made in the same loop, after the same pause but with no rotation, so both meet the
    same machine (a back-to-back series of warm connects, measured afterwards, was faster
    than any first connect after a pause and made a gap appear that was not the rotation's).
    """
    from sqlalchemy import text

    from runsecrets.integrations.sqlalchemy import follow_credentials

    directory = SecretsDir(root / secrets.token_hex(4))
    password = secrets.token_hex(12)
    blue, green = _users(database, directory, password)
    passwords = {blue: password, green: password + "-green"}
    engine = _engine(database)
    query = text(database.current_user_sql)

    def connect_and_ask() -> str:
        with engine.connect() as connection:  # type: ignore[attr-defined]
            return str(connection.execute(query).scalar())

    store = SecretStore([directory.path], names=["db_user", "db_password"]).start()
    heard = threading.Event()
    change, publish, alone = [], [], []
    with follow_credentials(engine, user="db_user", store=store) as follower:  # type: ignore[arg-type]
        follower.on_change(heard.set)
        current = blue
        connect_and_ask()  # the engine's first connect initialises the dialect
        for _ in range(LATENCY_ROTATIONS):
            time.sleep(0.05)
            started = time.perf_counter()
            connect_and_ask()
            alone.append(time.perf_counter() - started)
            time.sleep(0.05)
            current = green if current == blue else blue
            heard.clear()
            directory.write_all({"db_user": current, "db_password": passwords[current]})
            written = time.perf_counter()
            if not heard.wait(5):
                raise TimeoutError("the follower never heard of the rotation")
            publish.append(time.perf_counter() - written)
            who = connect_and_ask()
            change.append(time.perf_counter() - written)
            assert who == current, (who, current)
    store.close()
    median = statistics.median(change)
    after = statistics.median(c - p for c, p in zip(change, publish, strict=True))
    added = statistics.median(c - a for c, a in zip(change, alone, strict=True))
    print(
        f"  {database.kind:10s} change -> first new connection: median {median * 1e3:5.2f} ms "
        f"(p90 {sorted(change)[int(len(change) * 0.9)] * 1e3:5.2f} ms) over {len(change)} "
        f"rotations; of which the store's publish {statistics.median(publish) * 1e3:4.2f} ms, "
        f"then connect+query {after * 1e3:4.2f} ms (one alone, interleaved: "
        f"{statistics.median(alone) * 1e3:4.2f} ms; the rotation adds {added * 1e3:+4.2f} ms "
        f"to it, median of pairs)  {verdict(median, 0.010)}"
    )
    engine.dispose()  # type: ignore[attr-defined]
    for user in (blue, green):
        database.drop_user(user)


@contextlib.contextmanager
def servers() -> Iterator[tuple[Postgres, MariaDB, object]]:
    with running_postgres() as pg, running_mariadb() as maria, running_redis() as cache:
        yield Postgres(pg), MariaDB(maria), cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--section", type=int, choices=(1, 2, 3), action="append", help="run only these"
    )
    sections = set(parser.parse_args().section or (1, 2, 3))
    with tempfile.TemporaryDirectory() as tmp, servers() as (pg, maria, cache):
        root = Path(tmp)
        if 1 in sections:
            cost_per_connection(pg, maria, cache, root)
        if 2 in sections:
            print(
                "\n2. Under load: 4 threads, a new connection per operation (SQLAlchemy, NullPool)"
            )
            for database in (pg, maria):
                bench_load(database, root)
        if 3 in sections:
            print("\n3. From the secret's change to the first connection with the new credentials")
            for database in (pg, maria):
                bench_latency(database, root)


def cost_per_connection(pg: Postgres, maria: MariaDB, cache: object, root: Path) -> None:
    print(f"1. Added cost per new connection ({PAIRS} interleaved pairs of connects)")
    for database, drivers in ((pg, ("psycopg", "asyncpg")), (maria, ("pymysql", "aiomysql"))):
        for driver in drivers:
            directory = SecretsDir(root / secrets.token_hex(4))
            password = secrets.token_hex(12)
            user, _ = _users(database, directory, password)
            bench_sqlalchemy(database, driver, directory, user, password)
    directory = SecretsDir(root / secrets.token_hex(4))
    password = secrets.token_hex(12)
    user, _ = _users(pg, directory, password)
    bench_psycopg_pool_class(pg, directory, user, password)
    bench_asyncpg(pg, directory, user, password)
    bench_redis(cache, SecretsDir(root / secrets.token_hex(4)), password)
    bench_follower_alone(directory)
    bench_checkout(pg, directory, user, password)


if __name__ == "__main__":
    main()
