"""An in-memory Engine API for ``runsecrets.swarm``'s fast tests (the real Swarm is in
tests/e2e). It stands in at docker-py's level: ``client.api`` with the calls the package makes,
and a fake ``docker`` module (its ``errors``) placed in ``sys.modules``."""

from __future__ import annotations

import copy
import itertools
import re
import types
from collections.abc import Callable
from typing import Any


class FakeDockerException(Exception):
    """Stands in for docker.errors.DockerException, the root of the SDK's errors."""


class FakeAPIError(FakeDockerException):
    """Stands in for docker.errors.APIError (same constructor)."""

    def __init__(self, message: str, response: Any = None, explanation: str | None = None) -> None:
        super().__init__(message)
        self.response = response
        self.explanation = explanation or message

    @property
    def status_code(self) -> int | None:
        return getattr(self.response, "status_code", None)


class FakeResponse:
    """What ``requests`` returns, as far as runsecrets.swarm reads it."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code = status_code
        self.reason = "error" if status_code >= 400 else "OK"
        self._body = body

    def json(self) -> dict[str, Any]:
        return self._body


def fake_docker_module() -> types.SimpleNamespace:
    """A ``docker`` module with the errors runsecrets.swarm uses, and ``from_env``."""
    errors = types.SimpleNamespace(APIError=FakeAPIError, DockerException=FakeDockerException)
    return types.SimpleNamespace(errors=errors, from_env=FakeClient)


#: A reference in ``add_service``: (secret id, target, uid, gid, mode).
Ref = tuple[str, str, str, str, int]
_UPDATE_URL = re.compile(r"/services/(?P<id>[^/]+)/update$")


class FakeAPI:
    """Secrets, services, and tasks that follow each spec at once.

    ``fail_updates`` holds service names whose next update pauses (as a failing task would
    make it); ``refuse_updates`` names whose updates are refused; ``self_rollback`` names that
    undo the update themselves; ``stuck`` names whose updates never finish; ``broken_updates``
    maps names to the error their next update raises (an SDK or connection error), and
    ``broken_calls`` does the same for other calls (``secrets``); ``after_update`` maps names
    to a function run once right after their next update (another operator, say);
    ``taken_on_create`` holds names another client creates just before this one does;
    ``settling`` maps names whose update is rolling (``rollback_started``) to the number of
    service listings after which it completes.
    """

    base_url = "http+docker://localhost"
    api_version = "1.41"
    timeout = 60

    def __init__(self) -> None:
        self.ids = (f"id{n:023d}" for n in itertools.count())
        self.secret_store: dict[str, dict[str, Any]] = {}
        self.data: dict[str, bytes] = {}
        self.service_store: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.posts: list[dict[str, Any]] = []
        self.fail_updates: set[str] = set()
        self.refuse_updates: set[str] = set()
        self.self_rollback: set[str] = set()
        self.stuck: set[str] = set()
        self.broken_updates: dict[str, BaseException] = {}
        self.broken_calls: dict[str, BaseException] = {}
        self.after_update: dict[str, Callable[[FakeAPI, dict[str, Any]], None]] = {}
        self.taken_on_create: set[str] = set()
        self.settling: dict[str, int] = {}

    # --- setting up ------------------------------------------------------------------------

    def add_secret(self, name: str, labels: dict[str, str] | None = None) -> str:
        secret_id = next(self.ids)
        self.secret_store[secret_id] = {
            "ID": secret_id,
            "Spec": {"Name": name, "Labels": labels or {}},
            "CreatedAt": f"2026-01-{len(self.secret_store) + 1:02d}",
            "UpdatedAt": "",
        }
        return secret_id

    def add_service(
        self, name: str, *refs: Ref, mode: dict[str, Any] | None = None, labels: Any = None
    ) -> str:
        service_id = next(self.ids)
        secrets = [
            {
                "SecretID": sid,
                "SecretName": self.secret_store[sid]["Spec"]["Name"],
                "File": {"Name": target, "UID": uid, "GID": gid, "Mode": mode_},
            }
            for sid, target, uid, gid, mode_ in refs
        ]
        self.service_store[service_id] = {
            "ID": service_id,
            "Version": {"Index": 1},
            "Spec": {
                "Name": name,
                "Labels": {"team": "db", **(labels or {})},
                "TaskTemplate": {
                    "ContainerSpec": {"Image": "app:1", "Env": ["A=1"], "Secrets": secrets}
                },
                "Mode": mode or {"Replicated": {"Replicas": 1}},
                "UpdateConfig": {"Parallelism": 1, "Order": "stop-first"},
            },
        }
        return service_id

    def refs(self, service_id: str) -> list[dict[str, Any]]:
        return self.spec(service_id)["TaskTemplate"]["ContainerSpec"]["Secrets"]

    def spec(self, service_id: str) -> dict[str, Any]:
        spec: dict[str, Any] = self.service_store[service_id]["Spec"]
        return spec

    def secret_id(self, name: str) -> str:
        (found,) = [k for k, v in self.secret_store.items() if v["Spec"]["Name"] == name]
        return found

    def names(self) -> list[str]:
        return sorted(s["Spec"]["Name"] for s in self.secret_store.values())

    def count(self, prefix: str) -> int:
        return sum(call.startswith(prefix) for call in self.calls)

    # --- the Engine API surface used by runsecrets.swarm ---------------------------------

    def secrets(self) -> list[dict[str, Any]]:
        self.calls.append("secrets")
        if "secrets" in self.broken_calls:
            raise self.broken_calls.pop("secrets")
        return copy.deepcopy(list(self.secret_store.values()))

    def services(self) -> list[dict[str, Any]]:
        self.calls.append("services")
        for service in self.service_store.values():
            name = service["Spec"]["Name"]
            if name in self.settling:
                service["UpdateStatus"] = {"State": "rollback_started"}
                self.settling[name] -= 1
                if self.settling[name] < 0:
                    del self.settling[name]
                    service["UpdateStatus"] = {"State": "rollback_completed"}
        return copy.deepcopy(list(self.service_store.values()))

    def inspect_service(self, service_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.service_store[service_id])

    def tasks(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        service = self.service_store[filters["service"]]
        mode = service["Spec"]["Mode"]
        if "Replicated" in mode:
            count = mode["Replicated"].get("Replicas", 1)
        else:
            count = mode.get("Global", {}).get("Nodes", 0)  # the fake's eligible nodes
        return [
            {
                "ID": f"task-{service['ID']}-{n}",
                "NodeID": f"node{n}",
                "Status": {"State": "running", "ContainerStatus": {"ContainerID": f"c{n}"}},
                "Spec": copy.deepcopy(service["Spec"]["TaskTemplate"]),
            }
            for n in range(count)
        ]

    def nodes(self) -> list[dict[str, Any]]:
        """The fake's nodes: ``node0`` ... (a task's ``NodeID`` is ``node<n>`` for its n-th task)."""
        self.calls.append("nodes")
        return [{"ID": f"node{n}", "Description": {"Hostname": f"host{n}"}} for n in range(3)]

    def create_secret(self, name: str, data: bytes, labels: dict[str, str]) -> dict[str, str]:
        self.calls.append(f"create {name}")
        if name in self.taken_on_create:
            self.add_secret(name)
        if any(s["Spec"]["Name"] == name for s in self.secret_store.values()):
            raise FakeAPIError("already exists", FakeResponse(409, {}))
        secret_id = self.add_secret(name, labels)
        self.data[secret_id] = data
        return {"ID": secret_id}

    def remove_secret(self, secret_id: str) -> None:
        self.calls.append(f"remove {self.secret_store[secret_id]['Spec']['Name']}")
        for service in self.service_store.values():
            refs = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
            if any(r["SecretID"] == secret_id for r in refs):
                raise FakeAPIError("in use", FakeResponse(400, {}))
        del self.secret_store[secret_id]

    def post(self, url: str, **kwargs: Any) -> FakeResponse:
        """``POST /services/{id}/update?version=N`` with the whole spec as JSON."""
        self.posts.append({"url": url, **kwargs})
        match = _UPDATE_URL.search(url)
        assert match, url
        service = self.service_store[match["id"]]
        name = service["Spec"]["Name"]
        self.calls.append(f"update {name}")
        if name in self.broken_updates:  # the connection fails, nothing done
            raise self.broken_updates.pop(name)
        if name in self.refuse_updates:
            return FakeResponse(500, {"message": "update refused"})
        if kwargs["params"]["version"] != service["Version"]["Index"]:
            return FakeResponse(500, {"message": "update out of sequence"})
        self.apply(service, kwargs["json"])
        return FakeResponse(200, {"Warnings": None})

    # --- what the engine does with an update ---------------------------------------------

    def apply(self, service: dict[str, Any], spec: dict[str, Any]) -> None:
        """Store the spec, and play the update's outcome (paused, self rollback, stuck)."""
        service["PreviousSpec"] = service["Spec"]
        service["Spec"] = copy.deepcopy(spec)
        service["Version"]["Index"] += 1
        name = service["Spec"]["Name"]
        state = "updating" if name in self.stuck else "completed"
        if name in self.fail_updates:
            self.fail_updates.discard(name)
            state = "paused"
        service["UpdateStatus"] = {"State": state}
        if name in self.self_rollback:
            self.self_rollback.discard(name)
            service["Spec"], service["PreviousSpec"] = service["PreviousSpec"], service["Spec"]
            service["Version"]["Index"] += 1
            service["UpdateStatus"] = {"State": "rollback_completed", "Message": "rolled back"}
        hook = self.after_update.pop(name, None)
        if hook is not None:
            hook(self, service)


class FakeClient:
    """What rotate/audit/inventory use of a DockerClient: ``.api`` and ``close()``."""

    def __init__(self) -> None:
        self.api = FakeAPI()

    def close(self) -> None:
        pass
