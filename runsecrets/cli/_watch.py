"""``watch``: the sidecar. Fire an action once per real change of the secrets, until stopped.

The store does the hard part (directory watching, debouncing, reading a stable snapshot,
comparing content, keeping the last good values); this command only turns each published
change into one action, run in the main thread so a slow action never stalls the watcher.
Changes published while an action runs are merged into the next firing.
"""

from __future__ import annotations

from ._options import add_dir_option, add_prefix_option

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``watch``."""
    parser = subparsers.add_parser(
        "watch",
        help="sidecar: signal a process, run a command or POST when secrets change",
        description="Watch the secrets directories and, once per real change (content "
        "compared, bursts grouped), signal a process, run a command or POST the changed names "
        "to a URL. Logs changed names, never values. Runs until SIGTERM or SIGINT (exit 0).",
    )
    add_dir_option(parser)
    add_prefix_option(parser)
    parser.add_argument(
        "--name",
        dest="names",
        action="append",
        metavar="NAME",
        help="watch only these secrets (repeat); default every secret in the directories",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--signal", metavar="SIG", help="send SIG (HUP, SIGUSR1, 10) to a process")
    action.add_argument(
        "--exec",
        dest="exec_command",
        metavar="CMD",
        help="run CMD (split like a shell, no shell) with RUNSECRETS_CHANGED=name,name",
    )
    action.add_argument(
        "--post",
        metavar="URL",
        help="POST {version, added, changed, removed} as JSON; loopback only unless allowed",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--pid", type=int, help="the process to signal (the one holding this pid at start)"
    )
    target.add_argument(
        "--pidfile",
        metavar="FILE",
        help="read the pid from FILE at each change (not writable by group or others; a file "
        "owned by another user may only name that user's processes)",
    )
    target.add_argument(
        "--process-name",
        metavar="NAME",
        help="the process with this program name; several matches are refused unless --all",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="--process-name is the whole command line (arguments joined by spaces)",
    )
    parser.add_argument(
        "--all",
        dest="all_matches",
        action="store_true",
        help="signal every process --process-name matches",
    )
    parser.add_argument(
        "--allow-pid-1",
        action="store_true",
        help="allow signalling PID 1 (refused by default: it is the namespace's init)",
    )
    parser.add_argument(
        "--exec-timeout",
        type=float,
        metavar="SECONDS",
        help="end an --exec command's process group after this long (default 60)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a host --post may reach besides loopback (repeat; also "
        "RUNSECRETS_WATCH_ALLOWED_HOSTS, comma-separated)",
    )
    parser.add_argument(
        "--poll",
        action="store_true",
        help="poll instead of using notifications (network file systems)",
    )
    parser.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (a bare PORT: on "
        "127.0.0.1; needs runsecrets[metrics]); names and counts only, never a value",
    )
    parser.add_argument("--quiet", action="store_true", help="log only problems, not every change")
    parser.set_defaults(handler=run_watch, watch_parser=parser)


def run_watch(args: argparse.Namespace) -> int:
    """Run the sidecar (its threads and logging load only for this command)."""
    from ._watch_run import run_watch as run

    return run(args)
