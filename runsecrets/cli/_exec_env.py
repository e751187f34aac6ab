"""The environment ``exec`` hands its command: ``X`` read from ``X_FILE`` as the official images'
``file_env`` does, ``X_FILE`` removed, each value checked to be one an environment can carry.

The walk for each variable is the one lookup order (:func:`runsecrets._lookup.places`), with
``--file-prefix``'s ``FILE__X`` as one more file variable; file bytes pass through as they are
(only a NUL byte cannot be carried).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._lookup import Place
    from .._rules import ReadingRules
    from ._exec import ExecRequest


def prepare_environment(request: ExecRequest, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the command gets: ``X`` from ``X_FILE``, ``X_FILE`` removed.

    As the official images' ``file_env``: an ``X_FILE`` set but empty is removed too, and ``X``
    is exported empty unless it has a value. Everything is judged on ``environ`` as given, never
    on a half-made result, so the order of the variables changes nothing: ``FOO_FILE`` beside
    ``FOO_FILE_FILE`` is the conflict it is, not a ``FOO_FILE`` quietly replaced by a value.
    With ``request.file_prefix`` (``FILE__``), ``FILE__X`` is one more variable naming ``X``'s
    file, under the same rules: removed, and refused beside a non-empty ``X`` or ``X_FILE``.

    Raises:
        InvalidSecretNameError: An ``--only`` name is empty or holds ``=`` or a NUL byte: no
            environment variable can be called that (checked before anything is read).
        SecretConflictError: ``X`` and ``X_FILE`` (or ``FILE__X``) are both set, or ``X_FILE``
            and ``FILE__X`` are (checked for every variable before any file is read).
        SecretReadError: An ``X_FILE`` target or an ``--only`` file from a secrets directory
            cannot be read, or cannot be carried by an environment variable
            (``reason="not_env_safe"``: a NUL byte, or longer than Linux's limit for one
            environment string).
        SecretNotFoundError: An ``--only`` variable is set nowhere.
    """
    for variable in request.only or ():
        check_variable_name(variable)
    given = dict(environ)
    variables = request.only or _file_targets(given, request.file_prefix)
    rules = exec_rules(request, given)
    # Every walk made, so every conflict refused, before any file is read.
    walks = {variable: exec_places(variable, request, rules) for variable in variables}
    values: dict[str, str] = {}
    for variable, walk in walks.items():
        value = _value_for(variable, walk, rules, required=bool(request.only))
        if value is not None:
            values[variable] = value
    removed = {name for variable in variables for name in file_variables_of(variable, request)}
    env = {key: value for key, value in given.items() if key not in removed}
    env.update(values)  # after the removals: FOO_FILE may be both FOO's file and a value
    return env


def file_variables_of(variable: str, request: ExecRequest) -> tuple[str, ...]:
    """The variables that may name ``variable``'s file: ``X_FILE``, and ``<prefix>X`` too with
    ``--file-prefix``."""
    from .._names import FILE_SUFFIX

    if request.file_prefix:
        return (variable + FILE_SUFFIX, request.file_prefix + variable)
    return (variable + FILE_SUFFIX,)


def _file_targets(given: Mapping[str, str], file_prefix: str | None) -> list[str]:
    """The variables to set when no ``--only`` is given: ``X`` for every ``X_FILE`` naming a
    secret (empty ones included), and for every ``<prefix>X`` with a prefix."""
    from .._lookup import file_variables

    targets = dict.fromkeys(variable for variable, _ in file_variables(given, include_empty=True))
    if file_prefix:
        for key in given:
            if key.startswith(file_prefix) and len(key) > len(file_prefix):
                targets.setdefault(key[len(file_prefix) :])
    return sorted(targets)


def exec_rules(request: ExecRequest, given: Mapping[str, str]) -> ReadingRules:
    """The lookup order of ``exec``: ``X_FILE``, then ``X``; for an ``--only`` name, then a
    file named after it, in lower case, in the secrets directories."""
    from .._provenance import DIRECTORY, ENVIRONMENT, FILE_VARIABLE
    from .._rules import ReadingRules

    sources = (
        (FILE_VARIABLE, ENVIRONMENT, DIRECTORY) if request.only else (FILE_VARIABLE, ENVIRONMENT)
    )
    return ReadingRules(request.dirs, environ=given, sources=sources)


def exec_places(variable: str, request: ExecRequest, rules: ReadingRules) -> list[Place]:
    """The places ``exec`` looks in for ``variable``: the lookup order's walk, with
    ``<prefix>X`` (``--file-prefix``) as one more variable naming its file, first.

    Raises:
        SecretConflictError: ``X`` is set beside ``X_FILE`` or ``<prefix>X``, or those two are
            both set (two files for one variable).
    """
    from .._lookup import check_conflict, places
    from .._provenance import FILE_VARIABLE

    name = variable.lower()
    walk = list(places(name, rules, variable=variable))
    if not request.file_prefix:
        return walk
    named, prefixed = file_variables_of(variable, request)
    check_conflict(name, named, prefixed, rules.environ)
    by_prefix = places(
        name,
        rules.replace(sources=(FILE_VARIABLE,)),
        variable=variable,
        file_variable=prefixed,
        conflicts=True,
    )
    return [*by_prefix, *walk]


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
    """The value a ``_FILE`` target or a directory's file gives ``variable``, checked to fit
    an environment variable; ``None`` for a directory without that file."""
    from .._lookup import read_place
    from .._names import validate_name
    from .._provenance import DIRECTORY
    from .._warn import WarnedFiles

    in_directory = place.kind == DIRECTORY
    if in_directory:
        validate_name(name)  # before a directory is touched
    found = read_place(name, place, rules, WarnedFiles())
    if found is None:
        return None
    raw, provenance = found
    assert isinstance(raw, bytes)  # a file's content
    value = env_value(raw, name=name, path=provenance.path)
    check_env_safe(
        value,
        name=name,
        path=provenance.path,
        variable=variable if in_directory else place.variable or variable,
        exported=variable,
        context="for " + variable if in_directory else f"named by {place.variable}",
    )
    return value


_BOM = b"\xef\xbb\xbf"


def env_value(data: bytes, *, name: str, path: str | None) -> str:
    """The value a variable gets from a file's bytes: a leading byte-order mark and every
    trailing line ending (``\\n``, ``\\r\\n``, a lone ``\\r``) dropped, the rest passed on
    byte for byte.

    An environment carries bytes, not text, and the official images' ``file_env`` passes a
    file's bytes through whatever they are (a Latin-1 password included). Decoded with the file
    system encoding and ``surrogateescape``, as ``os.environ`` itself decodes, any bytes come
    out of ``execve`` exactly as they were read. Windows' environment is text: there the file
    must be UTF-8.

    Raises:
        SecretDecodeError: On Windows only, the bytes are not UTF-8 (offset given, no value).
    """
    if sys.platform == "win32":
        from .._read import decode_text

        return decode_text(data, strip=True, name=name, path=path)
    return os.fsdecode(data.removeprefix(_BOM).rstrip(b"\r\n"))


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
