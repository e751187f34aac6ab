"""The documentation site: built strictly, complete, and every example in it runs.

The site is built once per session into a temporary directory, exactly as ``make docs`` builds
it (warnings are errors, nitpicky references); the doctest builder then runs every
``{testcode}`` block from the same doctrees, and the ``console`` blocks run here, in a
temporary directory laid out as ``docs/_ext/doc_examples.py`` says.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from ._site import BIN, DOCS, ROOT, SPHINX_BUILD, STRICT, Built, doc_examples, runsecrets_docs

#: The fences a page may use. Python runs as ``{testcode}``; shell sessions as ``console``
#: (run here); ``sh`` only for commands that need a Docker engine or a network (syntax and
#: every ``runsecrets`` command line are checked); files are included from the repository,
#: where their own tests run them.
ALLOWED_FENCES = frozenset(
    {
        "console",
        "sh",
        "text",
        "{testcode}",
        "{testoutput}",
        "{literalinclude}",
        "{include}",
        "{toctree}",
        "{eval-rst}",
        "{api-module}",
        "{api-integrations}",
        "{runsecrets-cli}",
    }
)


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def fences(page: Path) -> Iterator[tuple[str, str, int]]:
    """(info, content, line) of each fenced block of a page."""
    for token in MarkdownIt().parse(page.read_text(encoding="utf-8")):
        if token.type == "fence":
            info = token.info.strip().split(" ", 1)[0]
            yield info, token.content, (token.map[0] + 1 if token.map else 0)


def test_the_strict_build_succeeds_and_writes_every_section(built: Built) -> None:
    """The build passes with warnings as errors, and each page of the issue's list exists."""
    for page in (
        "index",
        "getting-started",
        "sources",
        "layouts",
        "reload",
        "pydantic",
        "tls",
        "integrations/django",
        "integrations/flask",
        "integrations/fastapi",
        "integrations/gunicorn",
        "integrations/uvicorn",
        "integrations/data",
        "integrations/http",
        "containers",
        "swarm",
        "doctor",
        "operations",
        "security",
        "performance",
        "api/index",
        "api/doctor",
        "cli",
        "changelog",
    ):
        assert (built.html / f"{page}.html").is_file(), page


def documented_ids(html: Path) -> set[str]:
    ids: set[str] = set()
    for page in html.rglob("*.html"):
        ids |= set(re.findall(r'<dt class="sig sig-object py" id="([^"]+)"', page.read_text()))
    return ids


@pytest.mark.parametrize("module_name", runsecrets_docs.public_modules())
def test_every_public_name_has_an_entry_in_the_reference(built: Built, module_name: str) -> None:
    """Each name of a public module's ``__all__`` is described in the built API reference.

    The modules are runsecrets, runsecrets.tls, .pydantic, .swarm, .testing, .doctor and every public
    module under runsecrets.integrations that declares ``__all__``: a new name, or a new
    integration, that the reference leaves out fails here.
    """
    ids = documented_ids(built.html / "api")
    module = importlib.import_module(module_name)
    missing = [name for name in module.__all__ if f"{module_name}.{name}" not in ids]
    assert not missing, f"{module_name}: no reference entry for {missing}"


def test_the_integration_modules_include_each_framework() -> None:
    """The reference's discovery of integrations finds the ones that exist today."""
    found = set(runsecrets_docs.integration_modules())
    assert {f"runsecrets.integrations.{n}" for n in ("django", "flask", "gunicorn", "uvicorn")} <= (
        found
    )


def test_every_python_example_runs(built: Built, tmp_path: Path) -> None:
    """``sphinx-build -b doctest`` runs every ``{testcode}`` block and compares its output."""
    result = subprocess.run(
        [SPHINX_BUILD, *STRICT, "-b", "doctest", "-d", built.doctrees, DOCS, tmp_path],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = (tmp_path / "output.txt").read_text() if (tmp_path / "output.txt").exists() else ""
    assert result.returncode == 0, f"{report}\n{result.stderr}"
    tests = int(re.search(r"^\s+(\d+) tests$", report, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert tests >= 30, report  # the examples were found, not skipped


def test_pages_use_only_fences_that_are_run_or_checked() -> None:
    """No page shows a plain ``python`` (or other) block that nothing runs."""
    wrong = [
        f"{page.relative_to(DOCS)}:{line}: {info or '(none)'}"
        for page in pages()
        for info, _, line in fences(page)
        if info not in ALLOWED_FENCES
    ]
    assert not wrong, "fences that nothing runs: " + ", ".join(wrong)


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    command: str
    expected: str


def console_commands() -> list[list[Command]]:
    """The ``console`` blocks of every page, each a list of ``$`` commands and their output."""
    blocks = []
    for page in pages():
        for info, content, line in fences(page):
            if info != "console":
                continue
            commands: list[Command] = []
            current: list[str] = []
            for text in content.splitlines():
                if text.startswith("$ "):
                    commands.append(Command(str(page.relative_to(DOCS)), line, text[2:], ""))
                elif commands and commands[-1].command.endswith("\\"):
                    last = commands[-1]
                    commands[-1] = Command(last.page, last.line, f"{last.command}\n{text}", "")
                elif commands:
                    last = commands[-1]
                    current = [*last.expected.splitlines(), text] if last.expected else [text]
                    commands[-1] = Command(last.page, last.line, last.command, "\n".join(current))
            blocks.append(commands)
    return blocks


def matches(expected: str, actual: str) -> bool:
    """Whether output matches, ``...`` standing for any text (as doctest's ELLIPSIS)."""
    pattern = ".*".join(re.escape(part) for part in expected.strip().split("..."))
    return re.fullmatch(pattern, actual.strip(), re.DOTALL) is not None


@pytest.mark.parametrize(
    "block", console_commands(), ids=lambda block: f"{block[0].page}:{block[0].line}"
)
def test_console_examples_print_what_the_page_shows(block: list[Command]) -> None:
    """Each ``console`` block runs in one shell, in the examples' directory: every command
    exits 0 and prints what the page shows after it."""
    world = doc_examples.ExampleWorld(activate=False)
    try:
        environ = world.environ()
        environ["PATH"] = f"{BIN}{os.pathsep}{environ.get('PATH', '')}"
        marker = "__runsecrets_docs_command_done__"
        script = "".join(f"{command.command}\nprintf '\\n{marker} %s\\n' $?\n" for command in block)
        result = subprocess.run(
            ["bash", "-c", f"exec 2>&1\n{script}"],
            cwd=world.root,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        outputs = re.split(rf"\n?{marker} (\d+)\n", result.stdout)
        for index, command in enumerate(block):
            output, code = outputs[2 * index], outputs[2 * index + 1]
            where = f"{command.page}:{command.line}: $ {command.command}"
            assert code == "0", f"{where}\nexited {code}:\n{output}"
            assert matches(command.expected, output), (
                f"{where}\nexpected:\n{command.expected}\ngot:\n{output}"
            )
    finally:
        world.close()


def shell_blocks() -> list[tuple[str, str]]:
    return [
        (f"{page.relative_to(DOCS)}:{line}", content)
        for page in pages()
        for info, content, line in fences(page)
        if info == "sh"
    ]


@pytest.mark.parametrize(("where", "content"), shell_blocks(), ids=[w for w, _ in shell_blocks()])
def test_shell_blocks_parse_and_their_runsecrets_commands_exist(where: str, content: str) -> None:
    """``sh`` blocks (commands that need an engine) are valid shell, and every ``runsecrets``
    command line in them is accepted by the real argument parser."""
    from runsecrets.cli import build_parser

    subprocess.run(["bash", "-n"], input=content, text=True, check=True)
    parser = build_parser()
    for line in content.replace("\\\n", " ").splitlines():
        for segment in re.split(r"\|\||&&|\||;", line):
            words = shlex.split(segment, comments=True)
            if words[:1] == ["runsecrets"]:
                try:
                    parser.parse_args(words[1:])
                except SystemExit:
                    pytest.fail(f"{where}: the parser refuses {segment.strip()!r}")


def exit_code_examples() -> list[tuple[int, str]]:
    table = (DOCS / "cli.md").read_text(encoding="utf-8").split("## Exit codes", 1)[1]
    rows = re.findall(r"^\| (\d+) \| [^|]+ \| `(.+)` \|$", table, re.MULTILINE)
    return [(int(code), command.replace("\\|", "|")) for code, command in rows]


@pytest.mark.parametrize(("code", "command"), exit_code_examples())
def test_each_documented_exit_code_is_what_its_example_returns(code: int, command: str) -> None:
    """The CLI reference's exit-code table gives an example per code; each example returns it."""
    world = doc_examples.ExampleWorld(activate=False)
    try:
        environ = world.environ()
        environ["PATH"] = f"{BIN}{os.pathsep}{environ.get('PATH', '')}"
        # pipefail: `runsecrets explain | true` reports runsecrets' status, not true's. That
        # example races by nature (true must be gone before runsecrets writes, which takes it
        # tens of milliseconds to reach): a run where the reader was still there says nothing,
        # so a pipe gets three tries.
        for _ in range(3 if "|" in command else 1):
            result = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command],
                cwd=world.root,
                env=environ,
                capture_output=True,
                timeout=30,
                check=False,
            )
            if result.returncode == code:
                break
        assert result.returncode == code, result.stderr
    finally:
        world.close()


def test_the_exit_code_table_covers_every_code() -> None:
    """Every exit code the command line defines is in the table."""
    assert [code for code, _ in exit_code_examples()] == [0, 1, 2, 3, 126, 127, 141, 143]


def test_license_and_changelog_match_the_package() -> None:
    """LICENSE is the MIT text pyproject declares; the changelog has the current version."""
    import runsecrets

    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^license = "MIT"$', pyproject, re.MULTILINE)
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License\n\nCopyright (c) the runsecrets developers\n")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    assert f"## [{runsecrets.__version__}] - " in changelog
