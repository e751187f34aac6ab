"""The documentation site, built once per session as ``make docs`` builds it."""

from __future__ import annotations

import subprocess

import pytest

from ._site import DOCS, SPHINX_BUILD, STRICT, Built


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The site, built as ``make docs`` builds it."""
    out = tmp_path_factory.mktemp("docs")
    html, doctrees = out / "html", out / "doctrees"
    result = subprocess.run(
        [SPHINX_BUILD, *STRICT, "-E", "-b", "html", "-d", doctrees, DOCS, html],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"the strict docs build failed:\n{result.stderr}"
    return Built(html, doctrees)
