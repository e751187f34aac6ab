"""``get``, ``check`` and ``explain``: reading and describing secrets."""

from __future__ import annotations

import json
import os
import sys

from .._lookup import file_variables
from .._provenance import DEFAULT_SOURCES, DIRECTORY, FILE_VARIABLE, Provenance
from .._secrets import Secrets
from ..exceptions import RunSecretsError
from ._exit import EXIT_NOT_FOUND, EXIT_OK, exit_code_for
from ._options import add_dir_option, add_prefix_option
from ._output import error_line, format_provenance

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``get``, ``check`` and ``explain``."""
    get = subparsers.add_parser(
        "get",
        help="print one secret's value (the only command that prints a value)",
        description="Print a secret's value. Lookup: NAME_FILE, NAME, then the secrets "
        "directories. With --env-fallback VAR: NAME_FILE, the directories, then VAR (the "
        "build-time pattern: a BuildKit secret, else a build argument).",
    )
    get.add_argument("name")
    add_dir_option(get)
    add_prefix_option(get)
    get.add_argument("--bytes", action="store_true", help="write the raw bytes, nothing stripped")
    get.add_argument(
        "--env-fallback",
        metavar="VAR",
        help="read environment variable VAR when no file holds the secret",
    )
    get.set_defaults(handler=run_get)

    check = subparsers.add_parser(
        "check",
        help="exit 0 when every NAME resolves and reads, 1 when one is missing",
    )
    check.add_argument("names", nargs="+", metavar="NAME")
    add_dir_option(check)
    add_prefix_option(check)
    check.set_defaults(handler=run_check)

    explain = subparsers.add_parser(
        "explain",
        help="say where each secret comes from (source, size, age), never its value",
    )
    explain.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="default: every secret in the directories and every *_FILE variable",
    )
    add_dir_option(explain)
    add_prefix_option(explain)
    explain.add_argument("--json", action="store_true", help="print a JSON list")
    explain.set_defaults(handler=run_explain)


def run_get(args: argparse.Namespace) -> int:
    """Print one value (text plus a newline, or the raw bytes with ``--bytes``)."""
    fallback_variable = args.env_fallback
    sources = (FILE_VARIABLE, DIRECTORY) if fallback_variable else DEFAULT_SOURCES
    secrets = Secrets(args.dirs, prefix=args.prefix, sources=sources)
    read = secrets.get_bytes if args.bytes else secrets.get
    value = read(args.name, None)
    if value is None:
        fallback = secrets.environ.get(fallback_variable) if fallback_variable else None
        if not fallback:
            also = (
                (f"environment variable {fallback_variable} (unset)",) if fallback_variable else ()
            )
            raise secrets.not_found_error(args.name, also_searched=also)
        value = os.fsencode(fallback) if args.bytes else fallback
    if isinstance(value, bytes):
        sys.stdout.flush()
        sys.stdout.buffer.write(value)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(value + "\n")
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    """Read every name; report each missing or unreadable one with where it was looked for."""
    secrets = Secrets(args.dirs, prefix=args.prefix)
    worst = EXIT_OK
    for name in args.names:
        try:
            provenance = secrets.explain(name)
        except RunSecretsError as e:
            error_line(e.message)
            worst = max(worst, exit_code_for(e))
        else:
            print(f"ok: {name} ({provenance.describe()})")
    return worst


def default_names(secrets: Secrets) -> list[str]:
    """What ``explain`` covers with no names: the directories' secrets and the ``_FILE`` vars."""
    names = dict.fromkeys(secrets.names())
    prefix = secrets.prefix.upper()
    for variable, _ in file_variables(secrets.environ, prefix):
        names.setdefault(variable[len(prefix) :].lower())
    return sorted(names)


def run_explain(args: argparse.Namespace) -> int:
    """Describe where each secret comes from, as text or JSON."""
    secrets = Secrets(args.dirs, prefix=args.prefix)
    names = args.names or default_names(secrets)
    if not names:
        # Nothing to describe is worth saying (exit 1): a mistyped --dir must not look fine.
        error_line(f"no secrets found; looked in {_describe_dirs(secrets.dirs)}")
        return EXIT_NOT_FOUND
    rows: list[tuple[str, Provenance | None, RunSecretsError | None]] = []
    worst = EXIT_OK
    for name in names:
        try:
            rows.append((name, secrets.explain(name), None))
        except RunSecretsError as e:
            rows.append((name, None, e))
            worst = max(worst, exit_code_for(e))
    if args.json:
        print(json.dumps([_row_json(name, p, e) for name, p, e in rows], indent=2))
    else:
        width = max((len(name) for name in names), default=0)
        for name, provenance, error in rows:
            detail = format_provenance(provenance) if provenance else f"error: {error}"
            print(f"{name.ljust(width)}  {detail}")
    return worst


def _describe_dirs(dirs: Sequence[str]) -> str:
    """Each directory with what is wrong with it, if anything (no directory at all: say so)."""
    if not dirs:
        return "no directory"
    described = []
    for directory in dirs:
        if os.path.isdir(directory):
            described.append(f"{directory} (empty)")
        elif os.path.exists(directory):
            described.append(f"{directory} (not a directory)")
        else:
            described.append(f"{directory} (does not exist)")
    return ", ".join(described)


def _row_json(
    name: str, provenance: Provenance | None, error: RunSecretsError | None
) -> dict[str, object]:
    if provenance is not None:
        return {"found": True, **provenance.as_dict()}
    assert error is not None
    return {
        "name": name,
        "found": False,
        "error": type(error).__name__,
        "message": error.message,
        "searched": list(error.searched),
    }
