"""The command line with a standard stream closed by its caller (issue 12, finding 12).

``runsecrets check x >&-``: Python starts with ``sys.stdout`` set to ``None``; the first flush
used to end in a traceback, and ``exec`` never started its command. Each case runs the real
command under bash with the descriptor closed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from runsecrets.testing import write_rename

from ..conftest import leaked

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="closes descriptors in bash")

RUNSECRETS = [sys.executable, "-m", "runsecrets"]


def _run(
    arguments: list[str], redirect: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = f"{shlex.join([*RUNSECRETS, *arguments])} {redirect}"
    base = {k: v for k, v in os.environ.items() if not k.endswith("_FILE")}
    return subprocess.run(
        ["bash", "-c", command],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def secrets_dir(tmp_path: Path, sentinel: str) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir()
    write_rename(directory / "x", sentinel)
    return directory


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["check", "x"], 0),
        (["check", "nope"], 1),
        (["explain"], 0),
        (["get", "x"], 0),
    ],
    ids=["check-ok", "check-missing", "explain", "get"],
)
def test_a_closed_stdout_is_no_traceback(
    secrets_dir: Path, sentinel: str, arguments: list[str], code: int
) -> None:
    """Finding 12: with standard output closed, the command runs, its output is dropped, its
    exit code is the usual one, and standard error holds at most its own error line."""
    result = _run([*arguments, "--dir", str(secrets_dir)], ">&-")
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert "unexpected" not in result.stderr
    if code == 0:
        assert result.stderr == ""
    else:
        assert result.stderr.startswith("runsecrets: error: secret 'nope' not found")
    assert not leaked(sentinel, result.stdout, result.stderr)


def test_exec_with_a_closed_stdout_starts_the_command_with_it_closed(
    secrets_dir: Path, sentinel: str
) -> None:
    """Finding 12: ``exec`` still starts its command, with the value set, and the command
    sees standard output closed, as it was given (the stand-in is close-on-exec)."""
    show = (
        "import os, sys; "
        f"print('RAN', os.environ['X'] == {sentinel!r}, sys.stdout is None, file=sys.stderr)"
    )
    result = _run(
        ["exec", "--", sys.executable, "-c", show],
        ">&-",
        env={"X_FILE": str(secrets_dir / "x")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "RAN True True\n"


def test_a_closed_stderr_never_moves_errors_to_stdout(secrets_dir: Path) -> None:
    """Finding 12, the same class: with standard error closed, the error line is dropped, never
    printed on standard output (``print(file=None)`` writes there), where a pipeline reading
    ``runsecrets get`` would take it for the value."""
    result = _run(["get", "nope", "--dir", str(secrets_dir)], "2>&-")
    assert result.returncode == 1
    assert result.stdout == ""


def test_all_three_closed(secrets_dir: Path) -> None:
    """Finding 12: every standard stream closed at once: no crash, the usual exit code."""
    result = _run(["check", "x", "--dir", str(secrets_dir)], "<&- >&- 2>&-")
    assert result.returncode == 0
