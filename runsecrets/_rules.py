"""The reading rules: every option of a lookup, as one frozen value handed on whole.

A resolver, a store, the pydantic source and a TLS context following a resolver's secrets all
take and hand on this one value, so no option can be dropped on the way by copying options
one by one. Each setting is resolved by a small function of its own.
"""

from __future__ import annotations

import os

from ._platform import resolve_dirs, trusted_link_roots
from ._provenance import DEFAULT_SOURCES, SOURCE_KINDS
from ._read import DEFAULT_MAX_SIZE, containing_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from ._types import DirsArg


class ReadingRules:
    """Where secrets are looked for and how they are read; immutable.

    Attributes:
        dirs: The secrets directories, in lookup order (already resolved: the argument, else
            ``RUNSECRETS_DIR``, else the platform's default).
        environ: The environment read (``os.environ`` itself by default, read live).
        prefix: Prefix of the environment variables.
        sources: The lookup order: ``"file_variable"``, ``"environment"``, ``"directory"``.
        case_sensitive: ``False``: a file named ``DB_Password`` answers for ``db_password``.
        max_size: The size cap per file, in bytes.
        strip: Drop trailing line endings from text values.
        allow_external_links: Follow symlinks that lead out of their secrets directory.
    """

    #: Every field, in the constructor's order.
    FIELDS = (
        "dirs",
        "environ",
        "prefix",
        "sources",
        "case_sensitive",
        "max_size",
        "strip",
        "allow_external_links",
    )

    __slots__ = FIELDS

    dirs: tuple[str, ...]
    environ: Mapping[str, str]
    prefix: str
    sources: tuple[str, ...]
    case_sensitive: bool
    max_size: int
    strip: bool
    allow_external_links: bool

    def __init__(
        self,
        dirs: DirsArg | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        prefix: str = "",
        sources: Iterable[str] = DEFAULT_SOURCES,
        case_sensitive: bool = True,
        max_size: int = DEFAULT_MAX_SIZE,
        strip: bool = True,
        allow_external_links: bool = False,
    ) -> None:
        """Resolve ``dirs`` against ``environ`` and check every option.

        Raises:
            ValueError: A negative ``max_size`` or an unknown source kind.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "dirs": resolve_dirs(dirs, env),
            "environ": env,
            "prefix": prefix,
            "sources": checked_sources(sources),
            "case_sensitive": case_sensitive,
            "max_size": checked_max_size(max_size),
            "strip": strip,
            "allow_external_links": allow_external_links,
        }
        for field, value in values.items():
            object.__setattr__(self, field, value)

    def replace(self, **changes: Any) -> ReadingRules:
        """A copy with ``changes`` applied (``dirs`` resolved again), every other field kept."""
        unknown = set(changes) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"unknown reading rules {sorted(unknown)}")
        values = {field: getattr(self, field) for field in self.FIELDS}
        values.update(changes)
        dirs = values.pop("dirs")
        return ReadingRules(dirs, **values)

    @property
    def link_roots(self) -> tuple[str, ...]:
        """Directories outside the secrets directories that their links may lead into,
        because the platform itself links there (Windows' internal secrets directory; none
        elsewhere). The platform's, not an option."""
        return trusted_link_roots()

    def contain_in(self, directory: str) -> tuple[str, ...]:
        """The directories a file of ``directory`` must resolve into, all links followed
        (empty: anywhere, with ``allow_external_links``)."""
        if self.allow_external_links:
            return ()
        return (containing_root(directory, self.dirs), *self.link_roots)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ReadingRules is immutable: use replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("ReadingRules is immutable")

    def _key(self) -> tuple[object, ...]:
        # The environment by identity: two rules reading the same mapping are the same rules.
        return tuple(
            id(self.environ) if field == "environ" else getattr(self, field)
            for field in self.FIELDS
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReadingRules):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        # Never the environment's content: it holds values.
        shown = ", ".join(
            f"{field}={getattr(self, field)!r}" for field in self.FIELDS if field != "environ"
        )
        where = "os.environ" if self.environ is os.environ else type(self.environ).__name__
        return f"ReadingRules({shown}, environ=<{where}>)"


def checked_sources(sources: Iterable[str]) -> tuple[str, ...]:
    """``sources`` as a tuple of known source kinds.

    Raises:
        ValueError: An unknown kind.
    """
    kinds = tuple(sources)
    unknown = set(kinds) - SOURCE_KINDS
    if unknown:
        raise ValueError(f"unknown source kinds {sorted(unknown)}; use {sorted(SOURCE_KINDS)}")
    return kinds


def checked_max_size(max_size: int) -> int:
    """``max_size``, refused when negative.

    Raises:
        ValueError: It is negative.
    """
    if max_size < 0:
        raise ValueError("max_size must not be negative")
    return max_size


#: The reading options a resolver or a store takes one by one, with their defaults.
_DEFAULTS: dict[str, object] = {
    "dirs": None,
    "environ": None,
    "prefix": "",
    "sources": DEFAULT_SOURCES,
    "case_sensitive": True,
    "max_size": DEFAULT_MAX_SIZE,
    "strip": True,
    "allow_external_links": False,
}


def rules_from(rules: ReadingRules | None, **options: Any) -> ReadingRules:
    """``rules`` as given, or the rules ``options`` (the keywords of :class:`ReadingRules`)
    make when it is ``None``.

    Raises:
        ValueError: ``rules`` given together with an option that differs from its default.
    """
    if rules is None:
        dirs = options.pop("dirs", None)
        return ReadingRules(dirs, **options)
    given = given_options(**options)
    if given:
        raise ValueError(f"give rules or separate options, not both (also given: {given})")
    return rules


def given_options(**options: object) -> list[str]:
    """The names of ``options`` that differ from the reading rules' defaults."""
    given = []
    for name, value in options.items():
        default = _DEFAULTS[name]
        if isinstance(value, list):
            value = tuple(value)
        if value is not default and value != default:
            given.append(name)
    return given
