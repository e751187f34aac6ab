"""Which config key each secret of a snapshot fills, and the prefixed secrets that fill none."""

from __future__ import annotations

import logging

from flask import Flask

from ...exceptions import SecretDecodeError
from ._config import refusal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ...reload.snapshot import Snapshot

logger = logging.getLogger("runsecrets.flask")


def config_key_for(name: str, prefix: str) -> str:
    """The config key a prefixed secret fills: ``app_api-token`` with ``app_`` is ``API_TOKEN``."""
    return name[len(prefix) :].upper().replace("-", "_").replace(".", "_")


class ConfigMapping:
    """Which config key each secret of a snapshot fills, and what was left out.

    Attributes:
        sources: Config key to secret name.
        skipped: Prefixed secrets that are not text.
        refused: Prefixed secrets whose config key cannot take text.
    """

    __slots__ = ("refused", "skipped", "sources")

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}
        self.skipped: list[str] = []
        self.refused: list[str] = []


def map_secrets(snapshot: Snapshot, config: Mapping[str, str], prefix: str | None) -> ConfigMapping:
    """The config keys ``snapshot``'s secrets fill: ``config``'s, and those the prefix maps."""
    mapping = ConfigMapping()
    if prefix is not None:
        errors = snapshot.errors
        for name in snapshot:
            if not name.startswith(prefix) or len(name) <= len(prefix):
                continue
            key = config_key_for(name, prefix)
            if key in config:
                continue  # explicit entries win
            if isinstance(errors.get(name), SecretDecodeError):
                mapping.skipped.append(name)
            elif refusal(key, Flask.default_config) is not None:
                mapping.refused.append(name)
            else:
                mapping.sources[key] = name
    for key, name in config.items():
        if name in snapshot:
            mapping.sources[key] = name  # a binary one fails at snapshot.get, as it should
    return mapping


def differs(before: Snapshot, after: Snapshot, name: str) -> bool:
    """Whether secret ``name`` is not the same in both snapshots (or missing from one)."""
    old, new = before.entry(name), after.entry(name)
    return old is None or new is None or old.raw != new.raw


def log_left_out(skipped: list[str], refused: list[str]) -> None:
    """One line per kind naming the prefixed secrets that fill no config key."""
    if skipped:
        logger.warning(
            "secrets %s are not valid UTF-8 text: skipped, no config key is set from them",
            ", ".join(sorted(skipped)),
        )
    if refused:
        logger.warning(
            "secrets %s would fill Flask keys that are not text: skipped",
            ", ".join(sorted(refused)),
        )
