"""The README: short, its links lead somewhere, and its quick start runs as it is written.

The quick start is what a newcomer pastes first, so it is run here exactly as shown: its ``sh``
blocks and its ``python`` blocks, in order, in one shell (a variable the shell exports is seen
by the Python that follows), in an empty directory, with the installed ``runsecrets`` command on
``PATH`` and no ``RUNSECRETS_*`` or ``*_FILE`` variable inherited. A ``text`` block after a code
block is what that block prints (``...`` matches any text).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from ._site import BIN, ROOT, matches

README = ROOT / "README.md"
#: The code blocks the quick start may hold: each is run, or is what the one before prints.
RUN = {"sh": "shell", "python": "Python"}
#: The issue's bound on the README's length.
MAX_LINES = 150


@dataclass(frozen=True)
class Step:
    kind: str  # "sh" or "python"
    code: str
    line: int
    expected: str | None


def section(tokens: list[Token], title: str) -> list[Token]:
    """The tokens of the level-2 section called ``title``, up to the next level-2 heading."""
    start = next(
        i
        for i, token in enumerate(tokens)
        if token.type == "heading_open"
        and token.tag == "h2"
        and tokens[i + 1].content.strip() == title
    )
    end = next(
        (
            i
            for i in range(start + 1, len(tokens))
            if tokens[i].type == "heading_open" and tokens[i].tag == "h2"
        ),
        len(tokens),
    )
    return tokens[start:end]


def quick_start() -> list[Step]:
    """The quick start's code blocks, each with the output shown after it (if any)."""
    tokens = MarkdownIt().parse(README.read_text(encoding="utf-8"))
    fences = [t for t in section(tokens, "Quick start") if t.type == "fence"]
    steps: list[Step] = []
    for fence in fences:
        info = fence.info.strip()
        line = fence.map[0] + 1 if fence.map else 0
        if info == "text":
            assert steps, f"README.md:{line}: output before any code"
            assert steps[-1].expected is None, f"README.md:{line}: a second output for one block"
            last = steps[-1]
            steps[-1] = Step(last.kind, last.code, last.line, fence.content)
        else:
            assert info in RUN, f"README.md:{line}: a {info or 'plain'} block nothing runs"
            steps.append(Step(info, fence.content, line, None))
    return steps


def script(steps: list[Step], marker: str) -> str:
    """One bash script running every step, printing ``marker`` and the status after each."""
    parts = []
    for step in steps:
        if step.kind == "python":
            # Quoted delimiter: the shell leaves the Python text alone.
            parts.append(f"python - <<'__README_PYTHON__'\n{step.code}__README_PYTHON__\n")
        else:
            parts.append(step.code)
        parts.append(f"printf '\\n{marker} %s\\n' $?\n")
    return "".join(parts)


def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    """Every ``sh`` and ``python`` block of the quick start exits 0 and prints what is shown."""
    steps = quick_start()
    assert {step.kind for step in steps} == set(RUN), "the quick start shows a shell and Python"
    environ = {
        variable: value
        for variable, value in os.environ.items()
        if not (variable.startswith("RUNSECRETS_") or variable.endswith("_FILE"))
    }
    environ["PATH"] = f"{BIN}{os.pathsep}{environ.get('PATH', '')}"
    marker = "__runsecrets_readme_step_done__"
    result = subprocess.run(
        ["bash", "-c", f"exec 2>&1\n{script(steps, marker)}"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    outputs = re.split(rf"\n?{marker} (\d+)\n", result.stdout)
    assert len(outputs) == 2 * len(steps) + 1, result.stdout
    for index, step in enumerate(steps):
        output, code = outputs[2 * index], outputs[2 * index + 1]
        where = f"README.md:{step.line} ({RUN[step.kind]})"
        assert code == "0", f"{where} exited {code}:\n{output}"
        if step.expected is not None:
            assert matches(step.expected, output), (
                f"{where}\nexpected:\n{step.expected}\ngot:\n{output}"
            )


def test_the_readme_is_short() -> None:
    """At most 150 lines: the manual is the documentation site."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines"


def test_the_readme_links_to_files_that_exist() -> None:
    """Every relative link of the README names a file of the repository."""
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text(encoding="utf-8"))
    relative = [link for link in links if "://" not in link]
    assert relative, "the README links into the docs"
    missing = [link for link in relative if not (ROOT / link).is_file()]
    assert not missing, f"README links to missing files: {missing}"


def test_the_readme_points_at_the_two_commands() -> None:
    """``make demo`` and ``make test`` are the README's two commands, both real targets."""
    text = README.read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert f"make {target}" in text
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target


def test_the_readme_commands_are_accepted_by_the_parser() -> None:
    """Every ``runsecrets`` command line of the README's ``sh`` blocks (those that need an
    engine or a container, not run here) is accepted by the real argument parser."""
    from runsecrets.cli import build_parser

    parser = build_parser()
    tokens = MarkdownIt().parse(README.read_text(encoding="utf-8"))
    blocks = [t.content for t in tokens if t.type == "fence" and t.info.strip() == "sh"]
    commands = [
        words[1:]
        for block in blocks
        for line in block.replace("\\\n", " ").splitlines()
        for words in [shlex.split(line, comments=True)]
        if words[:1] == ["runsecrets"]
    ]
    assert commands, "the README shows runsecrets commands"
    for arguments in commands:
        try:
            parser.parse_args(arguments)
        except SystemExit:
            pytest.fail(f"README.md: the parser refuses runsecrets {shlex.join(arguments)}")
