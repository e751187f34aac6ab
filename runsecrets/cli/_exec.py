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

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping, Sequence

    from .._lookup import Place
    from .._rules import ReadingRules


class ExecRequest:
    """What ``runsecrets exec`` was asked to do."""

    __slots__ = ("command", "dirs", "only")

    def __init__(self, command: list[str], dirs: list[str] | None, only: list[str] | None) -> None:
        self.command = command
        self.dirs = dirs
        self.only = only

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExecRequest):
            return NotImplemented
        return (self.command, self.dirs, self.only) == (other.command, other.dirs, other.only)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ExecRequest(command={self.command!r}, dirs={self.dirs!r}, only={self.only!r})"


def parse_exec_fast(args: Sequence[str]) -> ExecRequest | None:
    """Parse ``exec [--dir D]... [--only VAR...] -- CMD...`` without argparse.

    Returns ``None`` for anything outside that plain form, so that argparse, which gives the
    proper usage message, handles it. A test checks both parsers agree on what this accepts.
    """
    if len(args) < 3 or args[0] != "exec":
        return None
    dirs: list[str] = []
    only: list[str] = []
    index = 1
    while index < len(args):
        if args[index] == "--":
            command = list(args[index + 1 :])
            return ExecRequest(command, dirs or None, only or None) if command else None
        index = _option(args, index, dirs, only)
        if index < 0:
            return None
    return None


def _option(args: Sequence[str], index: int, dirs: list[str], only: list[str]) -> int:
    """Take the option at ``args[index]`` into ``dirs`` or ``only``: the index after it, or
    -1 when it is not of the plain form."""
    arg = args[index]
    if arg.startswith(("--dir=", "--only=")):
        option, _, value = arg.partition("=")
        if not value:
            return -1
        (dirs if option == "--dir" else only).append(value)
        return index + 1
    if arg == "--dir":
        if index + 1 >= len(args) or args[index + 1].startswith("-"):
            return -1
        dirs.append(args[index + 1])
        return index + 2
    if arg == "--only":
        start = index = index + 1
        while index < len(args) and not args[index].startswith("-"):
            only.append(args[index])
            index += 1
        return index if index > start else -1
    return -1


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
        "directories as a file named after the variable in lower case.",
    )
    add_dir_option(parser, "secrets directory for --only names that have no variable")
    parser.add_argument(
        "--only",
        action="extend",
        nargs="+",
        metavar="VAR",
        help="handle only these variables (and require them), not every *_FILE",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")
    parser.set_defaults(handler=_run_parsed, exec_parser=parser)


def _run_parsed(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        args.exec_parser.error("a command is required after --")
    return run_exec(ExecRequest(command, args.dirs, args.only))


def prepare_environment(request: ExecRequest, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the command gets: ``X`` from ``X_FILE``, ``X_FILE`` removed.

    As the official images' ``file_env``: an ``X_FILE`` set but empty is removed too, and ``X``
    is exported empty unless it has a value. Everything is judged on ``environ`` as given, never
    on a half-made result, so the order of the variables changes nothing: ``FOO_FILE`` beside
    ``FOO_FILE_FILE`` is the conflict it is, not a ``FOO_FILE`` quietly replaced by a value.

    Raises:
        InvalidSecretNameError: An ``--only`` name is empty or holds ``=`` or a NUL byte: no
            environment variable can be called that (checked before anything is read).
        SecretConflictError: ``X`` and ``X_FILE`` are both set (checked for every variable
            before any file is read).
        SecretReadError: An ``X_FILE`` target or an ``--only`` file from a secrets directory
            cannot be read, is not UTF-8, or cannot be carried by an environment variable
            (``reason="not_env_safe"``: a NUL byte, or longer than Linux's limit for one
            environment string).
        SecretNotFoundError: An ``--only`` variable is set nowhere.
    """
    from .._lookup import file_variables, places
    from .._names import FILE_SUFFIX

    for variable in request.only or ():
        check_variable_name(variable)
    given = dict(environ)
    variables = request.only or [
        variable for variable, _ in file_variables(given, include_empty=True)
    ]
    rules = exec_rules(request, given)
    # Every walk made, so every conflict refused, before any file is read.
    walks = {
        variable: list(places(variable.lower(), rules, variable=variable)) for variable in variables
    }
    values: dict[str, str] = {}
    for variable, walk in walks.items():
        value = _value_for(variable, walk, rules, required=bool(request.only))
        if value is not None:
            values[variable] = value
    removed = {variable + FILE_SUFFIX for variable in variables}
    env = {key: value for key, value in given.items() if key not in removed}
    env.update(values)  # after the removals: FOO_FILE may be both FOO's file and a value
    return env


def exec_rules(request: ExecRequest, given: Mapping[str, str]) -> ReadingRules:
    """The lookup order of ``exec``: ``X_FILE``, then ``X``; for an ``--only`` name, then a
    file named after it, in lower case, in the secrets directories."""
    from .._provenance import DIRECTORY, ENVIRONMENT, FILE_VARIABLE
    from .._rules import ReadingRules

    sources = (
        (FILE_VARIABLE, ENVIRONMENT, DIRECTORY) if request.only else (FILE_VARIABLE, ENVIRONMENT)
    )
    return ReadingRules(request.dirs, environ=given, sources=sources)


def _value_for(
    variable: str, walk: list[Place], rules: ReadingRules, *, required: bool
) -> str | None:
    """What ``variable`` is set to in the command's environment (``None``: left as it is),
    from the first place of its walk that holds it.

    Raises:
        SecretNotFoundError: ``required`` (an ``--only`` name) and no place holds it.
    """
    from .._provenance import ENVIRONMENT

    name = variable.lower()
    for place in walk:
        if place.kind == ENVIRONMENT:
            return None  # its own value stands
        value = _read_for(variable, name, place, rules)
        if value is not None:
            return value
    if required:
        from .._lookup import places_searched
        from .._provenance import DIRECTORY
        from ..exceptions import SecretNotFoundError

        searched = places_searched(name, rules.replace(sources=(DIRECTORY,)))
        raise SecretNotFoundError(
            f"secret {name!r} not found; looked in: " + "; ".join(searched),
            name=name,
            searched=searched,
        )
    return ""  # X_FILE set but empty: file_env exports X empty


def _read_for(variable: str, name: str, place: Place, rules: ReadingRules) -> str | None:
    """The text a ``_FILE`` target or a directory's file holds for ``variable``, checked to
    fit an environment variable; ``None`` for a directory without that file."""
    from .._lookup import read_place
    from .._names import validate_name
    from .._provenance import DIRECTORY
    from .._read import decode_text
    from .._warn import WarnedFiles

    in_directory = place.kind == DIRECTORY
    if in_directory:
        validate_name(name)  # before a directory is touched
    found = read_place(name, place, rules, WarnedFiles())
    if found is None:
        return None
    raw, provenance = found
    assert isinstance(raw, bytes)  # a file's content
    value = decode_text(raw, strip=True, name=name, path=provenance.path)
    check_env_safe(
        value,
        name=name,
        path=provenance.path,
        variable=variable if in_directory else place.variable or variable,
        exported=variable,
        context="for " + variable if in_directory else f"named by {place.variable}",
    )
    return value


def check_variable_name(variable: str) -> None:
    """Refuse a name no environment variable can have: empty, or holding ``=`` or a NUL.

    Raises:
        InvalidSecretNameError: Naming the variable (shown escaped) and what is wrong with it.
    """
    from ..exceptions import InvalidSecretNameError

    if not variable:
        problem = "is empty"
    elif "\0" in variable:
        problem = "holds a NUL byte"
    elif "=" in variable:
        problem = "holds '='"
    else:
        return
    raise InvalidSecretNameError(
        f"--only {variable!r}: an environment variable name {problem}, which no environment "
        "can carry",
        variable=variable,
    )


#: Linux's limit on one ``NAME=value`` environment string, its final NUL included
#: (``MAX_ARG_STRLEN``, 32 pages): ``execve`` fails with E2BIG past it.
MAX_ENV_STRING = 32 * 4096


def check_env_safe(
    value: str, *, name: str, path: str | None, variable: str, exported: str, context: str
) -> None:
    """Refuse a value no environment variable can carry: one holding a NUL byte, or (on
    Linux) one making ``exported=value`` longer than :data:`MAX_ENV_STRING`.

    Args:
        value: The value ``exported`` would be set to.
        name: The secret's name.
        path: The file the value was read from.
        variable: The variable that led to the file (the error's ``variable``).
        exported: The variable the value would be exported as.
        context: How the file was found (``"named by X_FILE"``), for the message.

    Raises:
        SecretReadError: ``reason="not_env_safe"``, naming the secret, its file and the
            variable, never the value.
    """
    from ..exceptions import SecretReadError

    where = path if path is not None else f"secret {name!r}"
    if "\0" in value:
        problem = "holds a NUL byte, which no environment variable can carry"
    else:
        size = len(os.fsencode(exported)) + 1 + len(os.fsencode(value)) + 1
        if size <= MAX_ENV_STRING or not sys.platform.startswith("linux"):
            return
        problem = (
            f"would make {exported}=... {size} bytes, over Linux's limit of {MAX_ENV_STRING} "
            "bytes (128 KiB) for one environment string: no command could be started with it"
        )
    raise SecretReadError(
        f"{where} ({context}) {problem}",
        reason="not_env_safe",
        name=name,
        path=path,
        variable=variable,
    )


def run_exec(request: ExecRequest, environ: Mapping[str, str] | None = None) -> int:
    """Prepare the environment and replace this process with the command.

    Returns only when the command cannot be started: 127 not found, 126 not executable.
    """
    from ._exit import EXIT_COMMAND_NOT_FOUND, EXIT_NOT_EXECUTABLE
    from ._output import error_line

    given = os.environ if environ is None else environ
    env = prepare_environment(request, given)
    program = request.command[0]
    sys.stdout.flush()
    sys.stderr.flush()
    restore = default_signal_state()
    try:
        os.execvpe(program, request.command, env)
    except FileNotFoundError:
        restore()
        error_line(f"exec: command not found: {program}")
        return EXIT_COMMAND_NOT_FOUND
    except OSError as e:
        restore()
        error_line(f"exec: cannot run {program}: {e.strerror}{_too_big(e, env, given)}")
        return EXIT_NOT_EXECUTABLE
    raise AssertionError("unreachable: execvpe returned")  # pragma: no cover


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
