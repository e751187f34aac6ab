"""Sphinx configuration for the runsecrets documentation (built by ``make docs``).

The build is strict: ``make docs`` passes ``-W --keep-going`` and ``nitpicky`` is on, so a
broken reference, a missing name or a malformed docstring fails it. Nothing is fetched from the
network: the Python documentation's inventory is read from Debian's ``python3-doc`` package
when it is installed (``.ci/run`` installs it); without it, standard-library names in
signatures are shown unlinked.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import runsecrets  # noqa: E402

project = "runsecrets"
author = "the runsecrets developers"
copyright = "the runsecrets developers"
release = runsecrets.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "runsecrets_docs",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
nitpicky = True

# --- pages -------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"runsecrets {release}"
html_static_path = ["_static"]
html_css_files = ["runsecrets.css"]
html_show_sourcelink = False
myst_enable_extensions = ["deflist"]
myst_heading_anchors = 3

# --- the API reference from docstrings ----------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False


def _python_inventory() -> str | None:
    """The Python documentation's ``objects.inv`` on this machine, if any."""
    candidates = [os.environ.get("RUNSECRETS_PYTHON_INVENTORY", "")]
    candidates += [f"/usr/share/doc/python3{suffix}/html/objects.inv" for suffix in ("", ".11")]
    return next((path for path in candidates if path and Path(path).is_file()), None)


runsecrets_python_inventory = _python_inventory()
intersphinx_mapping = (
    {"python": ("https://docs.python.org/3", runsecrets_python_inventory)}
    if runsecrets_python_inventory
    else {}
)
intersphinx_timeout = 1

# --- examples: every {testcode} block runs (sphinx-build -b doctest, from the test suite) ----
# Each group starts in a fresh temporary directory with the example secrets (doc_examples.py).
doctest_global_setup = "import doc_examples\n_world = doc_examples.ExampleWorld()"
doctest_global_cleanup = "_world.close()"
