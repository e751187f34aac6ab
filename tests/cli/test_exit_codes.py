"""Every exit code of the command line comes from one module."""

from __future__ import annotations

import ast
from pathlib import Path

from runsecrets import cli
from runsecrets.cli import _exit

CLI = Path(cli.__file__).parent


def test_no_command_returns_a_bare_number() -> None:
    """A command returns a name from ``cli/_exit.py``, never a number of its own."""
    bare = []
    for path in sorted(CLI.glob("*.py")):
        if path.name == "_exit.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Return)
                and isinstance(node.value, ast.Constant)
                and type(node.value.value) is int
            ):
                bare.append(f"{path.name}:{node.lineno}")
    assert bare == []


def test_the_codes_are_the_documented_ones() -> None:
    """The codes the CLI reference's table lists, and the interrupt's."""
    codes = {name: value for name, value in vars(_exit).items() if name.startswith("EXIT_")}
    assert sorted(set(codes.values())) == [0, 1, 2, 3, 126, 127, 130, 141]
    assert cli.EXIT_BROKEN_PIPE == _exit.EXIT_BROKEN_PIPE
