"""Both rotation protocols end to end, under load (4 threads, a new connection per operation),
through the public names: ``follow_credentials`` (SQLAlchemy on PostgreSQL and MariaDB) and
``CredentialProvider`` (redis-py). Zero failed operations in every case; the helpers are
``runsecrets.testing``'s, the ones a user's own tests would use."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

from runsecrets.integrations.sqlalchemy import follow_credentials
from runsecrets.testing import Load, SecretsDir, rotate_password, switch_user, wait_until

from .._databases import Database, MariaDB, Postgres, connect_args, user_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._redis import RedisServer

DRIVERS = [("postgresql", "psycopg"), ("mariadb", "pymysql")]
STEADY = 0.4  # seconds of load before and after each rotation


@pytest.fixture(params=DRIVERS, ids=[f"{k}-{d}" for k, d in DRIVERS])
def database(request: pytest.FixtureRequest) -> Database:
    kind, driver = request.param
    pytest.importorskip(driver)
    if kind == "postgresql":
        return Postgres(request.getfixturevalue("postgres_server"))
    return MariaDB(request.getfixturevalue("mariadb_server"))


@pytest.fixture
def users(request: pytest.FixtureRequest, database: Database) -> list[str]:
    return user_names(request, database.drop_user)


def _engine(database: Database, user: str) -> object:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    driver = "psycopg" if database.kind == "postgresql" else "pymysql"
    return create_engine(
        database.url(driver, user), poolclass=NullPool, connect_args=connect_args(driver)
    )


def _who(engine: object, database: Database) -> str:
    from sqlalchemy import text

    with engine.connect() as connection:  # type: ignore[attr-defined]
        return str(connection.execute(text(database.current_user_sql)).scalar())


@pytest.mark.slow
@pytest.mark.parametrize("order", ["server_first", "file_first"])
def test_one_user_rotation_under_load_fails_no_operation(
    database: Database, users: list[str], tmp_path: Path, sentinel: str, order: str
) -> None:
    """One user, its password changed on the server and in the file 0.2 s apart: logins in
    between are refused and retried; every operation succeeds."""
    user = users[0]
    database.create_user(user, sentinel)
    secrets_dir = SecretsDir(tmp_path / "secrets")
    secrets_dir.write("db_password", sentinel)
    engine = _engine(database, user)
    with follow_credentials(engine, dirs=[secrets_dir.path]) as followed:  # type: ignore[arg-type]
        with Load(lambda: _who(engine, database), threads=4) as load:
            time.sleep(STEADY)
            start = load.mark()
            rotate_password(
                secrets_dir,
                sentinel + "-2",
                set_on_server=lambda p: database.set_password(user, p),
                order=order,
                gap=0.2,
            )
            wait_until(lambda: followed.changes == 1)
            end = load.mark()
            time.sleep(STEADY)
        assert load.failures == []
        assert load.operations > 20
        assert followed.refusals >= 1
        assert load.percentile(99, start, end) < followed.retry_seconds
    engine.dispose()  # type: ignore[attr-defined]


@pytest.mark.slow
def test_alternating_users_under_load_refuses_no_login(
    database: Database, users: list[str], tmp_path: Path, sentinel: str
) -> None:
    """The standby user gets a new password, the secrets switch, the old user is locked after
    a grace period: not one login is refused, every operation succeeds, and the operations
    after the switch all run as the new user."""
    blue, green = users
    database.create_user(blue, sentinel)
    database.create_user(green, secrets.token_hex(8))
    secrets_dir = SecretsDir(tmp_path / "secrets")
    secrets_dir.write_all({"db_user": blue, "db_password": sentinel})
    engine = _engine(database, "nobody")
    seen: list[str] = []

    def operation() -> None:
        seen.append(_who(engine, database))

    with follow_credentials(engine, user="db_user", dirs=[secrets_dir.path]) as followed:  # type: ignore[arg-type]
        with Load(operation, threads=4) as load:
            time.sleep(STEADY)
            switch_user(
                secrets_dir,
                green,
                sentinel + "-green",
                prepare=database.set_password,
                retire=lambda: database.lock(blue),
                grace=0.5,
            )
            seen.clear()
            time.sleep(STEADY)
        assert load.failures == []
        assert followed.refusals == 0
        assert set(seen) == {green}
    engine.dispose()  # type: ignore[attr-defined]


# ------------------------------------------------------------------------ Redis
@pytest.fixture
def redis_users(request: pytest.FixtureRequest, redis_server: RedisServer) -> list[str]:
    return user_names(request, redis_server.drop_user)


def _redis_operation(options: dict[str, object]) -> str:
    """A new connection (AUTH with the provider's credentials), ACL WHOAMI, disconnect."""
    import redis

    connection = redis.Connection(**options)  # type: ignore[arg-type]
    try:
        connection.connect()
        connection.send_command("ACL", "WHOAMI")
        return str(connection.read_response())
    finally:
        connection.disconnect()


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["two_passwords", "server_first", "file_first", "alternating"])
def test_redis_rotations_under_load_fail_no_operation(
    redis_server: RedisServer, redis_users: list[str], tmp_path: Path, sentinel: str, protocol: str
) -> None:
    """redis-py through CredentialProvider: one user with two ACL passwords for a moment, one
    user whose only password is replaced (either order, covered by rotation_retry()), and
    alternating users: every operation succeeds."""
    pytest.importorskip("redis")
    from runsecrets.integrations.redis import CredentialProvider, rotation_retry

    blue, green = redis_users
    redis_server.add_user(blue, sentinel)
    redis_server.add_user(green, secrets.token_hex(8))
    secrets_dir = SecretsDir(tmp_path / "secrets")
    secrets_dir.write_all({"redis_user": blue, "redis_password": sentinel})
    provider = CredentialProvider("redis_password", "redis_user", dirs=[secrets_dir.path])
    options: dict[str, object] = {
        "host": redis_server.host,
        "port": redis_server.port,
        "credential_provider": provider,
        "retry": rotation_retry(5.0),
    }
    new = sentinel + "-2"
    try:
        with Load(lambda: _redis_operation(options), threads=4) as load:
            time.sleep(STEADY)
            if protocol == "two_passwords":
                redis_server.set_user(blue, f">{new}")
                secrets_dir.write("redis_password", new)
                wait_until(lambda: provider.follower.changes == 1)
                redis_server.set_user(blue, f"<{sentinel}")
            elif protocol == "alternating":
                switch_user(
                    secrets_dir,
                    green,
                    new,
                    prepare=lambda u, p: redis_server.set_user(u, "resetpass", f">{p}"),
                    retire=lambda: redis_server.set_user(blue, "off"),
                    user_secret="redis_user",
                    password_secret="redis_password",
                    grace=0.5,
                )
            else:
                rotate_password(
                    secrets_dir,
                    new,
                    set_on_server=lambda p: redis_server.set_user(blue, "resetpass", f">{p}"),
                    secret="redis_password",
                    order=protocol,
                    gap=0.2,
                )
            time.sleep(STEADY)
        assert load.failures == []
        assert load.operations > 20
    finally:
        provider.close()
