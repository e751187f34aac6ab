"""``Secret`` never shows its value, and the core import stays light."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

from runsecrets import Provenance, Secret, Secrets

from ..conftest import leaked


def test_secret_hides_value_in_repr_str_and_format(sentinel: str) -> None:
    """repr, str, f-strings and %-formatting all mask the value; reveal() gives it."""
    secret = Secret(sentinel)
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret, f"{secret:>20}"]  # noqa: UP031
    assert not leaked(sentinel, *shown)
    assert secret.reveal() == sentinel


def test_secret_from_resolver_repr_names_its_source(tmp_path: Path, sentinel: str) -> None:
    """A resolved Secret's repr says where it came from, which helps debugging without leaking."""
    (tmp_path / "db_password").write_text(sentinel)
    secret = Secrets(tmp_path, environ={}).secret("db_password")
    assert repr(secret) == f"Secret('db_password', from file {tmp_path / 'db_password'})"
    assert secret.reveal() == sentinel
    assert isinstance(secret.provenance, Provenance)
    assert not leaked(sentinel, repr(secret.provenance), secret.provenance.as_dict())


def test_secret_equality_compares_values() -> None:
    """Two secrets with the same value are equal (compared in constant time), others not."""
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))


def test_secret_survives_pickling() -> None:
    """Secrets can be copied to worker processes."""
    secret = Secret("v", Provenance("n", "environment", variable="N", size=1))
    copy = pickle.loads(pickle.dumps(secret))  # noqa: S301 - our own data
    assert copy == secret
    assert copy.provenance == secret.provenance


def test_core_import_loads_no_heavy_dependency() -> None:
    """``import runsecrets`` (and a get) loads neither pydantic, watchfiles, cryptography nor typing."""
    code = (
        "import sys, runsecrets; runsecrets.get('x', None, dirs=['/nonexistent']);"
        "heavy = ('pydantic', 'pydantic_settings', 'watchfiles', 'cryptography', 'typing', 'threading');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
