"""The resolver object and the module-level shortcuts built on it."""

from __future__ import annotations

import os

from ._listing import list_secret_files
from ._lookup import places_searched, resolve
from ._names import validate_name
from ._provenance import DEFAULT_SOURCES, Provenance
from ._read import DEFAULT_MAX_SIZE, decode_text
from ._rules import ReadingRules, rules_from
from ._scrub import scrub_errors
from ._secret import Secret
from ._warn import WarnedFiles
from .exceptions import SecretNotFoundError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping
    from typing import TypeVar

    from ._types import DirsArg

    # With no default given, a type checker solves _T to Never, so the result is plain str/bytes.
    _T = TypeVar("_T")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<no default>"


#: Marks "no default given" so that ``None`` can be a caller's default.
MISSING = _Missing()


class Secrets:
    """Resolve secrets from ``_FILE`` variables, the environment and secrets directories.

    Lookup order for a name such as ``db_password`` (environment names are upper-cased, with the
    prefix): ``DB_PASSWORD_FILE`` (read that file), then ``DB_PASSWORD``, then a file
    ``db_password`` in each directory, first match wins. Both variables set is an error, and an
    empty variable counts as unset. Every call reads afresh: a ``Secrets`` caches nothing.

    Args:
        dirs: Secrets directories, first match wins. Default: ``RUNSECRETS_DIR`` (an
            ``os.pathsep`` list), else ``/run/secrets`` (``C:\\ProgramData\\Docker\\secrets`` on
            Windows).
        environ: The environment to read. Default: ``os.environ``, read at each call.
        prefix: Prefix of the environment variables (``APP_`` reads ``APP_DB_PASSWORD``).
        max_size: Refuse files larger than this many bytes (default 500 KiB, Swarm's limit).
        strip: Drop trailing line endings from text values, as ``$(< file)`` does.
        case_sensitive: With ``False``, a file named ``DB_Password`` also answers ``db_password``.
        sources: The lookup order, a sequence of ``"file_variable"``, ``"environment"`` and
            ``"directory"``.
        allow_external_links: Follow symlinks that lead out of their secrets directory.
        rules: All of the above at once, as a :class:`~runsecrets._rules.ReadingRules` (another
            resolver's :attr:`rules`); then give none of them separately.
    """

    __slots__ = ("_rules", "_warned")

    def __init__(
        self,
        dirs: DirsArg | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        prefix: str = "",
        max_size: int = DEFAULT_MAX_SIZE,
        strip: bool = True,
        case_sensitive: bool = True,
        sources: Iterable[str] = DEFAULT_SOURCES,
        allow_external_links: bool = False,
        rules: ReadingRules | None = None,
    ) -> None:
        self._rules = rules_from(
            rules,
            dirs=dirs,
            environ=environ,
            prefix=prefix,
            sources=sources,
            case_sensitive=case_sensitive,
            max_size=max_size,
            strip=strip,
            allow_external_links=allow_external_links,
        )
        # Per resolver, never global: two resolvers share no state (see WarnedFiles).
        self._warned = WarnedFiles()

    @property
    def rules(self) -> ReadingRules:
        """Every reading option of this resolver, as one value (hand it on whole)."""
        return self._rules

    @property
    def warned_files(self) -> WarnedFiles:
        """The files this resolver has warned about (their permissions), once each: reads
        made on its behalf elsewhere (a TLS part given as a path) share it."""
        return self._warned

    @property
    def dirs(self) -> tuple[str, ...]:
        """The secrets directories, in lookup order."""
        return self._rules.dirs

    @property
    def prefix(self) -> str:
        """The environment variable prefix."""
        return self._rules.prefix

    @property
    def max_size(self) -> int:
        """The size cap in bytes."""
        return self._rules.max_size

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment this resolver reads."""
        return self._rules.environ

    @scrub_errors
    def get(self, name: str, default: _T | _Missing = MISSING) -> str | _T:
        """Return the secret as text.

        Args:
            name: The secret's name (one path component: ``[A-Za-z0-9._-]``, no leading dot).
            default: Returned when no source holds the secret. Errors (a conflict, an unreadable
                file) are raised even when a default is given.

        Raises:
            SecretNotFoundError: Nothing holds it and no default was given.
            SecretConflictError: ``FOO`` and ``FOO_FILE`` are both set.
            SecretReadError: It exists but cannot be read or is not UTF-8.
            InvalidSecretNameError: ``name`` is not a valid secret name.
        """
        found = self._find(name)
        if found is None:
            return self._default(name, default)
        raw, provenance = found
        if isinstance(raw, str):
            return raw
        return decode_text(raw, strip=self._rules.strip, name=name, path=provenance.path)

    @scrub_errors
    def get_bytes(self, name: str, default: _T | _Missing = MISSING) -> bytes | _T:
        """Return the secret's raw bytes (nothing stripped); see :meth:`get` for the rules."""
        found = self._find(name)
        if found is None:
            return self._default(name, default)
        raw = found[0]
        return os.fsencode(raw) if isinstance(raw, str) else raw

    @scrub_errors
    def secret(self, name: str, default: _T | _Missing = MISSING) -> Secret | _T:
        """Return the secret wrapped in a :class:`Secret` that never shows its value."""
        found = self._find(name)
        if found is None:
            return self._default(name, default)
        raw, provenance = found
        text = (
            raw
            if isinstance(raw, str)
            else decode_text(raw, strip=self._rules.strip, name=name, path=provenance.path)
        )
        return Secret(text, provenance)

    @scrub_errors
    def explain(self, name: str) -> Provenance:
        """Say where ``name`` comes from (kind, path or variable, size, age), never what it is.

        The value is read, so an unreadable file raises here as it would in :meth:`get`.

        Raises:
            SecretNotFoundError: No source holds it.
        """
        found = self._find(name)
        if found is None:
            raise self.not_found_error(name)
        return found[1]

    @scrub_errors
    def find(self, name: str) -> Provenance | None:
        """Like :meth:`explain`, but ``None`` when no source holds the secret."""
        found = self._find(name)
        return None if found is None else found[1]

    def names(self) -> list[str]:
        """The secret names the directories hold, sorted, each once (first directory wins)."""
        seen: dict[str, None] = {}
        for directory in self._rules.dirs:
            for name, _ in list_secret_files(directory):
                seen.setdefault(name)
        return sorted(seen)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    @scrub_errors
    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def __repr__(self) -> str:
        prefix = f", prefix={self.prefix!r}" if self.prefix else ""
        return f"Secrets(dirs={list(self.dirs)!r}{prefix})"

    @scrub_errors
    def resolve(self, name: str) -> tuple[bytes | str, Provenance] | None:
        """The raw value of ``name`` and where it came from, in one read: bytes from a file,
        text from a variable; ``None`` when no source holds it. Errors as in :meth:`get`."""
        return self._find(name)

    def _find(self, name: str) -> tuple[bytes | str, Provenance] | None:
        return resolve(validate_name(name), self._rules, self._warned)

    def _default(self, name: str, default: _T | _Missing) -> _T:
        if isinstance(default, _Missing):
            raise self.not_found_error(name)
        return default

    def not_found_error(
        self, name: str, *, also_searched: Iterable[str] = ()
    ) -> SecretNotFoundError:
        """The error for ``name`` missing, listing every place looked (plus ``also_searched``)."""
        searched = [*places_searched(name, self._rules), *also_searched]
        return SecretNotFoundError(
            f"secret {name!r} not found; looked in: " + "; ".join(searched),
            name=name,
            searched=searched,
        )


def get(
    name: str, default: _T | _Missing = MISSING, *, dirs: DirsArg | None = None, prefix: str = ""
) -> str | _T:
    """Return one secret as text; see :class:`Secrets` for the lookup order and options."""
    return Secrets(dirs, prefix=prefix).get(name, default)


def get_bytes(
    name: str, default: _T | _Missing = MISSING, *, dirs: DirsArg | None = None, prefix: str = ""
) -> bytes | _T:
    """Return one secret's raw bytes; see :class:`Secrets` for the lookup order and options."""
    return Secrets(dirs, prefix=prefix).get_bytes(name, default)
