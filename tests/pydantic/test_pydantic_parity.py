"""Parity with pydantic-settings' ``secrets_dir`` behaviour, as a table.

Each test runs twice: once on pydantic-settings' own ``BaseSettings`` (its
``SecretsSettingsSource``) and once on runsecrets' ``SecretsSettings``, and expects the same
outcome from both. The values carry no surrounding whitespace, since whitespace is one of the
deliberate differences (see ``test_pydantic_source.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from runsecrets.pydantic import SecretsSettings

IMPLEMENTATIONS = {"pydantic-settings": BaseSettings, "runsecrets": SecretsSettings}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def base(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type[BaseSettings]:
    """The base class under test; the environment holds none of the names used here."""
    monkeypatch.delenv("RUNSECRETS_DIR", raising=False)
    for name in list(os.environ):
        if name.upper().startswith(("APP_", "TOKEN", "PRIMARY", "FALLBACK")):
            monkeypatch.delenv(name)
    return IMPLEMENTATIONS[request.param]


def write(directory: Path, files: dict[str, str]) -> Path:
    """Create ``files`` (relative names, sub-directories allowed) under ``directory``."""
    for name, value in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
    return directory


def test_field_name_is_the_file_name(base: type[BaseSettings], tmp_path: Path) -> None:
    """A file named after the field fills it."""
    write(tmp_path, {"token": "abc"})

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: str

    assert Settings().token == "abc"  # type: ignore[attr-defined]


def test_env_prefix_is_part_of_the_file_name(base: type[BaseSettings], tmp_path: Path) -> None:
    """With ``env_prefix="APP_"`` the file is ``APP_token``, and ``token`` alone is ignored."""
    write(tmp_path, {"APP_token": "with-prefix", "token": "without"})

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path, env_prefix="APP_")
        token: str

    assert Settings().token == "with-prefix"  # type: ignore[attr-defined]


def test_case_insensitive_by_default(base: type[BaseSettings], tmp_path: Path) -> None:
    """The default ``case_sensitive=False`` lets ``APP_TOKEN`` fill ``token`` with prefix ``app_``."""
    write(tmp_path, {"APP_TOKEN": "upper"})

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path, env_prefix="app_")
        token: str

    assert Settings().token == "upper"  # type: ignore[attr-defined]


def test_case_sensitive_needs_the_exact_name(base: type[BaseSettings], tmp_path: Path) -> None:
    """With ``case_sensitive=True`` a file ``TOKEN`` does not fill ``token``."""
    write(tmp_path, {"TOKEN": "upper"})

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path, case_sensitive=True)
        token: str = "default"

    assert Settings().token == "default"  # type: ignore[attr-defined]


def test_alias_names_the_file(base: type[BaseSettings], tmp_path: Path) -> None:
    """A ``validation_alias`` is the file name (no prefix on aliases, by default)."""
    write(tmp_path, {"api-key": "from-alias", "api_key": "from-name"})

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path, env_prefix="APP_")
        api_key: str = Field(validation_alias="api-key")

    assert Settings().api_key == "from-alias"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"fallback": "second"}, "second"),
        ({"primary": "first", "fallback": "second"}, "first"),
    ],
    ids=["second-choice", "first-choice-wins"],
)
def test_alias_choices_in_order(
    base: type[BaseSettings], tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    """``AliasChoices`` are tried in order; the first that has a file wins."""
    write(tmp_path, files)

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: str = Field(validation_alias=AliasChoices("primary", "fallback"))

    assert Settings().token == expected  # type: ignore[attr-defined]


class Database(BaseModel):
    """A nested model for the complex-value cases."""

    user: str
    password: SecretStr


def test_complex_values_are_json(base: type[BaseSettings], tmp_path: Path) -> None:
    """Lists, dicts and nested models read JSON from their file."""
    write(
        tmp_path,
        {
            "ports": "[80, 443]",
            "labels": '{"team": "core"}',
            "db": '{"user": "app", "password": "pw"}',
        },
    )

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        ports: list[int]
        labels: dict[str, str]
        db: Database

    settings: Any = Settings()
    assert settings.ports == [80, 443]
    assert settings.labels == {"team": "core"}
    assert (settings.db.user, settings.db.password.get_secret_value()) == ("app", "pw")


def test_nested_json_keys_case_insensitive(base: type[BaseSettings], tmp_path: Path) -> None:
    """Case-insensitive settings map a nested model's JSON keys onto its fields whatever their case."""
    write(tmp_path, {"db": '{"USER": "app", "Password": "pw"}'})

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        db: Database

    settings: Any = Settings()
    assert settings.db.user == "app"


def test_later_directory_wins(base: type[BaseSettings], tmp_path: Path) -> None:
    """``secrets_dir=[a, b]``: a file in ``b`` beats the same file in ``a``."""
    first = write(tmp_path / "a", {"token": "from-a", "only_a": "a"})
    second = write(tmp_path / "b", {"token": "from-b"})

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=[first, second])
        token: str
        only_a: str

    settings: Any = Settings()
    assert (settings.token, settings.only_a) == ("from-b", "a")


def test_environment_beats_the_directory(
    base: type[BaseSettings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An environment variable wins over a secret file."""
    write(tmp_path, {"token": "from-file"})
    monkeypatch.setenv("TOKEN", "from-env")

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: str

    assert Settings().token == "from-env"  # type: ignore[attr-defined]


class Nested(BaseModel):
    """A nested model read from ``DB__USER`` with a nested delimiter."""

    user: str = "default"


class Variant:
    """One way a variable reaches a field (each must keep reaching it)."""

    def __init__(self, variable: str, config: dict[str, Any], field: Any) -> None:
        self.variable = variable
        self.config = config
        self.field = field


ENVIRONMENT_VARIANTS = {
    "name": Variant("TOKEN", {}, Field()),
    "name-lower-case": Variant("token", {}, Field()),
    "prefix": Variant("APP_TOKEN", {"env_prefix": "APP_"}, Field()),
    "alias": Variant("PRIMARY", {}, Field(alias="primary")),
    "validation-alias": Variant("PRIMARY", {}, Field(validation_alias="primary")),
    "alias-choice": Variant(
        "FALLBACK", {}, Field(validation_alias=AliasChoices("primary", "fallback"))
    ),
}


@pytest.mark.parametrize("variant", sorted(ENVIRONMENT_VARIANTS))
def test_environment_reaches_the_field_every_way(
    base: type[BaseSettings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    """A variable named after the field, in lower case, with the prefix, by alias or by an
    alias choice fills it over the file (``SecretsSettings`` leaves pydantic-settings'
    environment source out only when no variable can be a field's)."""
    case = ENVIRONMENT_VARIANTS[variant]
    write(tmp_path, {"token": "from-file", "APP_token": "from-file"})
    monkeypatch.setenv(case.variable, "from-env")

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path, **case.config)
        token: str = case.field

    assert Settings().token == "from-env"  # type: ignore[attr-defined]


def test_environment_fills_a_nested_model_by_delimiter(
    base: type[BaseSettings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``APP_DB__USER`` fills ``db.user`` with ``env_nested_delimiter="__"``."""
    monkeypatch.setenv("APP_DB__USER", "from-env")

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(
            secrets_dir=tmp_path, env_prefix="APP_", env_nested_delimiter="__"
        )
        db: Nested = Nested()

    assert Settings().db.user == "from-env"  # type: ignore[attr-defined]


def test_dotenv_file_beats_the_directory(
    base: type[BaseSettings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dotenv file's value wins over a secret file; with no dotenv file, the file fills it."""
    secrets = write(tmp_path / "secrets", {"token": "from-file"})
    dotenv = tmp_path / "settings.env"
    dotenv.write_text("TOKEN=from-dotenv\n")

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=secrets, env_file=dotenv)
        token: str

    assert Settings().token == "from-dotenv"  # type: ignore[attr-defined]
    assert Settings(_env_file=None).token == "from-file"  # type: ignore[attr-defined,call-arg]


def test_init_argument_beats_everything(base: type[BaseSettings], tmp_path: Path) -> None:
    """A keyword argument wins over a secret file."""
    write(tmp_path, {"token": "from-file"})

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: str

    assert Settings(token="given").token == "given"  # type: ignore[attr-defined]


def test_secrets_dir_init_argument(base: type[BaseSettings], tmp_path: Path) -> None:
    """``Settings(_secrets_dir=...)`` overrides the configured directory."""
    write(tmp_path / "other", {"token": "other"})

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: str

    assert Settings(_secrets_dir=tmp_path / "other").token == "other"  # type: ignore[attr-defined]


def test_missing_file_leaves_the_default(base: type[BaseSettings], tmp_path: Path) -> None:
    """No file: the default stays; a required field is reported missing."""

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: str = "default"

    assert Settings().token == "default"  # type: ignore[attr-defined]


def test_missing_directory_warns(base: type[BaseSettings], tmp_path: Path) -> None:
    """A configured directory that does not exist is a warning, not an error."""

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path / "nowhere")
        token: str = "default"

    with pytest.warns(UserWarning, match=r'directory ".*nowhere" does not exist'):
        assert Settings().token == "default"  # type: ignore[attr-defined]


def test_file_as_directory_is_an_error(base: type[BaseSettings], tmp_path: Path) -> None:
    """A configured ``secrets_dir`` that is a file raises ``SettingsError``."""
    (tmp_path / "file").write_text("x")

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path / "file")
        token: str = "default"

    with pytest.raises(SettingsError, match="must reference a directory"):
        Settings()


def test_secret_str_stays_hidden(base: type[BaseSettings], tmp_path: Path, sentinel: str) -> None:
    """A ``SecretStr`` field holds the value and its repr hides it."""
    write(tmp_path, {"token": sentinel})

    class Settings(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(secrets_dir=tmp_path)
        token: SecretStr

    settings: Any = Settings()
    assert settings.token.get_secret_value() == sentinel
    assert sentinel not in repr(settings)
