"""``runsecrets exec --file-prefix FILE__``: linuxserver.io's ``FILE__X=/path`` convention.

linuxserver.io's images read each ``FILE__X`` variable's file into ``X`` at start-up. With
``--file-prefix FILE__`` ``exec`` does the same, under the rules it applies to ``X_FILE``: the
content read with the reading rules, ``FILE__X`` removed, and a refusal when ``X`` (or
``X_FILE``) is set too, where the images' script would quietly overwrite ``X``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runsecrets.cli._exec import ExecRequest
from runsecrets.cli._exec_env import prepare_environment
from runsecrets.exceptions import SecretConflictError, SecretReadError

from ..conftest import leaked

RUNSECRETS_EXEC = [sys.executable, "-m", "runsecrets", "exec"]
SHOW = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if 'PASS' in k}))"


def _request(only: list[str] | None = None, prefix: str | None = "FILE__") -> ExecRequest:
    return ExecRequest(["true"], None, only, prefix)


def test_a_prefixed_variable_sets_its_target_and_is_removed(tmp_path: Path) -> None:
    """``FILE__DB_PASSWORD=/path`` gives ``DB_PASSWORD`` the file's content (trailing line
    endings stripped, as for ``X_FILE``) and is removed; other variables stay."""
    (tmp_path / "pw").write_text("from-file\n")
    env = {"FILE__DB_PASSWORD": str(tmp_path / "pw"), "KEEP": "1"}
    assert prepare_environment(_request(), env) == {"DB_PASSWORD": "from-file", "KEEP": "1"}


def test_without_the_option_a_prefixed_variable_is_left_alone(tmp_path: Path) -> None:
    """The convention is read only when asked: ``FILE__X`` is an ordinary variable otherwise."""
    (tmp_path / "pw").write_text("from-file")
    env = {"FILE__DB_PASSWORD": str(tmp_path / "pw")}
    assert prepare_environment(_request(prefix=None), env) == env


def test_both_conventions_work_together(tmp_path: Path) -> None:
    """``X_FILE`` and ``FILE__Y`` in one environment: both read."""
    (tmp_path / "a").write_text("A")
    (tmp_path / "b").write_text("B")
    env = {"API_KEY_FILE": str(tmp_path / "a"), "FILE__DB_PASSWORD": str(tmp_path / "b")}
    assert prepare_environment(_request(), env) == {"API_KEY": "A", "DB_PASSWORD": "B"}


@pytest.mark.parametrize(
    "other", ["DB_PASSWORD", "DB_PASSWORD_FILE"], ids=["beside-the-value", "beside-x-file"]
)
def test_a_prefixed_variable_beside_another_source_is_a_conflict(
    tmp_path: Path, other: str, sentinel: str
) -> None:
    """``FILE__X`` with a non-empty ``X`` (or ``X_FILE``) is refused as ``file_env`` refuses
    ``X`` beside ``X_FILE``: the error names both variables, never a value."""
    (tmp_path / "pw").write_text(sentinel)
    env = {"FILE__DB_PASSWORD": str(tmp_path / "pw"), other: str(tmp_path / "pw")}
    with pytest.raises(SecretConflictError) as excinfo:
        prepare_environment(_request(), env)
    message = str(excinfo.value)
    assert "FILE__DB_PASSWORD" in message
    assert other in message
    assert not leaked(sentinel, message, repr(excinfo.value))


def test_an_empty_value_beside_it_counts_as_unset(tmp_path: Path) -> None:
    """As for ``X_FILE``: an empty ``X`` is no conflict, and an empty ``FILE__X`` exports
    ``X`` empty and is removed."""
    (tmp_path / "pw").write_text("v")
    env = {"FILE__DB_PASSWORD": str(tmp_path / "pw"), "DB_PASSWORD": "", "FILE__API_KEY": ""}
    assert prepare_environment(_request(), env) == {"DB_PASSWORD": "v", "API_KEY": ""}


def test_only_takes_the_prefixed_variable_too(tmp_path: Path) -> None:
    """``--only DB_PASSWORD`` with ``--file-prefix``: ``FILE__DB_PASSWORD`` is one of its
    sources; other prefixed variables are left alone."""
    (tmp_path / "pw").write_text("v")
    env = {"FILE__DB_PASSWORD": str(tmp_path / "pw"), "FILE__OTHER": str(tmp_path / "pw")}
    assert prepare_environment(_request(["DB_PASSWORD"]), env) == {
        "DB_PASSWORD": "v",
        "FILE__OTHER": str(tmp_path / "pw"),
    }


def test_a_missing_file_is_refused_naming_the_variable(tmp_path: Path) -> None:
    """linuxserver.io's script prints a line and starts the program without the value; the
    operator asked for that file, so ``exec`` refuses, as it does for ``X_FILE``."""
    env = {"FILE__DB_PASSWORD": str(tmp_path / "gone")}
    with pytest.raises(SecretReadError, match="named by FILE__DB_PASSWORD") as excinfo:
        prepare_environment(_request(), env)
    assert excinfo.value.variable == "FILE__DB_PASSWORD"


def test_the_command_line_reads_the_convention(tmp_path: Path) -> None:
    """A real ``runsecrets exec --file-prefix FILE__`` run (the fast parser's path)."""
    (tmp_path / "pw").write_bytes(b"caf\xc3\xa9\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_FILE") and "PASS" not in k}
    env["FILE__DB_PASSWORD"] = str(tmp_path / "pw")
    result = subprocess.run(
        [*RUNSECRETS_EXEC, "--file-prefix", "FILE__", "--", sys.executable, "-c", SHOW],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"DB_PASSWORD": "café"}
