"""The Flask extension's keys, rotation and views, proven with real session cookies.

Each cookie is signed by a real Flask app with a known key (the forger) and sent to the app
under test through Flask's test client: accepted means the session's user is read back.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("flask")

from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.datastructures import ImmutableDict

from runsecrets import SecretStore, SecretValidationError
from runsecrets.integrations.flask import RunSecrets
from runsecrets.testing import write_rename

from .._waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _signed(key: str, user: str = "admin") -> str:
    """A session cookie ``{"user": user}`` signed with ``key``, as Flask signs it."""
    forger = Flask("forger")
    forger.secret_key = key
    serializer = SecureCookieSessionInterface().get_signing_serializer(forger)
    assert serializer is not None
    return serializer.dumps({"user": user})


def _app() -> Flask:
    app = Flask(__name__)

    @app.get("/me")
    def me() -> dict[str, object]:
        return {"user": session.get("user")}

    return app


def _user(app: Flask, cookie: str) -> object:
    """The session user the app reads from ``cookie`` (``None``: refused)."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client.get("/me").get_json()["user"]


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    """A secrets directory with a SECRET_KEY."""
    write_rename(tmp_path / "flask_secret_key", "key-one")
    return tmp_path


@pytest.fixture
def store(keys_dir: Path) -> Iterator[SecretStore]:
    """An unstarted store on ``keys_dir`` (rotations are published by ``reload()``)."""
    with_store = SecretStore([keys_dir])
    yield with_store
    with_store.close()


# --------------------------------------------------------------------------- finding 10
def test_fallbacks_from_a_secret_are_a_list_of_keys_not_characters(keys_dir: Path) -> None:
    """SECRET_KEY_FALLBACKS from a secret is one key per line: a cookie signed with one of its
    characters ("o") is refused, one signed with a listed key is accepted."""
    write_rename(keys_dir / "old_keys", "old-one\nold-two\n\n")
    app = _app()
    ext = RunSecrets(
        app,
        config={"SECRET_KEY": "flask_secret_key", "SECRET_KEY_FALLBACKS": "old_keys"},
        dirs=[keys_dir],
        watch=False,
    )
    try:
        assert app.config["SECRET_KEY_FALLBACKS"] == ["old-one", "old-two"]
        assert _user(app, _signed("o")) is None
        assert _user(app, _signed("old-two", "bob")) == "bob"
        assert _user(app, _signed("key-one", "carol")) == "carol"
    finally:
        ext.close(app)


def test_fallbacks_picked_up_by_the_prefix_are_a_list_too(tmp_path: Path) -> None:
    """app_secret_key_fallbacks fills SECRET_KEY_FALLBACKS as a list, also after a rotation."""
    write_rename(tmp_path / "app_secret_key", "key-one")
    write_rename(tmp_path / "app_secret_key_fallbacks", "old-one")
    app = _app()
    store = SecretStore([tmp_path])
    ext = RunSecrets(app, prefix="app_", store=store)
    try:
        assert app.config["SECRET_KEY_FALLBACKS"] == ["old-one"]
        write_rename(tmp_path / "app_secret_key_fallbacks", "old-a\nold-b")
        assert store.reload()
        assert app.config["SECRET_KEY_FALLBACKS"] == ["old-a", "old-b"]
        assert _user(app, _signed("o")) is None
        assert _user(app, _signed("old-b", "bob")) == "bob"
    finally:
        ext.close(app)
        store.close()


@pytest.mark.parametrize("key", ["DEBUG", "TESTING", "MAX_CONTENT_LENGTH", "TRUSTED_HOSTS"])
def test_flask_keys_that_are_not_text_cannot_be_mapped(key: str) -> None:
    """Naming one of Flask's non-text keys in config= is a ValueError at construction."""
    with pytest.raises(ValueError, match=f"{key}.*not text"):
        RunSecrets(config={key: "some_secret"})


def test_prefixed_secrets_for_non_text_flask_keys_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """app_debug and app_max_content_length fill nothing (logged, listed as refused)."""
    write_rename(tmp_path / "app_debug", "yes")
    write_rename(tmp_path / "app_max_content_length", "10")
    write_rename(tmp_path / "app_token", "t")
    app = _app()
    with caplog.at_level(logging.WARNING, "runsecrets.flask"):
        ext = RunSecrets(app, prefix="app_", dirs=[tmp_path], watch=False)
    try:
        assert app.config["DEBUG"] is False
        assert app.config["MAX_CONTENT_LENGTH"] is None
        assert app.config["TOKEN"] == "t"
        assert ext.status(app)["refused_keys"] == ["app_debug", "app_max_content_length"]
        assert any("app_debug, app_max_content_length" in r.getMessage() for r in caplog.records)
    finally:
        ext.close(app)


def test_an_empty_secret_key_is_refused(keys_dir: Path, store: SecretStore) -> None:
    """A blank SECRET_KEY fails init_app naming the secret; a rotation to one keeps the old."""
    write_rename(keys_dir / "flask_secret_key", "  ")
    with pytest.raises(SecretValidationError, match="flask_secret_key") as caught:
        RunSecrets(_app(), config={"SECRET_KEY": "flask_secret_key"}, dirs=[keys_dir])
    assert caught.value.path == str(keys_dir / "flask_secret_key")
    write_rename(keys_dir / "flask_secret_key", "key-one")
    store.reload()
    app = _app()
    ext = RunSecrets(app, config={"SECRET_KEY": "flask_secret_key"}, store=store)
    write_rename(keys_dir / "flask_secret_key", " \t ")
    assert store.reload()
    assert app.config["SECRET_KEY"] == "key-one"
    ext.close(app)


@pytest.mark.parametrize("value", ["abc", b"abc", ["ok", ""], {"a": 1}])
def test_the_apps_own_fallbacks_must_be_a_list_of_keys(store: SecretStore, value: object) -> None:
    """A string (every character a key), an empty key or another type is refused at init_app."""
    app = _app()
    app.config["SECRET_KEY_FALLBACKS"] = value
    with pytest.raises(ValueError, match="SECRET_KEY_FALLBACKS"):
        RunSecrets(app, config={"SECRET_KEY": "flask_secret_key"}, store=store)
    assert "runsecrets" not in app.extensions


# --------------------------------------------------------------------------- finding 11
def test_the_flask_extra_requires_the_flask_that_reads_fallbacks() -> None:
    """pyproject's flask extra asks for Flask 3.1+, the first to read SECRET_KEY_FALLBACKS."""
    # A regex, not tomllib: the suite runs on Python 3.10 too.
    (line,) = re.findall(r"^flask = \[(.*)\]", (ROOT / "pyproject.toml").read_text(), re.M)
    assert line == '"flask>=3.1"', line
    assert "SECRET_KEY_FALLBACKS" in Flask.default_config


def test_a_flask_without_fallbacks_is_refused_unless_asked(store: SecretStore) -> None:
    """A Flask that does not read SECRET_KEY_FALLBACKS (before 3.1; simulated here by removing
    the key from default_config, as only one Flask is installed) is refused at init_app, unless
    secret_key_fallbacks=0 accepts that a rotation ends the sessions."""

    class OldFlask(Flask):
        default_config = ImmutableDict(
            {k: v for k, v in Flask.default_config.items() if k != "SECRET_KEY_FALLBACKS"}
        )

    with pytest.raises(RuntimeError, match=r"Flask 3\.1\+.*secret_key_fallbacks=0"):
        RunSecrets(OldFlask("old"), config={"SECRET_KEY": "flask_secret_key"}, store=store)
    app = OldFlask("old")
    ext = RunSecrets(
        app, config={"SECRET_KEY": "flask_secret_key"}, store=store, secret_key_fallbacks=0
    )
    assert app.config["SECRET_KEY"] == "key-one"
    ext.close(app)


def test_rotations_keep_the_apps_own_fallback_list(keys_dir: Path, store: SecretStore) -> None:
    """The app's own fallbacks survive every rotation, after the retired key(s)."""
    app = _app()
    app.config["SECRET_KEY_FALLBACKS"] = ["legacy-a", "legacy-b"]
    ext = RunSecrets(app, config={"SECRET_KEY": "flask_secret_key"}, store=store)
    try:
        for number in ("two", "three"):
            write_rename(keys_dir / "flask_secret_key", f"key-{number}")
            assert store.reload()
        assert app.config["SECRET_KEY_FALLBACKS"] == ["key-two", "legacy-a", "legacy-b"]
        assert _user(app, _signed("legacy-b", "bob")) == "bob"
        assert _user(app, _signed("key-two", "carol")) == "carol"
        assert _user(app, _signed("key-one")) is None  # pushed out: one retired key kept
    finally:
        ext.close(app)


def test_retired_keys_are_bounded_in_number(keys_dir: Path, store: SecretStore) -> None:
    """secret_key_fallbacks=2 keeps the two newest retired keys, newest first."""
    app = _app()
    ext = RunSecrets(
        app, config={"SECRET_KEY": "flask_secret_key"}, store=store, secret_key_fallbacks=2
    )
    try:
        for number in ("two", "three", "four"):
            write_rename(keys_dir / "flask_secret_key", f"key-{number}")
            assert store.reload()
        assert app.config["SECRET_KEY_FALLBACKS"] == ["key-three", "key-two"]
    finally:
        ext.close(app)


def test_a_retired_key_stops_working_after_its_maximum_age(
    keys_dir: Path, store: SecretStore
) -> None:
    """With secret_key_fallback_max_age, a session signed with the retired key is accepted
    right after the rotation and refused once that age has passed; the app's own list stays."""
    app = _app()
    app.config["SECRET_KEY_FALLBACKS"] = ["legacy"]
    ext = RunSecrets(
        app,
        config={"SECRET_KEY": "flask_secret_key"},
        store=store,
        secret_key_fallback_max_age=0.3,
    )
    try:
        old_cookie = _signed("key-one", "bob")
        write_rename(keys_dir / "flask_secret_key", "key-two")
        assert store.reload()
        assert _user(app, old_cookie) == "bob"
        time.sleep(0.35)
        assert _user(app, old_cookie) is None
        assert app.config["SECRET_KEY_FALLBACKS"] == ["legacy"]
        assert _user(app, _signed("legacy", "carol")) == "carol"
    finally:
        ext.close(app)


# --------------------------------------------------------------------------- finding 12
class _RotatingOnSubscribe(SecretStore):
    """A real, started store that publishes a rotation inside ``subscribe``: before adding
    the subscriber, or right after it. That is the window between an extension reading the
    snapshot and subscribing, made certain instead of left to chance."""

    rotate_to: tuple[Path, str] | None = None
    after: bool = False

    def subscribe(self, callback):  # type: ignore[no-untyped-def]
        if self.rotate_to is not None and not self.after:
            self._rotate()
        unsubscribe = super().subscribe(callback)
        if self.rotate_to is not None and self.after:
            self._rotate()
        return unsubscribe

    def _rotate(self) -> None:
        assert self.rotate_to is not None
        path, value = self.rotate_to
        self.rotate_to = None
        write_rename(path, value)
        # The started watcher may publish it first; either way it is published on return.
        self.reload()
        assert self.get(path.name) == value


@pytest.mark.parametrize("after", [False, True], ids=["before-subscribing", "after-subscribing"])
def test_init_app_on_a_started_store_loses_no_rotation(tmp_path: Path, after: bool) -> None:
    """A rotation published while init_app runs on a shared, started store reaches app.config."""
    write_rename(tmp_path / "db_password", "old")
    store = _RotatingOnSubscribe([tmp_path]).start()
    try:
        store.rotate_to, store.after = (tmp_path / "db_password", "new"), after
        app = _app()
        ext = RunSecrets(app, config={"DB_PASSWORD": "db_password"}, store=store)
        # Delivered in this thread, or by the started watcher in its own: wait for either.
        assert wait_until(lambda: app.config["DB_PASSWORD"] == "new")
        write_rename(tmp_path / "db_password", "newer")
        store.reload()
        assert wait_until(lambda: app.config["DB_PASSWORD"] == "newer")
        ext.close(app)
    finally:
        store.close()


# --------------------------------------------------------------------------- finding 13
def test_liveness_names_nothing_and_ignores_file_problems(tmp_path: Path, sentinel: str) -> None:
    """health_path answers 200 with only a status and version while an unrelated file is too
    large (and one of the app's own is unreadable); no detail route exists unless asked."""
    write_rename(tmp_path / "app_api_token", sentinel)
    write_rename(tmp_path / "unrelated.dump", b"x" * 600_000)
    app = _app()
    ext = RunSecrets(app, prefix="app_", dirs=[tmp_path], health_path="/healthz")
    try:
        write_rename(tmp_path / "app_big", b"y" * 600_000)
        ext.store(app).reload()
        response = app.test_client().get("/healthz")
        assert response.status_code == 200
        assert response.get_json() == {"status": "ok", "version": ext.store(app).snapshot.version}
        rules = {rule.rule for rule in app.url_map.iter_rules()}
        assert rules == {"/healthz", "/me", "/static/<path:filename>"}
        assert "unrelated.dump" not in str(ext.status(app))  # not even read
    finally:
        ext.close(app)


def test_liveness_stays_200_on_a_shared_store_with_a_problem(tmp_path: Path) -> None:
    """With a shared store that reads every file, the liveness view is still 200; the opt-in
    detail view names the problem (503) and the keys."""
    write_rename(tmp_path / "app_api_token", "t")
    write_rename(tmp_path / "huge", b"x" * 600_000)
    store = SecretStore([tmp_path])
    app = _app()
    ext = RunSecrets(
        app, prefix="app_", store=store, health_path="/healthz", status_path="/internal/secrets"
    )
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        detail = client.get("/internal/secrets")
        assert detail.status_code == 503
        body = detail.get_json()
        assert body["config_keys"] == {"API_TOKEN": "app_api_token"}
        assert "huge" in body["problem"]
    finally:
        ext.close(app)
        store.close()
