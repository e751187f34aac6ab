"""The entrypoint example, run as a container would run it: the script, then the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .._servers import BIN, EXAMPLES

SCRIPT = os.path.join(EXAMPLES, "entrypoint", "docker-entrypoint.sh")

# The command writes what it saw to a file (the test compares it; nothing is printed).
REPORT = (
    "import json, os, sys; json.dump({'pid': os.getpid(), 'value': os.environ.get('DB_PASSWORD'),"
    " 'file_var': 'DB_PASSWORD_FILE' in os.environ}, open(sys.argv[1], 'w'))"
)


def _run(
    tmp_path: Path, env_extra: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, object] | None]:
    report = tmp_path / "report.json"
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **env_extra}
    process = subprocess.Popen(
        [SCRIPT, sys.executable, "-c", REPORT, str(report)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=60)
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    seen = json.loads(report.read_text()) if report.exists() else None
    if seen is not None:
        seen["same_pid"] = seen["pid"] == process.pid
    return result, seen


def test_file_variable_becomes_the_variable_in_the_same_process(
    tmp_path: Path, sentinel: str
) -> None:
    """X_FILE is read into X, X_FILE removed, trailing newlines stripped, and exec kept the PID."""
    (tmp_path / "pw").write_text(sentinel + "\n\n")
    result, seen = _run(tmp_path, {"DB_PASSWORD_FILE": str(tmp_path / "pw")})
    assert result.returncode == 0, result.stderr
    assert seen is not None
    assert seen["value"] == sentinel
    assert seen["file_var"] is False
    assert seen["same_pid"] is True  # sh exec -> runsecrets exec -> the command: one process
    assert sentinel not in result.stdout + result.stderr


def test_both_set_is_refused_as_file_env_does(tmp_path: Path, sentinel: str) -> None:
    """X and X_FILE both set: file_env's message, and the command never starts."""
    (tmp_path / "pw").write_text(sentinel)
    result, seen = _run(
        tmp_path, {"DB_PASSWORD": sentinel, "DB_PASSWORD_FILE": str(tmp_path / "pw")}
    )
    assert result.returncode == 3
    assert "both DB_PASSWORD and DB_PASSWORD_FILE are set (but are exclusive)" in result.stderr
    assert seen is None
    assert sentinel not in result.stderr


def test_empty_variable_counts_as_unset(tmp_path: Path, sentinel: str) -> None:
    """An empty X beside X_FILE is not a conflict, as in file_env."""
    (tmp_path / "pw").write_text(sentinel)
    result, seen = _run(tmp_path, {"DB_PASSWORD": "", "DB_PASSWORD_FILE": str(tmp_path / "pw")})
    assert result.returncode == 0, result.stderr
    assert seen is not None
    assert seen["value"] == sentinel


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    """A _FILE pointing nowhere: exit 3 and a line naming the variable and path."""
    result, seen = _run(tmp_path, {"DB_PASSWORD_FILE": str(tmp_path / "nope")})
    assert result.returncode == 3
    assert "DB_PASSWORD_FILE" in result.stderr
    assert str(tmp_path / "nope") in result.stderr
    assert "Traceback" not in result.stderr
    assert seen is None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX only")
def test_fifo_is_refused_instead_of_hanging(tmp_path: Path) -> None:
    """$(< fifo) would block forever; the entrypoint refuses at once."""
    os.mkfifo(tmp_path / "fifo")
    result, seen = _run(tmp_path, {"DB_PASSWORD_FILE": str(tmp_path / "fifo")})
    assert result.returncode == 3
    assert seen is None


def test_crlf_and_bom_are_dropped(tmp_path: Path, sentinel: str) -> None:
    """A file saved on Windows gives the same value (file_env would keep the \\r and BOM)."""
    (tmp_path / "pw").write_bytes(b"\xef\xbb\xbf" + sentinel.encode() + b"\r\n")
    result, seen = _run(tmp_path, {"DB_PASSWORD_FILE": str(tmp_path / "pw")})
    assert result.returncode == 0, result.stderr
    assert seen is not None
    assert seen["value"] == sentinel


@pytest.mark.parametrize("args", [[], ["--workers", "4"]], ids=["no-arguments", "flags-only"])
def test_no_arguments_or_flags_only_start_the_default_server(
    tmp_path: Path, args: list[str]
) -> None:
    """Under ``set -u``, no arguments at all (``docker run --entrypoint`` drops CMD) and flags
    alone both mean the default server: here a stand-in ``gunicorn`` first on PATH records the
    arguments it got (the real one would listen on 0.0.0.0)."""
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    seen = tmp_path / "argv.json"
    stub = stub_dir / "gunicorn"
    stub.write_text(
        f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(seen)!r}, 'w'))\n"
    )
    stub.chmod(0o755)
    env = {"PATH": f"{stub_dir}{os.pathsep}{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [SCRIPT, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "unbound" not in result.stderr
    assert json.loads(seen.read_text()) == ["--bind", "0.0.0.0:8000", "app:application", *args]
