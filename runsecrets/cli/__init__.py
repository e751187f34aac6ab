"""The ``runsecrets`` command line.

``main(argv)`` runs one command and returns its exit code, so tests call it without a
subprocess. Exit codes: 0 ok, 1 not found or check failed, 2 usage, 3 read or validation error
(126 and 127 for ``exec``: the command could not be run, or was not found, as in a shell;
``exec --restart-on-change``: the command's own status, 128 + N for signal N; ``doctor``: 0
clean, 1 warnings only, 3 any error), 141
when the reader of standard output went away (``runsecrets explain | head -1``), as a shell
reports a program killed by SIGPIPE.

``runsecrets exec`` starts every container, so it has a fast path that skips argparse (8 ms of
imports here) when its arguments are in the plain documented form; anything else (help, a typo,
another command) goes through the full parser.
"""

from __future__ import annotations

import sys
import warnings

from ..exceptions import RunSecretsWarning
from ._exec import parse_exec_fast
from ._exit import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_WARNINGS,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import TextIO

#: Modules under ``runsecrets.cli`` that each add one command with ``register(subparsers)``.
COMMAND_MODULES = ("_core", "_exec", "_tls", "_watch", "_swarm", "_doctor")

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_INVALID",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_WARNINGS",
    "build_parser",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command's sub-parser."""
    import argparse
    import importlib

    from .._version import __version__

    parser = argparse.ArgumentParser(
        prog="runsecrets",
        description="Read container secrets safely: FOO_FILE variables, FOO variables, "
        "secrets directories such as /run/secrets.",
        epilog="Exit codes: 0 ok, 1 not found or check failed, 2 usage, 3 read or validation "
        "error; exec: 126 command not executable, 127 command not found, with "
        "--restart-on-change the command's own status (128+N for signal N); doctor: 0 clean, 1 "
        "warnings only, 3 an error; 141 output pipe closed.",
    )
    parser.add_argument("--version", action="version", version=f"runsecrets {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{module_name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code.

    Args:
        argv: The arguments after the program name; default ``sys.argv[1:]``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    _stand_in_for_closed_streams()
    try:
        # catch_warnings restores the previous display afterwards (main is called in-process).
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            # Our warnings stay warning lines whatever PYTHONWARNINGS says: in an entrypoint
            # (`runsecrets exec`) that setting is the application's, passed on to it.
            warnings.simplefilter("always", RunSecretsWarning)
            code = _run(args)
        # Flushed here, where a closed pipe can still be handled, not at interpreter exit.
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # also when the one error line met a closed standard error
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _run(args: list[str]) -> int:
    from ._output import report_error

    fast = parse_exec_fast(args)
    try:
        if fast is not None:
            from ._exec import run_exec

            return run_exec(fast)
        parser = build_parser()
        try:
            namespace = parser.parse_args(args)
        except SystemExit as e:  # argparse exits for --help, --version and usage errors
            return e.code if isinstance(e.code, int) else EXIT_USAGE
        handler = namespace.handler
        return int(handler(namespace))
    except BrokenPipeError:
        raise  # the reader went away: no error line (main returns 141)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - the user gets one line, never a traceback
        return report_error(e)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Show a warning as one ``runsecrets: warning: ...`` line on standard error, not Python's
    two lines pointing into the library's source."""
    print(f"runsecrets: warning: {message}", file=file or sys.stderr)


def _stand_in_for_closed_streams() -> None:
    """Give a standard stream the caller closed (``runsecrets check x >&-``) a stand-in.

    Python leaves ``sys.stdout`` (or ``stdin``, ``stderr``) ``None`` when its descriptor is
    closed, and the first write or flush would fail with a traceback. The stand-in is
    ``/dev/null`` on that very descriptor: what would have been written there is dropped, as
    the caller asked; an error line never moves to standard output (``print(file=None)``
    writes there); a file opened later cannot take descriptor 1; and, opened close-on-exec,
    it is gone again in a command started by ``runsecrets exec``, which sees the descriptor
    closed as it was given.
    """
    import os

    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        if getattr(sys, name) is not None:
            continue
        try:
            null = os.open(os.devnull, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except OSError:  # no /dev/null (a bare chroot): drop the output in memory
            import io

            setattr(sys, name, io.TextIOWrapper(io.BytesIO()))
            continue
        if null != fd:
            os.dup2(null, fd, inheritable=False)
            os.close(null)
        setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115 - lives as sys.<name>


def _silence_stdout() -> None:
    """After ``BrokenPipeError``: point standard output at ``/dev/null`` (the recipe of
    Python's ``signal`` documentation), so the flush at interpreter exit neither fails again
    nor prints "Exception ignored ... BrokenPipeError"."""
    import os

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed to a pipe at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
