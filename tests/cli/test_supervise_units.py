"""The pure parts of ``exec --restart-on-change``: what is watched, the options, the exit
codes; and plain ``exec`` untouched by it (no supervisor import, still ``execvp``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runsecrets.cli import main
from runsecrets.cli._child import exit_code
from runsecrets.cli._exec import ExecRequest
from runsecrets.cli._exec_env import prepare_environment
from runsecrets.cli._feeds import watch_plan
from runsecrets.cli._supervise import SupervisorOptions, changed_variables


def _plan(
    tmp_path: Path,
    given: dict[str, str],
    only: list[str] | None = None,
    prefix: str | None = None,
) -> tuple[dict[str, str], tuple[str, ...], dict[str, str], tuple[str, ...]]:
    request = ExecRequest(["true"], [str(tmp_path)], only, prefix)
    plan = watch_plan(request, given, prepare_environment(request, given))
    return plan.files, plan.dir_names, plan.store_environ, plan.store_names


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name in ("a", "b", "db_password", "api_key"):
        (tmp_path / name).write_text(name)
    return tmp_path


def test_every_file_variable_read_is_watched_under_its_own_name(files: Path) -> None:
    """Each ``X_FILE`` exec read is watched, the store reading it as ``X_FILE`` itself (its
    log lines name the real variable); ``LOG_FILE`` (not a secret) and plain variables are
    not watched."""
    given = {
        "DB_PASSWORD_FILE": str(files / "a"),
        "API_KEY_FILE": str(files / "b"),
        "LOG_FILE": str(files / "a"),
        "PLAIN": "x",
    }
    watched, dir_names, environ, names = _plan(files, given)
    assert watched == {"API_KEY_FILE": str(files / "b"), "DB_PASSWORD_FILE": str(files / "a")}
    assert dir_names == ()
    assert environ == {"API_KEY_FILE": str(files / "b"), "DB_PASSWORD_FILE": str(files / "a")}
    assert names == ("api_key", "db_password")


def test_an_empty_file_variable_feeds_nothing(files: Path) -> None:
    """``X_FILE=`` exports ``X`` empty: no file to watch."""
    assert _plan(files, {"DB_PASSWORD_FILE": ""})[0] == {}


def test_only_names_without_a_file_variable_come_from_the_directories(files: Path) -> None:
    """``--only``: a variable with a file variable is watched through it; one without is
    looked for in the directories, under its lower-case name."""
    given = {"DB_PASSWORD_FILE": str(files / "a")}
    watched, dir_names, environ, names = _plan(files, given, ["DB_PASSWORD", "API_KEY"])
    assert watched == {"DB_PASSWORD_FILE": str(files / "a")}
    assert dir_names == ("api_key",)
    assert names == ("db_password", "api_key")
    assert "API_KEY_FILE" not in environ  # the store looks in the directories for it


def test_the_file_prefix_gets_the_target_name(files: Path) -> None:
    """``FILE__DB_PASSWORD``: watched, the store naming it ``db_password`` as exec's own
    errors do."""
    given = {"FILE__DB_PASSWORD": str(files / "a")}
    watched, _, environ, names = _plan(files, given, prefix="FILE__")
    assert watched == {"FILE__DB_PASSWORD": str(files / "a")}
    assert names == ("db_password",)
    assert environ == {"DB_PASSWORD_FILE": str(files / "a")}


def test_names_that_would_clash_stay_apart(files: Path) -> None:
    """``FOO_FILE`` beside ``FOO_FILE_FILE`` (two files, two variables) and variable names no
    secret name can hold each get a store name of their own."""
    given = {
        "FOO_FILE": str(files / "a"),
        "FOO_FILE_FILE": str(files / "b"),
    }
    request = ExecRequest(["true"], None, ["FOO", "X"], None)
    given["X_FILE"] = str(files / "db_password")
    prepared = prepare_environment(request, given)
    plan = watch_plan(request, given, prepared)
    assert sorted(plan.files) == ["FOO_FILE", "X_FILE"]
    assert len(set(plan.store_names)) == len(plan.store_names)
    weird = {"DB.PASS_FILE": str(files / "a"), "DB-PASS_FILE": str(files / "b")}
    plan = watch_plan(
        ExecRequest(["true"], None, None),
        weird,
        prepare_environment(ExecRequest(["x"], None, None), weird),
    )
    assert len(plan.store_environ) == 2
    assert sorted(plan.store_environ.values()) == sorted(weird.values())


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ({"A": "1"}, {"A": "1"}, []),
        ({"A": "1", "B": "2"}, {"A": "1", "B": "3"}, ["B"]),
        ({"A": "1"}, {"A": "1", "C": ""}, ["C"]),
        ({"A": "1", "D": "x"}, {"A": "2"}, ["A", "D"]),
    ],
)
def test_changed_variables_are_named_not_valued(
    old: dict[str, str], new: dict[str, str], changed: list[str]
) -> None:
    """Which variables differ between two environments (set, removed, another value)."""
    assert changed_variables(old, new) == changed


def test_options_default_and_validate() -> None:
    """Defaults 10 s grace, SIGTERM, 1 s debounce; a negative or infinite time or an unknown
    signal is refused with the option's name."""
    options = SupervisorOptions.create(grace=None, stop_signal=None, debounce=None)
    assert (options.grace, options.stop_signal, options.debounce) == (10.0, signal.SIGTERM, 1.0)
    assert SupervisorOptions.create(grace=0, stop_signal="usr1", debounce=0).stop_signal == (
        signal.SIGUSR1
    )
    for bad, match in (
        ({"grace": -1.0}, "--grace"),
        ({"debounce": float("inf")}, "--debounce"),
        ({"debounce": float("nan")}, "--debounce"),
        ({"stop_signal": "NOPE"}, "unknown signal"),
    ):
        arguments = {"grace": None, "stop_signal": None, "debounce": None, **bad}
        with pytest.raises(ValueError, match=match):
            SupervisorOptions.create(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "argv",
    [
        ["exec", "--grace", "3", "--", "true"],
        ["exec", "--debounce", "1", "--stop-signal", "HUP", "--", "true"],
        ["exec", "--restart-on-change", "--grace", "-1", "--", "true"],
        ["exec", "--restart-on-change", "--stop-signal", "NOPE", "--", "true"],
    ],
)
def test_misused_options_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The tuning options without ``--restart-on-change``, or with bad values: exit 2 with a
    usage line, nothing run."""
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("status", "code"),
    [(0, 0), (7 << 8, 7), (signal.SIGTERM, 143), (signal.SIGKILL, 137)],
)
def test_exit_codes_as_a_shell_shows_them(status: int, code: int) -> None:
    """A wait status to an exit code: the code itself, or 128 + the killing signal."""
    assert exit_code(status) == code


def test_plain_exec_loads_no_supervisor(tmp_path: Path) -> None:
    """Without the flag, none of the supervisor's modules (nor the store, nor threading) is
    imported: plain ``exec`` costs what it did (``test_exec_pid_is_preserved`` shows it still
    replaces itself with the command)."""
    (tmp_path / "pw").write_text("v")
    env = {**os.environ, "DB_PASSWORD_FILE": str(tmp_path / "pw")}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "runsecrets", "exec", "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    imported = {line.rpartition("|")[2].strip() for line in result.stderr.splitlines()}
    for module in ("_supervise", "_child", "_feeds", "_wakeup"):
        assert f"runsecrets.cli.{module}" not in imported
    assert "runsecrets.reload.store" not in imported
    assert "threading" not in imported
