"""What the swarm functions return: metadata of secrets, references, tasks, and reports.

Plain dataclasses with ``as_dict()`` for JSON. None holds a secret's data: the Engine API never
returns it, and nothing asks. Text meant for a terminal (:meth:`RotationReport.lines`) is
escaped, since names, targets and engine messages come from elsewhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .._text import printable

#: The states of :class:`ServiceUpdate` that leave a rotation complete.
OK_STATES = frozenset({"updated", "current", "submitted", "skipped"})


@dataclass(frozen=True)
class SecretInfo:
    """A secret's metadata (the engine never returns its data, and nothing asks for it).

    ``logical_name`` and ``version`` are what the secret *shows* (its labels, else its name;
    see :func:`~runsecrets.swarm.parse_version`), for listings.
    """

    id: str
    name: str
    logical_name: str
    version: int
    labels: dict[str, str]
    created_at: str
    updated_at: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class SecretReference:
    """One secret mounted by one service: where, owned by whom, with which mode."""

    service_id: str
    service_name: str
    secret_id: str
    secret_name: str
    target: str
    uid: str
    gid: str
    mode: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``mode`` as an integer and as octal text)."""
        return {**asdict(self), "mode_octal": f"{self.mode:04o}"}


@dataclass(frozen=True)
class TaskUse:
    """A running task and the version of a secret it mounts.

    ``node`` is the hostname of the node the task is assigned to (``""`` when unassigned, or
    when the node left the Swarm): where to look for ``container_id`` (``docker -H NODE ps``).
    """

    task_id: str
    service_name: str
    container_id: str
    state: str
    secret_name: str
    target: str
    node: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class AuditEntry:
    """Everything about one logical secret: its versions, who references them, who runs them."""

    logical_name: str
    versions: tuple[SecretInfo, ...]
    references: tuple[SecretReference, ...]
    tasks: tuple[TaskUse, ...]

    @property
    def unused(self) -> tuple[str, ...]:
        """Names of the versions no service references."""
        used = {ref.secret_id for ref in self.references}
        return tuple(v.name for v in self.versions if v.id not in used)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "logical_name": self.logical_name,
            "versions": [v.as_dict() for v in self.versions],
            "references": [r.as_dict() for r in self.references],
            "tasks": [t.as_dict() for t in self.tasks],
            "unused": list(self.unused),
        }


@dataclass
class ServiceUpdate:
    """What a rotation did to one service.

    Attributes:
        service_id: The service's id.
        service_name: The service's name.
        old_secrets: The older versions it referenced before.
        targets: The target paths that were switched (kept as they were, with their uid, gid
            and mode).
        state: ``updated`` (converged on the new version), ``submitted`` (not waited for),
            ``current`` (already on it), ``skipped`` (a job: an update would run it again, so
            its spec is left as it is), ``rolled_back`` (failed, back on its old version),
            ``failed`` (failed, and the rollback was refused or had not converged in time),
            ``pending`` (not finished: the rotation was interrupted; the update may or may not
            have been applied).
        detail: Why it failed or was skipped.
        rollback: What became of the rollback of a failed update: ``""`` (none was made: the
            update itself was refused, so the service never left its old version),
            ``converged`` (with ``rolled_back``), ``not_converged`` (submitted, and still
            rolling when the wait ended: until it converges, its tasks may mount either
            version), ``refused`` (the engine refused it: the spec may still reference the new
            version), ``failed`` (it was applied and failed in turn).
    """

    service_id: str
    service_name: str
    old_secrets: tuple[str, ...]
    targets: tuple[str, ...]
    state: str = "pending"
    detail: str = ""
    rollback: str = ""

    def outcome(self) -> str:
        """Where a service that failed stands, in words (for the rotation's error)."""
        old = ", ".join(printable(name) for name in self.old_secrets) or "its previous version"
        return {
            "converged": f"was rolled back to {old}",
            "not_converged": (
                f"is being rolled back to {old}: the rollback had not converged when the wait "
                "ended, so until it does its tasks may mount either version"
            ),
            "refused": "could not be rolled back (refused): its spec may reference either version",
            "failed": f"failed, and so did its rollback to {old}",
        }.get(self.rollback, f"was not updated and stays on {old}")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class RotationReport:
    """What :func:`~runsecrets.swarm.rotate` changed.

    Attributes:
        logical_name: The secret's logical name.
        new_secret: The name of the version now in use.
        new_version: Its version number.
        created: Whether this call created it (False when it resumed an interrupted rotation,
            in which case the data passed in was not used).
        resumed: Whether an interrupted rotation was finished.
        services: One entry per service that referenced the secret.
        removed: Older versions removed (only ever versions runsecrets made).
        kept: Older secrets kept: still referenced, not waited for, ``remove_old=False``, or
            not made by runsecrets (those are also in :attr:`unmanaged`).
        rotation_id: The rotation's id, written in its record (see :mod:`runsecrets.swarm`).
        unmanaged: Secrets services were moved off that runsecrets did not make (the secret
            named after the logical name, adopted ones): never removed by runsecrets.
        ignored: Secrets that look like versions (by name or label) but that runsecrets cannot
            prove it made: not moved from, not resumed onto, not removed.
    """

    logical_name: str
    new_secret: str
    new_version: int
    created: bool
    resumed: bool
    services: list[ServiceUpdate] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    rotation_id: str = ""
    unmanaged: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every service is on the new version (or was not waited for, or skipped)."""
        return all(s.state in OK_STATES for s in self.services)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def lines(self) -> list[str]:
        """A human-readable summary, one line per change, escaped for a terminal."""
        new = printable(self.new_secret)
        head = "resumed" if self.resumed else "created" if self.created else "using"
        out = [f"{head} {new} (version {self.new_version} of {printable(self.logical_name)})"]
        if self.resumed:
            out.append(
                "  an interrupted rotation was finished; the value given was NOT used: run "
                "the command again to rotate to a new value"
            )
        out.extend(self._service_line(s, new) for s in self.services)
        out.extend(f"removed {printable(name)}" for name in self.removed)
        for name in self.kept:
            why = (
                ": not made by runsecrets, so never removed by it (docker secret rm it once "
                "nothing needs it)"
                if name in self.unmanaged
                else ""
            )
            out.append(f"kept {printable(name)}{why}")
        out.extend(
            f"ignored {printable(name)}: looks like a version, but runsecrets did not make it"
            for name in self.ignored
        )
        return out

    @staticmethod
    def _service_line(update: ServiceUpdate, new: str) -> str:
        old = ", ".join(printable(name) for name in update.old_secrets) or "-"
        line = f"service {printable(update.service_name)}: {update.state} ({old} -> {new}"
        if update.targets:
            line += f" at {', '.join(printable(t) for t in update.targets)}"
        line += ")"
        return line + (f": {printable(update.detail)}" if update.detail else "")
