"""The only place that talks to docker-py: the client, the Engine API calls, their errors.

Raw Engine API dicts are used throughout (never docker-py's ``SecretReference`` objects), so a
reference's ``File`` (target, UID, GID and the integer mode) is copied exactly as the engine
returned it. The ``docker`` package is imported on first use only (the ``runsecrets[swarm]``
extra).
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

from ..exceptions import SwarmError
from ._model import SecretInfo, SecretReference
from ._names import parse_version

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    # Typed by the types-docker stubs when they are installed, else Any.
    from docker import (  # type: ignore[import-untyped, import-not-found, attr-defined, unused-ignore]
        DockerClient,
    )


def docker_module() -> Any:
    """The ``docker`` package, imported on first use.

    Raises:
        SwarmError: ``reason="docker_missing"``.
    """
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
        SwarmError: ``reason="docker_missing"`` without the docker package,
            ``"invalid_docker_host"`` when ``DOCKER_HOST`` is not an address docker can use,
            ``"engine_error"`` when the engine cannot be reached.
    """
    docker = docker_module()
    try:
        client: DockerClient = docker.from_env()
    except ValueError as e:  # urllib's parsing of DOCKER_HOST: "Invalid IPv6 URL", a bad port
        raise SwarmError(
            f"DOCKER_HOST is not an address the docker SDK can use ({type(e).__name__}); "
            "expected unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://USER@HOST",
            reason="invalid_docker_host",
            variable="DOCKER_HOST",
        ) from e
    except docker.errors.DockerException as e:
        raise SwarmError(
            f"cannot reach the Docker engine ({type(e).__name__}); is DOCKER_HOST right?",
            reason="engine_error",
        ) from e
    return client


def error_detail(error: BaseException) -> str:
    """The engine's explanation of an API error (it names objects, never data), else the
    error's type only (a transport error's text holds request URLs and more)."""
    explanation = getattr(error, "explanation", None)
    return str(explanation) if explanation else type(error).__name__


def engine_error(action: str, error: BaseException) -> SwarmError:
    """A SwarmError for an Engine API failure."""
    return SwarmError(f"{action}: {error_detail(error)}", reason="engine_error")


def sdk_errors() -> tuple[type[BaseException], ...]:
    """What the SDK raises when the engine or the connection fails: ``DockerException`` (its
    ``APIError`` included) and ``requests``' ``RequestException`` (connection reset, timeout)."""
    kinds: list[type[BaseException]] = [docker_module().errors.DockerException]
    try:
        import requests  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        pass
    else:
        kinds.append(requests.exceptions.RequestException)
    return tuple(kinds)


def api_error() -> type[BaseException]:
    """docker-py's ``APIError``: the engine answered, and refused."""
    kind: type[BaseException] = docker_module().errors.APIError
    return kind


# --- reading specs ----------------------------------------------------------------------------


def secret_refs(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The secret references of a service or task spec (raw Engine API dicts, not copies)."""
    template = spec.get("TaskTemplate", spec)
    refs: list[dict[str, Any]] = (template.get("ContainerSpec") or {}).get("Secrets") or []
    return refs


def referenced_ids(spec: Mapping[str, Any]) -> set[str]:
    """The ids of the secrets a service or task spec references."""
    return {ref.get("SecretID", "") for ref in secret_refs(spec)}


def service_mode(spec: Mapping[str, Any]) -> str:
    """``replicated``, ``global``, ``job`` (either kind) or the mode's own name."""
    mode = spec.get("Mode") or {"Replicated": {}}
    if "ReplicatedJob" in mode or "GlobalJob" in mode:
        return "job"
    if "Replicated" in mode:
        return "replicated"
    if "Global" in mode:
        return "global"
    return next(iter(mode), "replicated").lower()


def replicas(spec: Mapping[str, Any]) -> int:
    """How many tasks a replicated service is meant to run (1 when the spec leaves it out)."""
    return int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1))


def file_of(ref: Mapping[str, Any]) -> tuple[str, str, str, int]:
    """A reference's target, uid, gid and integer mode."""
    file = ref.get("File") or {}
    return (
        str(file.get("Name", "")),
        str(file.get("UID", "")),
        str(file.get("GID", "")),
        int(file.get("Mode", 0o444)),
    )


def secret_info(raw: Mapping[str, Any]) -> SecretInfo:
    """A :class:`SecretInfo` from the engine's JSON."""
    spec = raw.get("Spec") or {}
    name = str(spec.get("Name", ""))
    labels = {str(k): str(v) for k, v in (spec.get("Labels") or {}).items()}
    logical, version = parse_version(name, labels)
    return SecretInfo(
        id=str(raw["ID"]),
        name=name,
        logical_name=logical,
        version=version,
        labels=labels,
        created_at=str(raw.get("CreatedAt", "")),
        updated_at=str(raw.get("UpdatedAt", "")),
    )


def reference(service: Mapping[str, Any], ref: Mapping[str, Any]) -> SecretReference:
    """A :class:`SecretReference` from a service and one of its raw references."""
    target, uid, gid, mode = file_of(ref)
    return SecretReference(
        service_id=service["ID"],
        service_name=service["Spec"]["Name"],
        secret_id=ref["SecretID"],
        secret_name=ref["SecretName"],
        target=target,
        uid=uid,
        gid=gid,
        mode=mode,
    )


# --- the calls --------------------------------------------------------------------------------


class Engine:
    """The few Engine API calls the swarm functions make, through docker-py's low-level client."""

    def __init__(self, client: DockerClient) -> None:
        # Any: the stubs (types-docker) leave part of the low-level API untyped, and the
        # Engine API's JSON is untyped anyway.
        self.api: Any = client.api

    def secrets(self) -> list[SecretInfo]:
        return [secret_info(raw) for raw in self.api.secrets()]

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

    def node_names(self) -> dict[str, str]:
        """Each node's id and hostname (a manager answers; a worker is refused)."""
        return {
            str(node["ID"]): str((node.get("Description") or {}).get("Hostname", ""))
            for node in self.api.nodes()
        }

    def create_secret(self, name: str, data: bytes, labels: Mapping[str, str]) -> str:
        created: dict[str, Any] = self.api.create_secret(name, data, labels=dict(labels))
        return str(created["ID"])

    def remove_secret(self, secret_id: str) -> None:
        self.api.remove_secret(secret_id)

    def update_service(self, service_id: str, version: int, spec: Mapping[str, Any]) -> None:
        """Replace a service's spec with ``spec`` as a whole: nothing merged, nothing lost.

        Posted directly rather than through docker-py's ``update_service``, which adds an
        ``X-Registry-Auth`` header from the operator's ``~/.docker/config.json``: the engine
        would store those credentials with the service and hand them to every node. Without
        the header the engine keeps the spec's own pull credentials, as ``docker service
        update`` does unless asked ``--with-registry-auth``.

        Raises:
            docker.errors.APIError: the engine refused (``update out of sequence`` when the
                service changed since ``version`` was read).
        """
        url = f"{self.api.base_url}/v{self.api.api_version}/services/{quote(service_id)}/update"
        response = self.api.post(
            url,
            params={"version": version},
            json=copy.deepcopy(dict(spec)),
            timeout=self.api.timeout,
        )
        if response.status_code >= 400:
            raise docker_module().errors.APIError(
                f"{response.status_code} updating service {service_id}",
                response=response,
                explanation=_explanation(response),
            )


def _explanation(response: Any) -> str:
    """The engine's message in an error response (it names objects, never data)."""
    try:
        body = response.json()
    except ValueError:
        return str(response.reason or response.status_code)
    return str(body.get("message", "")) if isinstance(body, dict) else str(body)
