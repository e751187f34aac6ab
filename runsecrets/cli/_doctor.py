"""``doctor``: what in this container (or an image) keeps secrets from being safe or fresh.

The checks live in :mod:`runsecrets.doctor`, imported by the handler only, so building the
parser (every command does) stays cheap.
"""

from __future__ import annotations

import json

from ._exit import EXIT_INVALID, EXIT_OK, EXIT_WARNINGS
from ._options import add_dir_option, add_prefix_option

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from ..doctor import Finding

# Characters that would split or garble a one-line finding (a path may hold a newline).
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``doctor``."""
    doctor = subparsers.add_parser(
        "doctor",
        help="find what keeps secrets from being safe or fresh; never shows a value",
        description="Inspect this container (or host): secrets in plain variables, FOO beside "
        "FOO_FILE, FOO_FILE naming no file, secrets on a disk or on mounts that never see a "
        "rotation, lax or unreadable files, certificates invalid or expiring, inotify limits. "
        "With --image: an image's configuration and history, through the Docker engine. One "
        "line per finding (severity, code, subject, the fix); never a value. Exit codes: 0 "
        "clean, 1 warnings only, 3 an error.",
    )
    add_dir_option(doctor)
    add_prefix_option(doctor)
    doctor.add_argument("--json", action="store_true", help='print {"findings": [...]}')
    doctor.add_argument(
        "--min-days",
        type=int,
        default=None,
        metavar="N",
        help="report certificates with fewer than N days left (default 30)",
    )
    doctor.add_argument(
        "--max-size",
        type=int,
        default=None,
        metavar="BYTES",
        help="the size cap the application reads secrets with (default 512000)",
    )
    doctor.add_argument(
        "--proc-root",
        default="/proc",
        metavar="PATH",
        help="where /proc is mounted (default /proc)",
    )
    doctor.add_argument(
        "--image",
        metavar="IMAGE",
        help="check this image's configuration and history instead (needs runsecrets[swarm] "
        "and a Docker engine: DOCKER_HOST, else the local socket)",
    )
    doctor.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    """Print the findings; 0 none, 1 warnings only, 3 any error."""
    from ..doctor import diagnose, diagnose_image

    if args.image:
        findings = diagnose_image(args.image)
    else:
        limits = {} if args.max_size is None else {"max_size": args.max_size}
        findings = diagnose(
            args.dirs,
            prefix=args.prefix,
            proc_root=args.proc_root,
            min_days=args.min_days,
            **limits,
        )
    if args.json:
        print(json.dumps({"findings": [f.as_dict() for f in findings]}, indent=2))
    else:
        for finding in findings:
            print(format_finding(finding))
        if not findings:
            print("no problems found")
    return exit_code(findings)


def exit_code(findings: Sequence[Finding]) -> int:
    """0 when there is no finding, 1 for warnings only, 3 when any is an error."""
    severities = {finding.severity for finding in findings}
    if "error" in severities:
        return EXIT_INVALID
    return EXIT_WARNINGS if severities else EXIT_OK


def format_finding(finding: Finding) -> str:
    """``severity: code: subject: message`` on one line, control characters escaped."""
    line = f"{finding.severity}: {finding.code}: {finding.subject}: {finding.message}"
    return line.translate(_CONTROL)
