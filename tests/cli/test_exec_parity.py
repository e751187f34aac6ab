"""``runsecrets exec`` behaves as the official images' ``file_env`` shell function.

The reference below is a ``file_env`` written from the documented behaviour of the official
database images' entrypoints (both set is an error; an empty variable counts as unset; the file
is read with ``$(< file)``; ``VAR`` is exported and ``VAR_FILE`` unset). Each case runs the
reference in bash and ``runsecrets exec`` in a real subprocess, and compares what the child sees.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REFERENCE = r"""
file_env() {
    local var="$1" file_var="${1}_FILE"
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        echo "error: both $var and $file_var are set (but are exclusive)" >&2
        exit 1
    fi
    local value=""
    if [ -n "${!var:-}" ]; then
        value="${!var}"
    elif [ -n "${!file_var:-}" ]; then
        value="$(< "${!file_var}")"
    fi
    export "$var"="$value"
    unset "$file_var"
}
file_env DB_PASSWORD
exec "$@"
"""

SHOW = (
    "import json, os; print(json.dumps([os.environ.get('DB_PASSWORD'), "
    "'DB_PASSWORD_FILE' in os.environ]))"
)

# (variable value or None, file content or None, file variable set?) -> both must agree.
CASES = [
    pytest.param(None, b"from-file", id="file-only"),
    pytest.param(None, b"from-file\n", id="trailing-newline-stripped"),
    pytest.param(None, b"from-file\n\n\n", id="all-trailing-newlines-stripped"),
    pytest.param(None, b"  spaced  \n", id="spaces-kept"),
    pytest.param(None, b"multi\nline\n", id="inner-newline-kept"),
    pytest.param("", b"from-file", id="empty-variable-counts-as-unset"),
    pytest.param("inline", b"from-file", id="both-set-refused"),
]


def _environment(tmp_path: Path, variable: str | None, content: bytes | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_FILE") and k != "DB_PASSWORD"}
    if variable is not None:
        env["DB_PASSWORD"] = variable
    if content is not None:
        (tmp_path / "pw").write_bytes(content)
        env["DB_PASSWORD_FILE"] = str(tmp_path / "pw")
    return env


def _outcome(command: list[str], env: dict[str, str]) -> tuple[bool, object]:
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        return False, None
    return True, json.loads(result.stdout)


@pytest.mark.skipif(shutil.which("bash") is None, reason="the reference function needs bash")
@pytest.mark.parametrize(("variable", "content"), CASES)
def test_exec_matches_official_file_env(
    tmp_path: Path, variable: str | None, content: bytes | None
) -> None:
    """Same success or refusal, same value in ``DB_PASSWORD``, ``DB_PASSWORD_FILE`` removed."""
    env = _environment(tmp_path, variable, content)
    script = tmp_path / "reference.sh"
    script.write_text(REFERENCE)
    reference = _outcome(["bash", str(script), sys.executable, "-c", SHOW], env)
    ours = _outcome(
        [sys.executable, "-m", "runsecrets", "exec", "--", sys.executable, "-c", SHOW], env
    )
    assert ours == reference


def test_exec_strips_crlf_where_the_shell_keeps_the_carriage_return(tmp_path: Path) -> None:
    """The one deliberate difference: a file saved on Windows (``\\r\\n``) loses the ``\\r`` too."""
    env = _environment(tmp_path, None, b"from-file\r\n")
    ok, seen = _outcome(
        [sys.executable, "-m", "runsecrets", "exec", "--", sys.executable, "-c", SHOW], env
    )
    assert ok
    assert seen == ["from-file", False]


@pytest.mark.skipif(shutil.which("bash") is None, reason="the reference function needs bash")
@pytest.mark.parametrize("variable", [None, "inline"], ids=["variable-unset", "variable-set"])
def test_an_empty_file_variable_is_removed_as_file_env_does(
    tmp_path: Path, variable: str | None
) -> None:
    """Issue 12, finding 10: ``DB_PASSWORD_FILE=`` (set, empty) is unset in the child and
    ``DB_PASSWORD`` exported (empty, or its own value), exactly as ``file_env`` does."""
    env = _environment(tmp_path, variable, None)
    env["DB_PASSWORD_FILE"] = ""
    script = tmp_path / "reference.sh"
    script.write_text(REFERENCE)
    reference = _outcome(["bash", str(script), sys.executable, "-c", SHOW], env)
    ours = _outcome(
        [sys.executable, "-m", "runsecrets", "exec", "--", sys.executable, "-c", SHOW], env
    )
    assert reference == (True, [variable or "", False])
    assert ours == reference
