"""Shared by the documentation tests: where things are, and what a build produced."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import doc_examples  # noqa: E402  (docs/_ext: the examples' world)
import runsecrets_docs  # noqa: E402  (docs/_ext: what the reference documents)

BIN = Path(sys.executable).parent
SPHINX_BUILD = BIN / "sphinx-build"
#: What ``make docs`` passes: warnings are errors (all of them reported), nitpicky references.
STRICT = ["-W", "--keep-going", "-n", "-q"]


def matches(expected: str, actual: str) -> bool:
    """Whether output matches, ``...`` standing for any text (as doctest's ELLIPSIS)."""
    pattern = ".*".join(re.escape(part) for part in expected.strip().split("..."))
    return re.fullmatch(pattern, actual.strip(), re.DOTALL) is not None


@dataclass(frozen=True)
class Built:
    """Where the session's build wrote the site and its doctrees."""

    html: Path
    doctrees: Path


__all__ = [
    "BIN",
    "DOCS",
    "ROOT",
    "SPHINX_BUILD",
    "STRICT",
    "Built",
    "doc_examples",
    "matches",
    "runsecrets_docs",
]
