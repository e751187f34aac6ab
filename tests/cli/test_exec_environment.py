"""What ``runsecrets exec`` hands the command: judged on the environment as given, and only
what an environment can carry (issue 12, findings 10 and 11)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from runsecrets.cli._exec import ExecRequest, prepare_environment
from runsecrets.exceptions import SecretConflictError, SecretReadError

from ..conftest import leaked

#: Linux's MAX_ARG_STRLEN (include/uapi/linux/binfmts.h): 32 pages, the final NUL included.
MAX_ENV_STRING = 32 * 4096

SHOW = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if 'FOO' in k}))"

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="Linux's limit on one environment string"
)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_FILE") and "FOO" not in k}
    return {**env, **extra}


def _exec(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runsecrets", "exec", "--", *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_file_file_beside_file_is_a_conflict(tmp_path: Path, sentinel: str) -> None:
    """Finding 10: ``FOO_FILE`` and ``FOO_FILE_FILE`` both set is the conflict ``file_env
    FOO_FILE`` would refuse, not a child started with ``FOO_FILE=<secret>`` (handling ``FOO``
    first used to remove ``FOO_FILE`` before its own check)."""
    (tmp_path / "foo").write_text("foo-value")
    (tmp_path / "inner").write_text(sentinel)
    env = _clean_env(FOO_FILE=str(tmp_path / "foo"), FOO_FILE_FILE=str(tmp_path / "inner"))
    result = _exec(env, sys.executable, "-c", SHOW)
    assert result.returncode == 3, result.stdout
    assert result.stdout == ""
    assert "both FOO_FILE and FOO_FILE_FILE are set" in result.stderr
    assert not leaked(sentinel, result.stdout, result.stderr)


@pytest.mark.parametrize("reverse", [False, True], ids=["sorted", "reversed"])
def test_the_order_of_the_environment_changes_nothing(tmp_path: Path, reverse: bool) -> None:
    """Finding 10: every check and read is made on the environment as given: the same
    variables in another order give the same result, and a refusal whatever comes first."""
    (tmp_path / "a").write_text("A")
    (tmp_path / "b").write_text("B")
    pairs = [("FOO_FILE", ""), ("FOO_FILE_FILE", str(tmp_path / "a")), ("BAR_FILE", "")]
    env = dict(reversed(pairs) if reverse else pairs)
    prepared = prepare_environment(ExecRequest(["true"], None, None), env)
    assert prepared == {"FOO": "", "FOO_FILE": "A", "BAR": ""}
    clash = dict(FOO_FILE=str(tmp_path / "b"), FOO_FILE_FILE=str(tmp_path / "a"))
    clash = dict(reversed(clash.items())) if reverse else clash
    with pytest.raises(SecretConflictError):
        prepare_environment(ExecRequest(["true"], None, None), clash)


@linux_only
def test_a_value_over_the_environment_string_limit_is_refused_before_exec(
    tmp_path: Path, sentinel: str
) -> None:
    """Finding 11: one byte over Linux's 128 KiB per-string limit is refused before the exec
    (exit 3), naming the secret, its file and both variables, never the value; at the limit
    exactly the command runs (the limit is the kernel's, not a guess)."""
    fits = MAX_ENV_STRING - len("FOO=") - 1  # the value's length when FOO=value\0 is full
    (tmp_path / "fits").write_text(sentinel + "x" * (fits - len(sentinel)))
    (tmp_path / "over").write_text(sentinel + "x" * (fits - len(sentinel) + 1))
    ok = _exec(_clean_env(FOO_FILE=str(tmp_path / "fits")), "sh", "-c", "echo RAN")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "RAN\n"
    over = _exec(_clean_env(FOO_FILE=str(tmp_path / "over")), "sh", "-c", "echo RAN")
    assert over.returncode == 3
    assert over.stdout == ""
    line = over.stderr
    assert line.startswith("runsecrets: error: ")
    assert str(tmp_path / "over") in line
    assert "FOO_FILE" in line
    assert "FOO=" in line
    assert "131072" in line
    assert not leaked(sentinel, over.stdout, over.stderr)


@linux_only
def test_the_refusal_is_a_typed_error_with_the_variables(tmp_path: Path) -> None:
    """Finding 11: the error is ``SecretReadError(reason="not_env_safe")`` with the secret's
    name, its path and the ``_FILE`` variable that named it."""
    (tmp_path / "big").write_text("x" * MAX_ENV_STRING)
    env = {"FOO_FILE": str(tmp_path / "big")}
    with pytest.raises(SecretReadError) as excinfo:
        prepare_environment(ExecRequest(["true"], None, None), env)
    error = excinfo.value
    assert (error.reason, error.name, error.path, error.variable) == (
        "not_env_safe",
        "foo",
        str(tmp_path / "big"),
        "FOO_FILE",
    )


@linux_only
def test_an_environment_over_arg_max_names_what_was_added(tmp_path: Path, sentinel: str) -> None:
    """Finding 11, the whole environment: values each under the per-string limit but together
    over ``ARG_MAX`` (a small stack limit) fail with one line naming the variables set from
    files and their sizes, never the values."""
    env = _clean_env()
    for n in range(3):
        (tmp_path / f"s{n}").write_text(sentinel + "x" * 100_000)
        env[f"FOO{n}_FILE"] = str(tmp_path / f"s{n}")
    command = [sys.executable, "-m", "runsecrets", "exec", "--", "true"]
    result = subprocess.run(
        ["bash", "-c", f"ulimit -s 512; exec {shlex.join(command)}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 126, result.stderr
    assert "ARG_MAX" in result.stderr
    assert "FOO0 100" in result.stderr
    assert not leaked(sentinel, result.stdout, result.stderr)


@pytest.mark.skipif(sys.platform == "win32", reason="Windows' environment is text")
def test_bytes_that_are_not_utf8_pass_through_from_files_and_directories(tmp_path: Path) -> None:
    """Issue 18: a Latin-1 password reaches the command byte for byte, from an ``X_FILE``
    target and from an ``--only`` directory file alike (``file_env`` passes bytes; only a NUL
    cannot be carried), with a BOM and trailing line endings dropped as for text."""
    (tmp_path / "foo").write_bytes(b"caf\xe9\r\n")
    (tmp_path / "bar").write_bytes(b"\xef\xbb\xbf\xff\xfe\n")
    request = ExecRequest(["true"], [str(tmp_path)], ["FOO", "BAR"])
    prepared = prepare_environment(request, {"FOO_FILE": str(tmp_path / "foo")})
    assert {key: os.fsencode(value) for key, value in prepared.items()} == {
        "FOO": b"caf\xe9",
        "BAR": b"\xff\xfe",
    }
    show = "import os, sys; sys.stdout.buffer.write(os.environb[b'FOO'])"
    result = subprocess.run(
        [sys.executable, "-m", "runsecrets", "exec", "--", sys.executable, "-c", show],
        env=_clean_env(FOO_FILE=str(tmp_path / "foo")),
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, b"caf\xe9"), result.stderr
