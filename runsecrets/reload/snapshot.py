"""Immutable snapshots of a store's secrets, and what changed between two of them."""

from __future__ import annotations

from types import MappingProxyType

from .._read import decode_text
from .._scrub import scrubbed
from .._secret import Secret
from .._secrets import MISSING, _Missing
from ..exceptions import RunSecretsError, SecretDecodeError, SecretNotFoundError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import TypeVar

    from .._provenance import Provenance
    from .scan import Entry

    _T = TypeVar("_T")


class Snapshot:
    """A read-only, mapping-like view of secret name to text value, frozen at one moment.

    It has the mapping methods (``snapshot[name]``, ``in``, ``len``, iteration, ``keys``,
    ``items``, ``values``) but is deliberately not registered as a ``collections.abc.Mapping``:
    serializers that walk any ``Mapping`` (error reporters capturing local variables,
    structured loggers) would copy every value out of a snapshot held in a local variable.

    Every value in one snapshot comes from the same stable read, so a certificate and its key
    taken from one snapshot belong together. ``get``/``get_bytes`` behave as the store's do
    (``SecretNotFoundError`` when absent and no default is given); ``snapshot[name]`` raises
    ``KeyError`` as a mapping should. The repr shows names only, never a value.

    Attributes:
        version: Increases by one with every snapshot a store publishes (0: the first).
        created_at: When it was read (``time.time()``).
    """

    __slots__ = ("_entries", "_errors", "_not_found", "_text", "created_at", "version")

    def __init__(
        self,
        entries: Mapping[str, Entry],
        *,
        version: int,
        created_at: float,
        strip: bool,
        errors: Mapping[str, RunSecretsError] | None = None,
        not_found: Callable[[str], SecretNotFoundError] | None = None,
    ) -> None:
        self._entries = dict(entries)
        self._errors: dict[str, RunSecretsError] = dict(errors or {})
        self._not_found = not_found
        text: dict[str, str] = {}
        for name, entry in self._entries.items():
            try:
                text[name] = decode_text(
                    entry.raw, strip=strip, name=name, path=entry.provenance.path
                )
            except SecretDecodeError as e:
                self._errors[name] = scrubbed(e)
        self._text = text
        self.version = version
        self.created_at = created_at

    def get(self, name: str, default: _T | _Missing = MISSING) -> str | _T:
        """The secret as text (trailing line endings stripped unless the store says not to).

        Raises:
            SecretNotFoundError: Absent and no default given.
            SecretReadError: It could not be read when this snapshot was taken (no older value).
            SecretDecodeError: It is not UTF-8 (read it with :meth:`get_bytes`).
        """
        try:
            return self._text[name]
        except KeyError:
            return self._absent(name, default)

    def get_bytes(self, name: str, default: _T | _Missing = MISSING) -> bytes | _T:
        """The secret's raw bytes; see :meth:`get`."""
        try:
            return self._entries[name].raw
        except KeyError:
            return self._absent(name, default)

    def secret(self, name: str, default: _T | _Missing = MISSING) -> Secret | _T:
        """The secret wrapped in a :class:`~runsecrets.Secret` that never shows its value."""
        try:
            text = self._text[name]
        except KeyError:
            return self._absent(name, default)
        return Secret(text, self._entries[name].provenance)

    def provenance(self, name: str) -> Provenance:
        """Where the value of ``name`` came from (never the value).

        Raises:
            SecretNotFoundError: Absent.
        """
        try:
            return self._entries[name].provenance
        except KeyError:
            return self._absent(name, MISSING)

    def entry(self, name: str) -> Entry | None:
        """The raw entry for ``name`` (internal: the store compares snapshots with it)."""
        return self._entries.get(name)

    @property
    def entries(self) -> Mapping[str, Entry]:
        """Every raw entry by name, read-only (internal: what the store builds the next
        candidate from). An entry's repr says where it came from, never what it holds."""
        return MappingProxyType(self._entries)

    @property
    def errors(self) -> Mapping[str, RunSecretsError]:
        """Names that could not be read when this snapshot was taken, with the error."""
        return dict(self._errors)

    def _absent(self, name: str, default: _T | _Missing) -> _T:
        # As Secrets.get does: a read error is raised even when a default is given.
        error = self._errors.get(name)
        if error is not None:
            # The same instance is raised again and again: drop the frames of earlier raises.
            raise error.with_traceback(None)
        if not isinstance(default, _Missing):
            return default
        if self._not_found is not None:
            raise self._not_found(name)
        raise SecretNotFoundError(f"secret {name!r} is not in this snapshot", name=name)

    # The read-only mapping protocol.
    def __getitem__(self, name: str) -> str:
        try:
            return self._text[name]
        except KeyError:
            error = self._errors.get(name)
            if isinstance(error, SecretDecodeError):
                raise error.with_traceback(None) from None
            raise KeyError(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[str]:
        """The names, sorted."""
        return sorted(self._entries)

    def values(self) -> list[str]:
        """The text values, in name order (names that are not UTF-8 are left out)."""
        return [self._text[name] for name in sorted(self._text)]

    def items(self) -> list[tuple[str, str]]:
        """``(name, text)`` pairs in name order (names that are not UTF-8 are left out)."""
        return [(name, self._text[name]) for name in sorted(self._text)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Snapshot):
            return NotImplemented
        theirs = other.entries
        return self._entries.keys() == theirs.keys() and all(
            entry.raw == theirs[name].raw for name, entry in self._entries.items()
        )

    __hash__ = None  # type: ignore[assignment]  # equal by content, and mutable-free but unhashed

    def __repr__(self) -> str:
        return f"Snapshot(version={self.version}, names={sorted(self._entries)!r})"


class Changes:
    """What one publish changed: names added, changed and removed, and both snapshots.

    It is true when anything changed; ``name in changes`` says whether that name did. It holds
    names only; read values from :attr:`snapshot`.

    Attributes:
        added: Names that appeared.
        changed: Names whose content changed.
        removed: Names that are gone.
        snapshot: The snapshot just published.
        previous: The snapshot it replaced.
    """

    __slots__ = ("added", "changed", "previous", "removed", "snapshot")

    def __init__(
        self,
        *,
        added: frozenset[str],
        changed: frozenset[str],
        removed: frozenset[str],
        snapshot: Snapshot,
        previous: Snapshot,
    ) -> None:
        self.added = added
        self.changed = changed
        self.removed = removed
        self.snapshot = snapshot
        self.previous = previous

    @property
    def names(self) -> frozenset[str]:
        """Every name added, changed or removed."""
        return self.added | self.changed | self.removed

    def __contains__(self, name: object) -> bool:
        return name in self.added or name in self.changed or name in self.removed

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def __repr__(self) -> str:
        return (
            f"Changes(version={self.snapshot.version}, added={sorted(self.added)!r}, "
            f"changed={sorted(self.changed)!r}, removed={sorted(self.removed)!r})"
        )


def diff(
    previous: Mapping[str, Entry], current: Mapping[str, Entry]
) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Names added, changed (different bytes) and removed between two sets of entries."""
    added = frozenset(current.keys() - previous.keys())
    removed = frozenset(previous.keys() - current.keys())
    changed = frozenset(
        name for name in current.keys() & previous.keys() if current[name].raw != previous[name].raw
    )
    return added, changed, removed


def merge_changes(first: Changes, second: Changes) -> Changes:
    """Two consecutive publishes as one: from ``first.previous`` to ``second.snapshot``.

    Names are compared end to end, so a value rotated and rotated back is no change at all.
    """
    added, changed, removed = diff(first.previous.entries, second.snapshot.entries)
    return Changes(
        added=added,
        changed=changed,
        removed=removed,
        snapshot=second.snapshot,
        previous=first.previous,
    )
