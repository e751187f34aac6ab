"""The lookup order, as small functions over an explicit environment and directory list.

Nothing here reads ``os.environ`` or picks directories by itself: callers pass both in, so the
order can be tested as a table and two resolvers never share state.
"""

from __future__ import annotations

import os

from ._listing import find_case_insensitive
from ._names import FILE_SUFFIX, env_name, file_env_name
from ._provenance import DIRECTORY, ENVIRONMENT, FILE_VARIABLE, SOURCE_KINDS, Provenance
from ._read import WarnedFiles, containing_root, read_file
from .exceptions import SecretConflictError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    #: A raw value: bytes from a file, text from the environment.
    Raw = bytes | str


class Lookup:
    """The settings of one lookup: the environment, directories and reading rules."""

    __slots__ = (
        "allow_external_links",
        "case_sensitive",
        "dirs",
        "environ",
        "link_roots",
        "max_size",
        "prefix",
        "sources",
        "warned",
    )

    def __init__(
        self,
        *,
        environ: Mapping[str, str],
        dirs: tuple[str, ...],
        prefix: str,
        sources: tuple[str, ...],
        max_size: int,
        case_sensitive: bool,
        link_roots: tuple[str, ...],
        allow_external_links: bool,
    ) -> None:
        unknown = set(sources) - SOURCE_KINDS
        if unknown:
            raise ValueError(f"unknown source kinds {sorted(unknown)}; use {sorted(SOURCE_KINDS)}")
        self.environ = environ
        self.dirs = dirs
        self.prefix = prefix
        self.sources = sources
        self.max_size = max_size
        self.case_sensitive = case_sensitive
        self.link_roots = link_roots
        self.allow_external_links = allow_external_links
        # Per lookup, never global: two resolvers share no state (see WarnedFiles).
        self.warned = WarnedFiles()


def check_conflict(
    name: str, variable: str, file_variable: str, environ: Mapping[str, str]
) -> None:
    """Refuse ``FOO`` and ``FOO_FILE`` both set, as the official images' ``file_env`` does.

    An empty variable counts as unset, exactly as in that shell function.

    Raises:
        SecretConflictError: Both are set and non-empty.
    """
    if environ.get(variable) and environ.get(file_variable):
        raise SecretConflictError(
            f"both {variable} and {file_variable} are set (but are exclusive); "
            f"unset one of them to choose where secret {name!r} comes from",
            name=name,
            variable=variable,
            file_variable=file_variable,
        )


def resolve(name: str, lookup: Lookup) -> tuple[Raw, Provenance] | None:
    """Find ``name`` in the configured sources, in order.

    Returns:
        The raw value and its provenance, or ``None`` when no source holds it.

    Raises:
        SecretConflictError: ``FOO`` and ``FOO_FILE`` are both set.
        SecretReadError: A source holds it but it cannot be read (a ``_FILE`` target that does
            not exist is such an error: the operator asked for that file).
    """
    environ = lookup.environ
    variable = env_name(name, lookup.prefix)
    file_variable = variable + FILE_SUFFIX
    if FILE_VARIABLE in lookup.sources and ENVIRONMENT in lookup.sources:
        check_conflict(name, variable, file_variable, environ)
    for source in lookup.sources:
        if source == FILE_VARIABLE:
            path = environ.get(file_variable)
            if path:
                return _from_file(
                    name, path, lookup, kind=FILE_VARIABLE, variable=file_variable, missing_ok=False
                )
        elif source == ENVIRONMENT:
            value = environ.get(variable)
            if value:
                return value, Provenance(
                    name, ENVIRONMENT, variable=variable, size=len(os.fsencode(value))
                )
        else:
            found = _from_dirs(name, lookup)
            if found is not None:
                return found
    return None


def _from_dirs(name: str, lookup: Lookup) -> tuple[Raw, Provenance] | None:
    for directory in lookup.dirs:
        contain_in = (
            ()
            if lookup.allow_external_links
            else (containing_root(directory, lookup.dirs), *lookup.link_roots)
        )
        for entry in _entry_names(directory, name, lookup.case_sensitive):
            found = _from_file(
                name,
                os.path.join(directory, entry),
                lookup,
                kind=DIRECTORY,
                contain_in=contain_in,
            )
            if found is not None:
                return found
    return None


def _entry_names(directory: str, name: str, case_sensitive: bool) -> Iterator[str]:
    """The file names that may hold ``name`` in ``directory``, the exact one first."""
    yield name
    if not case_sensitive:
        other = find_case_insensitive(directory, name)
        if other is not None and other != name:
            yield other


def _from_file(
    name: str,
    path: str,
    lookup: Lookup,
    *,
    kind: str,
    variable: str | None = None,
    contain_in: tuple[str, ...] = (),
    missing_ok: bool = True,
) -> tuple[bytes, Provenance] | None:
    result = read_file(
        path,
        name=name,
        max_size=lookup.max_size,
        contain_in=contain_in,
        variable=variable,
        missing_ok=missing_ok,
        warned=lookup.warned,
    )
    if result is None:
        return None
    data, st = result
    return data, Provenance(
        name, kind, path=path, variable=variable, size=len(data), mtime=st.st_mtime
    )


def places_searched(name: str, lookup: Lookup) -> list[str]:
    """Every place :func:`resolve` looks for ``name``, described for a not-found message."""
    places = []
    for source in lookup.sources:
        if source == FILE_VARIABLE:
            places.append(f"environment variable {file_env_name(name, lookup.prefix)} (unset)")
        elif source == ENVIRONMENT:
            places.append(f"environment variable {env_name(name, lookup.prefix)} (unset)")
        else:
            for directory in lookup.dirs:
                places.append(os.path.join(directory, name) + _dir_state(directory))
    return places


def _dir_state(directory: str) -> str:
    if os.path.isdir(directory):
        return ""
    if os.path.exists(directory):
        return f" ({directory} is not a directory)"
    return f" ({directory} does not exist)"


#: ``*_FILE`` variables that tools define as a path they read themselves, not a secret to inline.
#: Turning ``SSL_CERT_FILE`` into ``SSL_CERT`` would break every TLS client in the container.
NOT_SECRET_FILE_VARIABLES = frozenset(
    {
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AZURE_FEDERATED_TOKEN_FILE",
        "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE",
        "COMPOSE_FILE",
        "NIX_SSL_CERT_FILE",
        "PIP_CONFIG_FILE",
        "SSL_CERT_FILE",
        "TF_CLI_CONFIG_FILE",
    }
)

#: The word before ``_FILE`` that marks a file a program writes (``LOG_FILE``,
#: ``GUNICORN_PID_FILE``, ``APP_LOCK_FILE``): never a secret, and a store following one would
#: feed on its own writes.
WRITTEN_FILE_WORDS = frozenset(
    {
        "CACHE",
        "DUMP",
        "HIST",
        "HISTORY",
        "JOURNAL",
        "LOCK",
        "LOG",
        "OUT",
        "OUTPUT",
        "PID",
        "SOCK",
        "SOCKET",
        "SPOOL",
        "STATE",
        "TEMP",
        "TMP",
        "TRACE",
    }
)


def is_secret_file_variable(variable: str) -> bool:
    """Whether a ``*_FILE`` variable names a secret, by the default rule.

    The rule, by the variable's name alone: every ``X_FILE`` names a secret, except the tool
    settings of :data:`~runsecrets.NOT_SECRET_FILE_VARIABLES` (files a tool reads itself,
    such as ``SSL_CERT_FILE``) and the variables whose word before ``_FILE`` is one of
    :data:`~runsecrets.WRITTEN_FILE_WORDS` (files a program writes: ``LOG_FILE``,
    ``APP_PID_FILE``). It decides what ``runsecrets exec`` inlines, what a
    :class:`~runsecrets.SecretStore` made without ``names`` tracks and what
    ``runsecrets explain`` lists; each can be told otherwise (``--only``, ``names=`` or
    ``file_variables=``). A secret asked for by name
    (``get("log")``) is always looked up in ``LOG_FILE``.

    >>> from runsecrets import is_secret_file_variable
    >>> is_secret_file_variable("DB_PASSWORD_FILE"), is_secret_file_variable("APP_LOG_FILE")
    (True, False)
    """
    if variable in NOT_SECRET_FILE_VARIABLES or not variable.endswith(FILE_SUFFIX):
        return False
    stem = variable[: -len(FILE_SUFFIX)]
    return bool(stem) and stem.rpartition("_")[2] not in WRITTEN_FILE_WORDS


def file_variables(
    environ: Mapping[str, str],
    prefix: str = "",
    *,
    rule: Callable[[str], bool] = is_secret_file_variable,
    include_empty: bool = False,
) -> list[tuple[str, str]]:
    """The ``(FOO, FOO_FILE)`` pairs whose ``FOO_FILE`` is set and names a secret, sorted.

    Args:
        environ: The environment.
        prefix: Only variables that start with it (upper-cased) count.
        rule: Which ``*_FILE`` variables name secrets (default: :func:`is_secret_file_variable`).
        include_empty: Count an ``FOO_FILE`` set to the empty string too (``runsecrets exec``
            removes it, as ``file_env`` does).
    """
    wanted = prefix.upper()
    pairs = []
    for key, value in environ.items():
        if (
            (value or include_empty)
            and key.endswith(FILE_SUFFIX)
            and len(key) > len(FILE_SUFFIX)
            and key.startswith(wanted)
            and rule(key)
        ):
            pairs.append((key[: -len(FILE_SUFFIX)], key))
    pairs.sort()
    return pairs
