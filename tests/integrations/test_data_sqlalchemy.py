"""``runsecrets.integrations.sqlalchemy.follow_credentials`` on real servers: PostgreSQL
(psycopg, asyncpg) and MariaDB (PyMySQL, aiomysql), sync and async engines."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

from runsecrets import CredentialsError, SecretStore
from runsecrets.integrations.sqlalchemy import follow_credentials
from runsecrets.testing import SecretsDir, wait_until

from .._databases import Database, Engine, MariaDB, Postgres, user_names
from ..conftest import leaked

DRIVERS = [
    ("postgresql", "psycopg"),
    ("postgresql", "asyncpg"),
    ("mariadb", "pymysql"),
    ("mariadb", "aiomysql"),
]


@pytest.fixture(params=DRIVERS, ids=[f"{kind}-{driver}" for kind, driver in DRIVERS])
def target(request: pytest.FixtureRequest) -> tuple[Database, str]:
    """A database and the driver to reach it with."""
    kind, driver = request.param
    pytest.importorskip(driver)
    if driver in ("asyncpg", "aiomysql"):
        pytest.importorskip("greenlet")
    if kind == "postgresql":
        return Postgres(request.getfixturevalue("postgres_server")), driver
    return MariaDB(request.getfixturevalue("mariadb_server")), driver


@pytest.fixture
def users(request: pytest.FixtureRequest, target: tuple[Database, str]) -> list[str]:
    """Names for fresh users on the target server; each is dropped at the end."""
    return user_names(request, target[0].drop_user)


def _engine(target: tuple[Database, str], user: str, **options: object) -> Engine:
    database, driver = target
    return Engine(database, driver, user, **options)


def test_each_new_connection_takes_the_current_password(
    target: tuple[Database, str], users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """After a rotation (database, then file), a new connection logs in with the new password;
    the old one is drained when returned. Nothing in logs or errors shows either value."""
    database, _ = target
    user = users[0]
    database.create_user(user, sentinel)
    secrets_dir.write("db_password", sentinel)
    engine = _engine(target, user, poolclass=_null_pool())
    with follow_credentials(engine.engine, dirs=[secrets_dir.path]) as followed:
        assert engine.current_user() == user
        database.set_password(user, sentinel + "-2")
        secrets_dir.write("db_password", sentinel + "-2")
        wait_until(lambda: followed.changes == 1)
        assert engine.current_user() == user
        assert followed.refusals == 0
        assert followed.connects == 2
        assert not leaked(sentinel, repr(followed), followed.status())
    engine.dispose()


def test_user_and_password_come_from_one_snapshot(
    target: tuple[Database, str], users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """Alternating users: the user and the password switch together; idle pooled connections
    are replaced at their next checkout, so every connection ends as the new user and the old
    user has no session left. No connection fails."""
    database, _ = target
    blue, green = users
    database.create_user(blue, sentinel)
    database.create_user(green, sentinel + "-green")
    secrets_dir.write_all({"db_user": blue, "db_password": sentinel})
    engine = _engine(target, "ignored", pool_size=3, max_overflow=0)
    with follow_credentials(engine.engine, user="db_user", dirs=[secrets_dir.path]) as followed:
        with engine.checked_out(), engine.checked_out():
            assert engine.current_user() == blue  # three connections now in the pool
        assert database.sessions(blue) == 3
        secrets_dir.write_all({"db_user": green, "db_password": sentinel + "-green"})
        wait_until(lambda: followed.changes == 1)
        with engine.checked_out() as a, engine.checked_out() as b, engine.checked_out() as c:
            assert {str(engine.scalar(x, database.current_user_sql)) for x in (a, b, c)} == {green}
        assert database.sessions(blue) == 0
        database.lock(blue)
        assert engine.current_user() == green
        assert followed.refusals == 0
    engine.dispose()


def test_a_checked_out_connection_is_closed_when_returned(
    target: tuple[Database, str], users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """A connection in use during a rotation keeps working, and is closed on its return."""
    database, _ = target
    blue, green = users
    database.create_user(blue, sentinel)
    database.create_user(green, sentinel + "-green")
    secrets_dir.write_all({"db_user": blue, "db_password": sentinel})
    engine = _engine(target, "ignored", pool_size=2, max_overflow=0)
    with follow_credentials(engine.engine, user="db_user", dirs=[secrets_dir.path]) as followed:
        with engine.checked_out() as held:
            secrets_dir.write_all({"db_user": green, "db_password": sentinel + "-green"})
            wait_until(lambda: followed.changes == 1)
            assert str(engine.scalar(held, database.current_user_sql)) == blue
            assert database.sessions(blue) == 1
        assert database.sessions(blue) == 0
        assert engine.current_user() == green
    engine.dispose()


@pytest.mark.parametrize("order", ["database_first", "file_first"])
def test_a_rotation_a_moment_apart_costs_latency_not_an_error(
    target: tuple[Database, str],
    users: list[str],
    secrets_dir: SecretsDir,
    sentinel: str,
    order: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server and the file change 0.3 s apart, in either order: a connect in between is
    refused, re-reads the store and retries with backoff until the second step lands."""
    database, _ = target
    user = users[0]
    database.create_user(user, sentinel)
    secrets_dir.write("db_password", sentinel)
    engine = _engine(target, user, poolclass=_null_pool())
    new = sentinel + "-2"
    steps = [
        lambda: database.set_password(user, new),
        lambda: secrets_dir.write("db_password", new),
    ]
    if order == "file_first":
        steps.reverse()
    with follow_credentials(engine.engine, dirs=[secrets_dir.path]) as followed:
        steps[0]()
        wait_until(lambda: order == "database_first" or followed.changes == 1)
        second = threading.Timer(0.3, steps[1])
        second.start()
        try:
            started = time.monotonic()
            assert engine.current_user() == user
            waited = time.monotonic() - started
        finally:
            second.join()
        assert followed.refusals >= 1
        assert waited >= 0.25
        assert followed.failures == 0
        assert any("retrying" in r.getMessage() for r in caplog.records)
    engine.dispose()


def test_a_login_refused_past_the_retry_time_is_a_clear_error(
    target: tuple[Database, str], users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """A wrong password is retried for ``retry_seconds`` (again after 0.5 s, then 1 s: the
    refused credentials back off), then CredentialsError names the secret and the file, with
    the driver's error type, and without the value or its context."""
    database, _ = target
    user = users[0]
    database.create_user(user, sentinel + "-right")
    secrets_dir.write("db_password", sentinel)
    engine = _engine(target, user, poolclass=_null_pool())
    with follow_credentials(engine.engine, dirs=[secrets_dir.path], retry_seconds=1.6) as followed:
        started = time.monotonic()
        with pytest.raises(CredentialsError) as info:
            engine.current_user()
        elapsed = time.monotonic() - started
    error = _credentials_error(info.value)
    assert error.reason == "refused"
    assert error.secrets == ("db_password",)
    assert error.attempts == 3  # at 0, 0.5 and 1.5 s; the next would be past the deadline
    assert 1.55 <= elapsed < 4
    assert error.driver_error
    assert str(secrets_dir.path / "db_password") in error.message
    assert error.__cause__ is None
    assert error.__context__ is None
    assert followed.failures == 1
    assert not leaked(sentinel, error.message, repr(error))
    engine.dispose()


@pytest.mark.parametrize("problem", ["missing", "empty", "user_without_password"])
def test_incomplete_credentials_fail_the_connect_and_the_pool_keeps_serving(
    target: tuple[Database, str],
    users: list[str],
    secrets_dir: SecretsDir,
    sentinel: str,
    problem: str,
) -> None:
    """A credential secret missing or empty, or a new user whose password is gone: the connect
    fails with CredentialsError naming the secret and where it was looked for; the new user is
    never combined with the old password; a pooled connection keeps working."""
    database, _ = target
    blue, green = users
    database.create_user(blue, sentinel)
    secrets_dir.write_all({"db_user": blue, "db_password": sentinel})
    engine = _engine(target, "ignored", pool_size=1, max_overflow=1)
    store = SecretStore([secrets_dir.path], names=["db_user", "db_password"], allow_empty=True)
    with store, follow_credentials(engine.engine, user="db_user", store=store) as followed:
        assert engine.current_user() == blue  # one connection now idle in the pool
        if problem == "missing":
            secrets_dir.remove("db_password")
        elif problem == "empty":
            secrets_dir.write("db_password", "")
        else:
            secrets_dir.remove("db_password")
            secrets_dir.write("db_user", green)
        wait_until(lambda: "db_password" not in store or store.get("db_password") == "")
        time.sleep(0.1)
        with engine.checked_out() as pooled:
            assert str(engine.scalar(pooled, database.current_user_sql)) == blue
            with pytest.raises(CredentialsError) as info:
                engine.current_user()  # needs a second connection
        error = _credentials_error(info.value)
        assert error.reason == ("empty" if problem == "empty" else "not_found")
        assert error.name == "db_password"
        assert str(secrets_dir.path / "db_password") in " ".join(error.searched)
        assert followed.changes == 0
        assert not leaked(sentinel, error.message, repr(error))
    engine.dispose()


def test_detach_restores_the_engine(
    target: tuple[Database, str], users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """After detach() the engine connects with its URL's settings again (here: no password,
    refused) and the store made for it is closed."""
    database, _ = target
    user = users[0]
    database.create_user(user, sentinel)
    secrets_dir.write("db_password", sentinel)
    engine = _engine(target, user, poolclass=_null_pool())
    followed = follow_credentials(engine.engine, dirs=[secrets_dir.path])
    assert engine.current_user() == user
    followed.detach()
    followed.detach()
    assert not followed.attached
    assert not followed.store.running
    with pytest.raises(Exception) as info:  # noqa: PT011  (the driver's own error)
        engine.current_user()
    assert not isinstance(info.value, CredentialsError)
    engine.dispose()


def test_bad_arguments_are_refused_before_any_connect(tmp_path: Path) -> None:
    """Bad secret names, a negative retry time, a store and dirs together, and a dialect that
    takes no password keyword are ValueErrors at set-up."""
    from sqlalchemy import create_engine

    engine = create_engine("postgresql+psycopg://app@127.0.0.1:1/app")
    with pytest.raises(ValueError, match="password"):
        follow_credentials(engine, password="")
    with pytest.raises(ValueError, match="two secrets"):
        follow_credentials(engine, password="db", user="db")
    with pytest.raises(ValueError, match="retry_seconds"):
        follow_credentials(engine, dirs=[tmp_path], retry_seconds=-1)
    with SecretStore([tmp_path]) as store, pytest.raises(ValueError, match="not both"):
        follow_credentials(engine, store=store, dirs=[tmp_path])
    with pytest.raises(ValueError, match="password as a keyword"):
        follow_credentials(create_engine("sqlite://"), dirs=[tmp_path])


def _credentials_error(error: BaseException) -> CredentialsError:
    """The CredentialsError itself, or the one SQLAlchemy wrapped (async pools wrap nothing,
    sync ones pass it through)."""
    if isinstance(error, CredentialsError):
        return error
    orig = getattr(error, "orig", None)
    assert isinstance(orig, CredentialsError), repr(error)
    return orig


def _null_pool() -> object:
    from sqlalchemy.pool import NullPool

    return NullPool


logging.getLogger("sqlalchemy.pool").setLevel(logging.DEBUG)


def test_a_checkout_survives_credentials_changing_during_every_connect(
    postgres_server: object, tmp_path: Path, sentinel: str
) -> None:
    """Rotations faster than connects (each connect sees the credentials change under it): a
    connection just made is used once, never refused at its checkout, and closed on return;
    SQLAlchemy's three reconnect attempts never run out."""
    from sqlalchemy import event

    database = Postgres(postgres_server)  # type: ignore[arg-type]
    blue, green = (f"app_{secrets.token_hex(4)}" for _ in range(2))
    passwords = {blue: sentinel, green: sentinel + "-green"}
    for name, password in passwords.items():
        database.create_user(name, password)
    directory = SecretsDir(tmp_path / "secrets")
    directory.write_all({"db_user": blue, "db_password": sentinel})
    engine = Engine(database, "psycopg", "ignored", pool_size=1, max_overflow=0)
    store = SecretStore([directory.path], names=["db_user", "db_password"])
    turn = [blue]

    def rotate_during_connect(dbapi_connection: object, record: object) -> None:
        turn[0] = green if turn[0] == blue else blue
        directory.write_all({"db_user": turn[0], "db_password": passwords[turn[0]]})
        store.reload()  # publishes now, in this thread: the new connection is already stale

    try:
        with follow_credentials(engine.engine, user="db_user", store=store) as followed:
            assert engine.current_user() == blue
            rotate_during_connect(None, None)  # the pooled blue connection is now stale
            event.listen(engine.engine, "connect", rotate_during_connect)
            with engine.checked_out():  # replaced; its successor is stale the moment it exists
                pass
            event.remove(engine.engine, "connect", rotate_during_connect)
            assert followed.changes >= 2
            assert engine.current_user() == turn[0]
    finally:
        store.close()
        engine.dispose()
        for name in passwords:
            database.drop_user(name)
