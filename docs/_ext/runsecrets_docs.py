"""Local Sphinx extension for the runsecrets site.

- ``api-module``: the reference of one public module, driven by its ``__all__``. A name that
  another public module already documents (``runsecrets.tls.InvalidTLSMaterialError`` is
  ``runsecrets.InvalidTLSMaterialError``) gets a short entry pointing there instead of a second
  copy, so every public name has an entry and each object has one full description.
- ``runsecrets-cli``: the command line reference, from the parser itself (``--help`` of every
  command and sub-command), so that a new option cannot be left out.
- Signatures name types that a module imports only while type checking (``SecretStore`` in
  ``runsecrets.pydantic``) or aliases private to the package (``DirsArg``); autodoc hands them
  over as bare strings. They are resolved from the package's own import statements: to the
  public object, to the Python documentation, or shown as plain text when they are private or
  belong to a third-party library whose inventory is not available offline.
"""

from __future__ import annotations

import ast
import importlib
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

if TYPE_CHECKING:
    import argparse

    from sphinx.addnodes import pending_xref
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

PACKAGE = "runsecrets"

#: The public modules whose ``__all__`` the reference documents, in the order of their pages:
#: an object exported by several is described fully under the first one. Every public module
#: under ``runsecrets.integrations`` with an ``__all__`` follows these.
PUBLIC_MODULES = (
    "runsecrets",
    "runsecrets.tls",
    "runsecrets.pydantic",
    "runsecrets.swarm",
    "runsecrets.testing",
    "runsecrets.doctor",
)


def integration_modules() -> list[str]:
    """Every public module under ``runsecrets.integrations`` that declares an ``__all__``.

    Found from the source, so that a database engine module (which imports its driver) is not
    imported just to be looked at.
    """
    root = Path(importlib.import_module(f"{PACKAGE}.integrations").__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        if _declares_all(path):
            found.append(".".join(parts))
    return found


def _declares_all(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        for node in tree.body
    )


def public_modules() -> list[str]:
    """Every module whose ``__all__`` is part of the documented API."""
    return [*PUBLIC_MODULES, *integration_modules()]


def canonical_homes() -> dict[int, str]:
    """For each exported object (by identity), the full name it is documented under."""
    homes: dict[int, str] = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)  # also loads lazily exported names
            if callable(value):
                homes.setdefault(id(value), f"{module_name}.{name}")
    return homes


#: How a module's names are grouped on its page, in this order (``__all__`` order within).
GROUPS = (
    ("Functions", ("function",)),
    ("Classes", ("class",)),
    ("Errors and warnings", ("exception",)),
    ("Constants", ("data",)),
)


class ApiModule(SphinxDirective):
    """``api-module NAME``: the module's docstring, then one entry per name of its ``__all__``,
    in that order. A name documented under another public module gets a short entry that
    points there."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module_name = self.arguments[0]
        module = importlib.import_module(module_name)
        homes = canonical_homes()
        lines = [f".. automodule:: {module_name}", ""]
        for heading, kinds in GROUPS:
            names = [n for n in module.__all__ if _kind(getattr(module, n)) in kinds]
            if names:
                lines += [f".. rubric:: {heading}", ""]
            for name in names:
                lines += _entry(module_name, name, getattr(module, name), homes)
        return self.parse_text_to_nodes("\n".join(lines))

    def parse_text_to_nodes(self, text: str) -> list[nodes.Node]:  # type: ignore[override]
        container = nodes.container()
        source = self.get_source_info()[0]
        if type(self.state).__module__.startswith("myst_parser"):
            # A Markdown page parses nested content as Markdown: hand the text to reST.
            text = f"```{{eval-rst}}\n{text}\n```"
        nested_parse_with_titles(
            self.state, StringList(text.splitlines(), source=source), container
        )
        return list(container.children)


class ApiIntegrations(ApiModule):
    """``api-integrations``: a section per public integration module, each an ``api-module``."""

    required_arguments = 0

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        for module_name in integration_modules():
            title = f"``{module_name}``"
            lines += ["", title, "-" * len(title), "", f".. api-module:: {module_name}", ""]
            for engine in _engine_modules(module_name):
                lines += [f".. automodule:: {engine}", ""]
        return self.parse_text_to_nodes("\n".join(lines))


def _engine_modules(module_name: str) -> list[str]:
    """Public sub-packages without an ``__all__`` (Django's ``ENGINE`` packages): by name."""
    package = importlib.import_module(module_name)
    root = Path(package.__file__)
    if root.name != "__init__.py":
        return []
    return [
        f"{module_name}.{child.name}"
        for child in sorted(root.parent.iterdir())
        if (child / "__init__.py").is_file()
        and not child.name.startswith("_")
        and not _declares_all(child / "__init__.py")
    ]


def _entry(module_name: str, name: str, value: object, homes: dict[int, str]) -> list[str]:
    """The reST for one exported name."""
    kind = _kind(value)
    home = homes.get(id(value))
    if home is not None and home != f"{module_name}.{name}":
        return [
            f".. py:{kind}:: {name}",
            "",
            f"   The same object as :py:obj:`{home}`, exported here too.",
            "",
        ]
    if kind in ("class", "exception"):
        return [f".. auto{kind}:: {name}", "   :members:", "   :special-members: __call__", ""]
    if kind == "function":
        return [f".. autofunction:: {name}", ""]
    # Constants: their ``#:`` comment sits where they are defined, maybe a private module, and
    # autodoc would fall back to the docstring of the value's type (``dict``'s, say).
    shown = repr(value)
    lines = [f".. py:data:: {name}"]
    if len(shown) <= 72 and "\n" not in shown:
        lines.append(f"   :value: {shown}")
    return [*lines, "", *(f"   {line}" for line in _attribute_doc(module_name, name)), ""]


def _kind(value: object) -> str:
    if isinstance(value, type):
        return "exception" if issubclass(value, BaseException) else "class"
    return "function" if callable(value) else "data"


def _attribute_doc(module_name: str, name: str) -> list[str]:
    """The ``#:`` comment of a constant, from the module that defines it."""
    from sphinx.pycode import ModuleAnalyzer

    origin = import_origins_of(module_name).get(name)
    defining = origin.rpartition(".")[0] if origin else module_name
    for candidate in (module_name, defining):
        docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        if ("", name) in docs:
            return [line for line in docs[("", name)] if line]
    return []


class CliReference(SphinxDirective):
    """``runsecrets-cli``: one section per command, with its ``--help`` text."""

    def run(self) -> list[nodes.Node]:
        from runsecrets.cli import build_parser

        result: list[nodes.Node] = []
        for path, parser in _commands(build_parser(), ()):
            title = " ".join(("runsecrets", *path))
            section = nodes.section(ids=[nodes.make_id(f"cli-{title}")])
            section += nodes.title(text=title)
            help_text = parser.format_help()
            section += nodes.literal_block(help_text, help_text, language="text")
            result.append(section)
        return result


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """The parser and each sub-command's parser, depth first, in the order they were added."""
    import argparse

    found = [(path, parser)]
    # argparse offers no public way to list sub-commands.
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                found += _commands(sub, (*path, name))
    return found


# --- bare names in signatures ----------------------------------------------------------------


@cache
def import_origins() -> dict[str, frozenset[str]]:
    """Every name the package's modules import or define, mapped to where it comes from.

    Read from the source (``ast``), so imports under ``if TYPE_CHECKING:`` count too.
    """
    package = importlib.import_module(PACKAGE)
    root = Path(package.__file__).parent
    origins: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        module = ".".join(parts)
        package_name = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for name, origin in _bindings(node, module, package_name):
                origins.setdefault(name, set()).add(origin)
    return {name: frozenset(found) for name, found in origins.items()}


def import_origins_of(module_name: str) -> dict[str, str]:
    """What one module imports, by the name it binds (``from ._x import Y``: ``Y``)."""
    module = importlib.import_module(module_name)
    path = Path(module.__file__)
    package_name = module_name if path.name == "__init__.py" else module_name.rpartition(".")[0]
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(_bindings(node, module_name, package_name))
    return found


def _bindings(node: ast.AST, module: str, package_name: str) -> list[tuple[str, str]]:
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = package_name.split(".")[: len(package_name.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        return [(alias.asname or alias.name, f"{base}.{alias.name}") for alias in node.names]
    if isinstance(node, ast.Import):
        return [(alias.asname or alias.name, alias.name) for alias in node.names]
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return [(node.name, f"{module}.{node.name}")]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [(node.target.id, f"{module}.{node.target.id}")]
    if isinstance(node, ast.Assign):
        return [(t.id, f"{module}.{t.id}") for t in node.targets if isinstance(t, ast.Name)]
    return []


def qualify(target: str) -> str | None:
    """The full dotted name a bare or partly qualified name stands for, when it is unambiguous."""
    head, dot, rest = target.partition(".")
    origins = import_origins().get(head, frozenset())
    if len(origins) != 1:
        return None
    (origin,) = origins
    return f"{origin}{dot}{rest}"


def _is_private(full_name: str) -> bool:
    """Whether ``full_name`` lies outside the documented API: a part starts with an underscore,
    or the module holding it is a package's part that is not a public module (the modules of
    ``runsecrets.reload``, say: a folder per concern, public only through ``runsecrets``)."""
    parts = full_name.split(".")
    if any(part.startswith("_") for part in parts):
        return True
    public = {PACKAGE, *public_modules()}
    for end in range(len(parts), 1, -1):
        prefix = ".".join(parts[:end])
        if prefix in public:
            return False
        if _is_module(prefix):
            return True
    return False


@cache
def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


#: The roles that signatures produce for the types they name (and docstrings for classes).
TYPE_ROLES = frozenset({"class", "obj", "exc"})


def resolve_reference(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.Element | None:
    """Resolve what autodoc could not: see the module docstring."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    inherited = _inherited_member(app, env, node, contnode)
    if inherited is not None or node["reftype"] not in TYPE_ROLES:
        # A function, method or attribute reference is written by hand: if it does not
        # resolve, the docstring is wrong, and the build says so.
        return inherited
    full = target if target.startswith(f"{PACKAGE}.") else (qualify(target) or target)
    origins = import_origins().get(target.partition(".")[0], frozenset())
    if full == target and origins and all(o.startswith(f"{PACKAGE}.") for o in origins):
        full = f"{PACKAGE}._.{target}"  # defined in several of the package's own modules
    top = full.partition(".")[0]
    if top == PACKAGE:
        public = _documented(env, full.rpartition(".")[2])
        if public is not None:
            domain: Any = env.get_domain("py")
            return domain.resolve_xref(  # type: ignore[no-any-return]
                env, node["refdoc"], app.builder, "obj", public, node, contnode
            )
        # A private alias, type variable or helper class: shown by name, not linked.
        return contnode if _is_private(full) or full != target or "." not in target else None
    if full != target:
        from sphinx.ext import intersphinx

        retry = node.deepcopy()
        retry["reftarget"] = full
        found = intersphinx.missing_reference(app, env, retry, contnode)
        if found is not None:
            return found
    if top in sys.stdlib_module_names or top == "builtins":
        # Linked through the Python inventory when it is installed (see conf.py).
        return contnode if not app.config.runsecrets_python_inventory else None
    if top != target or full != target or any(not o.startswith(f"{PACKAGE}.") for o in origins):
        # A third-party library's type (a name some module imports from one, even when another
        # module defines the same name): no inventory of theirs is available offline.
        return contnode
    return None


def _inherited_member(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.TextElement
) -> nodes.Element | None:
    """``:attr:`variable``` in a subclass's docstring: the attribute a base class documents."""
    module_name, class_name = node.get("py:module"), node.get("py:class")
    if node["reftype"] not in ("attr", "meth") or not module_name or not class_name:
        return None
    try:
        cls = getattr(importlib.import_module(module_name), class_name.split(".")[0])
    except (ImportError, AttributeError):
        return None
    domain: Any = env.get_domain("py")
    for base in getattr(cls, "__mro__", ())[1:]:
        home = _documented(env, base.__name__)
        if home is not None and f"{home}.{node['reftarget']}" in domain.objects:
            return domain.resolve_xref(  # type: ignore[no-any-return]
                env,
                node["refdoc"],
                app.builder,
                "obj",
                f"{home}.{node['reftarget']}",
                node,
                contnode,
            )
    return None


def _documented(env: BuildEnvironment, name: str) -> str | None:
    """The documented public object called ``name`` (the top-level one first), if only one."""
    domain: Any = env.get_domain("py")
    candidates = sorted(
        full
        for full, entry in domain.objects.items()
        if full.rpartition(".")[2] == name and not entry.aliased and full.count(".") <= 3
    )
    if f"{PACKAGE}.{name}" in candidates:
        return f"{PACKAGE}.{name}"
    return candidates[0] if len(candidates) == 1 else None


def guard_attribute_summary(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """Keep napoleon from reading "Summary: detail" as "type: description".

    Napoleon parses the first line of an attribute's or a property's docstring as
    ``type: description``; this package never writes types there (they come from annotations)
    and often starts such a docstring with a summary and a colon.
    """
    if what in ("attribute", "property", "data") and lines and ":" in lines[0]:
        lines[:0] = ["..", ""]  # an empty comment: napoleon takes it as the (colon-free) first line


def short_settings_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, str | None] | None:
    """A pydantic settings class is called with its field values; show that, not pydantic's
    own ``__init__`` with its two dozen private parameters."""
    if what == "class" and isinstance(obj, type) and hasattr(obj, "model_fields"):
        return "(**values)", None
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("runsecrets_python_inventory", None, "env")
    app.add_directive("api-module", ApiModule)
    app.add_directive("api-integrations", ApiIntegrations)
    app.add_directive("runsecrets-cli", CliReference)
    app.connect("missing-reference", resolve_reference, priority=900)
    app.connect("autodoc-process-docstring", guard_attribute_summary, priority=100)
    app.connect("autodoc-process-signature", short_settings_signature)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
