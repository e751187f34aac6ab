"""``rotate``: the next version, every service moved to it, the old versions removed.

What it touches, and nothing else: see the package's documentation (``runsecrets.swarm``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from .._scrub import scrub_errors
from .._text import printable
from ..exceptions import RotationError, SwarmError
from ._converge import rolling, wait_all
from ._engine import (
    Engine,
    api_error,
    engine_error,
    error_detail,
    referenced_ids,
    sdk_errors,
    service_mode,
)
from ._model import OK_STATES, RotationReport, SecretInfo
from ._names import MAX_VERSION, as_bytes, validate_data, validate_name, versioned_name
from ._plan import Move, check_files, forward_spec, moved_refs, plan_moves
from ._record import (
    LABEL_ROTATION,
    Lineage,
    new_rotation_id,
    record_key,
    record_value,
    replaced_ids,
    trace,
    version_labels,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from docker import (  # type: ignore[import-untyped, import-not-found, attr-defined, unused-ignore]
        DockerClient,
    )

#: Attempts at a service update on a fresh read (a concurrent update moves its version on).
_ATTEMPTS = 3
#: The states of a service that took the new version (a skipped job did not).
_TOOK = frozenset({"updated", "current", "submitted"})


class _Survey(NamedTuple):
    """What the engine holds, as one rotation reads it before changing anything."""

    secrets: list[SecretInfo]
    services: list[dict[str, Any]]
    lineage: Lineage


@dataclass
class _Run:
    """One rotation under way: what it moves, to which version, with which record."""

    report: RotationReport
    lineage: Lineage
    moving: dict[str, SecretInfo]
    moves: list[Move]
    target: SecretInfo
    record: str

    @property
    def key(self) -> str:
        return record_key(self.lineage.logical)


@scrub_errors  # the new data is in its frames
def rotate(
    client: DockerClient,
    name: str,
    data: bytes | str,
    *,
    labels: Mapping[str, str] | None = None,
    wait: bool = True,
    timeout: float = 300.0,
    remove_old: bool = True,
    poll_interval: float = 0.5,
    adopt: Iterable[str] = (),
) -> RotationReport:
    """Rotate a Swarm secret: a new version, every service moved to it, old versions removed.

    The secrets it replaces are exactly: the secret named ``name`` (made by hand), the
    versions runsecrets made of ``name`` (recognised by their rotation record, never by a name
    or a label alone: see :mod:`runsecrets.swarm`), and the secrets named in ``adopt``. Each
    service that references one of them gets the new version at the same target, uid, gid
    and mode; the only other change to its spec is the record label
    ``org.runsecrets.rotation.<name>``. A job is not updated (an update runs it again). With
    ``wait`` each update must converge within ``timeout`` (one deadline for all, rollbacks
    included); one that fails or times out has its secret references (and record) put back,
    on a fresh read of its spec, and the rotation raises :class:`RotationError`. Afterwards,
    only versions runsecrets made are removed, and only when no service references them.

    With ``wait``, an update still rolling on a service to be moved (another operator's, or
    the rollback an interrupted rotation left) is waited for first, within the same deadline;
    at the deadline the rotation is refused (``busy``) with nothing changed.

    Re-running after an interruption finishes the interrupted rotation with the version it
    created (``report.resumed``; the new data is not used) when its record proves it: a
    service carries the record naming that version's id, and another service still references
    a secret that version's record says it replaces.

    Args:
        client: A ``docker.DockerClient`` connected to a Swarm manager.
        name: The logical name (``db_password``); versions are ``db_password_v0002``...
        data: The new value (text is encoded as UTF-8). Never logged nor shown.
        labels: Extra labels for the new secret (runsecrets' own labels win).
        wait: Wait for every service update to converge (and only then remove old versions).
        timeout: Seconds for the whole wait, rollbacks included.
        remove_old: Remove older versions runsecrets made that no service references any more.
        poll_interval: Seconds between checks while waiting.
        adopt: Names of other secrets to replace as well (a version made by hand, or one whose
            services lost their record in a stack deploy); never removed.

    Returns:
        A :class:`RotationReport` of what changed.

    Raises:
        InvalidSwarmSecretError: a name or size Swarm would refuse (nothing was done).
        RotationError: some service could not be moved, or the engine or the connection to it
            failed midway; ``.report`` says what was done. Every service still uses an existing
            version; run again to finish.
        SwarmError: refused before any change: ``not_found`` (nothing to rotate),
            ``unrecognised``, ``mount_conflict``, ``ambiguous``, ``conflict``, ``busy``; or
            ``engine_error`` (the engine failed before anything was changed).
    """
    raw, adopted = _checked(name, data, adopt)
    engine = Engine(client)
    errors = sdk_errors()
    deadline = time.monotonic() + timeout
    try:
        survey = _survey(engine, name, adopted, deadline if wait else None, poll_interval)
        run = _prepare(engine, survey, raw, dict(labels or {}), remove_old and wait)
    except errors as e:
        raise engine_error(f"rotating {name!r}", e) from e  # nothing was created
    try:
        _carry_out(engine, run, wait=wait, deadline=deadline, poll_interval=poll_interval)
        _finish(engine, run, remove=remove_old and wait)
    except errors as e:
        raise _interrupted(run.report, e) from e
    if not run.report.ok:
        raise _incomplete(run.report)
    return run.report


def _checked(name: str, data: bytes | str, adopt: Iterable[str]) -> tuple[bytes, tuple[str, ...]]:
    """Everything that can be refused before a call to the engine."""
    validate_name(name)
    raw = as_bytes(data)
    validate_data(raw)
    versioned_name(name, MAX_VERSION)  # the longest name this scheme makes must fit
    adopted = tuple(adopt)
    for other in adopted:
        validate_name(other)
    return raw, adopted


def _survey(
    engine: Engine,
    name: str,
    adopt: Sequence[str],
    deadline: float | None,
    poll_interval: float,
) -> _Survey:
    """The engine's secrets and services, and the lineage of ``name`` in them, read once no
    service this rotation would move has an update rolling (with a ``deadline``; without one,
    read once).

    A second update posted over an unfinished one (the rollback an interrupted rotation left,
    typically) leaves Swarm with two updates' worth of tasks to place, and with a service
    spread one task per node over every node the scheduler can find no node for one of them.

    Raises:
        SwarmError: ``reason="busy"`` when a service is still rolling at the deadline; nothing
            was changed.
    """
    while True:
        secrets, services = engine.secrets(), engine.services()
        survey = _Survey(secrets, services, trace(name, secrets, services, adopt))
        if deadline is None:
            return survey
        ids = {secret.id for secret in survey.lineage.predecessors}
        busy = [s for s in rolling(services) if ids & referenced_ids(s["Spec"])]
        if not busy:
            return survey
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _busy(name, busy)
        time.sleep(min(poll_interval, remaining))


def _busy(name: str, services: Sequence[Mapping[str, Any]]) -> SwarmError:
    """The refusal of a rotation whose services were still rolling at its deadline."""
    listed = ", ".join(
        f"{printable(s['Spec']['Name'])} ({s['UpdateStatus']['State']})" for s in services
    )
    return SwarmError(
        f"cannot rotate {printable(name)!r} yet: {listed} still rolling an earlier update (an "
        "interrupted rotation's rollback, say) when the timeout ran out; nothing was changed. "
        "Run the rotation again once it has finished (`docker service ps` shows its tasks)",
        reason="busy",
        name=name,
    )


def _prepare(
    engine: Engine, survey: _Survey, data: bytes, labels: dict[str, str], remove_old: bool
) -> _Run:
    """Decide (resume or new) from the survey, plan, refuse what must be refused, then create."""
    secrets, services, lineage = survey
    name = lineage.logical
    moving = {s.id: s for s in lineage.predecessors}
    head = lineage.head
    if head is not None and _stragglers(services, head):
        # The interrupted rotation's own record says what it was replacing.
        by_id = {s.id: s for s in secrets}
        moving.update({i: by_id[i] for i in replaced_ids(head) if i in by_id})
        moving.pop(head.id, None)
        moves = plan_moves(services, name, moving, head)
        target = head
        report = RotationReport(name, head.name, head.version, created=False, resumed=True)
        report.rotation_id = head.labels[LABEL_ROTATION]
    else:
        moves = plan_moves(services, name, moving, None)
        _refuse_pointless(lineage, services, moves)
        target, report = _create(engine, lineage, data, labels, moving, secrets, remove_old)
    report.services = [move.update for move in moves]
    report.unmanaged = [s.name for s in moving.values() if s.id not in lineage.managed_ids]
    report.ignored = [s.name for s in lineage.ignored]
    record = record_value(report.rotation_id, target.id)
    return _Run(report, lineage, moving, moves, target, record)


def _stragglers(services: Sequence[Mapping[str, Any]], head: SecretInfo) -> bool:
    """Whether a service other than a job still references a secret ``head`` replaces: its
    rotation was interrupted."""
    replaced = replaced_ids(head)
    return any(
        service_mode(service["Spec"]) != "job" and replaced & referenced_ids(service["Spec"])
        for service in services
    )


def _refuse_pointless(
    lineage: Lineage, services: Sequence[Mapping[str, Any]], moves: Sequence[Move]
) -> None:
    """Refuse a rotation that could only guess: nothing is called ``name``, or the services
    use only look-alikes runsecrets cannot prove it made.

    Raises:
        SwarmError: ``reason="not_found"`` or ``"unrecognised"``; nothing was changed.
    """
    logical = printable(lineage.logical)
    looks = ", ".join(printable(s.name) for s in lineage.ignored)
    if not lineage.predecessors:
        hint = (
            f" ({looks} look like versions, but runsecrets did not make them: rotate each "
            "by its own name, or name one with --adopt)"
            if looks
            else ""
        )
        raise SwarmError(
            f"no secret is named {logical!r} and runsecrets made no version of it: nothing to "
            f"rotate{hint}; nothing was changed",
            reason="not_found",
            name=lineage.logical,
        )
    ignored = {s.id for s in lineage.ignored}
    in_use = [s["Spec"]["Name"] for s in services if ignored & referenced_ids(s["Spec"])]
    if not moves and in_use:
        raise SwarmError(
            f"no service uses {logical!r} or a version runsecrets can prove it made, but "
            f"{', '.join(map(printable, in_use))} use {looks}, which look like versions of it: "
            "labels prove nothing, and a stack deploy replaces the service label where "
            "runsecrets keeps its record. Name the secret to replace with --adopt (adopt=) if "
            "it is yours; nothing was changed",
            reason="unrecognised",
            name=lineage.logical,
        )


def _create(
    engine: Engine,
    lineage: Lineage,
    data: bytes,
    labels: Mapping[str, str],
    moving: Mapping[str, SecretInfo],
    secrets: Sequence[SecretInfo],
    remove_old: bool,
) -> tuple[SecretInfo, RotationReport]:
    """Create the next version, its record on it."""
    name = lineage.logical
    version = lineage.next_version(s.name for s in secrets)
    secret_name = versioned_name(name, version)
    rotation = new_rotation_id()
    all_labels = version_labels(
        name, version, rotation, moving, remove_old=remove_old, extra=labels
    )
    try:
        secret_id = engine.create_secret(secret_name, data, all_labels)
    except api_error() as e:
        if getattr(e, "status_code", None) == 409:
            raise SwarmError(
                f"secret {secret_name} already exists: another rotation of {name!r} is running?",
                reason="conflict",
                name=name,
            ) from e
        raise
    info = SecretInfo(secret_id, secret_name, name, version, all_labels, "", "")
    report = RotationReport(name, secret_name, version, created=True, resumed=False)
    report.rotation_id = rotation
    return info, report


def _carry_out(
    engine: Engine, run: _Run, *, wait: bool, deadline: float, poll_interval: float
) -> None:
    """Send each service its new spec, then wait (or mark the updates submitted)."""
    for move in run.moves:
        if move.phase == "forward" and move.version >= 0:
            _submit(engine, run, move)
    if wait:
        wait_all(engine, run.moves, run.target, run.key, deadline, poll_interval)
        return
    for move in run.moves:
        if move.update.state == "pending":
            move.update.state = "submitted"
            move.phase = "done"


def _submit(engine: Engine, run: _Run, move: Move) -> None:
    """One service's update, retried on a fresh read when refused (the usual cause: another
    update of the service moved its version on since it was read)."""
    spec, version = move.spec, move.version
    why = "its references changed meanwhile"
    for _ in range(_ATTEMPTS):
        wanted, before = forward_spec(spec, run.moving, run.target, run.key, run.record)
        if not before:
            break  # someone moved it meanwhile
        try:
            check_files(
                run.lineage.logical, move.update.service_name, moved_refs(wanted, run.target.id)
            )
        except SwarmError as e:
            why = e.message
            break
        try:
            engine.update_service(move.service_id, version, wanted)
        except api_error() as e:
            why = f"update refused: {error_detail(e)}"
            fresh = engine.service(move.service_id)
            spec, version = fresh["Spec"], fresh["Version"]["Index"]
            move.record_before = (spec.get("Labels") or {}).get(run.key)
            continue
        move.before, move.record = before, run.record
        return
    move.update.state = "failed"
    move.update.detail = why
    move.phase = "done"


def _finish(engine: Engine, run: _Run, *, remove: bool) -> None:
    """Remove what may go (re-read after the updates); keep the rest, saying so."""
    report = run.report
    in_use = set().union(*(referenced_ids(s["Spec"]) for s in engine.services()))
    if run.report.created and not report.ok:
        _drop_unused_target(engine, run, in_use)
    existing = {s.id for s in engine.secrets()}
    removable = remove and report.ok
    for secret in run.moving.values():
        if secret.id not in existing:
            continue
        if not (removable and secret.id in run.lineage.managed_ids and secret.id not in in_use):
            report.kept.append(secret.name)
            continue
        try:
            engine.remove_secret(secret.id)
        except api_error():
            report.kept.append(secret.name)  # in use after all (a service created meanwhile)
        else:
            report.removed.append(secret.name)


def _drop_unused_target(engine: Engine, run: _Run, in_use: set[str]) -> None:
    """A version this very call created that no service took (every update was refused or
    rolled back) goes again, so that nothing is left that no record could prove ours."""
    target = run.target.id
    if target in in_use or any(m.update.state in _TOOK for m in run.moves):
        return
    for move in run.moves:
        if any(
            target in referenced_ids(t.get("Spec") or {})
            for t in engine.running_tasks(move.service_id)
        ):
            return
    try:
        engine.remove_secret(target)
    except api_error():
        return
    run.report.removed.append(run.target.name)


def _interrupted(report: RotationReport, error: BaseException) -> RotationError:
    """The RotationError for an engine or connection failure midway, with what was done."""
    for update in report.services:
        if update.state == "pending":
            update.detail = "not finished: the rotation was interrupted"
    done = "created" if report.created else "resumed with"
    return RotationError(
        f"rotation of {report.logical_name!r} was interrupted by {error_detail(error)} ({done} "
        f"{report.new_secret}); every service still uses an existing version; run the rotation "
        "again to finish it",
        report=report,
        name=report.logical_name,
    )


def _incomplete(report: RotationReport) -> RotationError:
    """The RotationError for services that failed, each with where it stands."""
    failed = [
        f"{printable(s.service_name)} {s.outcome()}"
        for s in report.services
        if s.state not in OK_STATES
    ]
    return RotationError(
        f"rotation of {report.logical_name!r} to {report.new_secret} is incomplete: "
        f"{'; '.join(failed)}. No version in use was removed (`runsecrets swarm audit "
        f"{printable(report.logical_name)}` shows which task mounts which); run the rotation "
        "again to finish it",
        report=report,
        name=report.logical_name,
    )
