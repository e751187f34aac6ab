"""Printing results and errors for the command line, never a value (except ``get``)."""

from __future__ import annotations

import os
import sys
import time

from ..exceptions import RunSecretsError
from ._exit import EXIT_INVALID, exit_code_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._provenance import Provenance


def error_line(message: str) -> None:
    """Print one ``runsecrets: error: ...`` line on standard error."""
    print(f"runsecrets: error: {message}", file=sys.stderr)


def describe_command(command: Sequence[str]) -> str:
    """A command as log lines show it: the program only, never its arguments."""
    if not command:
        return "(no command)"
    hidden = len(command) - 1
    if not hidden:
        return command[0]
    return f"{command[0]} ({hidden} argument{'s' if hidden > 1 else ''} not shown)"


def report_error(error: Exception) -> int:
    """Tell the user what went wrong in one line and return the exit code.

    Our own errors never carry a value, so their message is shown. Any other exception could
    (a third-party error may quote its input), so only its type is shown, unless
    ``RUNSECRETS_DEBUG`` is on (see :func:`runsecrets._platform.debug_enabled`) and asks for
    the traceback.
    """
    if isinstance(error, RunSecretsError):
        error_line(error.message)
        return exit_code_for(error)
    from .._platform import debug_enabled

    if debug_enabled(os.environ):
        import traceback

        traceback.print_exception(error)
    else:
        error_line(
            f"unexpected {type(error).__name__}; set RUNSECRETS_DEBUG=1 to see the traceback"
        )
    return EXIT_INVALID


def format_age(mtime: float, now: float | None = None) -> str:
    """A short "3m ago" style age."""
    seconds = max(0.0, (time.time() if now is None else now) - mtime)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def format_provenance(provenance: Provenance, now: float | None = None) -> str:
    """One line for ``explain``: source, size and age; never the value or a hash of it."""
    parts = [provenance.describe(), f"{provenance.size} bytes"]
    if provenance.mtime is not None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(provenance.mtime))
        parts.append(f"modified {stamp} ({format_age(provenance.mtime, now)})")
    return ", ".join(parts)
