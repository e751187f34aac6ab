"""The shared part of the data-layer integrations: credentials from one snapshot, the pure
refusal of half a rotation, and telling a refused login from other errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from runsecrets import CredentialsError, SecretStore
from runsecrets.integrations._credentials import CredentialFollower
from runsecrets.integrations._refusals import is_authentication_failure
from runsecrets.integrations._spec import Credentials, CredentialSpec
from runsecrets.testing import SecretsDir

from ..conftest import leaked


def _snapshot(tmp_path: Path, **files: str) -> object:
    d = SecretsDir(tmp_path / "s")
    d.write_all(files)
    return SecretStore([d.path], allow_empty=True).snapshot


def test_build_takes_both_halves_from_one_snapshot(tmp_path: Path, sentinel: str) -> None:
    """The user and the password of one snapshot, with its version; the repr shows neither."""
    snapshot = _snapshot(tmp_path, db_user="blue", db_password=sentinel)
    credentials = CredentialSpec("db_password", "db_user").build(snapshot)  # type: ignore[arg-type]
    assert (credentials.user, credentials.password) == ("blue", sentinel)
    assert credentials.as_kwargs() == {"user": "blue", "password": sentinel}
    assert credentials.as_kwargs("username", "passwd") == {"username": "blue", "passwd": sentinel}
    assert not leaked(sentinel, repr(credentials))
    assert "blue" not in repr(credentials)
    only_password = CredentialSpec("db_password").build(snapshot)  # type: ignore[arg-type]
    assert only_password.user is None
    assert only_password.as_kwargs() == {"password": sentinel}


@pytest.mark.parametrize(
    ("files", "reason", "name"),
    [
        ({"db_user": "blue"}, "not_found", "db_password"),
        ({"db_password": "x"}, "not_found", "db_user"),
        ({"db_user": "blue", "db_password": ""}, "empty", "db_password"),
        ({"db_user": "", "db_password": "x"}, "empty", "db_user"),
    ],
)
def test_build_refuses_an_incomplete_pair(
    tmp_path: Path, files: dict[str, str], reason: str, name: str
) -> None:
    """A missing or empty half refuses the whole pair, naming the secret and where it was
    looked for."""
    snapshot = _snapshot(tmp_path, **files)
    with pytest.raises(CredentialsError) as info:
        CredentialSpec("db_password", "db_user").build(snapshot)  # type: ignore[arg-type]
    assert info.value.reason == reason
    assert info.value.name == name
    assert info.value.secrets == ("db_user", "db_password")
    assert str(tmp_path / "s" / name) in " ".join(info.value.searched)


def test_a_new_user_with_the_previous_password_is_half_a_rotation(
    tmp_path: Path, sentinel: str
) -> None:
    """Given the previous pair, a new user with the old password is refused (the password file
    has not followed yet); a new password alone (one-user rotation) is accepted."""
    spec = CredentialSpec("db_password", "db_user")
    previous = Credentials("blue", sentinel, 0)
    half = _snapshot(tmp_path / "a", db_user="green", db_password=sentinel)
    with pytest.raises(CredentialsError) as info:
        spec.build(half, previous)  # type: ignore[arg-type]
    assert info.value.reason == "half_rotation"
    assert not leaked(sentinel, info.value.message)
    password_only = _snapshot(tmp_path / "b", db_user="blue", db_password=sentinel + "-2")
    assert spec.build(password_only, previous).password == sentinel + "-2"  # type: ignore[arg-type]


def test_the_follower_keeps_the_previous_pair_through_half_a_rotation(
    tmp_path: Path, sentinel: str
) -> None:
    """Between the user file and the password file of an alternating rotation, new connections
    keep the previous (working) pair; when both changed, one change is counted."""
    d = SecretsDir(tmp_path / "s")
    d.write_all({"db_user": "blue", "db_password": sentinel})
    with SecretStore([d.path]) as store:
        follower = CredentialFollower(CredentialSpec("db_password", "db_user"), store=store)
        first = follower.credentials()
        d.write("db_user", "green")
        store.reload()
        assert follower.credentials() is first
        assert follower.changes == 0
        d.write("db_password", sentinel + "-green")
        store.reload()
        now = follower.credentials()
        assert (now.user, now.password) == ("green", sentinel + "-green")
        assert follower.changes == 1
        assert follower.is_stale(first.version)
        assert not follower.is_stale(now.version)
        follower.detach()
        assert not leaked(sentinel, repr(follower), follower.status())


def test_spec_names_are_checked() -> None:
    """Empty names, non-strings and one secret for both halves are ValueErrors."""
    for bad in ("", None, 3):
        with pytest.raises(ValueError, match="password"):
            CredentialSpec(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="user"):
        CredentialSpec("p", "")
    with pytest.raises(ValueError, match="two secrets"):
        CredentialSpec("p", "p")


def _psycopg_refusal() -> BaseException:
    psycopg = pytest.importorskip("psycopg")
    return psycopg.OperationalError(
        'connection failed: FATAL:  password authentication failed for user "app"'
    )


def test_refused_logins_are_recognised_per_driver() -> None:
    """psycopg (by libpq's message), asyncpg (SQLSTATE), PyMySQL (1045, a locked account),
    redis-py (AuthenticationError) and a SQLAlchemy error wrapping one; other errors are not."""
    assert is_authentication_failure(_psycopg_refusal())
    asyncpg = pytest.importorskip("asyncpg")
    assert is_authentication_failure(asyncpg.InvalidPasswordError("refused"))
    assert is_authentication_failure(
        asyncpg.InvalidAuthorizationSpecificationError('role "x" is not permitted to log in')
    )
    pymysql = pytest.importorskip("pymysql")
    assert is_authentication_failure(pymysql.err.OperationalError(1045, "Access denied"))
    assert is_authentication_failure(pymysql.err.OperationalError(4151, "account is locked"))
    redis = pytest.importorskip("redis")
    assert is_authentication_failure(redis.exceptions.AuthenticationError("WRONGPASS"))
    sqlalchemy = pytest.importorskip("sqlalchemy")
    wrapped = sqlalchemy.exc.OperationalError("connect", {}, _psycopg_refusal())
    assert is_authentication_failure(wrapped)
    assert not is_authentication_failure(pymysql.err.OperationalError(2003, "Can't connect"))
    assert not is_authentication_failure(ConnectionRefusedError(111, "refused"))
    assert not is_authentication_failure(redis.exceptions.ConnectionError("down"))
    psycopg = pytest.importorskip("psycopg")
    assert not is_authentication_failure(psycopg.OperationalError("connection refused"))
