"""Which services a rotation moves, and the exact specs it sends: forward and back.

A move changes a service's spec in two places only: the secret references that pointed at a
secret being replaced (their ``SecretID`` and ``SecretName``; the ``File`` with its target,
uid, gid and integer mode stays as the engine returned it), and the service label holding the
rotation's record. A rollback undoes exactly that, on a fresh read of the spec, so whatever
else changed meanwhile (another operator's environment, replicas, labels) stays.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .._text import printable
from ..exceptions import SwarmError
from ._engine import file_of, secret_refs, service_mode
from ._model import ServiceUpdate
from ._record import record_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ._model import SecretInfo

#: ``target -> (secret id, secret name)``: what a moved reference pointed at before.
Before = dict[str, tuple[str, str]]


@dataclass
class Move:
    """One service a rotation moves (or found moved already), and how to put it back.

    Attributes:
        update: Its entry in the report.
        spec: The spec as read, to swap on.
        version: The index that spec was read at; -1 when no update is to be sent (already
            on the new version, or a job).
        before: What each moved reference pointed at before (empty: nothing known to undo).
        record_before: The service's record label before the move (None: it had none).
        record: The record the move wrote (or found).
        phase: ``forward`` (waiting on the new version), ``back`` (waiting on the rollback),
            ``done``.
        judge: Whether a failed update state is this rotation's to judge.
    """

    update: ServiceUpdate
    spec: dict[str, Any]
    version: int
    before: Before = field(default_factory=dict)
    record_before: str | None = None
    record: str = ""
    phase: str = "forward"
    judge: bool = True

    @property
    def service_id(self) -> str:
        return self.update.service_id


def plan_moves(
    services: Sequence[Mapping[str, Any]],
    logical: str,
    moving: Mapping[str, SecretInfo],
    target: SecretInfo | None,
) -> list[Move]:
    """One move per service that references a secret in ``moving`` or (resuming) ``target``.

    Raises:
        SwarmError: ``reason="mount_conflict"`` when one service would mount the new version
            at targets with different owners or modes (before anything is created).
    """
    moves = []
    for service in services:
        spec = service["Spec"]
        refs = secret_refs(spec)
        old = [r for r in refs if r.get("SecretID") in moving]
        current = [r for r in refs if target is not None and r.get("SecretID") == target.id]
        if not old and not current:
            continue
        update = ServiceUpdate(
            service_id=service["ID"],
            service_name=spec["Name"],
            old_secrets=tuple(dict.fromkeys(r["SecretName"] for r in old)),
            targets=tuple(file_of(r)[0] for r in old),
        )
        if service_mode(spec) == "job":
            if old:
                moves.append(_skipped_job(update, spec))
            continue
        check_files(logical, spec["Name"], [*old, *current])
        if old:
            index = service["Version"]["Index"]
            moves.append(Move(update, spec, index, record_before=_record_label(spec, logical)))
        else:
            moves.append(_found_moved(update, service, logical, moving, target))
    return moves


def _skipped_job(update: ServiceUpdate, spec: dict[str, Any]) -> Move:
    update.state = "skipped"
    update.detail = (
        "a job: an update would run it again, so its spec is left as it is; update it when "
        "you next run it"
    )
    return Move(update, spec, -1, phase="done")


def _found_moved(
    update: ServiceUpdate,
    service: Mapping[str, Any],
    logical: str,
    moving: Mapping[str, SecretInfo],
    target: SecretInfo | None,
) -> Move:
    """A service an interrupted run moved already: wait for it; what it had before is in its
    previous spec (when that spec was this rotation's starting point)."""
    assert target is not None
    update.state = "current"
    spec = service["Spec"]
    previous = service.get("PreviousSpec") or {}
    on_target = {file_of(r)[0] for r in secret_refs(spec) if r.get("SecretID") == target.id}
    before = {
        file_of(r)[0]: (r["SecretID"], r["SecretName"])
        for r in secret_refs(previous)
        if r.get("SecretID") in moving and file_of(r)[0] in on_target
    }
    update.old_secrets = tuple(dict.fromkeys(name for _, name in before.values()))
    update.targets = tuple(before)
    return Move(
        update,
        spec,
        -1,
        before=before,
        record_before=_record_label(previous, logical),
        record=_record_label(spec, logical) or "",
        judge=bool(before),
    )


def _record_label(spec: Mapping[str, Any], logical: str) -> str | None:
    labels = spec.get("Labels") or {}
    value = labels.get(record_key(logical))
    return None if value is None else str(value)


def check_files(logical: str, service_name: str, refs: Iterable[Mapping[str, Any]]) -> None:
    """Refuse a service that would mount one secret at targets with different owners or modes.

    The engine writes one file per secret in a container: every target of that secret gets
    the same uid, gid and mode, so keeping each target's own would be impossible.

    Raises:
        SwarmError: ``reason="mount_conflict"``.
    """
    files = [file_of(ref) for ref in refs]
    if len({(uid, gid, mode) for _, uid, gid, mode in files}) <= 1:
        return
    where = ", ".join(
        f"{printable(target)} (uid {printable(uid)}, gid {printable(gid)}, mode {mode:04o})"
        for target, uid, gid, mode in files
    )
    raise SwarmError(
        f"service {printable(service_name)} would mount the new version of "
        f"{printable(logical)!r} at {where}: the engine writes one file per secret in a "
        "container, so one owner and mode would apply to all of them; give each target its "
        "own secret first. Nothing was changed",
        reason="mount_conflict",
        name=logical,
    )


def forward_spec(
    spec: Mapping[str, Any], moving: Iterable[str], target: SecretInfo, key: str, record: str
) -> tuple[dict[str, Any], Before]:
    """``spec`` with every reference to a ``moving`` secret pointed at ``target`` and the
    record set; and what each moved reference pointed at before."""
    wanted = copy.deepcopy(dict(spec))
    ids = set(moving)
    before: Before = {}
    for ref in secret_refs(wanted):
        if ref.get("SecretID") in ids:
            before[file_of(ref)[0]] = (ref["SecretID"], ref["SecretName"])
            ref["SecretID"], ref["SecretName"] = target.id, target.name
    wanted["Labels"] = {**(wanted.get("Labels") or {}), key: record}
    return wanted, before


def backward_spec(
    spec: Mapping[str, Any], move: Move, target_id: str, key: str
) -> dict[str, Any] | None:
    """``spec`` (a fresh read) with the move undone: each moved reference still on
    ``target_id`` put back, and the record label restored when it is still the move's. None
    when there is nothing left to undo."""
    wanted = copy.deepcopy(dict(spec))
    changed = False
    for ref in secret_refs(wanted):
        target = file_of(ref)[0]
        if ref.get("SecretID") == target_id and target in move.before:
            ref["SecretID"], ref["SecretName"] = move.before[target]
            changed = True
    labels = dict(wanted.get("Labels") or {})
    if move.record and labels.get(key) == move.record:
        if move.record_before is None:
            del labels[key]
        else:
            labels[key] = move.record_before
        wanted["Labels"] = labels
        changed = True
    return wanted if changed else None


def moved_refs(spec: Mapping[str, Any], target_id: str) -> list[dict[str, Any]]:
    """The references of ``spec`` that point at ``target_id``."""
    return [ref for ref in secret_refs(spec) if ref.get("SecretID") == target_id]
