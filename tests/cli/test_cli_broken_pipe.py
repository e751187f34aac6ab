"""``runsecrets ... | head -1``: standard output's reader goes away; the command exits quietly."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest

from runsecrets.cli import EXIT_BROKEN_PIPE, main
from runsecrets.testing import write_rename


@pytest.fixture
def secrets_dir(tmp_path: Path, sentinel: str) -> Path:
    """A few small secrets and one larger than a pipe's buffer, which ends with the sentinel."""
    directory = tmp_path / "secrets"
    directory.mkdir()
    for n in range(5):
        write_rename(directory / f"small_{n}", f"value {n}")
    write_rename(directory / "big", "x" * 200_000 + sentinel)
    return directory


@contextlib.contextmanager
def closed_pipe_stdout() -> Iterator[TextIO]:
    """``sys.stdout`` writing to a pipe whose read end is already closed (as after ``head``).

    Set inside the test's body: pytest's capture sets ``sys.stdout`` again when the call starts.
    """
    read_end, write_end = os.pipe()
    os.close(read_end)
    stream = open(write_end, "w", encoding="utf-8")  # noqa: SIM115  (closed below)
    saved = sys.stdout
    sys.stdout = stream
    try:
        yield stream
    finally:
        sys.stdout = saved
        with contextlib.suppress(BrokenPipeError):
            stream.close()


@pytest.mark.parametrize(
    "argv",
    [["explain"], ["get", "big"], ["get", "big", "--bytes"], ["explain", "--json"]],
    ids=["explain-at-exit-flush", "get-text-midway", "get-bytes-midway", "explain-json"],
)
def test_broken_pipe_exits_141_quietly_in_process(
    argv: list[str],
    secrets_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whether the pipe breaks midway (a value larger than the pipe) or at the final flush,
    main returns 141 with nothing on standard error, and standard output then points at
    /dev/null so the interpreter's own flush at exit cannot fail again."""
    with closed_pipe_stdout() as stdout:
        code = main([*argv, "--dir", str(secrets_dir)])
        stdout.write("more output\n")
        stdout.flush()  # /dev/null now: no second BrokenPipeError
    assert code == EXIT_BROKEN_PIPE == 141
    assert capsys.readouterr() == ("", "")


def test_broken_pipe_in_a_real_process_prints_nothing(secrets_dir: Path) -> None:
    """The installed command, its output pipe closed: exit 141, empty standard error (no
    traceback, no "Exception ignored" from the exit-time flush)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "runsecrets", "get", "big", "--dir", str(secrets_dir)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert completed.returncode == 141
    assert completed.stderr == b""
