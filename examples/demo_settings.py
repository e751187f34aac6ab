"""``make demo``, pydantic-settings part: a settings model that follows rotation.

A ``SecretsSettings`` model reads its fields from a secrets directory; ``live()`` keeps the
latest valid instance and re-validates the whole model when a file changes. A rotation is
published with the names of the changed fields; an invalid update is refused and the last
valid instance stays. Values are never printed: ``SecretStr`` hides them, and the report of a
refused update names fields and error types only.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from runsecrets.pydantic import SecretsSettings, live
from runsecrets.testing import write_rename

_WAIT = 5.0


def _settings_class(directory: Path) -> type[SecretsSettings]:
    class Settings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=directory)

        db_password: SecretStr = Field(min_length=12)
        port: int = 8000

    return Settings


def run_demo() -> None:
    """Load settings, rotate a password, refuse a bad port, then accept the fix."""
    with tempfile.TemporaryDirectory(prefix="runsecrets-settings-") as tmp:
        directory = Path(tmp)
        write_rename(directory / "db_password", "first-password-0001\n")
        write_rename(directory / "port", "8080\n")
        settings_cls = _settings_class(directory)
        published = threading.Event()
        changes: list[frozenset[str]] = []

        def on_publish(old: object, new: object, changed: frozenset[str]) -> None:
            changes.append(changed)
            published.set()

        with live(settings_cls, dirs=directory) as settings:
            settings.subscribe(on_publish)
            current = settings.current
            print(f"  loaded: db_password={current.db_password!r} port={current.port}")

            def step(what: str, name: str, value: str) -> None:
                published.clear()
                failures = settings.failures
                write_rename(directory / name, value)
                deadline = time.monotonic() + _WAIT
                while time.monotonic() < deadline:
                    if published.wait(0.01):
                        print(f"  {what}: published, changed fields {sorted(changes[-1])}")
                        return
                    if settings.failures > failures:
                        print(f"  {what}: refused ({settings.last_error})")
                        print(f"    still serving port={settings.current.port}")
                        return
                print(f"  {what}: nothing happened within {_WAIT:.0f} s")

            step("db_password rotated", "db_password", "second-password-0002\n")
            step("port set to 'eighty'", "port", "eighty\n")
            step("port fixed to 9090", "port", "9090\n")
            print(f"  now: port={settings.current.port}, reloads={settings.reloads}")
