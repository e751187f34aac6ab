"""pydantic-settings integration: a settings source, a ready base class and live settings.

- :class:`RunSecretsSettingsSource` reads ``<PREFIX><FIELD>_FILE`` variables and secrets
  directories under runsecrets' reading rules, for any ``BaseSettings`` model.
- :class:`SecretsSettings` is a ``BaseSettings`` with that source installed: init arguments,
  then environment variables and ``_FILE`` variables, then the dotenv file, then the secrets
  directories.
- :func:`live` keeps the latest valid instance of a model at hand and re-validates it when its
  secrets change.

This package is the only one that imports pydantic (``import runsecrets`` does not).

File names keep pydantic-settings' rule: the file for a field is ``env_prefix`` + the field
name (or its alias), so ``env_prefix="APP_"`` reads ``/run/secrets/APP_db_password`` (any case
unless ``case_sensitive``), exactly as ``SecretsSettingsSource`` does.
"""

from __future__ import annotations

from ._live import LiveSettings, ReloadFailure, StoreWatcher
from ._source import RunSecretsSettingsSource, SecretsSettings, live

__all__ = [
    "LiveSettings",
    "ReloadFailure",
    "RunSecretsSettingsSource",
    "SecretsSettings",
    "StoreWatcher",
    "live",
]
