"""Django on a real PostgreSQL: ``OPTIONS["pool"]`` following rotated credentials, and
``SECRET_KEY`` rotated into ``SECRET_KEY_FALLBACKS``."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("django")
pytest.importorskip("psycopg_pool")

import django
from django.conf import settings

from runsecrets.integrations.django import close_credentials, follow_secret_key
from runsecrets.testing import SecretsDir, wait_until

from .._databases import Postgres, user_names
from ..conftest import leaked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._postgres import PostgresServer

if not settings.configured:
    settings.configure(USE_TZ=True)

needs_pool = pytest.mark.skipif(django.VERSION < (5, 1), reason="OPTIONS['pool'] is Django 5.1+")


@pytest.fixture
def database(postgres_server: PostgresServer) -> Postgres:
    return Postgres(postgres_server)


@pytest.fixture
def users(request: pytest.FixtureRequest, database: Postgres) -> list[str]:
    return user_names(request, database.drop_user)


@pytest.fixture
def pooled(database: Postgres, secrets_dir: SecretsDir) -> Iterator[object]:
    """A Django PostgreSQL wrapper with OPTIONS['pool'] on the private server (its own alias)."""
    from runsecrets.integrations.django.postgresql.base import DatabaseWrapper

    alias = f"pooled_{secrets.token_hex(3)}"
    wrapper = DatabaseWrapper(
        {
            "ENGINE": "runsecrets.integrations.django.postgresql",
            "NAME": "postgres",
            "USER": "nobody",
            "PASSWORD": "",
            "HOST": database.server.host,
            "PORT": str(database.server.port),
            "OPTIONS": {"pool": {"min_size": 2, "max_size": 4}},
            "TIME_ZONE": None,
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False,
            "AUTOCOMMIT": True,
            "ATOMIC_REQUESTS": False,
            "TEST": {},
            "RUNSECRETS": {
                "password": "db_password",
                "user": "db_user",
                "dirs": [str(secrets_dir.path)],
            },
        },
        alias=alias,
    )
    yield wrapper
    wrapper.close()
    wrapper.close_pool()
    close_credentials()


def _whoami(wrapper: object) -> str:
    """Ask the server who Django's connection is (through the driver: no app registry here),
    then give the connection back to the pool."""
    wrapper.ensure_connection()  # type: ignore[attr-defined]
    row = wrapper.connection.execute("SELECT current_user").fetchone()  # type: ignore[attr-defined]
    wrapper.close()  # type: ignore[attr-defined]
    return str(row[0])


@needs_pool
def test_django_pool_follows_an_alternating_rotation(
    pooled: object, database: Postgres, users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """Django's own psycopg pool logs in as the current user; the switch drains it (no session
    of the old user left) and no login is refused."""
    blue, green = users
    database.create_user(blue, sentinel)
    database.create_user(green, sentinel + "-green")
    secrets_dir.write_all({"db_user": blue, "db_password": sentinel})
    assert _whoami(pooled) == blue
    secrets_dir.write_all({"db_user": green, "db_password": sentinel + "-green"})
    wait_until(lambda: database.sessions(blue) == 0)
    assert _whoami(pooled) == green
    follower = pooled.runsecrets_follow_pool(pooled.pool)  # type: ignore[attr-defined]
    assert follower.refusals == 0
    assert follower.changes == 1
    assert not leaked(sentinel, follower.status(), repr(follower))


@needs_pool
def test_django_pool_retries_while_the_server_lags(
    pooled: object, database: Postgres, users: list[str], secrets_dir: SecretsDir, sentinel: str
) -> None:
    """One user whose file changes 0.3 s before the server: the pool's new connections are
    retried until the server has the new password; the request only waits."""
    user = users[0]
    database.create_user(user, sentinel)
    secrets_dir.write_all({"db_user": user, "db_password": sentinel})
    assert _whoami(pooled) == user
    follower = pooled.runsecrets_follow_pool(pooled.pool)  # type: ignore[attr-defined]
    secrets_dir.write("db_password", sentinel + "-2")
    wait_until(lambda: follower.changes == 1)
    later = threading.Timer(0.3, lambda: database.set_password(user, sentinel + "-2"))
    later.start()
    try:
        assert _whoami(pooled) == user
    finally:
        later.join()
    assert follower.failures == 0


def test_secret_key_rotates_into_the_fallbacks(tmp_path: Path, sentinel: str) -> None:
    """A new key replaces SECRET_KEY; the previous one becomes the first fallback, so a value
    signed before the rotation still verifies; the log names the secret only."""
    from django.core import signing

    d = SecretsDir(tmp_path / "s")
    d.write("django_secret_key", sentinel)
    saved = (settings._wrapped.SECRET_KEY, settings.SECRET_KEY_FALLBACKS)
    try:
        with follow_secret_key(dirs=[d.path], fallbacks=2) as followed:
            assert sentinel == settings.SECRET_KEY
            before = signing.dumps("payload")
            d.write("django_secret_key", sentinel + "-2")
            wait_until(lambda: followed.rotations == 2)
            assert sentinel + "-2" == settings.SECRET_KEY
            assert settings.SECRET_KEY_FALLBACKS[0] == sentinel
            assert signing.loads(before) == "payload"
            assert signing.dumps("payload") != before
            d.write("django_secret_key", sentinel + "-3")
            wait_until(lambda: followed.rotations == 3)
            assert [sentinel + "-2", sentinel] == settings.SECRET_KEY_FALLBACKS
            d.write("django_secret_key", "")  # an empty key is never taken
            time.sleep(0.2)
            assert sentinel + "-3" == settings.SECRET_KEY
            assert not leaked(sentinel, repr(followed))
        assert not followed.attached
        assert not followed.store.running
    finally:
        settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = saved


def test_secret_key_follower_checks_its_arguments(tmp_path: Path) -> None:
    """A negative fallback count, or a store given with dirs, is a ValueError."""
    from runsecrets import SecretStore

    with pytest.raises(ValueError, match="fallbacks"):
        follow_secret_key(dirs=[tmp_path], fallbacks=-1)
    with SecretStore([tmp_path]) as store, pytest.raises(ValueError, match="not both"):
        follow_secret_key(store=store, dirs=[tmp_path])
