"""The rotation record: how a rotation recognises the versions it made, and only those.

A label is no proof: anyone who can create a secret can copy every label. So a version counts
as runsecrets' own only when two records agree that no copy can produce together:

- **on the version** (written when runsecrets creates it): the logical name, the version
  number (the secret's name must be exactly ``<logical>_v<NNNN>`` for it), a random rotation
  id, and the ids of the secrets it replaces;
- **on a service** (written in the very update that moved the service's reference onto it):
  the label ``org.runsecrets.rotation.<logical>`` = ``<rotation id>/<secret id>``, on a service
  that still references that secret id.

A secret id is chosen by the engine when the secret is created, so a copy made afterwards
has another id, and no service record names it. Older versions listed in the ``replaces``
label of a recognised version are recognised too (when their own labels agree), so versions
kept by ``remove_old=False`` are found again. Everything else that looks like a version is
*ignored*: never resumed onto, never moved from, never removed.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from .._text import printable
from ..exceptions import SwarmError
from ._engine import referenced_ids
from ._names import (
    LABEL_LOGICAL_NAME,
    LABEL_REMOVE_OLD,
    LABEL_VERSION,
    MAX_VERSION,
    looks_like,
    versioned_name,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from ._model import SecretInfo

#: On a version runsecrets made: the id of the rotation that made it (32 hex digits).
LABEL_ROTATION = "org.runsecrets.rotation"
#: On a version runsecrets made: the ids of the secrets it replaced, comma-separated.
LABEL_REPLACES = "org.runsecrets.replaces"
#: On a service a rotation moved, followed by the logical name: ``<rotation id>/<secret id>``.
SERVICE_RECORD_PREFIX = "org.runsecrets.rotation."

_ROTATION_ID = re.compile(r"^[0-9a-f]{32}$")
_RECORD = re.compile(r"^(?P<rotation>[0-9a-f]{32})/(?P<secret>[0-9a-zA-Z]{1,64})$")
_VERSION = re.compile(r"^[1-9][0-9]{0,3}$")  # 1 to MAX_VERSION, as written by runsecrets


def new_rotation_id() -> str:
    """A fresh, random rotation id."""
    return secrets.token_hex(16)


def version_labels(
    logical: str,
    version: int,
    rotation_id: str,
    replaces: Iterable[str],
    *,
    remove_old: bool,
    extra: Mapping[str, str],
) -> dict[str, str]:
    """The labels of a new version: the caller's, then the record (which wins)."""
    return {
        **extra,
        LABEL_LOGICAL_NAME: logical,
        LABEL_VERSION: str(version),
        LABEL_ROTATION: rotation_id,
        LABEL_REPLACES: ",".join(sorted(replaces)),
        LABEL_REMOVE_OLD: "true" if remove_old else "false",
    }


def record_key(logical: str) -> str:
    """The service label that holds a rotation's record for ``logical``."""
    return SERVICE_RECORD_PREFIX + logical


def record_value(rotation_id: str, secret_id: str) -> str:
    """The service-side record: which rotation moved the service onto which secret."""
    return f"{rotation_id}/{secret_id}"


def read_record(labels: Mapping[str, str] | None, logical: str) -> tuple[str, str] | None:
    """``(rotation id, secret id)`` from a service's labels, or None (absent or malformed)."""
    match = _RECORD.match(str((labels or {}).get(record_key(logical), "")))
    return (match["rotation"], match["secret"]) if match else None


def claimed_version(secret: SecretInfo, logical: str) -> int | None:
    """The version a secret's own record claims for ``logical``, when it is well formed (its
    labels agree with its name), else None. A claim alone proves nothing."""
    labels = secret.labels
    version = labels.get(LABEL_VERSION, "")
    if labels.get(LABEL_LOGICAL_NAME) != logical or not _VERSION.match(version):
        return None
    if not _ROTATION_ID.match(labels.get(LABEL_ROTATION, "")):
        return None
    number = int(version)
    try:
        expected = versioned_name(logical, number)
    except SwarmError:
        return None
    return number if secret.name == expected else None


def replaced_ids(secret: SecretInfo) -> frozenset[str]:
    """The ids a version's record says it replaced."""
    return frozenset(filter(None, secret.labels.get(LABEL_REPLACES, "").split(",")))


@dataclass(frozen=True)
class Lineage:
    """What one logical name is made of, as far as runsecrets can prove it.

    Attributes:
        logical: The logical name.
        root: The secret named exactly ``logical``, if any (made by hand: never removed).
        versions: The versions runsecrets made, recognised by their records, oldest first.
        adopted: Secrets the operator named to be replaced as well (never removed).
        ignored: Secrets that look like versions but are none of the above.
    """

    logical: str
    root: SecretInfo | None
    versions: tuple[SecretInfo, ...]
    adopted: tuple[SecretInfo, ...]
    ignored: tuple[SecretInfo, ...]

    @property
    def head(self) -> SecretInfo | None:
        """The newest version runsecrets made, if any."""
        return self.versions[-1] if self.versions else None

    @property
    def predecessors(self) -> tuple[SecretInfo, ...]:
        """Every secret a rotation may move services off: root, versions, adopted."""
        found = [*([self.root] if self.root else []), *self.versions, *self.adopted]
        return tuple({s.id: s for s in found}.values())

    @property
    def managed_ids(self) -> frozenset[str]:
        """Ids of the versions runsecrets made: the only secrets it may remove."""
        return frozenset(v.id for v in self.versions)

    def next_version(self, taken: Iterable[str]) -> int:
        """The next version number: one past the newest known, skipping names in use.

        Raises:
            SwarmError: ``reason="conflict"`` when no name up to :data:`MAX_VERSION` is free.
        """
        numbers = [claimed_version(s, self.logical) for s in (*self.versions, *self.adopted)]
        version = max([n for n in numbers if n is not None] or [1]) + 1
        names = set(taken)
        while version <= MAX_VERSION:
            if versioned_name(self.logical, version) not in names:
                return version
            version += 1
        raise SwarmError(
            f"no version name of {printable(self.logical)!r} is free up to {MAX_VERSION}",
            reason="conflict",
            name=self.logical,
        )


def trace(
    logical: str,
    secrets_: Sequence[SecretInfo],
    services: Sequence[Mapping[str, Any]],
    adopt: Sequence[str] = (),
) -> Lineage:
    """Find the root, the recognised versions, the adopted and the ignored secrets.

    Raises:
        SwarmError: ``reason="not_found"`` when an adopted name does not exist,
            ``"ambiguous"`` when two recognised versions claim one rotation id.
    """
    by_name = {s.name: s for s in secrets_}
    missing = [name for name in adopt if name not in by_name]
    if missing:
        raise SwarmError(
            f"cannot adopt {', '.join(map(printable, missing))}: no such secret",
            reason="not_found",
            name=logical,
        )
    versions = _recognised(logical, secrets_, services)
    root = by_name.get(logical)
    adopted = tuple(by_name[name] for name in dict.fromkeys(adopt))
    known = {s.id for s in (*versions, *adopted, *([root] if root else []))}
    ignored = tuple(
        s for s in secrets_ if s.id not in known and looks_like(s.name, s.labels, logical)
    )
    return Lineage(logical, root, versions, adopted, ignored)


def _recognised(
    logical: str, secrets_: Sequence[SecretInfo], services: Sequence[Mapping[str, Any]]
) -> tuple[SecretInfo, ...]:
    """The versions whose records prove runsecrets made them (see the module docstring)."""
    claims = {s.id: s for s in secrets_ if claimed_version(s, logical) is not None}
    recognised = {
        secret_id: claims[secret_id]
        for rotation, secret_id in _live_records(logical, services)
        if secret_id in claims and claims[secret_id].labels[LABEL_ROTATION] == rotation
    }
    frontier = list(recognised.values())
    while frontier:
        newer = frontier.pop()
        for older_id in replaced_ids(newer) & claims.keys() - recognised.keys():
            older = claims[older_id]
            if _number(older, logical) < _number(newer, logical):
                recognised[older_id] = older
                frontier.append(older)
    _refuse_shared_rotation(logical, recognised.values())
    return tuple(sorted(recognised.values(), key=lambda s: _number(s, logical)))


def _live_records(logical: str, services: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The service-side records for ``logical`` whose service still references the secret."""
    found = []
    for service in services:
        spec = service.get("Spec") or {}
        record = read_record(spec.get("Labels"), logical)
        if record is not None and record[1] in referenced_ids(spec):
            found.append(record)
    return found


def _number(secret: SecretInfo, logical: str) -> int:
    return claimed_version(secret, logical) or 0


def _refuse_shared_rotation(logical: str, versions: Iterable[SecretInfo]) -> None:
    seen: dict[str, str] = {}
    for version in versions:
        rotation = version.labels[LABEL_ROTATION]
        if rotation in seen:
            raise SwarmError(
                f"{printable(seen[rotation])} and {printable(version.name)} both claim rotation "
                f"{rotation} of {printable(logical)!r}: runsecrets cannot tell which one it "
                "made; nothing was changed",
                reason="ambiguous",
                name=logical,
            )
        seen[rotation] = version.name
