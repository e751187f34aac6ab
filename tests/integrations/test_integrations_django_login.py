"""The Django engine's retry of a refused login, against a real PostgreSQL server.

The server's log counts the failed logins: a request whose password can never succeed costs a
handful of them, not one every few tens of milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("django")
pytest.importorskip("psycopg")

from runsecrets import CredentialsError
from runsecrets.testing import write_rename

from .._postgres import PostgresServer, running_postgres
from .test_integrations_django import _close_credentials  # noqa: F401  (autouse: stops the watchers)
from .test_integrations_django import _wrapper as _settings_wrapper

FAILED = 'password authentication failed for user "app"'


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for this module, with a role ``app``."""
    with running_postgres() as server:
        server.execute("CREATE ROLE app LOGIN PASSWORD 'right-password'")
        yield server


def _wrapper(postgres: PostgresServer, secrets_dir: Path, retry_seconds: float):  # type: ignore[no-untyped-def]
    """The suite's PostgreSQL DatabaseWrapper, pointed at the private server as ``app``."""
    wrapper = _settings_wrapper(secrets_dir, retry_seconds=retry_seconds)
    wrapper.settings_dict.update(
        NAME="postgres",
        HOST=postgres.host,
        PORT=str(postgres.port),
        OPTIONS={"connect_timeout": 5},
    )
    return wrapper


def _failed_logins(postgres: PostgresServer) -> int:
    assert postgres.log_path is not None
    return Path(postgres.log_path).read_text(errors="replace").count(FAILED)


def test_a_login_that_cannot_succeed_backs_off(postgres: PostgresServer, tmp_path: Path) -> None:
    """A wrong password that never changes, retry_seconds=5: four failed logins in about 5 s
    (at 0, 0.5, 1.5 and 3.5 s), then a CredentialsError naming the secret (not the driver's
    text, which is about the secret)."""
    write_rename(tmp_path / "db_password", "wrong-password")
    wrapper = _wrapper(postgres, tmp_path, retry_seconds=5)
    before = _failed_logins(postgres)
    started = time.monotonic()
    with pytest.raises(
        CredentialsError, match="refused the login with secrets 'db_password'"
    ) as info:
        wrapper.connect()
    assert info.value.reason == "refused"
    assert info.value.attempts == 4
    elapsed = time.monotonic() - started
    time.sleep(0.2)  # the server writes its log line after refusing
    assert _failed_logins(postgres) - before <= 4
    assert 4.5 <= elapsed < 8, elapsed


def test_a_new_password_is_tried_as_soon_as_it_is_written(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """While backing off, a rewritten password file is tried within a poll (50 ms), not at the
    next doubled pause: the connection opens, after two failed logins at most."""
    write_rename(tmp_path / "db_password", "wrong-password")
    wrapper = _wrapper(postgres, tmp_path, retry_seconds=10)
    before = _failed_logins(postgres)
    timer = threading.Timer(0.8, lambda: write_rename(tmp_path / "db_password", "right-password"))
    started = time.monotonic()
    timer.start()
    try:
        wrapper.connect()
        elapsed = time.monotonic() - started
        assert wrapper.connection.info.user == "app"  # psycopg's view of the open session
    finally:
        timer.join()
        wrapper.close()
    assert elapsed < 1.5, elapsed  # the next same-password retry would be at 1.5 s
    time.sleep(0.2)
    assert _failed_logins(postgres) - before <= 2
