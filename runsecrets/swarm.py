"""The operator's side of Swarm secrets: rotate, audit and inventory through the Docker SDK.

Swarm secrets are immutable, so rotating one means: create the next *version* as a new secret,
point every service that used an older version at it (same target path, uid, gid and mode),
wait for each service's update to converge, and only then remove the versions nothing uses.

Versions are separate secrets named ``<logical>_v<NNNN>`` (``db_password_v0002``): zero-padded
so that ``docker secret ls`` sorts them, and labelled with the logical name and the version
number, which are authoritative. A secret made by hand before runsecrets took over is version 1
when it is named after the logical name (``db_password``), and version N when it is named
``db_password_vN`` (the Docker documentation's convention), so later rotations continue it.

Re-running :func:`rotate` after an interruption (a failed service update, a crash, Ctrl-C)
finishes the interrupted rotation with the version it created instead of making another one: a
rotation is *pending* while a service still references an older version, or while older
versions remain that it was asked to remove.

This is the only module that imports ``docker`` (the ``runsecrets[swarm]`` extra), and only
when a function needs it. Nothing here reads, returns or logs a secret's data: the Engine API
never returns it, and nothing asks.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ._scrub import scrub_errors
from .exceptions import RunSecretsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    # Typed by the types-docker stubs when they are installed, else Any.
    from docker import (  # type: ignore[import-untyped, import-not-found, attr-defined, unused-ignore]
        DockerClient,
    )

__all__ = [
    "LABEL_LOGICAL_NAME",
    "LABEL_REMOVE_OLD",
    "LABEL_VERSION",
    "MAX_NAME_LENGTH",
    "MAX_SECRET_SIZE",
    "AuditEntry",
    "InvalidSwarmSecretError",
    "RotationError",
    "RotationReport",
    "SecretInfo",
    "SecretReference",
    "ServiceUpdate",
    "SwarmError",
    "TaskUse",
    "audit",
    "client_from_env",
    "inventory",
    "parse_version",
    "rotate",
    "validate_data",
    "validate_name",
    "versioned_name",
]

#: Swarm's own limits (swarmkit's validation): names of at most 64 characters matching this
#: pattern, data of 1 byte to 500 KiB.
MAX_NAME_LENGTH = 64
MAX_SECRET_SIZE = 500 * 1024
_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")
_VERSIONED = re.compile(r"^(?P<logical>.+)_v(?P<version>[0-9]+)$")
_VERSION_DIGITS = 4

LABEL_LOGICAL_NAME = "org.runsecrets.logical-name"
LABEL_VERSION = "org.runsecrets.version"
#: On a version created by :func:`rotate`: whether that rotation removes older versions, so a
#: re-run knows the rotation is unfinished while they remain.
LABEL_REMOVE_OLD = "org.runsecrets.remove-old"

# Service update states (Engine API ``UpdateStatus.State``).
_FAILED_STATES = frozenset({"paused", "rollback_paused"})
_ROLLED_BACK_STATES = frozenset({"rollback_started", "rollback_completed"})  # by the service


class SwarmError(RunSecretsError):
    """A Swarm operation failed.

    Attributes:
        reason: A stable code: ``invalid_name``, ``empty``, ``too_large``, ``conflict``,
            ``docker_missing``, ``engine_error``, ``rotation_incomplete``.
    """

    def __init__(self, message: str, *, reason: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


class InvalidSwarmSecretError(SwarmError, ValueError):
    """A name or a value that Swarm would refuse, caught before any call to the engine."""


class RotationError(SwarmError):
    """A rotation did not complete; :attr:`report` says what changed and what did not.

    Raised when a service could not be moved, and when the engine or the connection to it
    failed midway (after the new version was chosen): the report then holds what was done
    until then. Every service still uses an existing secret (failed updates are rolled back,
    versions are removed last), and running :func:`rotate` again finishes the rotation.
    """

    def __init__(self, message: str, *, report: RotationReport, **kwargs: Any) -> None:
        super().__init__(message, reason="rotation_incomplete", **kwargs)
        self.report = report


# --- names, sizes, versions ------------------------------------------------------------------


def validate_name(name: str) -> None:
    """Check a secret name against Swarm's rules.

    Raises:
        InvalidSwarmSecretError: ``reason="invalid_name"``.
    """
    if len(name) > MAX_NAME_LENGTH or not _NAME_PATTERN.match(name):
        raise InvalidSwarmSecretError(
            f"invalid Swarm secret name {name!r}: at most {MAX_NAME_LENGTH} characters, letters "
            "and digits at both ends, '-', '_' and '.' inside",
            reason="invalid_name",
            name=name,
        )


def validate_data(data: bytes) -> None:
    """Check a secret's size against Swarm's limits (1 byte to 500 KiB); never shows the data.

    Raises:
        InvalidSwarmSecretError: ``reason="empty"`` or ``reason="too_large"``.
    """
    if not data:
        raise InvalidSwarmSecretError("a Swarm secret cannot be empty", reason="empty")
    if len(data) > MAX_SECRET_SIZE:
        raise InvalidSwarmSecretError(
            f"secret data is {len(data)} bytes; Swarm's limit is {MAX_SECRET_SIZE} (500 KiB)",
            reason="too_large",
        )


def versioned_name(logical: str, version: int) -> str:
    """The secret name of one version: ``db_password_v0002``.

    Raises:
        InvalidSwarmSecretError: when the result is not a valid Swarm name (too long).
    """
    if version < 1:
        raise ValueError(f"versions start at 1, not {version}")
    name = f"{logical}_v{version:0{_VERSION_DIGITS}d}"
    validate_name(name)
    return name


def parse_version(name: str, labels: Mapping[str, str] | None = None) -> tuple[str, int]:
    """The logical name and version of a secret, from its labels, else from its name.

    ``db_password_v0002`` and ``db_password_v2`` are version 2 of ``db_password``; a name
    without a version suffix is version 1 of itself. Labels written by :func:`rotate` win.
    """
    labels = labels or {}
    logical = labels.get(LABEL_LOGICAL_NAME)
    version = labels.get(LABEL_VERSION, "")
    if logical and version.isdigit():
        return logical, int(version)
    match = _VERSIONED.match(name)
    if match:
        return match["logical"], int(match["version"])
    return name, 1


def _belongs_to(name: str, labels: Mapping[str, str], logical: str) -> bool:
    """Whether a secret is a version of ``logical``."""
    if LABEL_LOGICAL_NAME in labels:
        return labels[LABEL_LOGICAL_NAME] == logical
    return name == logical or parse_version(name)[0] == logical


# --- what the engine holds --------------------------------------------------------------------


@dataclass(frozen=True)
class SecretInfo:
    """A secret's metadata (the engine never returns its data, and nothing asks for it)."""

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
    """A running task and the version of a secret it mounts."""

    task_id: str
    service_name: str
    container_id: str
    state: str
    secret_name: str
    target: str

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


def _secret_info(raw: Mapping[str, Any]) -> SecretInfo:
    spec = raw.get("Spec") or {}
    name = spec.get("Name", "")
    labels = dict(spec.get("Labels") or {})
    logical, version = parse_version(name, labels)
    return SecretInfo(
        id=raw["ID"],
        name=name,
        logical_name=logical,
        version=version,
        labels=labels,
        created_at=raw.get("CreatedAt", ""),
        updated_at=raw.get("UpdatedAt", ""),
    )


def _secret_refs(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The secret references of a service or task spec (raw Engine API dicts)."""
    template = spec.get("TaskTemplate", spec)
    refs: list[dict[str, Any]] = (template.get("ContainerSpec") or {}).get("Secrets") or []
    return refs


def _reference(service: Mapping[str, Any], ref: Mapping[str, Any]) -> SecretReference:
    file = ref.get("File") or {}
    return SecretReference(
        service_id=service["ID"],
        service_name=service["Spec"]["Name"],
        secret_id=ref["SecretID"],
        secret_name=ref["SecretName"],
        target=file.get("Name", ""),
        uid=str(file.get("UID", "")),
        gid=str(file.get("GID", "")),
        mode=int(file.get("Mode", 0o444)),
    )


class _Engine:
    """The few Engine API calls this module makes, through docker-py's low-level client.

    Raw Engine API dicts are used throughout (never docker-py's ``SecretReference`` objects), so a
    reference's ``File`` (target, UID, GID and the integer mode) is copied exactly as the engine
    returned it.
    """

    def __init__(self, client: DockerClient) -> None:
        # Any: the stubs (types-docker) leave part of the low-level API untyped, and the
        # Engine API's JSON is untyped anyway.
        self.api: Any = client.api

    def secrets(self) -> list[SecretInfo]:
        return [_secret_info(raw) for raw in self.api.secrets()]

    def services(self) -> list[dict[str, Any]]:
        services: list[dict[str, Any]] = self.api.services()
        return services

    def service(self, service_id: str) -> dict[str, Any]:
        service: dict[str, Any] = self.api.inspect_service(service_id)
        return service

    def running_tasks(self, service_id: str) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = self.api.tasks(
            filters={"service": service_id, "desired-state": "running"}
        )
        return tasks

    def create_secret(self, name: str, data: bytes, labels: Mapping[str, str]) -> str:
        created: dict[str, Any] = self.api.create_secret(name, data, labels=dict(labels))
        return str(created["ID"])

    def remove_secret(self, secret_id: str) -> None:
        self.api.remove_secret(secret_id)

    def update_service(self, service_id: str, version: int, spec: Mapping[str, Any]) -> None:
        """Replace a service's spec with ``spec`` as a whole (nothing merged, nothing lost)."""
        spec = copy.deepcopy(dict(spec))
        networks = None
        if spec.get("Networks") and not spec.get("TaskTemplate", {}).get("Networks"):
            networks = spec["Networks"]  # the deprecated top-level form
        self.api.update_service(
            service_id,
            version,
            task_template=spec.get("TaskTemplate"),
            name=spec.get("Name"),
            labels=spec.get("Labels"),
            mode=spec.get("Mode"),
            update_config=spec.get("UpdateConfig"),
            rollback_config=spec.get("RollbackConfig"),
            networks=networks,
            endpoint_spec=spec.get("EndpointSpec"),
        )


def _docker() -> Any:
    """The ``docker`` package, imported on first use."""
    try:
        import docker  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as e:
        raise SwarmError(
            "the Swarm functions need the docker package: pip install 'runsecrets[swarm]'",
            reason="docker_missing",
        ) from e
    return docker


def client_from_env() -> DockerClient:
    """A Docker client configured from the environment (``DOCKER_HOST`` and friends).

    Raises:
        SwarmError: when the docker package is missing or the engine cannot be reached.
    """
    docker = _docker()
    try:
        client: DockerClient = docker.from_env()
    except docker.errors.DockerException as e:
        raise SwarmError(
            f"cannot reach the Docker engine ({type(e).__name__}); is DOCKER_HOST right?",
            reason="engine_error",
        ) from e
    return client


def _engine_error(action: str, error: BaseException) -> SwarmError:
    """A SwarmError for an Engine API failure (its explanation names objects, never data)."""
    return SwarmError(f"{action}: {_error_detail(error)}", reason="engine_error")


def _error_detail(error: BaseException) -> str:
    """The engine's explanation of an API error (it names objects, never data), else the
    error's type only (a transport error's text holds request URLs and more)."""
    explanation = getattr(error, "explanation", None)
    return str(explanation) if explanation else type(error).__name__


def _sdk_errors(docker: Any) -> tuple[type[BaseException], ...]:
    """What the SDK raises when the engine or the connection fails: ``DockerException`` (its
    ``APIError`` included) and ``requests``' ``RequestException`` (connection reset, timeout)."""
    kinds: list[type[BaseException]] = [docker.errors.DockerException]
    try:
        import requests  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        pass
    else:
        kinds.append(requests.exceptions.RequestException)
    return tuple(kinds)


def inventory(client: DockerClient) -> list[SecretInfo]:
    """Metadata of every secret in the Swarm, sorted by logical name then version.

    Never data: the Engine API does not return it and this function does not ask.

    Raises:
        SwarmError: the engine or the connection to it failed (``reason="engine_error"``).
    """
    try:
        secrets = _Engine(client).secrets()
    except _sdk_errors(_docker()) as e:
        raise _engine_error("listing secrets", e) from e
    return sorted(secrets, key=lambda s: (s.logical_name, s.version, s.name))


def audit(client: DockerClient, name: str | None = None) -> list[AuditEntry]:
    """Which services and running tasks use which secret, grouped by logical name.

    Args:
        client: A ``docker.DockerClient`` connected to a Swarm manager.
        name: Only this logical name (all versions of it); default every secret.

    Returns:
        One entry per logical name, sorted, with versions, references (target, uid, gid,
        mode) and the running tasks that mount each version.

    Raises:
        InvalidSwarmSecretError: ``name`` is not a name Swarm accepts.
        SwarmError: the engine or the connection to it failed (``reason="engine_error"``).
    """
    if name is not None:
        validate_name(name)
    try:
        return _audit(_Engine(client), name)
    except _sdk_errors(_docker()) as e:
        raise _engine_error("auditing secrets", e) from e


def _audit(engine: _Engine, name: str | None) -> list[AuditEntry]:
    secrets = engine.secrets()
    if name is not None:
        secrets = [s for s in secrets if _belongs_to(s.name, s.labels, name)]
    by_id = {s.id: s for s in secrets}
    references: dict[str, list[SecretReference]] = {}
    tasks: dict[str, list[TaskUse]] = {}
    for service in engine.services():
        refs = [r for r in _secret_refs(service["Spec"]) if r.get("SecretID") in by_id]
        if not refs:
            continue
        for ref in refs:
            logical = by_id[ref["SecretID"]].logical_name
            references.setdefault(logical, []).append(_reference(service, ref))
        for task in engine.running_tasks(service["ID"]):
            for use in _task_uses(service, task, by_id):
                tasks.setdefault(by_id[use[0]].logical_name, []).append(use[1])
    logical_names = sorted({s.logical_name for s in secrets})
    return [
        AuditEntry(
            logical_name=logical,
            versions=tuple(
                sorted((s for s in secrets if s.logical_name == logical), key=lambda s: s.version)
            ),
            references=tuple(references.get(logical, ())),
            tasks=tuple(tasks.get(logical, ())),
        )
        for logical in logical_names
    ]


def _task_uses(
    service: Mapping[str, Any], task: Mapping[str, Any], by_id: Mapping[str, SecretInfo]
) -> list[tuple[str, TaskUse]]:
    status = task.get("Status") or {}
    container = (status.get("ContainerStatus") or {}).get("ContainerID", "")
    return [
        (
            ref["SecretID"],
            TaskUse(
                task_id=task["ID"],
                service_name=service["Spec"]["Name"],
                container_id=container,
                state=status.get("State", ""),
                secret_name=ref["SecretName"],
                target=(ref.get("File") or {}).get("Name", ""),
            ),
        )
        for ref in _secret_refs(task.get("Spec") or {})
        if ref.get("SecretID") in by_id
    ]


# --- rotation ---------------------------------------------------------------------------------


@dataclass
class ServiceUpdate:
    """What a rotation did to one service.

    Attributes:
        service_id: The service's id.
        service_name: The service's name.
        old_secrets: The older versions it referenced before.
        targets: The target paths that were switched (kept as they were).
        state: ``updated`` (converged on the new version), ``submitted`` (not waited for),
            ``current`` (already on it), ``rolled_back`` (failed, back on its old version),
            ``failed`` (failed and could not be rolled back), ``pending`` (not finished: the
            rotation was interrupted; the update may or may not have been applied).
        detail: Why it failed, when it did.
    """

    service_id: str
    service_name: str
    old_secrets: tuple[str, ...]
    targets: tuple[str, ...]
    state: str = "pending"
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class RotationReport:
    """What :func:`rotate` changed.

    Attributes:
        logical_name: The secret's logical name.
        new_secret: The name of the version now in use.
        new_version: Its version number.
        created: Whether this call created it (False when it resumed an interrupted rotation,
            in which case the data passed in was not used).
        resumed: Whether an interrupted rotation was finished.
        services: One entry per service that referenced the secret.
        removed: Older versions removed.
        kept: Older versions kept (still referenced, not waited for, or ``remove_old=False``).
    """

    logical_name: str
    new_secret: str
    new_version: int
    created: bool
    resumed: bool
    services: list[ServiceUpdate] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every service is on the new version (or was not waited for)."""
        return all(s.state in ("updated", "current", "submitted") for s in self.services)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def lines(self) -> list[str]:
        """A human-readable summary, one line per change."""
        head = "resumed" if self.resumed else "created" if self.created else "using"
        out = [f"{head} {self.new_secret} (version {self.new_version} of {self.logical_name})"]
        if self.resumed:
            out.append("  an interrupted rotation was finished; the data given was not used")
        for s in self.services:
            old = ", ".join(s.old_secrets) or "-"
            line = f"service {s.service_name}: {s.state} ({old} -> {self.new_secret}"
            line += f" at {', '.join(s.targets)})" if s.targets else ")"
            out.append(line + (f": {s.detail}" if s.detail else ""))
        out.extend(f"removed {name}" for name in self.removed)
        out.extend(f"kept {name}" for name in self.kept)
        return out


@dataclass
class _Plan:
    """One service to move: its spec before, and the spec to apply."""

    update: ServiceUpdate
    original: dict[str, Any]
    wanted: dict[str, Any]
    version: int


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


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
) -> RotationReport:
    """Rotate a Swarm secret: a new version, every service moved to it, old versions removed.

    The name and size are checked before any call to the engine. Each service that references
    an older version gets the new one at the same target, uid, gid and mode (the reference's
    ``File`` is copied, its integer mode included); nothing else in its spec changes. With
    ``wait`` (the default) each update must converge; one that fails or times out is rolled
    back to the service's previous spec and the rotation raises :class:`RotationError` after
    the other services are done. Older versions are removed only after every update converged
    and only when no service references them.

    Re-running after an interruption finishes the interrupted rotation with the version it
    created (``report.resumed``), and does not create another one.

    Args:
        client: A ``docker.DockerClient`` connected to a Swarm manager.
        name: The logical name (``db_password``); versions are ``db_password_v0002``...
        data: The new value (text is encoded as UTF-8). Never logged nor shown.
        labels: Extra labels for the new secret.
        wait: Wait for every service update to converge (and only then remove old versions).
        timeout: Seconds to wait for all updates together.
        remove_old: Remove older versions that no service references any more.
        poll_interval: Seconds between checks while waiting.

    Returns:
        A :class:`RotationReport` of what changed.

    Raises:
        InvalidSwarmSecretError: a name or size Swarm would refuse (nothing was done).
        RotationError: some service could not be moved, or the engine or the connection to it
            failed midway; ``.report`` says what was done (version created, services moved).
            Every service still uses an existing version; run again to finish.
        SwarmError: the engine failed before anything was changed (``reason="engine_error"``),
            or another rotation created the next version (``"conflict"``).
    """
    validate_name(name)
    raw = _as_bytes(data)
    validate_data(raw)
    versioned_name(name, 10**_VERSION_DIGITS - 1)  # the longest name this scheme makes must fit
    engine = _Engine(client)
    sdk_errors = _sdk_errors(_docker())
    deadline = time.monotonic() + timeout
    try:
        # Without waiting, the old versions are kept (tasks may still use them): the label
        # says so, or the next rotation would take them for an unfinished one and resume it
        # instead of using its new value.
        report, target = _choose_target(engine, name, raw, labels or {}, remove_old and wait)
    except sdk_errors as e:
        raise _engine_error(f"rotating {name!r}", e) from e  # nothing was created
    try:
        plans = _plan_updates(engine, name, target, report)
        _submit(engine, plans, target)
        if wait:
            _wait_all(engine, plans, target, deadline, poll_interval)
        else:
            for plan in plans:
                if plan.update.state == "pending":
                    plan.update.state = "submitted"
        _remove_old(engine, name, target, report, remove=remove_old and wait)
    except sdk_errors as e:
        raise _interrupted(name, report, e) from e
    if not report.ok:
        failed = [s.service_name for s in report.services if s.state not in ("updated", "current")]
        raise RotationError(
            f"rotation of {name!r} to {report.new_secret} is incomplete: {', '.join(failed)} "
            f"could not be updated and stay on their previous version; run the rotation again "
            "to finish it",
            report=report,
            name=name,
        )
    return report


def _interrupted(name: str, report: RotationReport, error: BaseException) -> RotationError:
    """The RotationError for an engine or connection failure midway, with what was done."""
    for update in report.services:
        if update.state == "pending":
            update.detail = "not finished: the rotation was interrupted"
    done = "created" if report.created else "resumed with"
    return RotationError(
        f"rotation of {name!r} was interrupted by {_error_detail(error)} ({done} "
        f"{report.new_secret}); every service still uses an existing version; run the rotation "
        "again to finish it",
        report=report,
        name=name,
    )


def _versions(engine: _Engine, name: str) -> list[SecretInfo]:
    found = [s for s in engine.secrets() if _belongs_to(s.name, s.labels, name)]
    return sorted(found, key=lambda s: (s.version, s.created_at))


def _choose_target(
    engine: _Engine,
    name: str,
    data: bytes,
    labels: Mapping[str, str],
    remove_old: bool,
) -> tuple[RotationReport, SecretInfo]:
    """The version to move services to: a pending rotation's, else a new one."""
    versions = _versions(engine, name)
    if versions and _pending(engine, versions):
        newest = versions[-1]
        return (
            RotationReport(name, newest.name, newest.version, created=False, resumed=True),
            newest,
        )
    version = versions[-1].version + 1 if versions else 1
    secret_name = versioned_name(name, version)
    all_labels = {
        **labels,
        LABEL_LOGICAL_NAME: name,
        LABEL_VERSION: str(version),
        LABEL_REMOVE_OLD: "true" if remove_old else "false",
    }
    docker = _docker()
    try:
        secret_id = engine.create_secret(secret_name, data, all_labels)
    except docker.errors.APIError as e:
        if getattr(e, "status_code", None) == 409:
            raise SwarmError(
                f"secret {secret_name} already exists: another rotation of {name!r} is running?",
                reason="conflict",
                name=name,
            ) from e
        raise
    info = SecretInfo(secret_id, secret_name, name, version, all_labels, "", "")
    return RotationReport(name, secret_name, version, created=True, resumed=False), info


def _pending(engine: _Engine, versions: list[SecretInfo]) -> bool:
    """Whether the newest version's rotation is unfinished (see the module docstring)."""
    newest, older = versions[-1], {v.id for v in versions[:-1]}
    if not older:
        return False
    if newest.labels.get(LABEL_REMOVE_OLD) == "true":
        return True
    return any(
        ref.get("SecretID") in older
        for service in engine.services()
        for ref in _secret_refs(service["Spec"])
    )


def _plan_updates(
    engine: _Engine, name: str, target: SecretInfo, report: RotationReport
) -> list[_Plan]:
    """One plan per service that references an older version of ``name``."""
    versions = {v.id: v for v in _versions(engine, name)}
    plans = []
    for service in engine.services():
        refs = _secret_refs(service["Spec"])
        old = [r for r in refs if r.get("SecretID") in versions and r["SecretID"] != target.id]
        on_target = any(r.get("SecretID") == target.id for r in refs)
        if not old and not on_target:
            continue
        update = ServiceUpdate(
            service_id=service["ID"],
            service_name=service["Spec"]["Name"],
            old_secrets=tuple(dict.fromkeys(r["SecretName"] for r in old)),
            targets=tuple((r.get("File") or {}).get("Name", "") for r in old),
        )
        report.services.append(update)
        if not old:
            # Already moved, maybe by an interrupted run whose update may still be rolling.
            update.state = "current"
            previous = service.get("PreviousSpec") or {}
            if not any(r.get("SecretID") in versions for r in _secret_refs(previous)):
                previous = {}  # its last change was not a rotation of this secret
            plans.append(_Plan(update, previous, service["Spec"], -1))
            continue
        wanted = copy.deepcopy(service["Spec"])
        _swap_refs(wanted, set(versions) - {target.id}, target)
        plans.append(_Plan(update, service["Spec"], wanted, service["Version"]["Index"]))
    return plans


def _swap_refs(spec: dict[str, Any], old_ids: set[str], target: SecretInfo) -> None:
    """Point every reference to an old version at ``target``; ``File`` is kept verbatim."""
    for ref in _secret_refs(spec):
        if ref.get("SecretID") in old_ids:
            ref["SecretID"] = target.id
            ref["SecretName"] = target.name


def _submit(engine: _Engine, plans: list[_Plan], target: SecretInfo) -> None:
    """Send each service its new spec; a refused update marks that service failed.

    A refusal is retried once on a fresh read: the usual cause is a concurrent update of the
    service (its version index moved on since it was read).
    """
    errors = _docker().errors
    for plan in plans:
        if plan.version < 0:
            continue
        try:
            engine.update_service(plan.update.service_id, plan.version, plan.wanted)
            continue
        except errors.APIError:
            pass
        fresh = engine.service(plan.update.service_id)
        old_ids = {
            r["SecretID"]
            for r in _secret_refs(fresh["Spec"])
            if r.get("SecretName") in plan.update.old_secrets
        }
        plan.original = fresh["Spec"]
        plan.wanted = copy.deepcopy(fresh["Spec"])
        _swap_refs(plan.wanted, old_ids, target)
        try:
            engine.update_service(plan.update.service_id, fresh["Version"]["Index"], plan.wanted)
        except errors.APIError as e:
            plan.update.state = "failed"
            plan.update.detail = f"update refused: {getattr(e, 'explanation', None) or e!r}"


def _wait_all(
    engine: _Engine,
    plans: list[_Plan],
    target: SecretInfo,
    deadline: float,
    poll_interval: float,
) -> None:
    """Wait for every plan to converge; roll back the ones that fail or run out of time."""
    waiting = [plan for plan in plans if plan.update.state != "failed"]
    while waiting:
        for plan in list(waiting):
            # A service found already on the target only has a rotation's rollback spec when
            # its previous spec used an older version; without one, an old failure state in
            # its UpdateStatus belongs to some other change and is not ours to judge.
            judge = plan.update.state != "current" or bool(plan.original)
            verdict = _converged(engine, plan.update.service_id, target.id, judge_status=judge)
            if verdict is None:
                continue
            waiting.remove(plan)
            if verdict == "":
                if plan.update.state != "current":
                    plan.update.state = "updated"
            else:
                _roll_back(engine, plan, verdict, poll_interval)
        if waiting and time.monotonic() > deadline:
            for plan in waiting:
                _roll_back(engine, plan, "timed out waiting for the update", poll_interval)
            return
        if waiting:
            time.sleep(poll_interval)


def _converged(
    engine: _Engine,
    service_id: str,
    secret_id: str,
    *,
    judge_status: bool = True,
    rollback_ok: bool = False,
) -> str | None:
    """``""`` when converged on ``secret_id``, a failure description, or None (still rolling).

    Converged means: no update in progress, and every task meant to run is running with a spec
    that mounts ``secret_id`` (as many as the service's replicas). With ``judge_status`` a
    paused update, or one the service rolled back itself (unless ``rollback_ok``), is a failure.
    """
    service = engine.service(service_id)
    status = service.get("UpdateStatus") or {}
    state = status.get("State", "")
    if state in ("updating", "rollback_started"):
        return None
    if judge_status and (
        state in _FAILED_STATES or (state == "rollback_completed" and not rollback_ok)
    ):
        return f"update {state}: {status.get('Message', '')}".rstrip(": ")
    tasks = engine.running_tasks(service_id)
    if not tasks:
        return None
    for task in tasks:
        task_status = task.get("Status") or {}
        if task_status.get("State") != "running":
            return None
        if secret_id not in {r.get("SecretID") for r in _secret_refs(task.get("Spec") or {})}:
            return None
    replicas = (service["Spec"].get("Mode") or {}).get("Replicated", {}).get("Replicas")
    if replicas is not None and len(tasks) < replicas:
        return None
    return ""


def _roll_back(engine: _Engine, plan: _Plan, why: str, poll_interval: float) -> None:
    """Put a service back on its spec from before the rotation and wait (briefly) for it.

    The spec re-applied is the one read before the update (not the engine's ``PreviousSpec``,
    which another client may have moved on), unless the service's own failure action already
    rolled it back. A rollback that does not converge within a minute leaves the service
    ``failed``.
    """
    plan.update.detail = why
    if not plan.original:
        plan.update.state = "failed"
        return
    service = engine.service(plan.update.service_id)
    status = (service.get("UpdateStatus") or {}).get("State", "")
    if status not in _ROLLED_BACK_STATES:
        engine.update_service(plan.update.service_id, service["Version"]["Index"], plan.original)
    # The old version the service goes back to: a secret of the original spec not in the new.
    new_ids = {r.get("SecretID") for r in _secret_refs(plan.wanted)}
    old_id = next(
        (r["SecretID"] for r in _secret_refs(plan.original) if r.get("SecretID") not in new_ids),
        None,
    )
    deadline = time.monotonic() + 60
    while old_id is not None and time.monotonic() < deadline:
        verdict = _converged(engine, plan.update.service_id, old_id, rollback_ok=True)
        if verdict == "":
            plan.update.state = "rolled_back"
            return
        if verdict is not None:
            plan.update.state = "failed"
            plan.update.detail += f"; the rollback failed too ({verdict})"
            return
        time.sleep(poll_interval)
    plan.update.state = "failed" if old_id is not None else "rolled_back"
    if old_id is not None:
        plan.update.detail += "; the rollback was submitted but had not converged after 60s"


def _remove_old(
    engine: _Engine, name: str, target: SecretInfo, report: RotationReport, *, remove: bool
) -> None:
    """Remove the older versions no service references (re-read after the updates)."""
    older = [v for v in _versions(engine, name) if v.id != target.id and v.version < target.version]
    if not older:
        return
    if not remove or not report.ok:
        report.kept.extend(v.name for v in older)
        return
    in_use = {r.get("SecretID") for s in engine.services() for r in _secret_refs(s["Spec"])}
    docker = _docker()
    for version in older:
        if version.id in in_use:
            report.kept.append(version.name)
            continue
        try:
            engine.remove_secret(version.id)
        except docker.errors.APIError:
            report.kept.append(version.name)  # in use after all (a service created meanwhile)
        else:
            report.removed.append(version.name)
