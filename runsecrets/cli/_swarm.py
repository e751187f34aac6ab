"""``runsecrets swarm rotate|audit|ls``: the operator's side of Swarm secrets.

Registered like the other command modules (``register(subparsers)``). Nothing here imports
``docker`` at parser-building time: the handlers import :mod:`runsecrets.swarm`, which imports
the SDK when it first talks to the engine. No command prints a secret value; ``--generate``
makes one with :mod:`secrets` and never shows it.
"""

from __future__ import annotations

import json
import sys

from .._text import printable
from ..exceptions import RunSecretsError
from ._exit import EXIT_OK

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from ..swarm import AuditEntry, RotationReport

#: Characters of generated values: letters and digits are safe in every shell, URL and config.
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``swarm`` and its ``rotate``, ``audit`` and ``ls`` sub-commands."""
    swarm = subparsers.add_parser(
        "swarm",
        help="rotate, audit and list Docker Swarm secrets (needs runsecrets[swarm])",
        description="Operate on Swarm secrets through the Docker engine named by DOCKER_HOST "
        "(default: the local socket). Never prints a secret value.",
    )
    commands = swarm.add_subparsers(dest="swarm_command", metavar="COMMAND", required=True)
    _add_rotate(commands)

    audit = commands.add_parser(
        "audit",
        help="which services and running tasks use which secret, across versions",
    )
    audit.add_argument("name", nargs="?", help="a logical name (default: every secret)")
    audit.add_argument("--json", action="store_true", help="print JSON")
    audit.set_defaults(handler=run_audit)

    listing = commands.add_parser("ls", help="every secret's metadata (never its data)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_ls)


def _add_rotate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rotate = commands.add_parser(
        "rotate",
        help="create the next version of a secret and move every service to it",
        description="Create NAME's next version (NAME_v0002, ...), update every service that "
        "uses the secret named NAME or a version runsecrets made of it (recognised by its "
        "rotation record, never by a name or label alone) at the same target, uid, gid and "
        "mode, wait for each update, then remove the versions runsecrets made that nothing "
        "uses. Jobs are left alone (an update runs a job again). Re-running after a failure "
        "finishes the interrupted rotation instead of starting another.",
    )
    rotate.add_argument("name", help="the logical name, e.g. db_password")
    source = rotate.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-file", metavar="FILE", help="read the new value from FILE")
    source.add_argument(
        "--from-stdin", action="store_true", help="read the new value from standard input"
    )
    source.add_argument(
        "--generate",
        type=int,
        metavar="N",
        help="a random value of N letters and digits (never printed)",
    )
    rotate.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="label the new secret"
    )
    rotate.add_argument(
        "--adopt",
        action="append",
        default=[],
        metavar="SECRET",
        help="also replace the secret named exactly SECRET (made by hand, or one a stack "
        "deploy stripped of its record); never removed",
    )
    rotate.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds for the whole wait, rollbacks included (300)",
    )
    rotate.add_argument(
        "--no-wait", action="store_true", help="do not wait for the updates (keeps old versions)"
    )
    rotate.add_argument("--keep-old", action="store_true", help="do not remove older versions")
    rotate.add_argument("--json", action="store_true", help="print the report as JSON")
    rotate.set_defaults(handler=run_rotate)


def _new_value(args: argparse.Namespace) -> bytes:
    """The value to rotate to, from the chosen source (never echoed)."""
    from ..swarm import MAX_SECRET_SIZE

    # Swarm takes less than MAX_SECRET_SIZE bytes, so reading that many is enough for the size
    # check to refuse: a source that never ends (``--from-file /dev/zero``) or a huge
    # ``--generate`` must not fill the memory first.
    limit = MAX_SECRET_SIZE
    if args.generate is not None:
        if not 1 <= args.generate < MAX_SECRET_SIZE:
            raise RunSecretsError(f"--generate takes a length from 1 to {MAX_SECRET_SIZE - 1}")
        import secrets

        return "".join(secrets.choice(_ALPHABET) for _ in range(args.generate)).encode()
    if args.from_stdin:
        return sys.stdin.buffer.read(limit)
    try:
        with open(args.from_file, "rb") as handle:
            return handle.read(limit)
    except OSError as e:
        raise RunSecretsError(
            f"cannot read {args.from_file}: {e.strerror}", path=args.from_file
        ) from e


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RunSecretsError(f"--label wants KEY=VALUE, not {pair!r}")
        labels[key] = value
    return labels


def run_rotate(args: argparse.Namespace) -> int:
    """Rotate one secret and print what changed (the report, also on failure)."""
    from .. import swarm

    swarm.validate_name(args.name)
    data = _new_value(args)
    swarm.validate_data(data)
    client = swarm.client_from_env()
    try:
        report = swarm.rotate(
            client,
            args.name,
            data,
            labels=_labels(args.label),
            wait=not args.no_wait,
            timeout=args.timeout,
            remove_old=not args.keep_old,
            adopt=args.adopt,
        )
    except swarm.RotationError as e:
        _print_report(e.report, args.json)
        raise
    finally:
        client.close()
    _print_report(report, args.json)
    return EXIT_OK


def _print_report(report: RotationReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(report.lines()))


def run_audit(args: argparse.Namespace) -> int:
    """Print who uses which version of which secret."""
    from .. import swarm

    client = swarm.client_from_env()
    try:
        entries = swarm.audit(client, args.name)
    finally:
        client.close()
    if args.json:
        print(json.dumps([entry.as_dict() for entry in entries], indent=2))
        return EXIT_OK
    for entry in entries:
        print("\n".join(_audit_lines(entry)))
    return EXIT_OK


def _audit_lines(entry: AuditEntry) -> list[str]:
    """One entry of ``swarm audit``, every name, label and target escaped (anyone can write
    labels, and a terminal would act on an escape sequence or a newline)."""
    versions = ", ".join(f"{printable(v.name)} (v{v.version})" for v in entry.versions)
    lines = [f"{printable(entry.logical_name)}: {versions}"]
    lines += [
        f"  service {printable(ref.service_name)}: {printable(ref.secret_name)} at "
        f"{printable(ref.target)} (uid {printable(ref.uid)}, gid {printable(ref.gid)}, "
        f"mode {ref.mode:04o})"
        for ref in entry.references
    ]
    lines += [
        f"  task {printable(task.task_id[:12])} of {printable(task.service_name)} on "
        f"{printable(task.node or '-')}: {printable(task.secret_name)} at "
        f"{printable(task.target)} ({printable(task.state)})"
        for task in entry.tasks
    ]
    lines += [f"  unused: {printable(name)}" for name in entry.unused]
    return lines


def run_ls(args: argparse.Namespace) -> int:
    """Print every secret's metadata."""
    from .. import swarm

    client = swarm.client_from_env()
    try:
        secrets = swarm.inventory(client)
    finally:
        client.close()
    if args.json:
        print(json.dumps([s.as_dict() for s in secrets], indent=2))
        return EXIT_OK
    rows: list[tuple[str, ...]] = [("NAME", "LOGICAL NAME", "VERSION", "CREATED", "UPDATED")]
    rows += [
        tuple(
            printable(cell)
            for cell in (
                s.name,
                s.logical_name,
                str(s.version),
                s.created_at[:19],
                s.updated_at[:19],
            )
        )
        for s in secrets
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return EXIT_OK
