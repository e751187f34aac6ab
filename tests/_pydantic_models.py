"""Settings models shared by the pydantic tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from runsecrets.pydantic import RunSecretsSettingsSource


def plain_model(
    directory: Path,
    *,
    ours: bool = True,
    source_options: dict[str, Any] | None = None,
    **config: Any,
) -> type[BaseSettings]:
    """A plain ``BaseSettings`` (not ``SecretsSettings``) with an int ``port`` read from the
    files in ``directory``: through :class:`RunSecretsSettingsSource` (``ours``, made with
    ``source_options``) or through pydantic-settings' own source, with ``config`` added to its
    model config."""
    options = source_options or {}

    class Plain(BaseSettings):
        model_config = SettingsConfigDict(secrets_dir=directory, **config)
        port: int = 8000

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            """Init arguments, then the secrets directory (ours or theirs)."""
            if ours:
                return (init_settings, RunSecretsSettingsSource(settings_cls, **options))
            return (init_settings, file_secret_settings)

    return Plain
