"""runsecrets.swarm without an engine: validation, the version scheme, and rotation logic on a
fake Engine API (the real-Swarm tests are in tests/e2e/test_swarm_rotate.py)."""

from __future__ import annotations

import copy
import itertools
import subprocess
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

from runsecrets import RunSecretsError
from runsecrets import swarm as sw


class FakeDockerException(Exception):
    """Stands in for docker.errors.DockerException, the root of the SDK's errors."""


class FakeAPIError(FakeDockerException):
    """Stands in for docker.errors.APIError."""

    def __init__(self, message: str, status_code: int = 500) -> None:
        super().__init__(message)
        self.explanation = message
        self.status_code = status_code


@pytest.fixture(autouse=True)
def fake_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's lazy ``docker`` import, replaced: these tests need no SDK."""
    errors = types.SimpleNamespace(APIError=FakeAPIError, DockerException=FakeDockerException)
    module = types.SimpleNamespace(errors=errors)
    monkeypatch.setattr(sw, "_docker", lambda: module)


class FakeAPI:
    """An in-memory Engine API: secrets, services, and tasks that follow each spec at once.

    ``fail_updates`` holds service names whose next update pauses (as a failing task would
    make it), ``refuse_updates`` names whose update call is refused, ``broken_updates`` maps
    names to the error their next update call raises (an SDK or connection error), and
    ``broken_calls`` does the same for other calls (``secrets``).
    """

    def __init__(self) -> None:
        self.ids = (f"id{n}" for n in itertools.count())
        self.secret_store: dict[str, dict[str, Any]] = {}
        self.data: dict[str, bytes] = {}
        self.service_store: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.fail_updates: set[str] = set()
        self.refuse_updates: set[str] = set()
        self.self_rollback: set[str] = set()
        self.broken_updates: dict[str, BaseException] = {}
        self.broken_calls: dict[str, BaseException] = {}

    # setup helpers
    def add_secret(self, name: str, labels: dict[str, str] | None = None) -> str:
        secret_id = next(self.ids)
        self.secret_store[secret_id] = {
            "ID": secret_id,
            "Spec": {"Name": name, "Labels": labels or {}},
            "CreatedAt": f"2026-01-0{len(self.secret_store) + 1}",
            "UpdatedAt": "",
        }
        return secret_id

    def add_service(self, name: str, *refs: tuple[str, str, str, str, int]) -> str:
        service_id = next(self.ids)
        secrets = [
            {
                "SecretID": sid,
                "SecretName": self.secret_store[sid]["Spec"]["Name"],
                "File": {"Name": target, "UID": uid, "GID": gid, "Mode": mode},
            }
            for sid, target, uid, gid, mode in refs
        ]
        self.service_store[service_id] = {
            "ID": service_id,
            "Version": {"Index": 1},
            "Spec": {
                "Name": name,
                "Labels": {"team": "db"},
                "TaskTemplate": {
                    "ContainerSpec": {"Image": "app:1", "Env": ["A=1"], "Secrets": secrets}
                },
                "Mode": {"Replicated": {"Replicas": 1}},
                "UpdateConfig": {"Parallelism": 1, "Order": "stop-first"},
            },
        }
        return service_id

    def refs(self, service_id: str) -> list[dict[str, Any]]:
        return self.service_store[service_id]["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]

    # the Engine API surface used by runsecrets.swarm
    def secrets(self) -> list[dict[str, Any]]:
        self.calls.append("secrets")
        if "secrets" in self.broken_calls:
            raise self.broken_calls.pop("secrets")
        return copy.deepcopy(list(self.secret_store.values()))

    def services(self) -> list[dict[str, Any]]:
        self.calls.append("services")
        return copy.deepcopy(list(self.service_store.values()))

    def inspect_service(self, service_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.service_store[service_id])

    def tasks(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        service = self.service_store[filters["service"]]
        return [
            {
                "ID": f"task-{service['ID']}",
                "Status": {"State": "running", "ContainerStatus": {"ContainerID": "c1"}},
                "Spec": copy.deepcopy(service["Spec"]["TaskTemplate"]),
            }
        ]

    def create_secret(self, name: str, data: bytes, labels: dict[str, str]) -> dict[str, str]:
        self.calls.append(f"create {name}")
        if any(s["Spec"]["Name"] == name for s in self.secret_store.values()):
            raise FakeAPIError("already exists", 409)
        secret_id = self.add_secret(name, labels)
        self.data[secret_id] = data
        return {"ID": secret_id}

    def remove_secret(self, secret_id: str) -> None:
        self.calls.append(f"remove {self.secret_store[secret_id]['Spec']['Name']}")
        for service in self.service_store.values():
            refs = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
            if any(r["SecretID"] == secret_id for r in refs):
                raise FakeAPIError("in use", 400)
        del self.secret_store[secret_id]

    def update_service(self, service_id: str, version: int, **spec: Any) -> dict[str, Any]:
        service = self.service_store[service_id]
        self.calls.append(f"update {service['Spec']['Name']}")
        if service["Spec"]["Name"] in self.broken_updates:  # the connection fails, nothing done
            raise self.broken_updates.pop(service["Spec"]["Name"])
        if service["Spec"]["Name"] in self.refuse_updates:
            raise FakeAPIError("update refused")
        if version != service["Version"]["Index"]:
            raise FakeAPIError("update out of sequence")
        new_spec = {
            "Name": spec["name"],
            "Labels": spec["labels"],
            "TaskTemplate": spec["task_template"],
            "Mode": spec["mode"],
            "UpdateConfig": spec["update_config"],
        }
        service["PreviousSpec"] = service["Spec"]
        service["Spec"] = copy.deepcopy(new_spec)
        service["Version"]["Index"] += 1
        name = service["Spec"]["Name"]
        failing = name in self.fail_updates
        service["UpdateStatus"] = {"State": "paused" if failing else "completed"}
        self.fail_updates.discard(name)
        if name in self.self_rollback:  # FailureAction=rollback: the service undid it itself
            self.self_rollback.discard(name)
            service["Spec"], service["PreviousSpec"] = service["PreviousSpec"], service["Spec"]
            service["Version"]["Index"] += 1
            service["UpdateStatus"] = {"State": "rollback_completed", "Message": "rolled back"}
        return {}


class FakeClient:
    """What rotate/audit/inventory use of a DockerClient: ``.api``."""

    def __init__(self) -> None:
        self.api = FakeAPI()


@pytest.fixture
def client() -> FakeClient:
    """An empty fake engine."""
    return FakeClient()


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["db_password", "a", "A1", "db.password-2", "x" * 64, "db_password_v0002"]
)
def test_valid_names(name: str) -> None:
    """Names Swarm accepts pass."""
    sw.validate_name(name)


@pytest.mark.parametrize(
    "name", ["", "x" * 65, "-lead", "trail_", "a b", "a/b", "é", ".hidden", "db_password."]
)
def test_invalid_names(name: str) -> None:
    """Names Swarm refuses raise InvalidSwarmSecretError, a RunSecretsError and ValueError."""
    with pytest.raises(sw.InvalidSwarmSecretError) as caught:
        sw.validate_name(name)
    assert caught.value.reason == "invalid_name"
    assert isinstance(caught.value, RunSecretsError)
    assert isinstance(caught.value, ValueError)


def test_size_limits(sentinel: str) -> None:
    """1 byte to 500 KiB; the message gives sizes, never the data."""
    sw.validate_data(b"x")
    sw.validate_data(b"x" * sw.MAX_SECRET_SIZE)
    with pytest.raises(sw.InvalidSwarmSecretError) as empty:
        sw.validate_data(b"")
    assert empty.value.reason == "empty"
    big = sentinel.encode() * (sw.MAX_SECRET_SIZE // len(sentinel) + 1)
    with pytest.raises(sw.InvalidSwarmSecretError) as large:
        sw.validate_data(big)
    assert large.value.reason == "too_large"
    assert str(len(big)) in str(large.value)
    assert sentinel not in str(large.value)


def test_rotate_validates_before_any_call(client: FakeClient) -> None:
    """A bad name, an empty or oversized value, or a name too long to version: no API call."""
    for name, data in [
        ("bad name", b"x"),
        ("db_password", b""),
        ("db_password", b"x" * (sw.MAX_SECRET_SIZE + 1)),
        ("x" * 60, b"x"),  # fits alone, but x*60 + "_v0002" does not
    ]:
        with pytest.raises(sw.InvalidSwarmSecretError):
            sw.rotate(client, name, data)
    assert client.api.calls == []


# --- the version scheme -----------------------------------------------------------------------


def test_versioned_names_sort_and_parse_back() -> None:
    """``<logical>_v<NNNN>``: zero-padded so names sort like versions; parsed back."""
    names = [sw.versioned_name("db_password", n) for n in (1, 2, 9, 10, 100)]
    assert names[1] == "db_password_v0002"
    assert sorted(names) == names
    assert [sw.parse_version(n) for n in names] == [("db_password", n) for n in (1, 2, 9, 10, 100)]


def test_parse_version_conventions() -> None:
    """Hand-made names continue: ``x`` is version 1, ``x_v2`` version 2; labels win."""
    assert sw.parse_version("db_password") == ("db_password", 1)
    assert sw.parse_version("db_password_v2") == ("db_password", 2)
    assert sw.parse_version("api_v2_v0003") == ("api_v2", 3)
    labels = {sw.LABEL_LOGICAL_NAME: "api_v2", sw.LABEL_VERSION: "7"}
    assert sw.parse_version("anything", labels) == ("api_v2", 7)
    assert sw.parse_version("db_password_v2", {sw.LABEL_VERSION: "x"}) == ("db_password", 2)


def test_versioned_name_rejects_version_zero_and_overlong() -> None:
    """Versions start at 1; a logical name too long for the suffix is refused."""
    with pytest.raises(ValueError, match="start at 1"):
        sw.versioned_name("a", 0)
    with pytest.raises(sw.InvalidSwarmSecretError):
        sw.versioned_name("x" * 59, 2)


# --- rotation on the fake engine --------------------------------------------------------------


def _two_services(api: FakeAPI) -> tuple[str, str, str]:
    old = api.add_secret("db_password")
    web = api.add_service("web", (old, "db_password", "0", "0", 0o444))
    worker = api.add_service("worker", (old, "/etc/worker/db", "10001", "10001", 0o440))
    return old, web, worker


def test_rotate_moves_every_service_keeping_target_uid_gid_mode(
    client: FakeClient, sentinel: str
) -> None:
    """Both services move to ``db_password_v0002`` with their File copied verbatim."""
    api = client.api
    old, web, worker = _two_services(api)
    before = {sid: copy.deepcopy(api.service_store[sid]["Spec"]) for sid in (web, worker)}
    report = sw.rotate(client, "db_password", sentinel, labels={"owner": "ops"}, poll_interval=0)

    assert report.ok
    assert report.created
    assert not report.resumed
    assert (report.new_secret, report.new_version) == ("db_password_v0002", 2)
    (new_id,) = [k for k, v in api.secret_store.items() if v["Spec"]["Name"] == report.new_secret]
    assert api.data[new_id] == sentinel.encode()
    assert api.secret_store[new_id]["Spec"]["Labels"] == {
        "owner": "ops",
        sw.LABEL_LOGICAL_NAME: "db_password",
        sw.LABEL_VERSION: "2",
        sw.LABEL_REMOVE_OLD: "true",
    }
    assert [ref["File"] for ref in api.refs(web)] == [
        {"Name": "db_password", "UID": "0", "GID": "0", "Mode": 0o444}
    ]
    assert [ref["File"] for ref in api.refs(worker)] == [
        {"Name": "/etc/worker/db", "UID": "10001", "GID": "10001", "Mode": 288}
    ]
    for sid in (web, worker):
        assert [r["SecretID"] for r in api.refs(sid)] == [new_id]
        # Nothing else in the spec changed.
        after = copy.deepcopy(api.service_store[sid]["Spec"])
        after["TaskTemplate"]["ContainerSpec"]["Secrets"] = []
        before[sid]["TaskTemplate"]["ContainerSpec"]["Secrets"] = []
        assert after == before[sid]
    assert old not in api.secret_store
    assert report.removed == ["db_password"]
    assert {s.service_name: s.state for s in report.services} == {
        "web": "updated",
        "worker": "updated",
    }
    assert sentinel not in repr(report)
    assert sentinel not in "\n".join(report.lines())


def test_rotation_continues_the_numbering(client: FakeClient) -> None:
    """Hand-made ``x_v2`` is followed by ``x_v0003``, then ``x_v0004``."""
    api = client.api
    old = api.add_secret("token_v2")
    api.add_service("svc", (old, "token", "0", "0", 0o400))
    assert sw.rotate(client, "token", b"a", poll_interval=0).new_secret == "token_v0003"
    assert sw.rotate(client, "token", b"b", poll_interval=0).new_secret == "token_v0004"
    assert [s.name for s in sw.inventory(client)] == ["token_v0004"]


def test_failed_update_rolls_back_and_rerun_finishes(client: FakeClient) -> None:
    """One service's update pauses: it is rolled back, the old version kept, RotationError;
    the re-run resumes with the same new version and removes the old one."""
    api = client.api
    old, _web, worker = _two_services(api)
    api.fail_updates.add("worker")
    with pytest.raises(sw.RotationError) as caught:
        sw.rotate(client, "db_password", b"new", poll_interval=0)
    report = caught.value.report
    states = {s.service_name: s.state for s in report.services}
    assert states == {"web": "updated", "worker": "rolled_back"}
    assert "paused" in report.services[1].detail
    assert report.kept == ["db_password"]
    assert report.removed == []
    # Everything uses an existing secret: web the new one, worker the old one, File intact.
    assert api.refs(worker)[0]["SecretID"] == old
    assert api.refs(worker)[0]["File"]["Mode"] == 0o440
    assert old in api.secret_store
    assert "run the rotation again" in str(caught.value)

    creates = sum(call.startswith("create") for call in api.calls)
    again = sw.rotate(client, "db_password", b"ignored", poll_interval=0)
    assert again.resumed
    assert not again.created
    assert again.new_secret == report.new_secret
    assert sum(call.startswith("create") for call in api.calls) == creates
    assert {s.service_name: s.state for s in again.services} == {
        "web": "current",
        "worker": "updated",
    }
    assert again.removed == ["db_password"]
    assert old not in api.secret_store


def test_interrupted_before_removal_is_resumed(client: FakeClient) -> None:
    """All services moved but the old version not yet removed: a re-run only removes it."""
    api = client.api
    old, _web, _ = _two_services(api)
    sw.rotate(client, "db_password", b"v2", poll_interval=0, remove_old=False)
    assert old in api.secret_store
    # remove_old=False was asked for: the next rotation is a new one.
    report = sw.rotate(client, "db_password", b"v3", poll_interval=0)
    assert report.created
    assert report.new_version == 3
    assert sorted(report.removed) == ["db_password", "db_password_v0002"]


def test_service_that_rolls_itself_back(client: FakeClient) -> None:
    """A service with FailureAction=rollback undoes the update itself: reported rolled_back,
    not re-applied, old version kept."""
    api = client.api
    old, web, _worker = _two_services(api)
    api.self_rollback.add("web")
    with pytest.raises(sw.RotationError) as caught:
        sw.rotate(client, "db_password", b"v2", poll_interval=0)
    (web_update,) = [s for s in caught.value.report.services if s.service_name == "web"]
    assert web_update.state == "rolled_back"
    assert "rollback_completed" in web_update.detail
    assert api.refs(web)[0]["SecretID"] == old
    assert api.calls.count("update web") == 1
    assert caught.value.report.kept == ["db_password"]


def test_refused_update_marks_failed_and_keeps_old(client: FakeClient) -> None:
    """An update the engine refuses twice leaves that service untouched and fails the rotation."""
    api = client.api
    old, web, _worker = _two_services(api)
    api.refuse_updates.add("web")
    with pytest.raises(sw.RotationError) as caught:
        sw.rotate(client, "db_password", b"v2", poll_interval=0)
    states = {s.service_name: s.state for s in caught.value.report.services}
    assert states == {"web": "failed", "worker": "updated"}
    assert api.refs(web)[0]["SecretID"] == old
    api.refuse_updates.clear()
    assert sw.rotate(client, "db_password", b"x", poll_interval=0).resumed
    assert old not in api.secret_store


def test_no_wait_keeps_old_versions(client: FakeClient) -> None:
    """Without waiting nothing is removed: tasks may still be rolling."""
    api = client.api
    old, _, _ = _two_services(api)
    report = sw.rotate(client, "db_password", b"v2", wait=False)
    assert {s.state for s in report.services} == {"submitted"}
    assert report.kept == ["db_password"]
    assert old in api.secret_store


def test_concurrent_creation_is_a_conflict(client: FakeClient) -> None:
    """The next version's name already taken (another rotation): reason="conflict"."""
    api = client.api
    api.add_secret("db_password")
    api.add_secret("db_password_v0002", {sw.LABEL_LOGICAL_NAME: "other", sw.LABEL_VERSION: "1"})
    with pytest.raises(sw.SwarmError) as caught:
        sw.rotate(client, "db_password", b"v2")
    assert caught.value.reason == "conflict"


def test_audit_and_inventory(client: FakeClient) -> None:
    """Audit groups versions, references (with integer and octal modes) and running tasks."""
    api = client.api
    _two_services(api)
    api.add_secret("unrelated")
    (entry,) = sw.audit(client, "db_password")
    assert entry.logical_name == "db_password"
    assert [v.name for v in entry.versions] == ["db_password"]
    modes = sorted((r.service_name, r.target, r.mode) for r in entry.references)
    assert modes == [("web", "db_password", 0o444), ("worker", "/etc/worker/db", 0o440)]
    assert entry.references[1].as_dict()["mode_octal"] == "0440"
    assert sorted(t.service_name for t in entry.tasks) == ["web", "worker"]
    assert entry.unused == ()
    everything = sw.audit(client)
    assert [e.logical_name for e in everything] == ["db_password", "unrelated"]
    assert everything[1].unused == ("unrelated",)
    names = [(s.logical_name, s.version) for s in sw.inventory(client)]
    assert names == [("db_password", 1), ("unrelated", 1)]
    assert "data" not in sw.inventory(client)[0].as_dict()


def test_importing_runsecrets_does_not_import_docker() -> None:
    """``import runsecrets`` (and even runsecrets.swarm) leaves docker unloaded."""
    code = (
        "import sys, runsecrets, runsecrets.swarm, runsecrets.cli\n"
        "from runsecrets.cli import _swarm\n"
        "runsecrets.cli.build_parser().parse_args(['swarm', 'ls'])\n"
        "assert 'docker' not in sys.modules, 'docker imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _connection_errors() -> list[BaseException]:
    """A requests connection error (the SDK's transport) and a bare DockerException."""
    import requests

    return [
        requests.exceptions.ConnectionError("('Connection aborted.', http+docker://x/update)"),
        FakeDockerException("engine went away"),
    ]


@pytest.mark.parametrize("error", _connection_errors(), ids=["requests", "docker"])
def test_sdk_error_midway_is_rotation_error_with_the_partial_report(
    client: FakeClient, error: BaseException, sentinel: str
) -> None:
    """A fake client (no engine: the real one is busy and tests/e2e covers it) whose update of
    the second service raises a transport error: RotationError carrying what was done (the
    new version created; both services pending, the first one's update already sent), no old
    version removed; the re-run resumes with the same version and completes. The error names
    the SDK's error type and holds none of its frames (hardening issue, finding 4)."""
    api = client.api
    old, web, worker = _two_services(api)
    api.broken_updates["worker"] = error
    with pytest.raises(sw.RotationError) as caught:
        sw.rotate(client, "db_password", sentinel, poll_interval=0)
    report = caught.value.report
    assert caught.value.reason == "rotation_incomplete"
    # Named, not chained: the SDK error's frames hold the data being created.
    assert caught.value.__cause__ is None
    assert type(error).__name__ in str(caught.value)
    assert "run the rotation again" in str(caught.value)
    assert "http+docker" not in str(caught.value)
    assert report.created
    assert report.new_secret == "db_password_v0002"
    assert {s.service_name: s.state for s in report.services} == {
        "web": "pending",
        "worker": "pending",
    }
    assert all("interrupted" in s.detail for s in report.services)
    assert report.removed == []
    assert not report.ok
    (new_id,) = [k for k, v in api.secret_store.items() if v["Spec"]["Name"] == "db_password_v0002"]
    assert api.refs(web)[0]["SecretID"] == new_id  # moved before the failure
    assert api.refs(worker)[0]["SecretID"] == old
    assert old in api.secret_store
    assert sentinel not in "\n".join(report.lines())

    again = sw.rotate(client, "db_password", b"ignored", poll_interval=0)
    assert again.resumed
    assert again.new_secret == "db_password_v0002"
    assert {s.service_name: s.state for s in again.services} == {
        "web": "current",
        "worker": "updated",
    }
    assert api.refs(worker)[0]["SecretID"] == new_id
    assert again.removed == ["db_password"]
    assert sum(call.startswith("create") for call in api.calls) == 1


def test_sdk_error_before_anything_changed_is_engine_error(client: FakeClient) -> None:
    """A fake client whose first listing fails (no engine needed): nothing was created, so a
    plain SwarmError(engine_error) naming the error type, not a RotationError."""
    import requests

    api = client.api
    _two_services(api)
    api.broken_calls["secrets"] = requests.exceptions.ReadTimeout("read timed out")
    with pytest.raises(sw.SwarmError) as caught:
        sw.rotate(client, "db_password", b"v2", poll_interval=0)
    assert not isinstance(caught.value, sw.RotationError)
    assert caught.value.reason == "engine_error"
    assert "ReadTimeout" in str(caught.value)
    assert not any(call.startswith("create") for call in api.calls)


@pytest.mark.parametrize("call", [sw.inventory, sw.audit])
def test_listing_with_a_failing_engine_is_engine_error(
    client: FakeClient, call: Callable[[FakeClient], object]
) -> None:
    """A fake client whose listing fails (the real engine cannot be made to fail on cue):
    ``inventory`` and ``audit`` raise SwarmError(engine_error) naming the error type, so the
    CLI prints one line instead of an unexpected ConnectionError."""
    import requests

    _two_services(client.api)
    client.api.broken_calls["secrets"] = requests.exceptions.ConnectionError("refused")
    with pytest.raises(sw.SwarmError) as caught:
        call(client)
    assert caught.value.reason == "engine_error"
    assert "ConnectionError" in str(caught.value)


def test_a_rotation_after_no_wait_uses_its_new_value(client: FakeClient) -> None:
    """A fake engine (rotation bookkeeping, no tasks needed): after ``wait=False`` the next
    rotation creates the next version with the new data; it does not take the kept old
    versions for an interrupted rotation and resume it, dropping the value it was given."""
    api = client.api
    _two_services(api)
    first = sw.rotate(client, "db_password", b"v2", wait=False)
    second = sw.rotate(client, "db_password", b"v3", poll_interval=0)
    assert not second.resumed
    assert second.created
    assert second.new_version == first.new_version + 1
    by_name = {spec["Spec"]["Name"]: secret_id for secret_id, spec in api.secret_store.items()}
    assert api.data[by_name[second.new_secret]] == b"v3"


def test_rotate_input_is_read_up_to_one_byte_over_the_limit() -> None:
    """``--from-file /dev/zero`` ends at the size limit plus one byte (then refused by the size
    check) instead of filling the memory; ``--generate`` beyond the limit is refused first."""
    import argparse

    from runsecrets.cli._swarm import _new_value
    from runsecrets.exceptions import RunSecretsError

    endless = argparse.Namespace(generate=None, from_stdin=False, from_file="/dev/zero")
    assert len(_new_value(endless)) == sw.MAX_SECRET_SIZE + 1
    with pytest.raises(sw.InvalidSwarmSecretError):
        sw.validate_data(_new_value(endless))
    huge = argparse.Namespace(generate=10**9, from_stdin=False, from_file=None)
    with pytest.raises(RunSecretsError, match="--generate takes a length"):
        _new_value(huge)
