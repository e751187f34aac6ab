"""psycopg_pool (sync and async) and asyncpg pools following rotated credentials on a real
PostgreSQL: current credentials per connection, drain on change, bounded retry."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

pytest.importorskip("psycopg_pool")

import psycopg_pool

from runsecrets import CredentialsError
from runsecrets.testing import SecretsDir, wait_until

from .._databases import Postgres, user_names
from ..conftest import leaked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._postgres import PostgresServer


@pytest.fixture
def database(postgres_server: PostgresServer) -> Postgres:
    return Postgres(postgres_server)


@pytest.fixture
def users(request: pytest.FixtureRequest, database: Postgres) -> list[str]:
    return user_names(request, database.drop_user)


def _conninfo(database: Postgres) -> str:
    return f"host={database.server.host} port={database.server.port} dbname=postgres user=nobody"


def _alternate(
    database: Postgres, users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    blue, green = users
    database.create_user(blue, sentinel)
    database.create_user(green, sentinel + "-green")
    secrets_dir.write_all({"db_user": blue, "db_password": sentinel})


# ------------------------------------------------------------------------ psycopg_pool, sync
def test_psycopg_pool_drains_on_an_alternating_rotation(
    database: Postgres, users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """Connections log in as the current user; the switch drains the pool at once (idle ones
    closed and replaced, the checked-out one closed when returned); no login is refused."""
    from runsecrets.integrations.psycopg import follow_credentials

    blue, green = users
    _alternate(database, users, secrets_dir, sentinel)
    pool = psycopg_pool.ConnectionPool(_conninfo(database), min_size=3, open=False)
    with follow_credentials(pool, user="db_user", dirs=[secrets_dir.path]) as followed:
        pool.open(wait=True)
        assert database.sessions(blue) == 3
        with pool.connection() as held:
            secrets_dir.write_all({"db_user": green, "db_password": sentinel + "-green"})
            wait_until(lambda: database.sessions(blue) == 1 and database.sessions(green) >= 2)
            assert held.execute("SELECT current_user").fetchone() == (blue,)
        wait_until(lambda: database.sessions(blue) == 0)
        with pool.connection() as connection:
            assert connection.execute("SELECT current_user").fetchone() == (green,)
        assert followed.refusals == 0
        assert followed.changes == 1
        assert not leaked(sentinel, repr(pool.connection_class), followed.status())
        pool.close()
    assert pool.connection_class.__module__.startswith("psycopg")


def test_psycopg_pool_drains_again_a_connection_that_reached_it_after_the_drain(
    database: Postgres, users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """A connection made with the old user, its connect returned but the pool's configure step
    still running when the switch drains the pool: it lands in the pool after the drain, and
    the second drain replaces it (no session of the old user stays)."""
    from runsecrets.integrations.psycopg import follow_credentials

    blue, green = users
    _alternate(database, users, secrets_dir, sentinel)
    connected, drained = threading.Event(), threading.Event()

    def configure(connection: object) -> None:
        if not connected.is_set():  # the first connection only: held until the drain ran
            connected.set()
            assert drained.wait(10)

    pool = psycopg_pool.ConnectionPool(
        _conninfo(database), min_size=1, max_size=1, configure=configure, open=False
    )
    with follow_credentials(pool, user="db_user", dirs=[secrets_dir.path]) as followed:
        followed.on_change(drained.set)  # called after the pool's drain
        pool.open(wait=False)
        assert connected.wait(10)
        secrets_dir.write_all({"db_user": green, "db_password": sentinel + "-green"})
        wait_until(lambda: database.sessions(blue) == 0 and database.sessions(green) == 1)
        with pool.connection() as connection:
            assert connection.execute("SELECT current_user").fetchone() == (green,)
        pool.close()


@pytest.mark.parametrize("order", ["database_first", "file_first"])
def test_psycopg_pool_retries_a_refused_login_while_the_rotation_completes(
    database: Postgres, users: list[str], secrets_dir: SecretsDir, sentinel: str, order: str
) -> None:
    """One user, its password changed 0.3 s before (or after) the file: the pool's new
    connection is retried with backoff and succeeds; the client only waits."""
    from runsecrets.integrations.psycopg import follow_credentials

    user = users[0]
    database.create_user(user, sentinel)
    secrets_dir.write("db_password", sentinel)
    pool = psycopg_pool.ConnectionPool(
        _conninfo(database).replace("nobody", user), min_size=0, max_size=1, open=False
    )
    steps = [
        lambda: database.set_password(user, sentinel + "-2"),
        lambda: secrets_dir.write("db_password", sentinel + "-2"),
    ]
    if order == "file_first":
        steps.reverse()
    with follow_credentials(pool, dirs=[secrets_dir.path]) as followed:
        pool.open()
        steps[0]()
        wait_until(lambda: order == "database_first" or followed.changes == 1)
        later = threading.Timer(0.3, steps[1])
        later.start()
        try:
            with pool.connection(timeout=10) as connection:
                assert connection.execute("SELECT current_user").fetchone() == (user,)
        finally:
            later.join()
        assert followed.refusals >= 1
        assert followed.failures == 0
        pool.close()


def test_psycopg_pool_keeps_serving_while_a_secret_is_missing(
    database: Postgres,
    users: list[str],
    secrets_dir: SecretsDir,
    sentinel: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The password file removed: the open connection keeps working, a new one cannot be made
    (the pool logs CredentialsError naming the secret and the file; the client times out)."""
    from runsecrets.integrations.psycopg import follow_credentials

    user = users[0]
    database.create_user(user, sentinel)
    secrets_dir.write("db_password", sentinel)
    pool = psycopg_pool.ConnectionPool(
        _conninfo(database).replace("nobody", user), min_size=1, max_size=2, open=False
    )
    with follow_credentials(pool, dirs=[secrets_dir.path]) as followed:
        pool.open(wait=True)
        secrets_dir.remove("db_password")
        wait_until(lambda: "db_password" not in followed.store)
        with pool.connection() as first:
            assert first.execute("SELECT 1").fetchone() == (1,)
            with pytest.raises(psycopg_pool.PoolTimeout):
                pool.getconn(timeout=0.5)
        assert any(
            "credentials:" in r.getMessage()
            and str(secrets_dir.path / "db_password") in r.getMessage()
            for r in caplog.records
        )
        pool.close()


def test_psycopg_pool_refused_past_the_retry_time(
    database: Postgres,
    users: list[str],
    secrets_dir: SecretsDir,
    sentinel: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A wrong password: after retry_seconds the connect fails with CredentialsError
    (``refused``) in the pool's log, without the value; the client times out."""
    from runsecrets.integrations.psycopg import follow_credentials

    user = users[0]
    database.create_user(user, sentinel + "-right")
    secrets_dir.write("db_password", sentinel)
    pool = psycopg_pool.ConnectionPool(
        _conninfo(database).replace("nobody", user), min_size=0, max_size=1, open=False
    )
    with follow_credentials(pool, dirs=[secrets_dir.path], retry_seconds=0.3) as followed:
        pool.open()
        with pytest.raises(psycopg_pool.PoolTimeout):
            pool.getconn(timeout=1.5)
        pool.close()
    assert followed.failures >= 1
    assert any(
        "refused the login with secrets 'db_password'" in r.getMessage() for r in caplog.records
    )


def test_pool_detach_and_bad_input(secrets_dir: SecretsDir) -> None:
    """detach() gives the pool its connection class back; a non-pool is a TypeError; bad
    secret names and retry times are ValueErrors (psycopg_pool and asyncpg)."""
    from runsecrets.integrations.psycopg import follow_credentials

    secrets_dir.write("db_password", "x")
    pool = psycopg_pool.ConnectionPool("", open=False)
    original = pool.connection_class
    followed = follow_credentials(pool, dirs=[secrets_dir.path])
    assert pool.connection_class is not original
    assert issubclass(pool.connection_class, original)
    followed.detach()
    assert pool.connection_class is original
    with pytest.raises(TypeError, match="psycopg_pool"):
        follow_credentials(object(), dirs=[secrets_dir.path])  # type: ignore[arg-type]
    pytest.importorskip("asyncpg")
    from runsecrets.integrations.asyncpg import PoolCredentials

    with pytest.raises(ValueError, match="password"):
        PoolCredentials(password="", dirs=[secrets_dir.path])
    with pytest.raises(ValueError, match="retry_seconds"):
        PoolCredentials(dirs=[secrets_dir.path], retry_seconds=-1)


# ------------------------------------------------------------------------ psycopg_pool, async
def test_async_psycopg_pool_drains_on_the_pools_loop(
    database: Postgres, users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """An AsyncConnectionPool: the drain runs on the pool's loop (the change is seen in the
    watcher's thread); new connections are the new user, none refused."""
    from runsecrets.integrations.psycopg import follow_credentials

    blue, green = users
    _alternate(database, users, secrets_dir, sentinel)

    async def main() -> None:
        pool = psycopg_pool.AsyncConnectionPool(_conninfo(database), min_size=2, open=False)
        with follow_credentials(pool, user="db_user", dirs=[secrets_dir.path]) as followed:
            await pool.open(wait=True)
            assert database.sessions(blue) == 2
            secrets_dir.write_all({"db_user": green, "db_password": sentinel + "-green"})
            for _ in range(500):
                if database.sessions(blue) == 0:
                    break
                await asyncio.sleep(0.01)
            assert database.sessions(blue) == 0
            async with pool.connection() as connection:
                row = await (await connection.execute("SELECT current_user")).fetchone()
                assert row == (green,)
            assert followed.refusals == 0
            await pool.close()

    asyncio.run(main())


# ------------------------------------------------------------------------ asyncpg
async def _asyncpg_pool(
    database: Postgres, credentials: object, user: str, **options: int
) -> object:
    """An asyncpg pool on the private server whose connections come from ``credentials``."""
    import asyncpg

    return await asyncpg.create_pool(
        host=database.server.host,
        port=database.server.port,
        database="postgres",
        user=user,
        connect=credentials.connect,  # type: ignore[attr-defined]
        **options,
    )


def test_asyncpg_pool_follows_an_alternating_rotation(
    database: Postgres, users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """asyncpg's ``connect=`` factory logs in as the current user; a change expires the pool
    (idle connections replaced at the next acquire, the one in use closed on release)."""
    pytest.importorskip("asyncpg")
    from runsecrets.integrations.asyncpg import PoolCredentials

    blue, green = users
    _alternate(database, users, secrets_dir, sentinel)

    async def main() -> None:
        with PoolCredentials(user="db_user", dirs=[secrets_dir.path]) as credentials:
            pool = await _asyncpg_pool(database, credentials, "nobody", min_size=2, max_size=2)
            credentials.follow(pool)
            held = await pool.acquire()
            assert await held.fetchval("SELECT current_user") == blue
            secrets_dir.write_all({"db_user": green, "db_password": sentinel + "-green"})
            for _ in range(500):
                if credentials.changes:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the expiry runs on this loop
            async with pool.acquire() as other:
                assert await other.fetchval("SELECT current_user") == green
            assert await held.fetchval("SELECT current_user") == blue
            await pool.release(held)
            for _ in range(200):
                if database.sessions(blue) == 0:
                    break
                await asyncio.sleep(0.01)
            assert database.sessions(blue) == 0
            assert credentials.refusals == 0
            await pool.close()

    asyncio.run(main())


@pytest.mark.parametrize("order", ["database_first", "file_first"])
def test_asyncpg_pool_retries_a_refused_login(
    database: Postgres, users: list[str], secrets_dir: SecretsDir, sentinel: str, order: str
) -> None:
    """The server and the file 0.3 s apart: acquire() waits for the retry, never fails."""
    pytest.importorskip("asyncpg")
    from runsecrets.integrations.asyncpg import PoolCredentials

    user = users[0]
    database.create_user(user, sentinel)
    secrets_dir.write("db_password", sentinel)
    steps = [
        lambda: database.set_password(user, sentinel + "-2"),
        lambda: secrets_dir.write("db_password", sentinel + "-2"),
    ]
    if order == "file_first":
        steps.reverse()

    async def main() -> None:
        with PoolCredentials(dirs=[secrets_dir.path]) as credentials:
            pool = await _asyncpg_pool(database, credentials, user, min_size=0)
            steps[0]()
            for _ in range(500):
                if order == "database_first" or credentials.changes:
                    break
                await asyncio.sleep(0.01)
            asyncio.get_running_loop().call_later(0.3, steps[1])
            async with pool.acquire() as connection:
                assert await connection.fetchval("SELECT current_user") == user
            assert credentials.refusals >= 1
            await pool.close()

    asyncio.run(main())


def test_asyncpg_refused_past_the_retry_time_is_a_clear_error(
    database: Postgres, users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """A wrong password: CredentialsError (``refused``) from acquire(), without the value."""
    pytest.importorskip("asyncpg")
    from runsecrets.integrations.asyncpg import PoolCredentials

    user = users[0]
    database.create_user(user, sentinel + "-right")
    secrets_dir.write("db_password", sentinel)

    async def main() -> CredentialsError:
        with PoolCredentials(dirs=[secrets_dir.path], retry_seconds=0.3) as credentials:
            pool = await _asyncpg_pool(database, credentials, user, min_size=0)
            try:
                with pytest.raises(CredentialsError) as info:
                    await pool.acquire()
            finally:
                await pool.close()
            return info.value

    error = asyncio.run(main())
    assert error.reason == "refused"
    assert error.code == "28P01"
    assert not leaked(sentinel, error.message, repr(error))


logging.getLogger("psycopg.pool").setLevel(logging.DEBUG)
