"""Every exit code of the command line, in one place.

The CLI reference's table (``docs/cli.md``, "Exit codes") lists the same codes, each with an
example a test runs.
"""

from __future__ import annotations

from ..exceptions import SecretNotFoundError

#: Success; for ``check``, ``tls check`` and ``doctor``: nothing wrong.
EXIT_OK = 0
#: A secret no source holds (``get``, ``check``, ``explain``), or ``explain`` found nothing.
EXIT_NOT_FOUND = 1
#: ``doctor``: warnings only.
EXIT_WARNINGS = 1
#: The command line does not make sense (argparse's own code for a usage error).
EXIT_USAGE = 2
#: A read or validation error: a secret unreadable, invalid TLS material, a failed operation.
EXIT_INVALID = 3
#: ``exec``: the command exists but cannot be run, as a shell reports it.
EXIT_NOT_EXECUTABLE = 126
#: ``exec``: no such command, as a shell reports it.
EXIT_COMMAND_NOT_FOUND = 127
#: Interrupted (Ctrl-C): 128 + SIGINT, as a shell reports it.
EXIT_INTERRUPTED = 130
#: The reader of standard output went away: 128 + SIGPIPE, what a shell shows for a program
#: killed by it (``runsecrets explain | head -1``).
EXIT_BROKEN_PIPE = 141


def exit_code_for(error: BaseException) -> int:
    """The documented exit code for an error: not found, else invalid."""
    return EXIT_NOT_FOUND if isinstance(error, SecretNotFoundError) else EXIT_INVALID
