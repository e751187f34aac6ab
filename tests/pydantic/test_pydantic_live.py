"""LiveSettings: the latest valid instance, published atomically, refused updates kept out."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from runsecrets import SecretStore
from runsecrets.pydantic import LiveSettings, SecretsSettings, live
from runsecrets.pydantic._errors import clean_validation_error
from runsecrets.testing import SecretsDir, write_rename

from .._pydantic_models import plain_model
from ..conftest import leaked


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable of the host may answer for a field used here."""
    monkeypatch.delenv("RUNSECRETS_DIR", raising=False)
    for name in list(os.environ):
        if name.upper().startswith(("TOKEN", "PORT")):
            monkeypatch.delenv(name)


def settings_class(directory: Path) -> type[SecretsSettings]:
    """Settings with a secret token and a port, read from ``directory``."""

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=directory)
        token: SecretStr
        port: int = 8000

    return Settings


def test_current_is_the_loaded_instance(tmp_path: Path) -> None:
    """``live()`` loads at once; ``current`` is a validated instance."""
    (tmp_path / "token").write_text("one")
    settings = live(settings_class(tmp_path))
    assert settings.current.token.get_secret_value() == "one"  # type: ignore[attr-defined]
    assert settings.last_error is None


def test_first_load_failure_raises(tmp_path: Path) -> None:
    """Without a valid first instance there is nothing to serve: the error reaches the caller."""
    with pytest.raises(ValidationError):
        live(settings_class(tmp_path))


def test_reload_without_change_keeps_the_instance(tmp_path: Path) -> None:
    """Nothing changed: nothing is published, subscribers are not called."""
    (tmp_path / "token").write_text("one")
    settings = live(settings_class(tmp_path))
    before = settings.current
    calls: list[object] = []
    settings.subscribe(lambda *args: calls.append(args))
    assert settings.reload() == frozenset()
    assert settings.current is before
    assert calls == []


def test_reload_publishes_and_notifies(tmp_path: Path) -> None:
    """A changed file gives a new instance; subscribers get old, new and the changed names."""
    (tmp_path / "token").write_text("one")
    settings = live(settings_class(tmp_path))
    old = settings.current
    calls: list[tuple[Any, Any, frozenset[str]]] = []
    settings.subscribe(lambda o, n, changed: calls.append((o, n, changed)))

    write_rename(tmp_path / "token", "two")
    (tmp_path / "port").write_text("9000")
    assert settings.reload() == {"token", "port"}
    new: Any = settings.current
    assert new.token.get_secret_value() == "two"
    assert new.port == 9000
    assert calls == [(old, new, frozenset({"token", "port"}))]
    assert settings.reloads == 1


def test_invalid_update_is_refused_and_retried(
    tmp_path: Path, sentinel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An invalid value is kept out, logged by field name only, and the next fix goes through."""
    (tmp_path / "token").write_text("one")
    settings = live(settings_class(tmp_path))
    before = settings.current
    calls: list[object] = []
    settings.subscribe(lambda *args: calls.append(args))
    caplog.set_level(logging.DEBUG)

    (tmp_path / "port").write_text(sentinel)
    assert settings.reload() == frozenset()
    assert settings.current is before
    assert calls == []
    failure = settings.last_error
    assert failure is not None
    assert failure.fields == ("port",)
    assert failure.errors == (("port", "int_parsing"),)
    assert "port" in caplog.text
    assert not leaked(sentinel, caplog.text, str(failure), repr(failure), repr(settings))
    assert settings.failures == 1

    write_rename(tmp_path / "port", "9001")
    assert settings.reload() == {"port"}
    assert settings.last_error is None
    assert settings.current.port == 9001  # type: ignore[attr-defined]


def test_read_error_is_refused(tmp_path: Path) -> None:
    """A secret that cannot be read (here a FIFO) refuses the reload with our error type."""
    (tmp_path / "token").write_text("one")
    settings = live(settings_class(tmp_path))
    os.mkfifo(tmp_path / "port")
    assert settings.reload() == frozenset()
    assert settings.last_error is not None
    assert settings.last_error.errors == (("port", "runsecrets_not_regular_file"),)


def test_vanished_secret_keeps_the_last_good_instance(tmp_path: Path) -> None:
    """A required secret gone (between a producer's steps) is refused, not published."""
    (tmp_path / "token").write_text("one")
    settings = live(settings_class(tmp_path))
    (tmp_path / "token").unlink()
    assert settings.reload() == frozenset()
    assert settings.current.token.get_secret_value() == "one"  # type: ignore[attr-defined]
    assert settings.last_error is not None
    assert settings.last_error.fields == ("token",)


def test_unsubscribe_and_failing_subscriber(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing subscriber is logged by exception type and does not stop the others."""
    (tmp_path / "token").write_text("one")
    settings = live(settings_class(tmp_path))
    seen: list[frozenset[str]] = []

    def broken(*_: object) -> None:
        raise RuntimeError("a message that might quote a value")

    settings.subscribe(broken)
    remove = settings.subscribe(lambda _o, _n, changed: seen.append(changed))
    write_rename(tmp_path / "token", "two")
    settings.reload()
    assert seen == [frozenset({"token"})]
    assert "RuntimeError" in caplog.text
    assert "might quote" not in caplog.text

    remove()
    write_rename(tmp_path / "token", "three")
    settings.reload()
    assert seen == [frozenset({"token"})]


def test_context_manager_without_watcher(tmp_path: Path) -> None:
    """Start and stop work with no watcher attached; reload works inside."""
    (tmp_path / "token").write_text("one")
    with live(settings_class(tmp_path), watch=False) as settings:
        assert isinstance(settings, LiveSettings)
        write_rename(tmp_path / "token", "two")
        assert settings.reload() == {"token"}


def test_readers_never_see_a_partial_instance(tmp_path: Path) -> None:
    """Reader threads see only whole, valid instances while a writer rotates and reloads."""
    secrets = SecretsDir(tmp_path, kubernetes=True)
    secrets.write_all({"token": "v0", "port": "1000"})
    settings = live(settings_class(tmp_path))
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            current: Any = settings.current
            # token vN always goes with port 1000+N: a mix would mean a torn publication.
            number = int(current.token.get_secret_value()[1:])
            if current.port != 1000 + number:
                problems.append(f"token v{number} with port {current.port}")

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for n in range(1, 16):
            secrets.write_all({"token": f"v{n}", "port": str(1000 + n)})
            settings.reload()
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert problems == []
    assert settings.current.port == 1015  # type: ignore[attr-defined]


# --- following changes through the hot-reload store -------------------------------------------

#: Upper bound for a change to arrive through the watcher; it usually takes milliseconds.
WAIT = 10.0


class Changes:
    """Collects published changes and lets a test wait for the next one."""

    def __init__(self) -> None:
        self.seen: list[frozenset[str]] = []
        self._event = threading.Event()

    def __call__(self, _old: object, _new: object, changed: frozenset[str]) -> None:
        self.seen.append(changed)
        self._event.set()

    def wait(self) -> frozenset[str]:
        assert self._event.wait(WAIT), "no change published"
        self._event.clear()
        return self.seen[-1]


def test_watcher_publishes_a_rotation(tmp_path: Path) -> None:
    """Started, live settings follow a rename-over rotation without a reload call."""
    (tmp_path / "token").write_text("one")
    changes = Changes()
    with live(settings_class(tmp_path)) as settings:
        settings.subscribe(changes)
        write_rename(tmp_path / "token", "two")
        assert changes.wait() == {"token"}
        assert settings.current.token.get_secret_value() == "two"  # type: ignore[attr-defined]


def test_watcher_follows_a_kubernetes_swap(tmp_path: Path) -> None:
    """The kubelet's ``..data`` swap is seen and published."""
    secrets = SecretsDir(tmp_path, kubernetes=True)
    secrets.write_all({"token": "one", "port": "1"})
    changes = Changes()
    with live(settings_class(tmp_path)) as settings:
        settings.subscribe(changes)
        secrets.write_all({"token": "two", "port": "2"})
        assert changes.wait() == {"token", "port"}
        assert settings.current.port == 2  # type: ignore[attr-defined]


def test_watcher_keeps_refused_models_out(tmp_path: Path, sentinel: str) -> None:
    """An invalid rotation is refused (never published); the next valid one goes through."""
    (tmp_path / "token").write_text("one")
    (tmp_path / "port").write_text("1")
    changes = Changes()
    with live(settings_class(tmp_path)) as settings:
        settings.subscribe(changes)
        failed = threading.Event()
        stop = threading.Event()

        def watch_failure() -> None:
            while not stop.is_set() and settings.last_error is None:
                stop.wait(0.005)
            failed.set()

        thread = threading.Thread(target=watch_failure)
        thread.start()
        write_rename(tmp_path / "port", sentinel)
        assert failed.wait(WAIT)
        stop.set()
        thread.join()
        assert settings.last_error is not None
        assert settings.last_error.fields == ("port",)
        assert settings.current.port == 1  # type: ignore[attr-defined]
        assert changes.seen == []

        write_rename(tmp_path / "port", "2")
        assert changes.wait() == {"port"}
        assert settings.last_error is None


class Database(BaseModel):
    """A nested model read from a sub-directory."""

    password: SecretStr


def test_watcher_sees_nested_sub_directories(tmp_path: Path) -> None:
    """A change in ``db/password`` reaches a nested field."""
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "password").write_text("one")

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=tmp_path, env_nested_delimiter="__")
        db: Database

    changes = Changes()
    with live(Settings) as settings:
        settings.subscribe(changes)
        write_rename(tmp_path / "db" / "password", "two")
        assert changes.wait() == {"db"}
        assert settings.current.db.password.get_secret_value() == "two"


def test_shared_store(tmp_path: Path) -> None:
    """Live settings can follow a store the application already runs."""
    (tmp_path / "token").write_text("one")
    changes = Changes()
    with SecretStore(tmp_path) as store, live(settings_class(tmp_path), store=store) as settings:
        settings.subscribe(changes)
        write_rename(tmp_path / "token", "two")
        assert changes.wait() == {"token"}
    assert not store.running


def _wait_for(condition: Any) -> None:
    """Poll ``condition`` until it holds (the watcher thread publishes on its own time)."""
    event = threading.Event()
    for _ in range(int(WAIT / 0.005)):
        if condition():
            return
        event.wait(0.005)
    raise AssertionError("condition not met in time")


def test_a_gated_shared_store_does_not_publish_values_the_model_refuses(
    tmp_path: Path, sentinel: str
) -> None:
    """The model is one of the store's validators: a value it refuses is not published to any
    reader of the store, the store reports why (field and error type, never the value), and
    the fix that follows is published to the store and the settings at once."""
    (tmp_path / "token").write_text("one")
    (tmp_path / "port").write_text("1")
    changes = Changes()
    with SecretStore(tmp_path) as store, live(settings_class(tmp_path), store=store) as settings:
        settings.subscribe(changes)
        write_rename(tmp_path / "port", sentinel)
        _wait_for(lambda: store.status.last_error is not None)
        assert "port (int_parsing)" in str(store.status.last_error)
        assert store.get("port") == "1"
        assert settings.last_error is not None
        assert settings.last_error.fields == ("port",)
        write_rename(tmp_path / "port", "2")
        assert changes.wait() == {"port"}
        assert store.get("port") == "2"
        assert settings.current.port == 2  # type: ignore[attr-defined]
        assert settings.last_error is None
    assert store._publisher.validators == ()


def test_the_model_is_built_from_the_store_snapshot_not_a_new_read(tmp_path: Path) -> None:
    """Given a store's snapshot, the model takes the files it holds from it: the bytes of the
    store's stable read, never a third read of the disk that could catch a writer half way."""
    (tmp_path / "token").write_text("one")
    (tmp_path / "port").write_text("1")
    store = SecretStore(tmp_path, environ={})  # not started: it read the files once
    snapshot = store.snapshot
    (tmp_path / "port").write_text("2")  # written in place after the store's read
    settings = live(settings_class(tmp_path), watch=False)
    assert settings.current.port == 2  # type: ignore[attr-defined]
    assert settings.reload(snapshot) == {"port"}
    assert settings.current.port == 1  # type: ignore[attr-defined]
    settings.vet(snapshot)  # as the store's validator: the same bytes
    store.close()


def test_a_vetted_model_is_used_only_for_its_own_snapshot_and_older_ones_are_ignored(
    tmp_path: Path,
) -> None:
    """What ``vet`` built goes into ``.current`` only with the very snapshot it was built from
    (a later validator may have refused that one); a publish of an older snapshot than the one
    ``.current`` came from (a start-up catch-up racing the watcher) changes nothing."""
    (tmp_path / "token").write_text("one")
    (tmp_path / "port").write_text("1")
    store = SecretStore(tmp_path, environ={})  # not started: each reload is explicit
    first = store.snapshot
    write_rename(tmp_path / "port", "2")
    store.reload()
    second = store.snapshot
    settings = live(settings_class(tmp_path), watch=False)
    settings.vet(first)  # vetted, but say another validator refused ``first``
    settings._on_change(second)
    assert settings.current.port == 2  # type: ignore[attr-defined]
    settings._on_change(first)  # older than what .current came from
    assert settings.current.port == 2  # type: ignore[attr-defined]
    store.close()


def test_bytes_from_the_snapshot_still_obey_the_model_size_cap(tmp_path: Path) -> None:
    """A store may allow larger files than the model's source does: bytes taken from the
    store's snapshot are held to the source's ``max_size`` as a read from the disk is."""
    (tmp_path / "port").write_text("8080")
    settings = live(plain_model(tmp_path, source_options={"max_size": 10}), watch=False)
    store = SecretStore(tmp_path, environ={})  # its own cap: 500 KiB
    (tmp_path / "port").write_text("8" * 50)
    store.reload()
    assert settings.reload(store.snapshot) == frozenset()
    assert settings.last_error is not None
    assert settings.last_error.errors == (("port", "runsecrets_too_large"),)
    store.close()


def test_an_ungated_shared_store_publishes_what_only_the_settings_refuse(tmp_path: Path) -> None:
    """``gate_store=False``: the store's other readers get the new value; the settings keep
    their last valid instance and record the refusal."""
    (tmp_path / "token").write_text("one")
    (tmp_path / "port").write_text("1")
    with (
        SecretStore(tmp_path) as store,
        live(settings_class(tmp_path), store=store, gate_store=False) as settings,
    ):
        write_rename(tmp_path / "port", "not a port")
        _wait_for(lambda: settings.last_error is not None)
        assert store.get("port") == "not a port"
        assert settings.current.port == 1  # type: ignore[attr-defined]


# --- plain BaseSettings models (no hide_input_in_errors of their own) --------------------------


@pytest.mark.parametrize("with_source", [True, False], ids=["our-source", "their-source"])
def test_plain_model_first_load_error_does_not_quote_the_value(
    tmp_path: Path, sentinel: str, with_source: bool
) -> None:
    """``live()`` of a plain model: the first load's error keeps field and type, not the value,
    whether or not the model hides input in its errors."""
    (tmp_path / "port").write_text(sentinel)
    with pytest.raises(ValidationError) as excinfo:
        live(plain_model(tmp_path, ours=with_source), watch=False)
    error = excinfo.value
    assert [(e["loc"], e["type"]) for e in error.errors()] == [(("port",), "int_parsing")]
    assert error.__cause__ is None
    assert error.__context__ is None  # not merely hidden: nothing chained at all
    assert not leaked(sentinel, str(error), repr(error), error.errors(), error.json())


@pytest.mark.parametrize("with_source", [True, False], ids=["our-source", "their-source"])
def test_plain_model_reload_error_does_not_quote_the_value(
    tmp_path: Path, sentinel: str, with_source: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused live reload of a plain model: ``.last_error`` and the log name the field only."""
    (tmp_path / "port").write_text("8001")
    settings = live(plain_model(tmp_path, ours=with_source), watch=False)
    caplog.set_level(logging.DEBUG)
    write_rename(tmp_path / "port", sentinel)
    assert settings.reload() == frozenset()
    failure = settings.last_error
    assert failure is not None
    assert failure.errors == (("port", "int_parsing"),)
    assert settings.current.port == 8001  # type: ignore[attr-defined]
    assert not leaked(sentinel, str(failure), repr(failure), repr(settings), caplog.text)


def test_cleaned_error_hides_validator_messages(sentinel: str) -> None:
    """A validator's own message (which may quote the value) is replaced; pydantic's kept."""

    class Model(BaseModel):
        name: str
        port: int

        @field_validator("name")
        @classmethod
        def check(cls, value: str) -> str:
            """Refuse every name, quoting it (as careless validators do)."""
            raise ValueError(f"bad name {value}")

    with pytest.raises(ValidationError) as excinfo:
        Model(name=sentinel, port=sentinel)  # type: ignore[arg-type]
    cleaned = clean_validation_error(excinfo.value)
    lines = {e["loc"]: (e["type"], e["msg"], e["input"]) for e in cleaned.errors()}
    assert lines[("name",)][0] == "value_error"
    assert "hidden" in lines[("name",)][1]
    assert lines[("port",)][:2] == (
        "int_parsing",
        "Input should be a valid integer, unable to parse string as an integer",
    )
    assert not leaked(sentinel, str(cleaned), repr(cleaned), cleaned.errors(), cleaned.json())
