"""The command line through ``main(argv)``, plus real subprocess runs of ``runsecrets exec``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runsecrets._platform import debug_enabled, flag_value
from runsecrets.cli import build_parser, main
from runsecrets.cli._exec import ExecRequest, parse_exec_fast
from runsecrets.cli._exec_env import prepare_environment
from runsecrets.exceptions import (
    InvalidSecretNameError,
    SecretConflictError,
    SecretNotFoundError,
    SecretReadError,
)

from ..conftest import leaked


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A secrets directory, with the environment cleared of variables that would interfere."""
    directory = tmp_path / "secrets"
    directory.mkdir()
    for key in list(os.environ):
        if key.endswith("_FILE") or key.startswith(("DB_", "API_", "RUNSECRETS_")):
            monkeypatch.delenv(key)
    return directory


def test_get_prints_the_value_and_a_newline(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``get`` is the one command that prints a value, on purpose."""
    (secrets_dir / "db_password").write_text("hunter2\n")
    assert main(["get", "db_password", "--dir", str(secrets_dir)]) == 0
    assert capsys.readouterr().out == "hunter2\n"


def test_get_bytes_writes_raw_bytes(
    secrets_dir: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """``get --bytes`` writes the file exactly, newline included, nothing added."""
    (secrets_dir / "key").write_bytes(b"\x00\xffraw\n")
    assert main(["get", "key", "--bytes", "--dir", str(secrets_dir)]) == 0
    assert capsysbinary.readouterr().out == b"\x00\xffraw\n"


def test_get_missing_exits_1_with_places(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing secret exits 1 and names where it looked, in one line."""
    assert main(["get", "nope", "--dir", str(secrets_dir)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "secret 'nope' not found" in err
    assert str(secrets_dir / "nope") in err


def test_get_prefix(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--prefix APP_`` reads ``APP_TOKEN``."""
    monkeypatch.setenv("APP_TOKEN", "prefixed")
    assert main(["get", "token", "--prefix", "APP_", "--dir", str(secrets_dir)]) == 0
    assert capsys.readouterr().out == "prefixed\n"


def test_get_env_fallback_prefers_the_mounted_file(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Build-time pattern: the BuildKit secret file wins; the build argument is the fallback."""
    monkeypatch.setenv("THEPASSWORD", "from-build-arg")
    assert main(["get", "--env-fallback", "THEPASSWORD", "pw", "--dir", str(secrets_dir)]) == 0
    assert capsys.readouterr().out == "from-build-arg\n"
    (secrets_dir / "pw").write_text("from-buildkit-secret")
    assert main(["get", "--env-fallback", "THEPASSWORD", "pw", "--dir", str(secrets_dir)]) == 0
    assert capsys.readouterr().out == "from-buildkit-secret\n"


def test_get_env_fallback_missing_names_the_variable(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With neither file nor variable, the error lists the fallback variable too."""
    assert main(["get", "--env-fallback", "THEPASSWORD", "pw", "--dir", str(secrets_dir)]) == 1
    assert "environment variable THEPASSWORD (unset)" in capsys.readouterr().err


def test_get_read_error_exits_3(secrets_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unusable secret (here a FIFO) exits 3 with a one-line message, no traceback."""
    os.mkfifo(secrets_dir / "pipe")
    assert main(["get", "pipe", "--dir", str(secrets_dir)]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "FIFO" in err


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown command or option is a usage error, exit 2."""
    assert main(["frobnicate"]) == 2
    assert main(["get"]) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` prints usage, the commands and the exit codes."""
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("get", "check", "explain", "exec"):
        assert command in out
    assert "Exit codes" in out


def test_check_all_present_exits_0(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str], sentinel: str
) -> None:
    """``check`` reads each secret and says where it came from, never what it is."""
    (secrets_dir / "a").write_text(sentinel)
    (secrets_dir / "b").write_text(sentinel)
    assert main(["check", "a", "b", "--dir", str(secrets_dir)]) == 0
    out = capsys.readouterr().out
    assert f"ok: a (file {secrets_dir / 'a'})" in out
    assert not leaked(sentinel, out)


def test_check_missing_exits_1_listing_each(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every missing name is listed with the places searched."""
    (secrets_dir / "a").write_text("x")
    assert main(["check", "a", "b", "c", "--dir", str(secrets_dir)]) == 1
    err = capsys.readouterr().err
    assert "secret 'b' not found" in err
    assert "secret 'c' not found" in err


def test_check_unreadable_exits_3(secrets_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A present but unusable secret is worse than a missing one: exit 3."""
    (secrets_dir / "dir").mkdir()
    assert main(["check", "dir", "missing", "--dir", str(secrets_dir)]) == 3
    capsys.readouterr()


def test_explain_text_shows_source_size_age(
    secrets_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sentinel: str,
) -> None:
    """``explain`` lists every secret with its source, size and age; no value, no hash."""
    (secrets_dir / "db_password").write_text(sentinel + "\n")
    monkeypatch.setenv("API_KEY", sentinel)
    assert main(["explain", "--dir", str(secrets_dir), "db_password", "api_key"]) == 0
    out = capsys.readouterr().out
    assert f"file {secrets_dir / 'db_password'}, {len(sentinel) + 1} bytes, modified" in out
    assert "environment variable API_KEY" in out
    assert not leaked(sentinel, out)


def test_explain_without_names_covers_directory_and_file_variables(
    secrets_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No names: every file in the directories and every ``*_FILE`` variable, as JSON here."""
    (secrets_dir / "from_dir").write_text("x")
    (tmp_path / "elsewhere").write_text("yy")
    monkeypatch.setenv("DB_PASSWORD_FILE", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "elsewhere"))
    assert main(["explain", "--json", "--dir", str(secrets_dir)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == ["db_password", "from_dir"]
    assert rows[0] == {
        "found": True,
        "name": "db_password",
        "kind": "file_variable",
        "path": str(tmp_path / "elsewhere"),
        "variable": "DB_PASSWORD_FILE",
        "size": 2,
        "mtime": rows[0]["mtime"],
    }


def test_explain_missing_is_reported_in_json(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing name is a row with ``found: false`` and the places searched; exit 1."""
    assert main(["explain", "--json", "ghost", "--dir", str(secrets_dir)]) == 1
    (row,) = json.loads(capsys.readouterr().out)
    assert row["found"] is False
    assert row["error"] == "SecretNotFoundError"
    assert str(secrets_dir / "ghost") in row["searched"]


def test_unexpected_error_is_one_line_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sentinel: str
) -> None:
    """A bug or third-party error shows only its type: its message might quote a value."""

    def explode(_: object) -> int:
        raise RuntimeError(sentinel)

    monkeypatch.setattr("runsecrets.cli._core.run_check", explode)
    monkeypatch.delenv("RUNSECRETS_DEBUG", raising=False)
    assert main(["check", "x"]) == 3
    err = capsys.readouterr().err
    assert (
        err
        == "runsecrets: error: unexpected RuntimeError; set RUNSECRETS_DEBUG=1 to see the traceback\n"
    )


@pytest.mark.parametrize(
    ("value", "on"),
    [
        (None, False),
        ("", False),
        ("0", False),
        ("false", False),
        (" No ", False),
        ("OFF", False),
        ("1", True),
        ("true", True),
        ("yes", True),
        ("on", True),
        ("2", True),
    ],
)
def test_debug_flag_truth_rules(value: str | None, on: bool) -> None:
    """``RUNSECRETS_DEBUG``: unset, empty, 0, false, no, off (any case) are off; else on."""
    environ = {} if value is None else {"RUNSECRETS_DEBUG": value}
    assert flag_value(value) is on
    assert debug_enabled(environ) is on


@pytest.mark.parametrize(("value", "traceback"), [("true", True), ("1", True), ("false", False)])
def test_unexpected_error_traceback_follows_the_debug_flag(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    traceback: bool,
) -> None:
    """The CLI reads ``RUNSECRETS_DEBUG`` through the shared rules: ``true`` shows the
    traceback as ``1`` does, ``false`` keeps the one line."""

    def explode(_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr("runsecrets.cli._core.run_check", explode)
    monkeypatch.setenv("RUNSECRETS_DEBUG", value)
    assert main(["check", "x"]) == 3
    err = capsys.readouterr().err
    assert ("Traceback (most recent call last)" in err) is traceback
    assert ("set RUNSECRETS_DEBUG=1" in err) is not traceback


EXEC_ARGVS = [
    ["exec", "--", "true"],
    ["exec", "--", "sh", "-c", "echo $A", "--dir", "x"],
    ["exec", "--dir", "/d1", "--dir=/d2", "--", "prog"],
    ["exec", "--only", "A", "B", "--", "prog", "arg"],
    ["exec", "--only=A", "--only", "B", "--dir", "/d", "--", "prog"],
    ["exec", "--file-prefix", "FILE__", "--", "prog"],
    ["exec", "--file-prefix=FILE__", "--only", "A", "--file-prefix", "X_", "--", "prog"],
]


@pytest.mark.parametrize("argv", EXEC_ARGVS)
def test_exec_fast_parser_agrees_with_argparse(argv: list[str]) -> None:
    """The argparse-free fast path gives exactly what the full parser gives."""
    fast = parse_exec_fast(argv)
    namespace = build_parser().parse_args(argv)
    command = namespace.command[1:] if namespace.command[:1] == ["--"] else namespace.command
    assert fast == ExecRequest(command, namespace.dirs, namespace.only, namespace.file_prefix)


@pytest.mark.parametrize(
    "argv",
    [
        ["exec"],
        ["exec", "--"],
        ["exec", "true"],
        ["exec", "--help"],
        ["exec", "--dir", "--", "x"],
        ["exec", "--only", "--", "x"],
        ["exec", "--file-prefix", "--", "x"],
        ["exec", "--file-prefix=", "--", "x"],
        ["exec", "--restart-on-change", "--", "x"],
        ["exec", "--bogus", "--", "x"],
        ["get", "x"],
    ],
)
def test_exec_fast_parser_leaves_the_unusual_to_argparse(argv: list[str]) -> None:
    """Anything outside the plain form returns None, so argparse gives help or a usage error."""
    assert parse_exec_fast(argv) is None


def test_prepare_environment_inlines_every_file_variable(tmp_path: Path, sentinel: str) -> None:
    """``X_FILE`` becomes ``X`` with the file's text; ``X_FILE`` is removed; others untouched."""
    (tmp_path / "pw").write_text(sentinel + "\n\n")
    env = {"DB_PASSWORD_FILE": str(tmp_path / "pw"), "PATH": "/bin", "SSL_CERT_FILE": "/etc/x"}
    result = prepare_environment(ExecRequest(["true"], None, None), env)
    assert result == {"DB_PASSWORD": sentinel, "PATH": "/bin", "SSL_CERT_FILE": "/etc/x"}


def test_prepare_environment_refuses_both_set(tmp_path: Path) -> None:
    """``X`` and ``X_FILE`` both non-empty: refused, as the official ``file_env`` does."""
    (tmp_path / "pw").write_text("v")
    env = {"DB_PASSWORD_FILE": str(tmp_path / "pw"), "DB_PASSWORD": "inline"}
    with pytest.raises(SecretConflictError):
        prepare_environment(ExecRequest(["true"], None, None), env)


def test_prepare_environment_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    """An empty ``X`` beside ``X_FILE`` is not a conflict: the file wins."""
    (tmp_path / "pw").write_text("v")
    env = {"DB_PASSWORD_FILE": str(tmp_path / "pw"), "DB_PASSWORD": ""}
    assert prepare_environment(ExecRequest(["true"], None, None), env) == {"DB_PASSWORD": "v"}


def test_prepare_environment_only_limits_and_requires(tmp_path: Path) -> None:
    """``--only`` touches only the listed variables and finds them in the directories too."""
    (tmp_path / "pw").write_text("p")
    (tmp_path / "api_key").write_text("k")
    env = {"DB_PASSWORD_FILE": str(tmp_path / "pw"), "OTHER_FILE": str(tmp_path / "pw")}
    request = ExecRequest(["true"], [str(tmp_path)], ["DB_PASSWORD", "API_KEY"])
    result = prepare_environment(request, env)
    assert result == {"DB_PASSWORD": "p", "API_KEY": "k", "OTHER_FILE": str(tmp_path / "pw")}
    with pytest.raises(SecretNotFoundError):
        prepare_environment(ExecRequest(["true"], [str(tmp_path)], ["MISSING"]), env)


def test_prepare_environment_missing_file_aborts(tmp_path: Path) -> None:
    """An unreadable ``X_FILE`` aborts before exec, as the official entrypoints do."""
    env = {"DB_PASSWORD_FILE": str(tmp_path / "gone")}
    with pytest.raises(SecretReadError, match="named by DB_PASSWORD_FILE"):
        prepare_environment(ExecRequest(["true"], None, None), env)


def test_prepare_environment_refuses_nul_bytes(tmp_path: Path) -> None:
    """A NUL cannot live in an environment variable: a clear error, not a crash in exec."""
    (tmp_path / "pw").write_bytes(b"a\x00b")
    with pytest.raises(SecretReadError, match="NUL"):
        prepare_environment(ExecRequest(["true"], None, None), {"X_FILE": str(tmp_path / "pw")})


def test_prepare_environment_refuses_nul_bytes_from_a_directory(
    tmp_path: Path, sentinel: str
) -> None:
    """An ``--only`` value read from a secrets directory is checked for NUL too: the error names
    the secret, its file and the variable, never the value."""
    (tmp_path / "db_password").write_bytes(sentinel.encode() + b"\x00" + sentinel.encode())
    request = ExecRequest(["true"], [str(tmp_path)], ["DB_PASSWORD"])
    with pytest.raises(SecretReadError, match="NUL") as excinfo:
        prepare_environment(request, {})
    error = excinfo.value
    assert error.reason == "not_env_safe"
    assert (error.name, error.variable) == ("db_password", "DB_PASSWORD")
    assert error.path == str(tmp_path / "db_password")
    assert str(tmp_path / "db_password") in str(error)
    assert not leaked(sentinel, str(error), repr(error))


def test_prepare_environment_nul_from_a_file_variable_is_not_env_safe(
    tmp_path: Path, sentinel: str
) -> None:
    """The ``X_FILE`` NUL error has the same reason and names the variable, not the value."""
    (tmp_path / "pw").write_bytes(sentinel.encode() + b"\x00")
    request = ExecRequest(["true"], None, ["DB_PASSWORD"])
    with pytest.raises(SecretReadError) as excinfo:
        prepare_environment(request, {"DB_PASSWORD_FILE": str(tmp_path / "pw")})
    assert excinfo.value.reason == "not_env_safe"
    assert excinfo.value.variable == "DB_PASSWORD_FILE"
    assert not leaked(sentinel, str(excinfo.value), repr(excinfo.value))


@pytest.mark.parametrize(
    ("variable", "problem"),
    [("A=B", "holds '='"), ("A\x00B", "holds a NUL byte"), ("", "is empty")],
    ids=["equals", "nul", "empty"],
)
def test_prepare_environment_refuses_impossible_variable_names(
    tmp_path: Path, variable: str, problem: str
) -> None:
    """An ``--only`` name no environment can carry is refused before anything is read."""
    (tmp_path / "pw").write_text("v")
    env = {"DB_PASSWORD_FILE": str(tmp_path / "pw")}
    request = ExecRequest(["true"], [str(tmp_path)], ["DB_PASSWORD", variable])
    with pytest.raises(InvalidSecretNameError, match=problem) as excinfo:
        prepare_environment(request, env)
    assert excinfo.value.variable == variable
    assert repr(variable) in str(excinfo.value)


def test_exec_main_refuses_a_name_with_equals(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the command line: one error line naming the variable, exit 3, nothing run."""
    assert main(["exec", "--dir", str(secrets_dir), "--only", "A=B", "--", "true"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("runsecrets: error: --only 'A=B'")
    assert "'='" in err


def test_exec_subprocess_nul_from_directory_exits_3(tmp_path: Path, sentinel: str) -> None:
    """A real ``runsecrets exec --only`` with a NUL in a directory file: exit 3, one line, the
    command never runs, no value shown."""
    (tmp_path / "db_password").write_bytes(sentinel.encode() + b"\x00")
    result = subprocess.run(
        [
            *_runsecrets(),
            "exec",
            "--dir",
            str(tmp_path),
            "--only",
            "DB_PASSWORD",
            "--",
            "sh",
            "-c",
            "echo RAN",
        ],
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert "RAN" not in result.stdout
    assert "NUL byte" in result.stderr
    assert "DB_PASSWORD" in result.stderr
    assert not leaked(sentinel, result.stdout, result.stderr)


def _runsecrets() -> list[str]:
    return [sys.executable, "-m", "runsecrets"]


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``*_FILE`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_FILE") and k != "DB_PASSWORD"}
    return {**env, **extra}


def test_exec_subprocess_hands_values_to_the_child(tmp_path: Path, sentinel: str) -> None:
    """A real ``runsecrets exec`` sets the value for the child and removes the ``_FILE`` var."""
    (tmp_path / "pw").write_text(sentinel)
    env = _clean_env(DB_PASSWORD_FILE=str(tmp_path / "pw"))
    code = "import os; print(os.environ['DB_PASSWORD'] == %r, 'DB_PASSWORD_FILE' in os.environ)"
    result = subprocess.run(
        [*_runsecrets(), "exec", "--", sys.executable, "-c", code % sentinel],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True False\n"


def test_exec_pid_is_preserved() -> None:
    """The command runs in the same process: the PID before and after exec is the same."""
    script = (
        "import os, sys; sys.stdout.write(str(os.getpid())+' '); sys.stdout.flush(); "
        "os.execvp(sys.argv[1], sys.argv[1:])"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            sys.executable,
            "-m",
            "runsecrets",
            "exec",
            "--",
            sys.executable,
            "-c",
            "import os; print(os.getpid())",
        ],
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    before, after = result.stdout.split()
    assert before == after


def test_exec_subprocess_conflict_exits_3_before_exec(tmp_path: Path, sentinel: str) -> None:
    """Both variables set: one error line, exit 3, the command never runs, no value shown."""
    (tmp_path / "pw").write_text("file")
    env = _clean_env(DB_PASSWORD_FILE=str(tmp_path / "pw"), DB_PASSWORD=sentinel)
    result = subprocess.run(
        [*_runsecrets(), "exec", "--", "sh", "-c", "echo RAN"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 3
    assert "RAN" not in result.stdout
    assert result.stderr.startswith("runsecrets: error: both DB_PASSWORD and DB_PASSWORD_FILE")
    assert not leaked(sentinel, result.stdout, result.stderr)


def test_exec_subprocess_command_not_found_exits_127() -> None:
    """A missing program exits 127, as a shell would."""
    result = subprocess.run(
        [*_runsecrets(), "exec", "--", "no-such-program-anywhere"],
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 127
    assert "command not found: no-such-program-anywhere" in result.stderr


@pytest.mark.filterwarnings("always::runsecrets.exceptions.InsecurePermissionsWarning")
def test_a_warning_is_one_line_naming_the_file_not_the_library_source(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str], sentinel: str
) -> None:
    """A group-writable secret warns as one ``runsecrets: warning:`` line naming the file,
    not Python's display quoting a line of the library's source."""
    secret = secrets_dir / "db_password"
    secret.write_text(sentinel)
    secret.chmod(0o664)
    assert main(["check", "db_password", "--dir", str(secrets_dir)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("runsecrets: warning: ")
    assert str(secret) in err
    assert "runsecrets/_" not in err
    assert len(err.splitlines()) == 1


def test_explain_with_nothing_found_says_where_it_looked(
    secrets_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``explain`` with no names and no secrets anywhere exits 1 and tells what each directory
    is (missing, not a directory, empty): a mistyped ``--dir`` must not look like success."""
    a_file = tmp_path / "file"
    a_file.write_text("x")
    missing = tmp_path / "missing"
    argv = ["explain", "--dir", str(secrets_dir), "--dir", str(a_file), "--dir", str(missing)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"{secrets_dir} (empty)" in err
    assert f"{a_file} (not a directory)" in err
    assert f"{missing} (does not exist)" in err


@pytest.mark.parametrize("command", ["check", "exec"])
def test_a_warning_stays_a_warning_line_under_pythonwarnings_error(
    tmp_path: Path, sentinel: str, command: str
) -> None:
    """``PYTHONWARNINGS=error`` (the application's setting, inherited by its entrypoint) does
    not turn a group-writable secret into "unexpected InsecurePermissionsWarning" (finding 16
    of the hardening issue): the CLI shows its warning as one line and goes on."""
    secret = tmp_path / "api_key"
    secret.write_text(sentinel)
    secret.chmod(0o664)
    env = {**os.environ, "PYTHONWARNINGS": "error", "RUNSECRETS_DIR": str(tmp_path)}
    env.pop("API_KEY", None)
    if command == "check":
        args = ["check", "api_key"]
    else:
        env["API_KEY_FILE"] = str(secret)
        args = ["exec", "--", sys.executable, "-c", "import os; print(len(os.environ['API_KEY']))"]
    result = subprocess.run(
        [*_runsecrets(), *args], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "runsecrets: warning:" in result.stderr
    assert "writable by its group" in result.stderr
    assert "unexpected" not in result.stderr
    assert not leaked(sentinel, result.stdout, result.stderr)
