"""Read-only views: every secret's metadata, and who uses which version of which secret.

Grouping is by what each secret *shows* (its labels, else its name): anyone can write labels,
so these views describe, they decide nothing. Never data: the Engine API does not return it
and nothing here asks.
"""

from __future__ import annotations

from ._engine import (
    Engine,
    engine_error,
    file_of,
    reference,
    sdk_errors,
    secret_refs,
)
from ._model import AuditEntry, SecretInfo, SecretReference, TaskUse
from ._names import looks_like, validate_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from docker import (  # type: ignore[import-untyped, import-not-found, attr-defined, unused-ignore]
        DockerClient,
    )


def inventory(client: DockerClient) -> list[SecretInfo]:
    """Metadata of every secret in the Swarm, sorted by logical name then version.

    Never data: the Engine API does not return it and this function does not ask.

    Raises:
        SwarmError: the engine or the connection to it failed (``reason="engine_error"``).
    """
    try:
        secrets = Engine(client).secrets()
    except sdk_errors() as e:
        raise engine_error("listing secrets", e) from e
    return sorted(secrets, key=lambda s: (s.logical_name, s.version, s.name))


def audit(client: DockerClient, name: str | None = None) -> list[AuditEntry]:
    """Which services and running tasks use which secret, grouped by logical name.

    Args:
        client: A ``docker.DockerClient`` connected to a Swarm manager.
        name: Only this logical name (every secret that looks like a version of it); default
            every secret.

    Returns:
        One entry per logical name, sorted, with versions, references (target, uid, gid,
        mode) and the running tasks that mount each version, each with the node it runs on.

    Raises:
        InvalidSwarmSecretError: ``name`` is not a name Swarm accepts.
        SwarmError: the engine or the connection to it failed (``reason="engine_error"``).
    """
    if name is not None:
        validate_name(name)
    try:
        return _audit(Engine(client), name)
    except sdk_errors() as e:
        raise engine_error("auditing secrets", e) from e


def _audit(engine: Engine, name: str | None) -> list[AuditEntry]:
    secrets = engine.secrets()
    if name is not None:
        secrets = [s for s in secrets if looks_like(s.name, s.labels, name)]
    by_id = {s.id: s for s in secrets}
    references: dict[str, list[SecretReference]] = {}
    tasks: dict[str, list[TaskUse]] = {}
    nodes: dict[str, str] | None = None  # asked once, and only when a task is listed
    for service in engine.services():
        refs = [r for r in secret_refs(service["Spec"]) if r.get("SecretID") in by_id]
        if not refs:
            continue
        for ref in refs:
            logical = by_id[ref["SecretID"]].logical_name
            references.setdefault(logical, []).append(reference(service, ref))
        running = engine.running_tasks(service["ID"])
        if running and nodes is None:
            nodes = engine.node_names()
        for task in running:
            for secret_id, use in _task_uses(service, task, by_id, nodes or {}):
                tasks.setdefault(by_id[secret_id].logical_name, []).append(use)
    return [
        AuditEntry(
            logical_name=logical,
            versions=tuple(
                sorted((s for s in secrets if s.logical_name == logical), key=lambda s: s.version)
            ),
            references=tuple(references.get(logical, ())),
            tasks=tuple(tasks.get(logical, ())),
        )
        for logical in sorted({s.logical_name for s in secrets})
    ]


def _task_uses(
    service: Mapping[str, Any],
    task: Mapping[str, Any],
    by_id: Mapping[str, SecretInfo],
    nodes: Mapping[str, str],
) -> list[tuple[str, TaskUse]]:
    status = task.get("Status") or {}
    container = (status.get("ContainerStatus") or {}).get("ContainerID", "")
    node = nodes.get(str(task.get("NodeID", "")), "")
    return [
        (
            ref["SecretID"],
            TaskUse(
                task_id=task["ID"],
                service_name=service["Spec"]["Name"],
                container_id=container,
                state=status.get("State", ""),
                secret_name=ref["SecretName"],
                target=file_of(ref)[0],
                node=node,
            ),
        )
        for ref in secret_refs(task.get("Spec") or {})
        if ref.get("SecretID") in by_id
    ]
