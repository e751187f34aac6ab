"""``exec``: the official images' ``file_env`` for any program, then ``execvp``.

For every ``X_FILE`` in the environment (or only the ``--only`` names): refuse when ``X`` is set
too (an empty variable counts as unset), read the file into ``X``, remove ``X_FILE``, and replace
this process with the command, so that signals reach it directly and it stays PID 1.

The command gets the signal state a shell would give it, not the interpreter's: Python ignores
``SIGPIPE`` and ``SIGXFSZ`` at start-up, and an ignored signal stays ignored across ``exec``
(``yes | head -1`` would then print "Broken pipe", and a shell loop writing into a closed pipe
would never end). Both are set back to their default before the ``exec``, as ``subprocess``
does for its children, and the signal mask is emptied. Dispositions the caller chose (a
``SIGHUP`` ignored by ``nohup``) are passed on untouched.
"""

from __future__ import annotations

import os
import sys

from ._exec_env import prepare_environment

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping, Sequence


class ExecRequest:
    """What ``runsecrets exec`` was asked to do.

    Attributes:
        command: The command and its arguments.
        dirs: ``--dir``: the secrets directories for ``--only`` names (``None``: the default).
        only: ``--only``: handle exactly these variables (``None``: every ``*_FILE``).
        file_prefix: ``--file-prefix``: also read ``<prefix>X=/path`` into ``X``
            (linuxserver.io's ``FILE__X``), ``None`` when not asked.
    """

    __slots__ = ("command", "dirs", "file_prefix", "only")

    def __init__(
        self,
        command: list[str],
        dirs: list[str] | None,
        only: list[str] | None,
        file_prefix: str | None = None,
    ) -> None:
        self.command = command
        self.dirs = dirs
        self.only = only
        self.file_prefix = file_prefix

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExecRequest):
            return NotImplemented
        return all(getattr(self, field) == getattr(other, field) for field in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"ExecRequest(command={self.command!r}, dirs={self.dirs!r}, only={self.only!r}, "
            f"file_prefix={self.file_prefix!r})"
        )


def parse_exec_fast(args: Sequence[str]) -> ExecRequest | None:
    """Parse ``exec [--dir D]... [--only VAR...] [--file-prefix P] -- CMD...`` without argparse.

    Returns ``None`` for anything outside that plain form, so that argparse, which gives the
    proper usage message, handles it. A test checks both parsers agree on what this accepts.
    """
    if len(args) < 3 or args[0] != "exec":
        return None
    values: dict[str, list[str]] = {"--dir": [], "--only": [], "--file-prefix": []}
    index = 1
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return _fast_request(list(args[index + 1 :]), values)
        option, equals, value = arg.partition("=")
        if option not in values:
            return None
        if equals:
            if not value:
                return None
            values[option].append(value)
            index += 1
            continue
        taken = _fast_values(args, index + 1, many=option == "--only")
        if not taken:
            return None
        values[option].extend(taken)
        index += 1 + len(taken)
    return None


def _fast_request(command: list[str], values: dict[str, list[str]]) -> ExecRequest | None:
    """The request the fast parser read (``None`` without a command)."""
    if not command:
        return None
    prefixes = values["--file-prefix"]
    return ExecRequest(
        command,
        values["--dir"] or None,
        values["--only"] or None,
        prefixes[-1] if prefixes else None,
    )


def _fast_values(args: Sequence[str], start: int, *, many: bool) -> list[str]:
    """The values of an option from ``args[start]`` on: one, or (``many``) every one up to the
    next option; empty when the first is missing or looks like an option."""
    end = start
    while end < len(args) and not args[end].startswith("-") and (many or end == start):
        end += 1
    return list(args[start:end])


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``exec``."""
    import argparse

    from ._options import add_dir_option

    parser = subparsers.add_parser(
        "exec",
        help="set X from X_FILE for the environment, then exec a command (entrypoint wrapper)",
        description="For every X_FILE variable (or only the --only names) set X to the file's "
        "content and remove X_FILE, refusing X and X_FILE both set, then replace this process "
        "with CMD. A --only name with neither variable set is looked up in the secrets "
        "directories as a file named after the variable in lower case. With "
        "--restart-on-change, runsecrets stays as CMD's parent instead and restarts it when "
        "the environment it would get changes.",
    )
    add_dir_option(parser, "secrets directory for --only names that have no variable")
    parser.add_argument(
        "--only",
        action="extend",
        nargs="+",
        metavar="VAR",
        help="handle only these variables (and require them), not every *_FILE",
    )
    parser.add_argument(
        "--file-prefix",
        metavar="PREFIX",
        help="also set X from PREFIX+X=/path (FILE__ for linuxserver.io's FILE__X), with the "
        "same rules as X_FILE",
    )
    supervise = parser.add_argument_group(
        "supervisor mode",
        "runsecrets stays as CMD's parent (PID 1 in a container: it forwards TERM, INT, HUP, "
        "QUIT, USR1, USR2 and WINCH, reaps zombies, exits with CMD's status), watches the "
        "files that feed CMD's environment and restarts CMD when that environment changes",
    )
    supervise.add_argument(
        "--restart-on-change",
        action="store_true",
        help="supervise CMD instead of replacing this process with it",
    )
    supervise.add_argument(
        "--grace",
        type=float,
        metavar="S",
        help="seconds from the stop signal to SIGKILL at a restart (default 10)",
    )
    supervise.add_argument(
        "--stop-signal",
        metavar="SIG",
        help="the signal that stops CMD's process group at a restart (default TERM)",
    )
    supervise.add_argument(
        "--debounce",
        type=float,
        metavar="S",
        help="seconds with no further change before restarting (default 1)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")
    parser.set_defaults(handler=_run_parsed, exec_parser=parser)


def _run_parsed(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        return _usage_error(args.exec_parser, "a command is required after --")
    request = ExecRequest(command, args.dirs, args.only, args.file_prefix or None)
    tuning = {"--grace": args.grace, "--stop-signal": args.stop_signal, "--debounce": args.debounce}
    if not args.restart_on_change:
        given = [option for option, value in tuning.items() if value is not None]
        if given:
            return _usage_error(
                args.exec_parser, f"{', '.join(given)}: only with --restart-on-change"
            )
        return run_exec(request)
    from ._supervise import SupervisorOptions, run_supervised

    try:
        options = SupervisorOptions.create(
            grace=args.grace, stop_signal=args.stop_signal, debounce=args.debounce
        )
    except ValueError as e:
        return _usage_error(args.exec_parser, str(e))
    return run_supervised(request, options)


def _usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    """The usage line and the error, as argparse prints them; exit code 2."""
    parser.print_usage(sys.stderr)
    from ._exit import EXIT_USAGE

    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_exec(request: ExecRequest, environ: Mapping[str, str] | None = None) -> int:
    """Prepare the environment and replace this process with the command.

    Returns only when the command cannot be started: 127 not found, 126 not executable.
    """
    given = os.environ if environ is None else environ
    env = prepare_environment(request, given)
    program = request.command[0]
    sys.stdout.flush()
    sys.stderr.flush()
    restore = default_signal_state()
    try:
        os.execvpe(program, request.command, env)
    except OSError as e:
        restore()
        return report_start_failure(e, program, env, given)
    raise AssertionError("unreachable: execvpe returned")  # pragma: no cover


def report_start_failure(
    error: OSError, program: str, env: Mapping[str, str], given: Mapping[str, str]
) -> int:
    """Say in one line why the command could not start; return the shell's exit code for it:
    127 not found, 126 cannot run."""
    from ._exit import EXIT_COMMAND_NOT_FOUND, EXIT_NOT_EXECUTABLE
    from ._output import error_line

    if isinstance(error, FileNotFoundError):
        error_line(f"exec: command not found: {program}")
        return EXIT_COMMAND_NOT_FOUND
    error_line(f"exec: cannot run {program}: {error.strerror}{_too_big(error, env, given)}")
    return EXIT_NOT_EXECUTABLE


def _too_big(error: OSError, env: Mapping[str, str], given: Mapping[str, str]) -> str:
    """For E2BIG: which variables this command set, and their sizes (never their values)."""
    import errno

    if error.errno != errno.E2BIG:
        return ""
    added = sorted(key for key, value in env.items() if given.get(key) != value)
    sizes = ", ".join(f"{key} {len(os.fsencode(env[key]))} bytes" for key in added)
    return (
        " (the command line and environment together are over the system's limit, "
        f"ARG_MAX; set from files: {sizes or 'nothing'})"
    )


#: The signals the interpreter ignores at start-up (``SIGXFZ`` exists on AIX only): the ones
#: ``subprocess`` restores for its children (``restore_signals=True``).
INTERPRETER_IGNORED_SIGNALS = ("SIGPIPE", "SIGXFSZ", "SIGXFZ")


def default_signal_state() -> Callable[[], None]:
    """Set the signals the interpreter ignores back to their default, and empty the signal
    mask, as a program started by a shell expects; returns the function that undoes it (for
    when the ``exec`` fails and this process carries on).

    Handlers installed in Python need nothing: ``exec`` resets every caught signal by itself.
    An ignored signal is different (it stays ignored in the new program), which is why only
    the interpreter's own are reset and an ignored signal inherited from the caller is kept.
    """
    # The C module: ``signal`` imports ``enum``, 4 ms at every container start.
    import _signal  # type: ignore[import-not-found]

    saved = [
        (number, _signal.signal(number, _signal.SIG_DFL))
        for number in (getattr(_signal, name, None) for name in INTERPRETER_IGNORED_SIGNALS)
        if number is not None
    ]
    sigmask = getattr(_signal, "pthread_sigmask", None)  # not on Windows
    mask = None if sigmask is None else sigmask(_signal.SIG_SETMASK, ())

    def restore() -> None:
        for number, handler in saved:
            _signal.signal(number, handler)
        if sigmask is not None:
            sigmask(_signal.SIG_SETMASK, mask)

    return restore
