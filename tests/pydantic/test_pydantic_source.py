"""RunSecretsSettingsSource and SecretsSettings: the deliberate differences from
pydantic-settings, ``_FILE`` variables, nested models, errors and the reading rules."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, BaseModel, Field, SecretBytes, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from runsecrets.exceptions import RunSecretsWarning, SecretsDirWarning
from runsecrets.pydantic import RunSecretsSettingsSource, SecretsSettings
from runsecrets.testing import SecretsDir

from .._pydantic_models import plain_model
from ..conftest import leaked


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable of the host may answer for a field used here."""
    monkeypatch.delenv("RUNSECRETS_DIR", raising=False)
    for name in list(os.environ):
        if name.upper().startswith(("APP_", "TOKEN", "PORT", "DB_", "DB__", "BLOB", "KEY")):
            monkeypatch.delenv(name)


def only_error(excinfo: pytest.ExceptionInfo[ValidationError]) -> dict[str, Any]:
    """The single error of a ``ValidationError``."""
    errors = excinfo.value.errors()
    assert len(errors) == 1, errors
    return dict(errors[0])


def settings_class(directory: Path, **config: Any) -> type[SecretsSettings]:
    """A ``SecretsSettings`` with one ``token`` field reading ``directory``."""

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=directory, **config)
        token: str

    return Settings


# --- deliberate differences -------------------------------------------------------------------


def test_spaces_are_kept_and_trailing_line_endings_dropped(tmp_path: Path) -> None:
    """Ours keeps leading and trailing spaces (pydantic-settings strips all whitespace)."""
    (tmp_path / "token").write_bytes(b"  pass word \t\r\n\n")

    class Theirs(BaseSettings):
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: str

    assert settings_class(tmp_path)().token == "  pass word \t"  # type: ignore[attr-defined]
    assert Theirs().token == "pass word"


def test_file_variable_fills_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``<PREFIX><FIELD>_FILE`` names the file; it beats the secrets directory."""
    (tmp_path / "APP_token").write_text("from-directory")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("from-file-variable\n")
    monkeypatch.setenv("APP_TOKEN_FILE", str(elsewhere))

    settings = settings_class(tmp_path, env_prefix="APP_")()
    assert settings.token == "from-file-variable"  # type: ignore[attr-defined]


def test_file_variable_any_case_when_case_insensitive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the default ``case_sensitive=False``, ``app_token_file`` counts too."""
    target = tmp_path / "value"
    target.write_text("lower")
    monkeypatch.setenv("app_token_file", str(target))
    assert settings_class(tmp_path, env_prefix="APP_")().token == "lower"  # type: ignore[attr-defined]


def test_file_variable_by_alias_choice_among_other_file_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FALLBACK_FILE`` fills a field whose second alias choice is ``fallback``, while other
    ``*_FILE`` variables (a CA bundle's, say) fill nothing and the other fields keep their
    directory files."""
    target = tmp_path / "value"
    target.write_text("by-alias")
    (tmp_path / "other").write_text("from-directory")
    monkeypatch.setenv("FALLBACK_FILE", str(target))
    monkeypatch.setenv("SSL_CERT_FILE", str(target))

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: str = Field(default="default", validation_alias=AliasChoices("primary", "fallback"))
        other: str = "default"

    settings = Settings()
    assert (settings.token, settings.other) == ("by-alias", "from-directory")


def test_file_variable_exact_case_when_case_sensitive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``case_sensitive=True`` the variable is ``<prefix><field>_FILE`` exactly."""
    target = tmp_path / "value"
    target.write_text("exact")
    monkeypatch.setenv("APP_token_FILE", str(target))

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(
            secrets_dir=tmp_path, env_prefix="APP_", case_sensitive=True
        )
        token: str = "default"

    assert Settings().token == "exact"
    monkeypatch.delenv("APP_token_FILE")
    monkeypatch.setenv("APP_TOKEN_FILE", str(target))
    assert Settings().token == "default"


def test_file_variable_and_variable_both_set_is_a_field_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sentinel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``APP_TOKEN`` and ``APP_TOKEN_FILE`` both set: pydantic reports the field, naming both."""
    target = tmp_path / "value"
    target.write_text(sentinel)
    monkeypatch.setenv("APP_TOKEN", sentinel)
    monkeypatch.setenv("APP_TOKEN_FILE", str(target))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ValidationError) as excinfo:
        settings_class(tmp_path, env_prefix="APP_")()
    error = only_error(excinfo)
    assert error["loc"] == ("token",)
    assert error["type"] == "runsecrets_conflict"
    assert "APP_TOKEN and APP_TOKEN_FILE" in error["msg"]
    assert not leaked(sentinel, str(excinfo.value), repr(excinfo.value.errors()), caplog.text)


def test_empty_variable_does_not_conflict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty ``APP_TOKEN`` counts as unset, as in the official images' ``file_env``."""
    target = tmp_path / "value"
    target.write_text("from-file")
    monkeypatch.setenv("APP_TOKEN", "")
    monkeypatch.setenv("APP_TOKEN_FILE", str(target))
    # The environment source gives "" first, so the higher-priority source wins; the point is
    # that no conflict is raised.
    assert settings_class(tmp_path, env_prefix="APP_")().token == ""  # type: ignore[attr-defined]


def test_file_variable_pointing_nowhere_is_a_field_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``_FILE`` target that does not exist is an error naming the variable and the path."""
    monkeypatch.setenv("TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError) as excinfo:
        settings_class(tmp_path)()
    error = only_error(excinfo)
    assert (error["loc"], error["type"]) == (("token",), "runsecrets_not_found")
    assert "TOKEN_FILE" in error["msg"]
    assert str(tmp_path / "missing") in error["msg"]


def test_size_cap(tmp_path: Path, sentinel: str) -> None:
    """A file over ``max_size`` is refused before it is read (pydantic-settings has no cap)."""
    (tmp_path / "token").write_text(sentinel * 10)

    class Settings(BaseSettings):
        token: str = "default"

    source = RunSecretsSettingsSource(Settings, tmp_path, max_size=len(sentinel))
    with pytest.raises(ValidationError) as excinfo:
        source()
    error = only_error(excinfo)
    assert (error["loc"], error["type"]) == (("token",), "runsecrets_too_large")
    assert not leaked(sentinel, str(excinfo.value))


def test_default_size_cap_is_swarms(tmp_path: Path) -> None:
    """Without ``max_size``, the cap is 500 KiB, Docker Swarm's own limit."""
    (tmp_path / "token").write_bytes(b"x" * (500 * 1024 + 1))
    with pytest.raises(ValidationError) as excinfo:
        settings_class(tmp_path)()
    assert only_error(excinfo)["type"] == "runsecrets_too_large"


def test_windows_default_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no directory configured, Windows reads ``C:\\ProgramData\\Docker\\secrets``.

    Mocked: ``sys.platform`` is set to ``win32`` because Windows cannot run here. The directory
    does not exist on this machine, which is quiet for the default directory (no warning).
    """
    monkeypatch.setattr(sys, "platform", "win32")

    class Settings(SecretsSettings):
        token: str = "default"

    source = RunSecretsSettingsSource(Settings)
    assert source.directories() == (r"C:\ProgramData\Docker\secrets",)
    assert Settings().token == "default"


def test_posix_default_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no directory configured, Linux reads ``/run/secrets`` (pydantic-settings: none)."""
    monkeypatch.setattr(sys, "platform", "linux")

    class Settings(BaseSettings):
        token: str = "default"

    assert RunSecretsSettingsSource(Settings).directories() == ("/run/secrets",)


def test_runsecrets_dir_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``RUNSECRETS_DIR`` is used when the model names no directory; first match wins."""
    first = tmp_path / "a"
    second = tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "token").write_text("from-a")
    (second / "token").write_text("from-b")
    monkeypatch.setenv("RUNSECRETS_DIR", f"{first}{os.pathsep}{second}")

    class Settings(SecretsSettings):
        token: str

    assert Settings().token == "from-a"


def test_dirs_argument_first_match_wins(tmp_path: Path) -> None:
    """The source's own ``dirs`` read like ``PATH``: the first directory wins."""
    first = tmp_path / "a"
    second = tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "token").write_text("from-a")
    (second / "token").write_text("from-b")

    class Settings(BaseSettings):
        token: str

    assert RunSecretsSettingsSource(Settings, [first, second])() == {"token": "from-a"}


def test_symlink_out_of_the_directory_is_an_error(tmp_path: Path, sentinel: str) -> None:
    """A link leading out of the secrets directory is refused (pydantic-settings skips it)."""
    outside = tmp_path / "outside"
    outside.write_text(sentinel)
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "token").symlink_to(outside)
    with pytest.raises(ValidationError) as excinfo:
        settings_class(directory)()
    assert only_error(excinfo)["type"] == "runsecrets_outside_directory"
    assert not leaked(sentinel, str(excinfo.value))


def test_fifo_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """A FIFO named like a field gives a clear error at once."""
    os.mkfifo(tmp_path / "token")
    with pytest.raises(ValidationError) as excinfo:
        settings_class(tmp_path)()
    assert only_error(excinfo)["type"] == "runsecrets_not_regular_file"


def test_invalid_utf8_is_an_error_with_the_offset(tmp_path: Path) -> None:
    """Text fields need UTF-8; the error gives the offset, never the bytes."""
    (tmp_path / "token").write_bytes(b"ab\xff")
    with pytest.raises(ValidationError) as excinfo:
        settings_class(tmp_path)()
    error = only_error(excinfo)
    assert error["type"] == "runsecrets_not_utf8"
    assert "offset 2" in error["msg"]


def test_invalid_json_names_the_file_not_the_content(tmp_path: Path, sentinel: str) -> None:
    """A complex field whose file is not JSON fails for that field, without quoting the file."""
    (tmp_path / "ports").write_text(f"[1, {sentinel}")

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        ports: list[int]

    with pytest.raises(ValidationError) as excinfo:
        Settings()
    error = only_error(excinfo)
    assert (error["loc"], error["type"]) == (("ports",), "runsecrets_invalid_json")
    assert str(tmp_path / "ports") in error["msg"]
    assert not leaked(sentinel, str(excinfo.value))


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_json_nested_too_deeply_is_a_typed_field_error(
    tmp_path: Path, sentinel: str, opener: str
) -> None:
    """JSON nested deeper than the interpreter can decode (finding 15 of the hardening issue)
    is a ``runsecrets_invalid_json`` error for that field, not a bare ``RecursionError``, and
    the message says so without quoting the document."""
    (tmp_path / "ports").write_text(f'["{sentinel}", ' + opener * 100_000)

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        ports: list[Any]

    with pytest.raises(ValidationError) as excinfo:
        Settings()
    error = only_error(excinfo)
    assert (error["loc"], error["type"]) == (("ports",), "runsecrets_invalid_json")
    assert "nested too deeply" in error["msg"]
    assert not leaked(sentinel, str(excinfo.value), excinfo.value.json())


def test_every_failing_field_is_reported_at_once(tmp_path: Path) -> None:
    """Several unreadable fields give one ``ValidationError`` listing each."""
    os.mkfifo(tmp_path / "token")
    os.mkfifo(tmp_path / "port")

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: str
        port: int

    with pytest.raises(ValidationError) as excinfo:
        Settings()
    assert sorted(e["loc"] for e in excinfo.value.errors()) == [("port",), ("token",)]


def test_validation_error_does_not_show_the_value(
    tmp_path: Path, sentinel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """pydantic's own error for a refused value does not quote it: SecretsSettings hides inputs."""
    (tmp_path / "port").write_text(sentinel)
    caplog.set_level(logging.DEBUG)

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        port: int

    with pytest.raises(ValidationError) as excinfo:
        Settings()
    assert not leaked(sentinel, str(excinfo.value), caplog.text)


def test_plain_base_settings_error_does_not_quote_the_value(tmp_path: Path, sentinel: str) -> None:
    """A plain ``BaseSettings`` using our source gets ``hide_input_in_errors`` turned on: the
    very first ``ValidationError`` names the field and the type, not the secret it refused."""
    (tmp_path / "port").write_text(sentinel)
    plain = plain_model(tmp_path)
    with pytest.raises(ValidationError) as excinfo:
        plain()
    assert only_error(excinfo)["type"] == "int_parsing"
    assert not leaked(sentinel, str(excinfo.value), repr(excinfo.value))
    assert plain.model_config["hide_input_in_errors"] is True
    assert "hide_input_in_errors" not in BaseSettings.model_config


def test_plain_base_settings_explicit_false_is_overridden_with_a_warning(
    tmp_path: Path, sentinel: str
) -> None:
    """``hide_input_in_errors=False`` set on purpose is overridden too, and a warning says so."""
    (tmp_path / "port").write_text(sentinel)
    plain = plain_model(tmp_path, hide_input_in_errors=False)
    with (
        pytest.warns(RunSecretsWarning, match="hide_input_in_errors"),
        pytest.raises(ValidationError) as excinfo,
    ):
        plain()
    assert not leaked(sentinel, str(excinfo.value), repr(excinfo.value))


def test_plain_base_settings_still_validates(tmp_path: Path) -> None:
    """Hiding the input changes how errors print, not what validates."""
    (tmp_path / "port").write_text("9001")
    assert plain_model(tmp_path)().port == 9001  # type: ignore[attr-defined]


def test_environment_wins_so_the_file_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field the environment provides is not read from the directory (a FIFO there is fine)."""
    os.mkfifo(tmp_path / "token")
    monkeypatch.setenv("TOKEN", "from-env")
    assert settings_class(tmp_path)().token == "from-env"  # type: ignore[attr-defined]


def test_environment_source_kind_is_refused() -> None:
    """Plain variables are pydantic-settings' own source's job."""

    class Settings(BaseSettings):
        token: str = ""

    with pytest.raises(ValueError, match="EnvSettingsSource"):
        RunSecretsSettingsSource(Settings, sources=("environment",))


def test_directory_missing_is_quiet_for_the_default_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory the user named warns when missing; it is a ``SecretsDirWarning``."""

    class Settings(BaseSettings):
        token: str = ""

    with pytest.warns(SecretsDirWarning, match="does not exist"):
        RunSecretsSettingsSource(Settings, tmp_path / "missing")()


# --- value types ---------------------------------------------------------------------------


def test_secret_str_secret_bytes_and_plain_str(tmp_path: Path, sentinel: str) -> None:
    """``SecretStr`` and ``str`` get text; ``SecretBytes`` and ``bytes`` get the raw bytes."""
    (tmp_path / "token").write_text(sentinel + "\n")
    (tmp_path / "key").write_bytes(b"\x00\xffbinary\n")
    (tmp_path / "blob").write_bytes(b"\xfe\n")
    (tmp_path / "plain").write_text("plain\n")

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: SecretStr
        key: SecretBytes
        blob: bytes
        plain: str

    settings = Settings()
    assert settings.token.get_secret_value() == sentinel
    assert settings.key.get_secret_value() == b"\x00\xffbinary\n"
    assert settings.blob == b"\xfe\n"
    assert settings.plain == "plain"
    assert sentinel not in repr(settings)


# --- nested models ---------------------------------------------------------------------------


class Tls(BaseModel):
    """Third level of nesting."""

    key: str = ""


class Database(BaseModel):
    """A nested model."""

    user: str = ""
    password: SecretStr = SecretStr("")
    tls: Tls = Tls()


def nested_class(directory: Path, **config: Any) -> type[SecretsSettings]:
    """Settings with a nested ``db`` model and ``__`` as nested delimiter."""

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(
            secrets_dir=directory, env_nested_delimiter="__", **config
        )
        db: Database = Database()

    return Settings


def test_nested_flat_file_name(tmp_path: Path) -> None:
    """``db__password`` fills ``db.password``."""
    (tmp_path / "db__password").write_text("flat")
    settings: Any = nested_class(tmp_path)()
    assert settings.db.password.get_secret_value() == "flat"


def test_nested_sub_directory(tmp_path: Path) -> None:
    """``db/password`` fills ``db.password``; ``db/tls/key`` and ``db/tls__key`` go deeper."""
    (tmp_path / "db" / "tls").mkdir(parents=True)
    (tmp_path / "db" / "password").write_text("in-subdir")
    (tmp_path / "db" / "tls" / "key").write_text("deep")
    settings: Any = nested_class(tmp_path)()
    assert settings.db.password.get_secret_value() == "in-subdir"
    assert settings.db.tls.key == "deep"


def test_nested_mixed_layouts_and_prefix(tmp_path: Path) -> None:
    """The prefix applies to the top name only: ``APP_db__user`` and ``APP_db/tls__key``."""
    (tmp_path / "APP_db").mkdir()
    (tmp_path / "APP_db__user").write_text("app")
    (tmp_path / "APP_db" / "tls__key").write_text("k")
    settings: Any = nested_class(tmp_path, env_prefix="APP_")()
    assert (settings.db.user, settings.db.tls.key) == ("app", "k")


def test_nested_flat_file_beats_sub_directory(tmp_path: Path) -> None:
    """With both layouts present, the flat file wins."""
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "user").write_text("subdir")
    (tmp_path / "db__user").write_text("flat")
    assert nested_class(tmp_path)().db.user == "flat"  # type: ignore[attr-defined]


def test_nested_json_file_and_leaf_files_merge(tmp_path: Path) -> None:
    """A JSON file for the whole model, with leaf files laid over it."""
    (tmp_path / "db").write_text('{"user": "json-user", "password": "json-pw"}')
    (tmp_path / "db__password").write_text("leaf-pw")
    settings: Any = nested_class(tmp_path)()
    assert settings.db.user == "json-user"
    assert settings.db.password.get_secret_value() == "leaf-pw"


def test_nested_case_insensitive_names(tmp_path: Path) -> None:
    """Nested file names match in any case by default."""
    (tmp_path / "DB__USER").write_text("upper")
    assert nested_class(tmp_path)().db.user == "upper"  # type: ignore[attr-defined]


def test_nested_file_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``DB__PASSWORD_FILE`` fills ``db.password``."""
    target = tmp_path / "pw"
    target.write_text("from-variable")
    monkeypatch.setenv("DB__PASSWORD_FILE", str(target))
    settings: Any = nested_class(tmp_path)()
    assert settings.db.password.get_secret_value() == "from-variable"


def test_nested_environment_and_files_combine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``DB__USER`` from the environment and ``db__password`` from a file fill one model."""
    monkeypatch.setenv("DB__USER", "env-user")
    (tmp_path / "db__user").write_text("file-user")
    (tmp_path / "db__password").write_text("file-pw")
    settings: Any = nested_class(tmp_path)()
    assert settings.db.user == "env-user"
    assert settings.db.password.get_secret_value() == "file-pw"


def test_nested_error_is_reported_at_the_nested_location(tmp_path: Path) -> None:
    """A failing nested file is reported at ``db.password``."""
    os.mkfifo(tmp_path / "db__password")
    with pytest.raises(ValidationError) as excinfo:
        nested_class(tmp_path)()
    assert only_error(excinfo)["loc"] == ("db", "password")


def test_nested_sub_directory_linked_outside_is_skipped(
    tmp_path: Path, sentinel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A sub-directory that is a symlink out of the secrets directory is not followed.

    The reader checks a file's own link against the directory; ``db -> /elsewhere`` with a
    plain ``password`` file in it passed that check. The index skips such a sub-directory,
    with a debug log naming it, so ``db.password`` keeps its default.
    """
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "password").write_text(sentinel)
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "db").symlink_to(outside, target_is_directory=True)
    with caplog.at_level(logging.DEBUG, logger="runsecrets.pydantic"):
        settings: Any = nested_class(directory)()
    assert settings.db.password.get_secret_value() == ""
    assert any(
        "skipping sub-directory" in r.getMessage() and str(directory / "db") in r.getMessage()
        for r in caplog.records
    )


def test_nested_sub_directory_linked_outside_deeper_is_skipped(
    tmp_path: Path, sentinel: str
) -> None:
    """The check holds at every level: ``db/tls -> /elsewhere`` is skipped too."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "key").write_text(sentinel)
    directory = tmp_path / "secrets"
    (directory / "db").mkdir(parents=True)
    (directory / "db" / "user").write_text("inside")
    (directory / "db" / "tls").symlink_to(outside, target_is_directory=True)
    settings: Any = nested_class(directory)()
    assert (settings.db.user, settings.db.tls.key) == ("inside", "")


def test_nested_sub_directory_linked_outside_with_external_links_allowed(
    tmp_path: Path,
) -> None:
    """``allow_external_links=True`` follows such a sub-directory, as it does a file link."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "password").write_text("followed")
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "db").symlink_to(outside, target_is_directory=True)
    settings_cls = nested_class(directory)
    source = RunSecretsSettingsSource(settings_cls, allow_external_links=True)
    assert source() == {"db": {"password": "followed"}}


def test_nested_sub_directory_kubernetes_links_inside_the_root(tmp_path: Path) -> None:
    """Kubernetes' ``db -> ..data/db`` and ``..data -> ..<stamp>`` stay inside: still read."""
    stamped = tmp_path / "..2026_01_01_00_00_00.000000001"
    (stamped / "db" / "tls").mkdir(parents=True)
    (stamped / "db" / "password").write_text("k8s-pw")
    (stamped / "db" / "tls" / "key").write_text("k8s-key")
    (tmp_path / "..data").symlink_to(stamped.name, target_is_directory=True)
    (tmp_path / "db").symlink_to("..data/db", target_is_directory=True)
    settings: Any = nested_class(tmp_path)()
    assert settings.db.password.get_secret_value() == "k8s-pw"
    assert settings.db.tls.key == "k8s-key"


def test_nested_sub_directory_of_a_linked_root(tmp_path: Path) -> None:
    """A secrets directory that is itself a link (``/run/secrets -> /elsewhere``) still works:
    containment is judged against the root's real path."""
    real = tmp_path / "real"
    (real / "db").mkdir(parents=True)
    (real / "db" / "password").write_text("via-link")
    (tmp_path / "secrets").symlink_to(real, target_is_directory=True)
    settings: Any = nested_class(tmp_path / "secrets")()
    assert settings.db.password.get_secret_value() == "via-link"


def test_nested_needs_the_delimiter(tmp_path: Path) -> None:
    """Without ``env_nested_delimiter``, ``db__password`` is not a nested name (as theirs)."""
    (tmp_path / "db__password").write_text("flat")

    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        db: Database = Database()

    assert Settings().db.password.get_secret_value() == ""


# --- layouts and bookkeeping ------------------------------------------------------------------


def test_kubernetes_volume_layout(tmp_path: Path) -> None:
    """A Kubernetes secret volume (``key -> ..data/key``) reads through its links."""
    volume = SecretsDir(tmp_path, kubernetes=True)
    volume.write_all({"token": "from-kubelet"})
    assert settings_class(tmp_path)().token == "from-kubelet"  # type: ignore[attr-defined]


def test_exact_spelling_wins_over_other_cases(tmp_path: Path) -> None:
    """``token`` and ``TOKEN`` both present: the exact spelling answers."""
    (tmp_path / "token").write_text("exact")
    (tmp_path / "TOKEN").write_text("upper")
    assert settings_class(tmp_path)().token == "exact"  # type: ignore[attr-defined]


def test_provenance_says_where_not_what(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a load the source tells where each field came from."""
    (tmp_path / "token").write_text("t")
    target = tmp_path / "port-file"
    target.write_text("80")
    monkeypatch.setenv("PORT_FILE", str(target))

    class Settings(BaseSettings):
        token: str
        port: int

    source = RunSecretsSettingsSource(Settings, tmp_path)
    assert source() == {"token": "t", "port": "80"}
    assert source.provenance["token"].path == str(tmp_path / "token")
    assert source.provenance["port"].kind == "file_variable"
    assert source.provenance["port"].variable == "PORT_FILE"
    assert "80" not in repr(source.provenance)


def test_each_directory_is_listed_once_per_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many fields, one load lists each directory once (the source of linearity)."""
    for i in range(50):
        (tmp_path / f"f{i}").write_text(str(i))
    fields: dict[str, Any] = {f"f{i}": (str, ...) for i in range(50)}
    from pydantic import create_model

    model = create_model("Many", __base__=BaseSettings, **fields)
    calls: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path: Any) -> Any:
        calls.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    assert len(RunSecretsSettingsSource(model, tmp_path)()) == 50
    assert calls == [str(tmp_path)]
