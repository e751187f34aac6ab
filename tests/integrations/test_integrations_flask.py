"""The Flask extension in-process: mapping, required secrets, rotation, status."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

pytest.importorskip("flask")

from flask import Flask

from runsecrets import SecretDecodeError, SecretNotFoundError, SecretStore
from runsecrets.integrations.flask import RunSecrets
from runsecrets.integrations.flask._mapping import config_key_for
from runsecrets.testing import write_rename


@pytest.fixture
def secrets_dir(tmp_path: Path, sentinel: str) -> Path:
    """A directory with a key, a prefixed token and an unrelated secret."""
    write_rename(tmp_path / "flask_secret_key", "k1")
    write_rename(tmp_path / "app_api_token", sentinel)
    write_rename(tmp_path / "app_db-url", "postgres://db")
    write_rename(tmp_path / "other", "x")
    return tmp_path


def test_config_key_for_prefixed_names() -> None:
    """Prefix dropped, upper-cased, dashes and dots become underscores."""
    assert config_key_for("app_db-url", "app_") == "DB_URL"
    assert config_key_for("app_tls.key", "app_") == "TLS_KEY"


def test_explicit_and_prefixed_secrets_fill_the_config(secrets_dir: Path, sentinel: str) -> None:
    """Explicit keys and every prefixed secret land in app.config; others do not."""
    app = Flask(__name__)
    ext = RunSecrets(
        app, config={"SECRET_KEY": "flask_secret_key"}, prefix="app_", dirs=[secrets_dir]
    )
    try:
        assert app.config["SECRET_KEY"] == "k1"
        assert app.config["API_TOKEN"] == sentinel
        assert app.config["DB_URL"] == "postgres://db"
        assert "OTHER" not in app.config
    finally:
        ext.close(app)


def test_missing_required_secret_fails_init_with_the_places(tmp_path: Path) -> None:
    """A required secret that is nowhere raises SecretNotFoundError naming its path."""
    app = Flask(__name__)
    with pytest.raises(SecretNotFoundError) as info:
        RunSecrets(app, config={"SECRET_KEY": "flask_secret_key"}, dirs=[tmp_path], watch=False)
    assert str(tmp_path / "flask_secret_key") in str(info.value)
    assert "runsecrets" not in app.extensions


def test_optional_secret_may_be_missing(tmp_path: Path) -> None:
    """An optional key is left unset, and status reports it as not missing."""
    app = Flask(__name__)
    ext = RunSecrets(
        app, config={"SENTRY_DSN": "sentry_dsn"}, optional=["SENTRY_DSN"], dirs=[tmp_path]
    )
    try:
        assert "SENTRY_DSN" not in app.config
        assert ext.status(app)["missing"] == []
    finally:
        ext.close(app)


def test_rotation_updates_config_and_keeps_a_fallback_key(secrets_dir: Path, sentinel: str) -> None:
    """A published change replaces the values; the old SECRET_KEY becomes a fallback."""
    app = Flask(__name__)
    store = SecretStore([secrets_dir])
    ext = RunSecrets(app, config={"SECRET_KEY": "flask_secret_key"}, prefix="app_", store=store)
    write_rename(secrets_dir / "flask_secret_key", "k2")
    write_rename(secrets_dir / "app_api_token", sentinel + "2")
    write_rename(secrets_dir / "app_new", "n")
    assert store.reload()
    assert app.config["SECRET_KEY"] == "k2"
    assert app.config["SECRET_KEY_FALLBACKS"] == ["k1"]
    assert app.config["API_TOKEN"] == sentinel + "2"
    assert app.config["NEW"] == "n"
    ext.close(app)
    store.close()


def test_removed_secret_keeps_its_last_value(secrets_dir: Path, sentinel: str) -> None:
    """A secret that disappears does not wipe the config value in use."""
    app = Flask(__name__)
    store = SecretStore([secrets_dir], remove_delay=0)
    ext = RunSecrets(app, prefix="app_", store=store)
    (secrets_dir / "app_api_token").unlink()
    store.reload()
    assert app.config["API_TOKEN"] == sentinel
    ext.close(app)


def test_status_names_keys_and_sources_never_values(secrets_dir: Path, sentinel: str) -> None:
    """status() and the health view expose names, mode and counters only."""
    app = Flask(__name__)
    ext = RunSecrets(app, prefix="app_", dirs=[secrets_dir], health_path="/health")
    try:
        status = ext.status(app)
        assert status["healthy"] is True
        assert status["config_keys"]["API_TOKEN"] == "app_api_token"
        response = app.test_client().get("/health")
        assert response.status_code == 200
        assert sentinel not in response.get_data(as_text=True)
    finally:
        ext.close(app)


def test_one_extension_serves_several_apps(secrets_dir: Path) -> None:
    """init_app on two apps gives each its own store."""
    ext = RunSecrets(config={"SECRET_KEY": "flask_secret_key"}, dirs=[secrets_dir], watch=False)
    first, second = Flask("a"), Flask("b")
    ext.init_app(first)
    ext.init_app(second)
    assert ext.store(first) is not ext.store(second)
    with pytest.raises(RuntimeError, match="already"):
        ext.init_app(first)


def test_needs_a_mapping_or_a_prefix() -> None:
    """Nothing to map is a usage error."""
    with pytest.raises(ValueError, match="prefix"):
        RunSecrets()


BINARY = b"\xff\xfe\x00\x01keystore\x80"


def test_binary_prefixed_secret_is_skipped_with_a_log_line(
    secrets_dir: Path, sentinel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A prefix-derived secret that is not text fills no key and is logged by name; the app
    starts with every other key, and status lists it as skipped."""
    write_rename(secrets_dir / "app_keystore", BINARY)
    app = Flask(__name__)
    with caplog.at_level(logging.WARNING, "runsecrets.flask"):
        ext = RunSecrets(
            app, config={"SECRET_KEY": "flask_secret_key"}, prefix="app_", dirs=[secrets_dir]
        )
    try:
        assert "KEYSTORE" not in app.config
        assert app.config["API_TOKEN"] == sentinel
        assert app.config["SECRET_KEY"] == "k1"
        (line,) = [r.getMessage() for r in caplog.records if r.name == "runsecrets.flask"]
        assert "app_keystore" in line
        assert "not valid UTF-8" in line
        status = ext.status(app)
        assert status["skipped_not_text"] == ["app_keystore"]
        assert status["healthy"] is True
    finally:
        ext.close(app)


def test_binary_secret_mapped_explicitly_fails_init(secrets_dir: Path) -> None:
    """A secret named in config= must be text: a binary one fails init_app."""
    write_rename(secrets_dir / "app_keystore", BINARY)
    app = Flask(__name__)
    with pytest.raises(SecretDecodeError) as caught:
        RunSecrets(app, config={"KEYSTORE": "app_keystore"}, prefix="app_", dirs=[secrets_dir])
    assert caught.value.name == "app_keystore"
    assert "runsecrets" not in app.extensions


def test_prefixed_secret_turning_binary_on_rotation_is_skipped(
    secrets_dir: Path, sentinel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """At a rotation, a prefixed secret that becomes binary is skipped and logged (its key keeps
    its last value) while the other keys of that rotation are applied."""
    app = Flask(__name__)
    store = SecretStore([secrets_dir])
    ext = RunSecrets(app, prefix="app_", store=store)
    try:
        write_rename(secrets_dir / "app_api_token", BINARY)
        write_rename(secrets_dir / "app_db-url", "postgres://db2")
        write_rename(secrets_dir / "app_blob", BINARY)
        with caplog.at_level(logging.WARNING, "runsecrets"):
            assert store.reload()
        assert app.config["DB_URL"] == "postgres://db2"
        assert app.config["API_TOKEN"] == sentinel
        assert "BLOB" not in app.config
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("app_api_token, app_blob" in line for line in lines), lines
        assert not any("disappeared" in line for line in lines)
        assert not any(
            r.name == "runsecrets.store" and "subscriber" in r.getMessage() for r in caplog.records
        )
    finally:
        ext.close(app)
        store.close()
