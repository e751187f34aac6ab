"""Django helpers: settings errors, and the engine's per-connection credentials (no server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("django")
pytest.importorskip("psycopg")

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from runsecrets import SecretNotFoundError
from runsecrets.integrations.django import close_credentials, secret, secret_bytes

from ..conftest import leaked

if not settings.configured:
    settings.configure(USE_TZ=True)


@pytest.fixture(autouse=True)
def _close_credentials() -> Iterator[None]:
    """Each alias's credentials follow a store with a watcher thread: stop them after a test."""
    yield
    close_credentials()


def _wrapper(secrets_dir: Path, **runsecrets: object):  # type: ignore[no-untyped-def]
    from runsecrets.integrations.django.postgresql.base import DatabaseWrapper

    options = {"password": "db_password", "dirs": [str(secrets_dir)], **runsecrets}
    return DatabaseWrapper(
        {
            "ENGINE": "runsecrets.integrations.django.postgresql",
            "NAME": "app",
            "USER": "app",
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "OPTIONS": {},
            "TIME_ZONE": None,
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False,
            "AUTOCOMMIT": True,
            "ATOMIC_REQUESTS": False,
            "TEST": {},
            "RUNSECRETS": options,
        },
        alias="default",
    )


def test_secret_reads_a_file(tmp_path: Path, sentinel: str) -> None:
    """secret() returns the file's text with the trailing newline stripped."""
    (tmp_path / "django_secret_key").write_text(sentinel + "\n")
    assert secret("django_secret_key", dirs=[tmp_path], environ={}) == sentinel
    assert secret_bytes("django_secret_key", dirs=[tmp_path], environ={}) == (
        sentinel.encode() + b"\n"
    )


def test_missing_secret_is_improperly_configured_naming_every_place(tmp_path: Path) -> None:
    """The error names the secret, the variables and the file looked for."""
    with pytest.raises(ImproperlyConfigured) as info:
        secret("db_password", dirs=[tmp_path], environ={})
    message = str(info.value)
    assert "'db_password'" in message
    assert "DB_PASSWORD_FILE" in message
    assert "DB_PASSWORD " in message
    assert str(tmp_path / "db_password") in message
    assert isinstance(info.value.__cause__, SecretNotFoundError)


def test_default_is_returned_when_missing(tmp_path: Path) -> None:
    """A default makes a secret optional."""
    assert secret("db_user", default="app", dirs=[tmp_path], environ={}) == "app"


def test_conflict_is_improperly_configured_without_the_value(tmp_path: Path, sentinel: str) -> None:
    """FOO and FOO_FILE both set: a clear error that shows neither value."""
    target = tmp_path / "pw"
    target.write_text(sentinel)
    environ = {"DB_PASSWORD": sentinel, "DB_PASSWORD_FILE": str(target)}
    with pytest.raises(ImproperlyConfigured, match="exclusive") as info:
        secret("db_password", dirs=[tmp_path], environ=environ)
    assert sentinel not in str(info.value)


def _follow(wrapper: object) -> None:
    """Wait until the alias's store has published the files' current content."""
    wrapper.runsecrets_follower.store.reload()  # type: ignore[attr-defined]


def test_engine_reads_the_password_for_each_connection(tmp_path: Path, sentinel: str) -> None:
    """Every call to get_connection_params sees the secret's current content."""
    (tmp_path / "db_password").write_text(sentinel)
    wrapper = _wrapper(tmp_path)
    assert wrapper.get_connection_params()["password"] == sentinel
    (tmp_path / "db_password").write_text(sentinel + "-2")
    _follow(wrapper)
    assert wrapper.get_connection_params()["password"] == sentinel + "-2"
    assert wrapper.get_connection_params()["user"] == "app"


def test_engine_reads_the_user_too_when_it_is_a_secret(tmp_path: Path, sentinel: str) -> None:
    """A user name secret rotates together with the password."""
    (tmp_path / "db_password").write_text(sentinel)
    (tmp_path / "db_user").write_text("app_v2")
    params = _wrapper(tmp_path, user="db_user").get_connection_params()
    assert (params["user"], params["password"]) == ("app_v2", sentinel)


def test_engine_missing_password_names_the_places(tmp_path: Path) -> None:
    """A missing password file is ImproperlyConfigured with the path looked at."""
    with pytest.raises(ImproperlyConfigured, match="db_password") as info:
        _wrapper(tmp_path).get_connection_params()
    assert str(tmp_path / "db_password") in str(info.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"passwrd": "x"}, "unknown keys"),
        ({"password": ""}, "needs 'password'"),
        ({"retry_seconds": -1}, "retry_seconds"),
    ],
)
def test_engine_settings_are_checked(
    tmp_path: Path, options: dict[str, object], match: str
) -> None:
    """Typos and bad values in the RUNSECRETS entry are reported, not ignored."""
    (tmp_path / "db_password").write_text("x")
    wrapper = _wrapper(tmp_path, **options)
    with pytest.raises(ImproperlyConfigured, match=match):
        wrapper.get_connection_params()


def test_engine_with_a_pool_leaves_the_credentials_to_the_pool(
    tmp_path: Path, sentinel: str
) -> None:
    """With OPTIONS['pool'] the parameters are the pool's fixed ones: no password in them (the
    pool's connections take the current one each; see test_data_django.py)."""
    (tmp_path / "db_password").write_text(sentinel)
    wrapper = _wrapper(tmp_path)
    wrapper.settings_dict["OPTIONS"] = {"pool": True}
    params = wrapper.get_connection_params()
    assert "password" not in params
    assert params["user"] == "app"


def test_authentication_failures_are_recognised(tmp_path: Path) -> None:
    """PostgreSQL's and MySQL's refused-login errors trigger a retry; others do not."""
    import psycopg

    pymysql = pytest.importorskip("pymysql")
    wrapper = _wrapper(tmp_path)
    assert wrapper.is_authentication_failure(
        psycopg.OperationalError('FATAL:  password authentication failed for user "app"')
    )
    assert wrapper.is_authentication_failure(
        pymysql.err.OperationalError(1045, "Access denied for user 'app'")
    )
    assert not wrapper.is_authentication_failure(psycopg.OperationalError("connection refused"))
    assert not wrapper.is_authentication_failure(
        pymysql.err.OperationalError(2003, "Can't connect")
    )
    # Text alone, outside a driver's own error type, is not taken for a refusal.
    assert not wrapper.is_authentication_failure(Exception("password authentication failed"))


def test_mysql_engine_reads_the_password_for_each_connection(
    tmp_path: Path, sentinel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MySQL/MariaDB engine re-reads the password too (PyMySQL stands in for mysqlclient)."""
    import sys

    if "MySQLdb" not in sys.modules:
        pymysql = pytest.importorskip("pymysql")
        # PyMySQL's documented drop-in for mysqlclient; only the parameters are checked here,
        # no MySQL server runs in this suite.
        monkeypatch.setitem(sys.modules, "MySQLdb", pymysql)
        monkeypatch.setattr(pymysql, "version_info", (1, 4, 6, "final", 1), raising=False)
    from runsecrets.integrations.django.mysql.base import DatabaseWrapper

    (tmp_path / "db_password").write_text(sentinel)
    wrapper = DatabaseWrapper(
        {**_wrapper(tmp_path).settings_dict, "ENGINE": "runsecrets.integrations.django.mysql"},
        alias="default",
    )
    assert wrapper.get_connection_params()["password"] == sentinel
    (tmp_path / "db_password").write_text(sentinel + "-2")
    _follow(wrapper)
    params = wrapper.get_connection_params()
    assert (params["user"], params["password"]) == ("app", sentinel + "-2")


_CREDENTIAL_METHODS = (
    "connect",
    "get_connection_params",
    "get_new_connection",
    "_apply_credentials",
)


@pytest.mark.parametrize("name", _CREDENTIAL_METHODS)
def test_credential_methods_are_django_sensitive_variables(tmp_path: Path, name: str) -> None:
    """Each method that handles credentials is Django's own ``sensitive_variables()`` wrapper,
    marking all of its locals (and those of the frames it calls) as sensitive."""
    from runsecrets.integrations.django import RotatingCredentialsMixin

    method = getattr(RotatingCredentialsMixin, name)
    assert method.__code__.co_name == "sensitive_variables_wrapper"
    assert method.__wrapped__.__qualname__ == f"RotatingCredentialsMixin.{name}"
    (tmp_path / "db_password").write_text("x")
    _wrapper(tmp_path).get_connection_params()  # Django sets the attribute at each call
    if name != "connect":
        assert RotatingCredentialsMixin.get_connection_params.sensitive_variables == "__ALL__"


def _failed_connect_frames(wrapper: object) -> list[dict[str, object]]:
    """The frames Django's error reporter shows for a failed ``connect()``."""
    import sys

    from django.views.debug import ExceptionReporter

    try:
        wrapper.connect()  # type: ignore[attr-defined]
    except ConnectionError:
        frames: list[dict[str, object]] = ExceptionReporter(
            None, *sys.exc_info()
        ).get_traceback_frames()
        return frames
    raise AssertionError("connect() did not fail")


def test_error_report_hides_the_password_in_every_connection_frame(
    tmp_path: Path, sentinel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed connection reported by Django (``DEBUG`` off): no frame shows the password,
    neither ours nor Django's ``connect()`` nor the driver's, which hold the parameters."""
    from django.db.backends.postgresql import base

    def refuse(self: object, conn_params: dict[str, object]) -> None:
        """Stand-in for the driver: the parameters in a local, then a failure."""
        password = conn_params["password"]
        raise ConnectionError(f"server down ({len(str(password))} chars)")

    monkeypatch.setattr(base.DatabaseWrapper, "get_new_connection", refuse)
    (tmp_path / "db_password").write_text(sentinel)
    frames = _failed_connect_frames(_wrapper(tmp_path, retry_seconds=0))
    functions = [frame["function"] for frame in frames]
    assert "refuse" in functions
    assert "get_new_connection" in functions
    shown = [(frame["function"], frame["vars"]) for frame in frames]
    assert not leaked(sentinel, shown)


def test_importing_the_integration_does_not_load_django_debug() -> None:
    """The decorator is imported on first use: ``settings.py`` does not load ``django.http``;
    without Django, the import fails as it always did."""
    import subprocess
    import sys

    code = (
        "import sys; import runsecrets.integrations.django; "
        "print('django.views.decorators.debug' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.stdout.strip() == "False", result.stderr
    code = "import sys; sys.modules['django'] = None; import runsecrets.integrations.django"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr or "ImportError" in result.stderr
