"""The lookup order, once: :func:`places` walks it for a name; every reader follows that walk.

For ``db_password``: ``DB_PASSWORD_FILE`` (read that file), then ``DB_PASSWORD``, then a file in
each secrets directory, in the order the reading rules' ``sources`` give, after refusing
``DB_PASSWORD`` and ``DB_PASSWORD_FILE`` both set. The resolver (:func:`resolve`), a store's scan,
the pydantic loader and ``runsecrets exec`` all walk :func:`places`; each reads a place in its
own way (the scan from its listings and cache, the pydantic loader from its index, ``exec``
keeping bytes), and the not-found message (:func:`places_searched`) lists the same walk.

Nothing here reads ``os.environ`` or picks directories by itself: the rules carry both, so the
order can be tested as a table and two resolvers never share state.
"""

from __future__ import annotations

import os

from ._listing import find_case_insensitive
from ._names import FILE_SUFFIX, env_name
from ._provenance import DIRECTORY, ENVIRONMENT, FILE_VARIABLE, Provenance
from ._read import read_file
from .exceptions import SecretConflictError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from ._rules import ReadingRules
    from ._warn import WarnedFiles

    #: A raw value: bytes from a file, text from the environment.
    Raw = bytes | str


class Place:
    """One place the lookup order names for a secret (never its value).

    Attributes:
        kind: ``"file_variable"``, ``"environment"`` or ``"directory"``.
        variable: The variable, for the two variable kinds (``FOO_FILE`` or ``FOO``).
        directory: The secrets directory, for ``"directory"``.
        is_set: Whether the variable is set (non-empty); always true for a directory.
    """

    __slots__ = ("_target", "directory", "is_set", "kind", "variable")

    def __init__(
        self,
        kind: str,
        variable: str | None = None,
        target: str | None = None,
        directory: str | None = None,
        *,
        is_set: bool = True,
    ) -> None:
        self.kind = kind
        self.variable = variable
        # A variable's target, or the name in the directory (joined when asked: the scan and
        # the pydantic index find the file their own way).
        self._target = target
        self.directory = directory
        self.is_set = is_set

    @property
    def path(self) -> str | None:
        """The file: the ``_FILE`` variable's target, or the file of that name in the
        directory (``None`` for ``"environment"``)."""
        target, directory = self._target, self.directory
        if directory is None or target is None:
            return target
        return os.path.join(directory, target)

    def describe(self) -> str:
        """The place for a not-found message."""
        if self.kind != DIRECTORY:
            return f"environment variable {self.variable}" + ("" if self.is_set else " (unset)")
        assert self.directory is not None
        return f"{self.path}{_dir_state(self.directory)}"

    def __repr__(self) -> str:
        where = self.variable if self.kind != DIRECTORY else self.path
        return f"Place({self.kind}, {where})"


def places(
    name: str,
    rules: ReadingRules,
    *,
    variable: str | None = None,
    file_variable: str | None = None,
    environ: Mapping[str, str] | None = None,
    conflicts: bool | None = None,
    searched: bool = False,
) -> Iterator[Place]:
    """The places to look for ``name``, in the rules' order, the first that holds it winning.

    A variable is a place only while it is set (an empty one counts as unset, as in the
    official images' ``file_env``); each directory is one, whether the file exists or not.

    Args:
        name: The secret's name (already validated).
        rules: The reading rules: sources, directories, prefix, environment.
        variable: The plain variable (default ``env_name(name, rules.prefix)``).
        file_variable: The ``_FILE`` variable (default ``variable + "_FILE"``).
        environ: The environment to judge the variables on (default ``rules.environ``).
        conflicts: Refuse both variables set (default: when the rules read both; the pydantic
            source refuses it always, pydantic-settings reading the plain one itself).
        searched: Every place the order names, set or not, without the conflict check: what
            a not-found message lists.

    Raises:
        SecretConflictError: Both variables are set (on the first step of the walk).
    """
    sources = rules.sources
    if sources == _DIRECTORIES_ONLY:  # no variable to name nor judge
        for directory in rules.dirs:
            yield Place(DIRECTORY, None, name, directory)
        return
    env = rules.environ if environ is None else environ
    plain = env_name(name, rules.prefix) if variable is None else variable
    named = plain + FILE_SUFFIX if file_variable is None else file_variable
    if conflicts is None:
        conflicts = FILE_VARIABLE in sources and ENVIRONMENT in sources
    if conflicts and not searched and env.get(named) and env.get(plain):
        check_conflict(name, plain, named, env)
    for source in sources:
        if source == DIRECTORY:
            for directory in rules.dirs:
                yield Place(DIRECTORY, None, name, directory)
            continue
        key = named if source == FILE_VARIABLE else plain
        value = env.get(key)
        if value or searched:
            path = value if source == FILE_VARIABLE else None
            yield Place(source, key, path or None, is_set=bool(value))


_DIRECTORIES_ONLY = (DIRECTORY,)


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


def resolve(name: str, rules: ReadingRules, warned: WarnedFiles) -> tuple[Raw, Provenance] | None:
    """Find ``name`` by walking :func:`places`, reading each under the rules.

    Returns:
        The raw value and its provenance, or ``None`` when no place holds it.

    Raises:
        SecretConflictError: ``FOO`` and ``FOO_FILE`` are both set.
        SecretReadError: A place holds it but it cannot be read (a ``_FILE`` target that does
            not exist is such an error: the operator asked for that file).
    """
    for place in places(name, rules):
        found = read_place(name, place, rules, warned)
        if found is not None:
            return found
    return None


def read_place(
    name: str, place: Place, rules: ReadingRules, warned: WarnedFiles
) -> tuple[Raw, Provenance] | None:
    """What ``place`` holds for ``name``: a variable's value, a ``_FILE`` target (which must
    exist) or a directory's file (``None`` when it has none)."""
    if place.kind == ENVIRONMENT:
        assert place.variable is not None
        value = rules.environ.get(place.variable)
        if not value:
            return None
        return value, Provenance(
            name, ENVIRONMENT, variable=place.variable, size=len(os.fsencode(value))
        )
    assert place.path is not None
    if place.kind == FILE_VARIABLE:
        return read_secret_file(
            name, place.path, rules, warned, kind=FILE_VARIABLE, variable=place.variable
        )
    directory = place.directory
    assert directory is not None
    contain_in = rules.contain_in(directory)
    found = read_secret_file(
        name, place.path, rules, warned, contain_in=contain_in, missing_ok=True
    )
    if found is not None or rules.case_sensitive:
        return found
    other = find_case_insensitive(directory, name)  # the only entry equal to it without case
    if other is None or other == name:
        return None
    path = os.path.join(directory, other)
    return read_secret_file(name, path, rules, warned, contain_in=contain_in, missing_ok=True)


def read_secret_file(
    name: str,
    path: str,
    rules: ReadingRules,
    warned: WarnedFiles | None,
    *,
    kind: str = DIRECTORY,
    variable: str | None = None,
    contain_in: tuple[str, ...] = (),
    missing_ok: bool = False,
) -> tuple[bytes, Provenance] | None:
    """Read one file under the rules (size cap), with its provenance; ``None`` when it is
    missing and ``missing_ok``."""
    result = read_file(
        path,
        name=name,
        max_size=rules.max_size,
        contain_in=contain_in,
        variable=variable,
        missing_ok=missing_ok,
        warned=warned,
    )
    if result is None:
        return None
    data, st = result
    return data, Provenance(
        name, kind, path=path, variable=variable, size=len(data), mtime=st.st_mtime
    )


def places_searched(name: str, rules: ReadingRules) -> list[str]:
    """Every place :func:`resolve` looks for ``name``, described for a not-found message."""
    return [place.describe() for place in places(name, rules, searched=True)]


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
