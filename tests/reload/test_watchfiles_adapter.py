"""watchfiles behind one adapter module, with the version range it is written for."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import runsecrets
from runsecrets.reload.watch import _watchfiles

PACKAGE = Path(runsecrets.__file__).parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def test_the_adapter_states_the_range_pyproject_requires() -> None:
    """The range the adapter is written for is the one the package depends on."""
    required = re.search(r'"watchfiles([^"]*)"', PYPROJECT.read_text())
    assert required is not None
    assert required.group(1) == _watchfiles.SUPPORTED


def test_no_other_module_imports_watchfiles() -> None:
    """watchfiles' private API is touched in ``reload/watch/_watchfiles.py`` alone."""
    importers = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            if any(name.partition(".")[0] == "watchfiles" for name in names):
                importers.append(str(path.relative_to(PACKAGE)))
    assert sorted(set(importers)) == ["reload/watch/_watchfiles.py"]
