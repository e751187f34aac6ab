"""``runsecrets exec`` behaves as the official images' ``file_env`` shell function.

The reference below is a ``file_env`` written from the documented behaviour of the official
database images' entrypoints (both set is an error; an empty variable counts as unset; the file
is read with ``$(< file)``; ``VAR`` is exported and ``VAR_FILE`` unset), run under the
``set -Eeo pipefail`` those entrypoints start with (so a file that cannot be read aborts). Each
case runs the reference in bash and ``runsecrets exec`` in a real subprocess, and compares what
the child sees, byte for byte. The cases where the two differ on purpose are a table of their
own, each with both outcomes spelled out: the documentation lists the same differences, with
the reason for each (``docs/containers.md``).
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
set -Eeo pipefail
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

# What the child sees: DB_PASSWORD's bytes (hex, so that any bytes compare) and whether
# DB_PASSWORD_FILE is still set.
SHOW = (
    "import json, os; v = os.environb.get(b'DB_PASSWORD'); "
    "print(json.dumps([None if v is None else v.hex(), 'DB_PASSWORD_FILE' in os.environ]))"
)

#: A file variable whose target is this directory (the case sets it up).
DIRECTORY = object()
#: The variable unset, or the file variable unset.
UNSET = None

# (DB_PASSWORD, the file's content or DIRECTORY, DB_PASSWORD_FILE's own value when not the
# file's path): both must agree.
SAME = [
    pytest.param(UNSET, b"from-file", None, id="file-only"),
    pytest.param(UNSET, b"from-file\n", None, id="trailing-newline-stripped"),
    pytest.param(UNSET, b"from-file\n\n\n", None, id="all-trailing-newlines-stripped"),
    pytest.param(UNSET, b"  spaced  \n", None, id="spaces-kept"),
    pytest.param(UNSET, b"multi\nline\n", None, id="inner-newline-kept"),
    pytest.param(UNSET, b"caf\xe9\n", None, id="latin-1-bytes-passed-through"),
    pytest.param(UNSET, b"\xff\xfe\x80 not utf-8", None, id="any-bytes-passed-through"),
    pytest.param(UNSET, "pässwörd\n".encode(), None, id="utf-8-passed-through"),
    pytest.param(UNSET, b"", None, id="empty-file-exports-empty"),
    pytest.param(UNSET, b"\n\n", None, id="newlines-only-export-empty"),
    pytest.param("", b"from-file", None, id="empty-variable-counts-as-unset"),
    pytest.param("inline", b"from-file", None, id="both-set-refused"),
    pytest.param("inline", UNSET, None, id="variable-only-kept"),
    pytest.param(UNSET, UNSET, "", id="empty-file-variable-removed"),
    pytest.param("inline", UNSET, "", id="empty-file-variable-beside-a-value"),
    pytest.param(UNSET, UNSET, "/nonexistent/db_password", id="missing-file-refused"),
    # Over Linux's 128 KiB for one environment string: file_env's exec fails (E2BIG), exec
    # refuses before it (exit 3, naming the variables).
    pytest.param(UNSET, b"x" * (128 * 1024), None, id="over-the-environment-limit-refused"),
]

# (DB_PASSWORD, content, file variable's own value, file_env's outcome, runsecrets' outcome):
# an outcome is None for a refusal, else (DB_PASSWORD's bytes or None, DB_PASSWORD_FILE set?).
DELIBERATE = [
    pytest.param(
        UNSET, b"from-file\r\n", None, (b"from-file\r", False), (b"from-file", False), id="crlf"
    ),
    pytest.param(UNSET, b"x\r", None, (b"x\r", False), (b"x", False), id="lone-cr"),
    pytest.param(UNSET, b"\xef\xbb\xbfx", None, (b"\xef\xbb\xbfx", False), (b"x", False), id="bom"),
    pytest.param(UNSET, DIRECTORY, None, (b"", False), None, id="directory-refused"),
    pytest.param(UNSET, b"a\0b", None, (b"ab", False), None, id="nul-refused"),
    pytest.param(UNSET, UNSET, UNSET, (b"", False), (None, False), id="neither-set-untouched"),
]  # fmt: skip


def _environment(
    tmp_path: Path, variable: str | None, content: bytes | object | None, file_value: str | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_FILE") and k != "DB_PASSWORD"}
    if variable is not None:
        env["DB_PASSWORD"] = variable
    if content is DIRECTORY:
        env["DB_PASSWORD_FILE"] = str(tmp_path)
    elif isinstance(content, bytes):
        (tmp_path / "pw").write_bytes(content)
        env["DB_PASSWORD_FILE"] = str(tmp_path / "pw")
    if file_value is not None:
        env["DB_PASSWORD_FILE"] = file_value
    return env


def _outcome(command: list[str], env: dict[str, str]) -> tuple[bytes | None, bool] | None:
    result = subprocess.run(command, env=env, capture_output=True, check=False, timeout=60)
    if result.returncode != 0:
        return None
    value, file_set = json.loads(result.stdout)
    return (None if value is None else bytes.fromhex(value)), file_set


def _both(tmp_path: Path, env: dict[str, str]) -> tuple[object, object]:
    script = tmp_path / "reference.sh"
    script.write_text(REFERENCE)
    reference = _outcome(["bash", str(script), sys.executable, "-c", SHOW], env)
    ours = _outcome(
        [sys.executable, "-m", "runsecrets", "exec", "--", sys.executable, "-c", SHOW], env
    )
    return reference, ours


needs_bash = pytest.mark.skipif(
    shutil.which("bash") is None, reason="the reference function needs bash"
)


@needs_bash
@pytest.mark.parametrize(("variable", "content", "file_value"), SAME)
def test_exec_matches_official_file_env(
    tmp_path: Path, variable: str | None, content: bytes | None, file_value: str | None
) -> None:
    """Same success or refusal, the same bytes in ``DB_PASSWORD``, ``DB_PASSWORD_FILE``
    removed (issue 18: bytes that are not UTF-8 pass through, as an environment carries
    bytes; an empty ``DB_PASSWORD_FILE=`` exports ``DB_PASSWORD`` empty and is removed)."""
    reference, ours = _both(tmp_path, _environment(tmp_path, variable, content, file_value))
    assert ours == reference


@needs_bash
@pytest.mark.parametrize(
    ("variable", "content", "file_value", "reference_outcome", "our_outcome"), DELIBERATE
)
def test_exec_differs_from_file_env_only_where_documented(
    tmp_path: Path,
    variable: str | None,
    content: bytes | object | None,
    file_value: str | None,
    reference_outcome: tuple[bytes | None, bool] | None,
    our_outcome: tuple[bytes | None, bool] | None,
) -> None:
    """Each deliberate difference, both sides measured: line endings and a BOM dropped (an
    editor's, never part of a password), a directory or a NUL byte refused (``file_env`` reads
    a directory as empty and drops the NUL, changing the password silently), and a
    variable with neither form set left alone (``file_env`` is called for names it knows;
    ``exec`` only sees the ``_FILE`` variables that are there)."""
    reference, ours = _both(tmp_path, _environment(tmp_path, variable, content, file_value))
    assert reference == reference_outcome
    assert ours == our_outcome
