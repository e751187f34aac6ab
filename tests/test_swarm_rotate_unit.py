"""``runsecrets.swarm.rotate`` (and audit, inventory, the CLI) on a fake Engine API: the
rotation's bookkeeping, its record, and each failure path, fast and on cue (the same findings
run on the real Swarm in tests/e2e/test_swarm_hardening.py)."""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from runsecrets import cli
from runsecrets import swarm as sw
from runsecrets.exceptions import SwarmError

from ._swarm_fake import FakeAPI, FakeClient, FakeDockerException, fake_docker_module


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    """An empty fake engine, behind a fake ``docker`` module (these tests need no SDK)."""
    monkeypatch.setitem(sys.modules, "docker", fake_docker_module())
    return FakeClient()


def _two_services(api: FakeAPI) -> tuple[str, str, str]:
    old = api.add_secret("db_password")
    web = api.add_service("web", (old, "db_password", "0", "0", 0o444))
    worker = api.add_service("worker", (old, "/etc/worker/db", "10001", "10001", 0o440))
    return old, web, worker


def _rotate(client: FakeClient, data: bytes | str = b"new", **kwargs: Any) -> sw.RotationReport:
    kwargs.setdefault("poll_interval", 0)
    return sw.rotate(client, kwargs.pop("name", "db_password"), data, **kwargs)


def _states(report: sw.RotationReport) -> dict[str, str]:
    return {s.service_name: s.state for s in report.services}


# --- the plain rotation -----------------------------------------------------------------------


def test_rotate_validates_before_any_call(client: FakeClient) -> None:
    """A bad name, an empty or oversized value (512,000 bytes included), a name too long to
    version, a bad adopted name: no API call."""
    for name, data, adopt in [
        ("bad name", b"x", ()),
        ("db_password", b"", ()),
        ("db_password", b"x" * 512_000, ()),
        ("x" * 60, b"x", ()),  # fits alone, but x*60 + "_v0002" does not
        ("db_password", b"x", ("bad name",)),
    ]:
        with pytest.raises(sw.InvalidSwarmSecretError):
            sw.rotate(client, name, data, adopt=adopt)
    assert client.api.calls == []


def test_rotate_moves_every_service_keeping_target_uid_gid_mode(
    client: FakeClient, sentinel: str
) -> None:
    """Both services move to ``db_password_v0002`` with their File copied verbatim; the only
    other change to a spec is the record label; the version carries its record; the secret
    made by hand is kept (runsecrets removes only what it made)."""
    api = client.api
    old, web, worker = _two_services(api)
    before = {sid: copy.deepcopy(api.spec(sid)) for sid in (web, worker)}
    report = _rotate(client, sentinel, labels={"owner": "ops"})

    assert report.ok
    assert report.created
    assert not report.resumed
    assert (report.new_secret, report.new_version) == ("db_password_v0002", 2)
    new_id = api.secret_id(report.new_secret)
    assert api.data[new_id] == sentinel.encode()
    labels = api.secret_store[new_id]["Spec"]["Labels"]
    assert labels == {
        "owner": "ops",
        sw.LABEL_LOGICAL_NAME: "db_password",
        sw.LABEL_VERSION: "2",
        sw.LABEL_ROTATION: report.rotation_id,
        sw.LABEL_REPLACES: old,
        sw.LABEL_REMOVE_OLD: "true",
    }
    assert [ref["File"] for ref in api.refs(web)] == [
        {"Name": "db_password", "UID": "0", "GID": "0", "Mode": 0o444}
    ]
    assert [ref["File"] for ref in api.refs(worker)] == [
        {"Name": "/etc/worker/db", "UID": "10001", "GID": "10001", "Mode": 288}
    ]
    record = f"{sw.SERVICE_RECORD_PREFIX}db_password"
    for sid in (web, worker):
        assert [r["SecretID"] for r in api.refs(sid)] == [new_id]
        after = copy.deepcopy(api.spec(sid))
        assert after["Labels"].pop(record) == f"{report.rotation_id}/{new_id}"
        after["TaskTemplate"]["ContainerSpec"]["Secrets"] = []
        before[sid]["TaskTemplate"]["ContainerSpec"]["Secrets"] = []
        assert after == before[sid]
    assert report.removed == []
    assert report.kept == ["db_password"]
    assert report.unmanaged == ["db_password"]
    assert _states(report) == {"web": "updated", "worker": "updated"}
    assert sentinel not in repr(report)
    assert sentinel not in "\n".join(report.lines())
    assert "not made by runsecrets" in "\n".join(report.lines())


def test_update_is_posted_without_registry_credentials(client: FakeClient) -> None:
    """Finding 3: the spec is posted as it is, with no ``X-Registry-Auth`` header (docker-py's
    ``update_service`` would add the operator's credentials from ~/.docker/config.json)."""
    _two_services(client.api)
    _rotate(client)
    assert len(client.api.posts) == 2
    for post in client.api.posts:
        assert "headers" not in post
        assert post["url"].startswith("http+docker://localhost/v1.41/services/")


def test_rotations_chain_and_remove_only_their_own_versions(client: FakeClient) -> None:
    """Root, then v0002, then v0003: the second rotation removes v0002 (recognised by its
    record), never the hand-made root."""
    api = client.api
    old = api.add_secret("token")
    api.add_service("svc", (old, "token", "0", "0", 0o400))
    first = _rotate(client, b"a", name="token")
    second = _rotate(client, b"b", name="token")
    assert (first.new_secret, second.new_secret) == ("token_v0002", "token_v0003")
    assert second.removed == ["token_v0002"]
    assert second.kept == ["token"]
    assert api.names() == ["token", "token_v0003"]


def test_kept_versions_are_recognised_and_removed_later(client: FakeClient) -> None:
    """``remove_old=False`` keeps v0002; the next rotation still recognises it (v0003's record
    lists it) and removes it."""
    api = client.api
    _two_services(api)
    _rotate(client, b"v2")
    _rotate(client, b"v3", remove_old=False)
    assert api.names() == ["db_password", "db_password_v0002", "db_password_v0003"]
    report = _rotate(client, b"v4")
    assert report.created
    assert report.new_version == 4
    assert sorted(report.removed) == ["db_password_v0002", "db_password_v0003"]


def test_no_wait_keeps_old_versions(client: FakeClient) -> None:
    """Without waiting nothing is removed: tasks may still be rolling."""
    api = client.api
    old, _, _ = _two_services(api)
    report = sw.rotate(client, "db_password", b"v2", wait=False)
    assert set(_states(report).values()) == {"submitted"}
    assert report.kept == ["db_password"]
    assert old in api.secret_store


def test_a_rotation_after_no_wait_uses_its_new_value(client: FakeClient) -> None:
    """After ``wait=False`` the next rotation creates the next version with the new data; it
    does not take the kept old versions for an interrupted rotation."""
    api = client.api
    _two_services(api)
    first = sw.rotate(client, "db_password", b"v2", wait=False)
    second = _rotate(client, b"v3")
    assert not second.resumed
    assert second.new_version == first.new_version + 1
    assert api.data[api.secret_id(second.new_secret)] == b"v3"


def test_concurrent_creation_is_a_conflict(client: FakeClient) -> None:
    """Another client creates the next version's name between the listing and the creation:
    ``reason="conflict"``, nothing moved."""
    api = client.api
    _two_services(api)
    api.taken_on_create.add("db_password_v0002")
    with pytest.raises(SwarmError) as caught:
        _rotate(client)
    assert caught.value.reason == "conflict"
    assert api.count("update") == 0


# --- finding 1: only what it can prove --------------------------------------------------------


def test_a_name_that_never_existed_touches_nothing(client: FakeClient) -> None:
    """``api_v1`` and ``api_v2``, two independent tokens: ``rotate api`` is ``not_found``,
    naming the look-alikes; nothing is created, updated or removed."""
    api = client.api
    one, two = api.add_secret("api_v1"), api.add_secret("api_v2")
    api.add_service("a", (one, "api", "0", "0", 0o444))
    api.add_service("b", (two, "api", "0", "0", 0o444))
    with pytest.raises(SwarmError) as caught:
        _rotate(client, name="api")
    assert caught.value.reason == "not_found"
    assert "api_v1, api_v2 look like versions" in str(caught.value)
    assert "nothing was changed" in str(caught.value)
    assert not any(c.startswith(("create", "update", "remove")) for c in api.calls)


def test_the_docs_procedure_moves_only_the_named_secret(client: FakeClient) -> None:
    """``mysql_password`` at one target, hand-made ``mysql_password_v2`` at another (the Docker
    docs' rotation by hand): only the first reference moves, the second is ignored, nothing
    is removed (finding 6's files keep their own owners and modes)."""
    api = client.api
    old = api.add_secret("mysql_password")
    v2 = api.add_secret("mysql_password_v2")
    svc = api.add_service(
        "mysql", (old, "old", "0", "0", 0o400), (v2, "mysql_password", "999", "999", 0o440)
    )
    report = _rotate(client, name="mysql_password")
    assert report.created
    assert not report.resumed
    assert report.ignored == ["mysql_password_v2"]
    refs = {r["File"]["Name"]: (r["SecretName"], r["File"]) for r in api.refs(svc)}
    assert refs["old"] == (
        report.new_secret,
        {"Name": "old", "UID": "0", "GID": "0", "Mode": 0o400},
    )
    assert refs["mysql_password"][0] == "mysql_password_v2"
    assert api.names() == ["mysql_password", "mysql_password_v0002", "mysql_password_v2"]


def test_resume_needs_the_record_and_an_exact_match(client: FakeClient) -> None:
    """A recognised newest version and a service on a secret its record does *not* list
    (made by hand after it): no resume, a new rotation with the new value."""
    api = client.api
    _two_services(api)
    _rotate(client, b"v2")
    later = api.add_secret("db_password")  # the root again, made by hand after the rotation
    api.add_service("late", (later, "db_password", "0", "0", 0o444))
    report = _rotate(client, b"v3")
    assert report.created
    assert not report.resumed
    assert api.data[api.secret_id(report.new_secret)] == b"v3"


def test_adopt_replaces_a_hand_made_version_and_keeps_it(client: FakeClient) -> None:
    """``adopt=["db_password_v2"]`` moves the services on it too; it is never removed."""
    api = client.api
    v2 = api.add_secret("db_password_v2")
    svc = api.add_service("svc", (v2, "db_password", "0", "0", 0o444))
    with pytest.raises(SwarmError) as caught:
        _rotate(client)
    assert caught.value.reason == "not_found"
    report = _rotate(client, adopt=["db_password_v2"])
    assert api.refs(svc)[0]["SecretName"] == report.new_secret == "db_password_v0002"
    assert report.kept == ["db_password_v2"]
    assert report.unmanaged == ["db_password_v2"]
    with pytest.raises(SwarmError) as missing:
        _rotate(client, adopt=["nope"])
    assert missing.value.reason == "not_found"


def test_services_on_unrecognised_versions_only_are_refused(client: FakeClient) -> None:
    """The services use a version that carries runsecrets' labels but no record (a stack
    deploy replaced their labels), the root is unused: ``unrecognised``, nothing changed."""
    api = client.api
    api.add_secret("db_password")
    labelled = api.add_secret(
        "db_password_v0002",
        {
            sw.LABEL_LOGICAL_NAME: "db_password",
            sw.LABEL_VERSION: "2",
            sw.LABEL_ROTATION: "ab" * 16,
        },
    )
    api.add_service("svc", (labelled, "db_password", "0", "0", 0o444))
    with pytest.raises(SwarmError) as caught:
        _rotate(client)
    assert caught.value.reason == "unrecognised"
    assert "--adopt" in str(caught.value)
    assert not any(c.startswith(("create", "update", "remove")) for c in api.calls)


# --- finding 2: forged labels -----------------------------------------------------------------


def test_forged_labels_steer_nothing(client: FakeClient) -> None:
    """A forged ``version=7``, a copy of a real version's every label and a 40-digit version:
    never resumed onto, moved from nor removed; each rotation uses its own value."""
    api = client.api
    old, web, _ = _two_services(api)
    forged = api.add_secret(
        "db_password_v0007", {sw.LABEL_LOGICAL_NAME: "db_password", sw.LABEL_VERSION: "7"}
    )
    api.add_service("forger", (forged, "db_password", "0", "0", 0o444))
    first = _rotate(client, b"mine")
    assert first.created
    assert first.new_secret == "db_password_v0002"
    assert "db_password_v0007" in first.ignored
    assert _states(first) == {"web": "updated", "worker": "updated"}

    real = api.secret_store[api.secret_id(first.new_secret)]["Spec"]["Labels"]
    api.add_secret("db_password_v0009", {**real, sw.LABEL_VERSION: "9"})
    api.add_secret(
        "db_password_v9", {sw.LABEL_LOGICAL_NAME: "db_password", sw.LABEL_VERSION: "9" * 40}
    )
    second = _rotate(client, b"mine-too")
    assert second.created
    assert second.new_secret == "db_password_v0003"
    assert api.data[api.secret_id(second.new_secret)] == b"mine-too"
    assert second.removed == ["db_password_v0002"]
    assert api.refs(web)[0]["SecretName"] == "db_password_v0003"
    assert {"db_password", "db_password_v0007", "db_password_v0009", "db_password_v9"} <= set(
        api.names()
    )
    assert old in api.secret_store


# --- failures, rollback, resume ---------------------------------------------------------------


def test_failed_update_rolls_back_and_rerun_finishes(client: FakeClient) -> None:
    """One service's update pauses: its references and record are put back, the old version
    kept, RotationError; the re-run resumes with the same version (no new one)."""
    api = client.api
    old, _web, worker = _two_services(api)
    api.fail_updates.add("worker")
    with pytest.raises(sw.RotationError) as caught:
        _rotate(client)
    report = caught.value.report
    assert _states(report) == {"web": "updated", "worker": "rolled_back"}
    assert "paused" in report.services[1].detail
    assert report.services[1].rollback == "converged"
    assert "worker was rolled back to db_password" in str(caught.value)
    assert report.kept == ["db_password"]
    assert api.refs(worker)[0]["SecretID"] == old
    assert api.refs(worker)[0]["File"]["Mode"] == 0o440
    assert f"{sw.SERVICE_RECORD_PREFIX}db_password" not in api.spec(worker)["Labels"]
    assert "run the rotation again" in str(caught.value)

    creates = api.count("create")
    again = _rotate(client, b"ignored")
    assert again.resumed
    assert not again.created
    assert again.new_secret == report.new_secret
    assert again.rotation_id == report.rotation_id
    assert api.count("create") == creates
    assert _states(again) == {"web": "current", "worker": "updated"}
    assert "NOT used" in "\n".join(again.lines())


def test_service_that_rolls_itself_back(client: FakeClient) -> None:
    """A service with FailureAction=rollback undoes the update itself: reported rolled_back,
    nothing re-applied; as no service took the new version, it is removed again."""
    api = client.api
    old = api.add_secret("db_password")
    web = api.add_service("web", (old, "db_password", "0", "0", 0o444))
    api.self_rollback.add("web")
    with pytest.raises(sw.RotationError) as caught:
        _rotate(client)
    (web_update,) = caught.value.report.services
    assert web_update.state == "rolled_back"
    assert "rollback_completed" in web_update.detail
    assert api.refs(web)[0]["SecretID"] == old
    assert api.count("update web") == 1
    assert caught.value.report.removed == ["db_password_v0002"]
    assert api.names() == ["db_password"]


def test_a_new_version_no_service_took_is_removed_again_beside_a_job(client: FakeClient) -> None:
    """Every update failed, and the only other user is a job (skipped): the version this run
    created is unused, and removed again, so no unprovable version is left behind."""
    api = client.api
    old = api.add_secret("db_password")
    api.add_service("web", (old, "db_password", "0", "0", 0o444))
    api.add_service("job", (old, "db_password", "0", "0", 0o444), mode={"GlobalJob": {}})
    api.refuse_updates.add("web")
    with pytest.raises(sw.RotationError) as caught:
        _rotate(client)
    assert _states(caught.value.report) == {"web": "failed", "job": "skipped"}
    assert caught.value.report.removed == ["db_password_v0002"]
    assert api.names() == ["db_password"]


def test_refused_update_marks_failed_and_keeps_old(client: FakeClient) -> None:
    """An update the engine keeps refusing leaves that service untouched and fails the
    rotation; once accepted, the re-run resumes and finishes."""
    api = client.api
    old, web, _worker = _two_services(api)
    api.refuse_updates.add("web")
    with pytest.raises(sw.RotationError) as caught:
        _rotate(client)
    assert _states(caught.value.report) == {"web": "failed", "worker": "updated"}
    assert "update refused" in caught.value.report.services[0].detail
    assert caught.value.report.services[0].rollback == ""  # it never left the old version
    assert "web was not updated and stays on db_password" in str(caught.value)
    assert api.refs(web)[0]["SecretID"] == old
    api.refuse_updates.clear()
    assert _rotate(client, b"x").resumed
    assert api.refs(web)[0]["SecretName"] == "db_password_v0002"


def test_rollback_keeps_other_operators_changes(client: FakeClient) -> None:
    """Finding 5: while the update rolls, another operator adds an environment variable,
    sets the replicas and a label; the update then fails. The rollback, on a fresh read, puts
    back only the secret reference and the record: the other changes stay."""
    api = client.api
    old = api.add_secret("db_password")
    svc = api.add_service("svc", (old, "db_password", "0", "0", 0o444))

    def other_operator(api: FakeAPI, service: dict[str, Any]) -> None:
        spec = copy.deepcopy(service["Spec"])
        spec["TaskTemplate"]["ContainerSpec"]["Env"].append("ADDED=1")
        spec["Mode"] = {"Replicated": {"Replicas": 3}}
        spec["Labels"]["owner"] = "ops"
        api.fail_updates.add("svc")
        api.apply(service, spec)

    api.after_update["svc"] = other_operator
    with pytest.raises(sw.RotationError) as caught:
        _rotate(client)
    assert _states(caught.value.report) == {"svc": "rolled_back"}
    spec = api.spec(svc)
    assert spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["SecretID"] == old
    assert spec["TaskTemplate"]["ContainerSpec"]["Env"] == ["A=1", "ADDED=1"]
    assert spec["Mode"] == {"Replicated": {"Replicas": 3}}
    assert spec["Labels"] == {"team": "db", "owner": "ops"}


@pytest.mark.parametrize(
    "owner", [("999", "999", 0o440), ("0", "0", 0o400)], ids=["differ", "same"]
)
def test_two_versions_in_one_service_keep_each_owner_and_mode(
    client: FakeClient, owner: tuple[str, str, int]
) -> None:
    """Finding 6: a service mounts the root at ``a`` (0400, root) and runsecrets' own v0002 at
    ``b``. With another owner or mode at ``b``, one new secret would give both files one owner
    and mode, so the rotation is refused before anything is created (``mount_conflict``);
    with the same ones, the two references share the new version."""
    api = client.api
    old = api.add_secret("db_password")
    first = api.add_service("first", (old, "db_password", "0", "0", 0o444))
    _rotate(client, b"v2")
    v2 = api.refs(first)[0]["SecretID"]
    api.add_service("both", (old, "a", "0", "0", 0o400), (v2, "b", *owner))
    creates = api.count("create")
    if owner == ("0", "0", 0o400):
        assert _rotate(client, b"v3").ok
        return
    with pytest.raises(SwarmError) as caught:
        _rotate(client, b"v3")
    assert caught.value.reason == "mount_conflict"
    assert "a (uid 0, gid 0, mode 0400)" in str(caught.value)
    assert api.count("create") == creates


# --- finding 4: modes and the deadline --------------------------------------------------------


def test_idle_services_converge_and_jobs_are_skipped(client: FakeClient) -> None:
    """0 replicas and a global service with no eligible node converge at once (their spec is
    applied); a job is skipped (an update would run it again) and keeps its version."""
    api = client.api
    old = api.add_secret("db_password")
    ref = (old, "db_password", "0", "0", 0o444)
    api.add_service("zero", ref, mode={"Replicated": {"Replicas": 0}})
    api.add_service("nowhere", ref, mode={"Global": {}})
    job = api.add_service("job", ref, mode={"ReplicatedJob": {"MaxConcurrent": 1}})
    api.add_service("everywhere", ref, mode={"Global": {"Nodes": 2}})
    started = time.monotonic()
    report = _rotate(client, timeout=5)
    assert time.monotonic() - started < 1
    assert _states(report) == {
        "zero": "updated",
        "nowhere": "updated",
        "job": "skipped",
        "everywhere": "updated",
    }
    assert api.count("update job") == 0
    assert api.refs(job)[0]["SecretID"] == old
    assert report.ok
    # The job is no unfinished rotation: the next run makes a new version.
    assert _rotate(client, b"v3").created


def test_timeout_bounds_the_whole_wait(client: FakeClient) -> None:
    """An update that never finishes, ``timeout=0.3``: the rotation returns after about that
    long, the rollback submitted and not waited for."""
    api = client.api
    old = api.add_secret("db_password")
    svc = api.add_service("svc", (old, "db_password", "0", "0", 0o444))
    api.stuck.add("svc")
    started = time.monotonic()
    with pytest.raises(sw.RotationError) as caught:
        _rotate(client, timeout=0.3, poll_interval=0.05)
    assert time.monotonic() - started < 1.0
    (update,) = caught.value.report.services
    assert update.state == "failed"
    assert "timed out" in update.detail
    assert "not waited for" in update.detail
    assert api.refs(svc)[0]["SecretID"] == old


def test_the_error_says_where_a_service_whose_rollback_is_unfinished_stands(
    client: FakeClient,
) -> None:
    """At the timeout the rollback is submitted, not waited for: the error does not claim the
    service is back on its previous version (its tasks may mount either until the rollback
    converges), it says so, and it points at ``swarm audit``; the report says
    ``rollback="not_converged"``."""
    api = client.api
    old = api.add_secret("db_password")
    api.add_service("svc", (old, "db_password", "0", "0", 0o444))
    api.stuck.add("svc")
    with pytest.raises(sw.RotationError) as caught:
        _rotate(client, timeout=0.2, poll_interval=0.05)
    message = str(caught.value)
    assert "svc is being rolled back to db_password" in message
    assert "may mount either version" in message
    assert "stays on" not in message
    assert "runsecrets swarm audit db_password" in message
    (update,) = caught.value.report.services
    assert update.as_dict()["rollback"] == "not_converged"


def test_a_rollback_still_rolling_is_waited_for_before_the_update(client: FakeClient) -> None:
    """A service still rolling back (as an interrupted rotation leaves it) gets no second
    update on top: the rotation lists the services until the rollback has completed, then
    updates, and completes."""
    api = client.api
    _two_services(api)
    api.settling["web"] = 3
    report = _rotate(client, poll_interval=0.01)
    assert report.ok
    first_update = api.calls.index("update web")
    assert api.calls[:first_update].count("services") == 4
    assert "web" not in api.settling


def test_an_update_still_rolling_at_the_deadline_is_busy_and_nothing_changes(
    client: FakeClient, sentinel: str
) -> None:
    """A re-run while the first run's rollback still rolls (it never finishes here) waits up
    to its timeout, then is refused with ``reason="busy"`` naming the service and its state:
    no version created, no update posted, no value in the message."""
    api = client.api
    old = api.add_secret("db_password")
    svc = api.add_service("svc", (old, "db_password", "0", "0", 0o444))
    api.stuck.add("svc")
    with pytest.raises(sw.RotationError):
        _rotate(client, timeout=0.2, poll_interval=0.05)
    names, updates = api.names(), api.count("update")
    started = time.monotonic()
    with pytest.raises(SwarmError) as caught:
        _rotate(client, sentinel, timeout=0.3, poll_interval=0.05)
    assert 0.3 <= time.monotonic() - started < 1.0
    assert caught.value.reason == "busy"
    assert not isinstance(caught.value, sw.RotationError)
    assert "svc (updating) still rolling" in str(caught.value)
    assert "nothing was changed" in str(caught.value)
    assert sentinel not in str(caught.value)
    assert (api.names(), api.count("update")) == (names, updates)
    assert api.refs(svc)[0]["SecretID"] == old


def test_without_wait_a_rolling_update_is_not_waited_for(client: FakeClient) -> None:
    """``wait=False`` submits at once, as asked, even over an update still rolling."""
    api = client.api
    _two_services(api)
    api.settling["web"] = 1000
    report = _rotate(client, wait=False)
    assert {s.state for s in report.services} == {"submitted"}
    assert api.calls[: api.calls.index("update web")].count("services") == 1


# --- interruptions ----------------------------------------------------------------------------


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
    """The second service's update raises a transport error: RotationError carrying what was
    done, no old version removed; the re-run resumes with the same version and completes. The
    error names the SDK's error type and holds none of its frames (hardening issue, finding 4)."""
    api = client.api
    old, web, worker = _two_services(api)
    api.broken_updates["worker"] = error
    with pytest.raises(sw.RotationError) as caught:
        _rotate(client, sentinel)
    report = caught.value.report
    assert caught.value.reason == "rotation_incomplete"
    # Named, not chained: the SDK error's frames hold the data being created.
    assert caught.value.__cause__ is None
    assert type(error).__name__ in str(caught.value)
    assert "http+docker" not in str(caught.value)
    assert report.created
    assert set(_states(report).values()) == {"pending"}
    assert all("interrupted" in s.detail for s in report.services)
    new_id = api.secret_id("db_password_v0002")
    assert api.refs(web)[0]["SecretID"] == new_id
    assert api.refs(worker)[0]["SecretID"] == old
    assert sentinel not in "\n".join(report.lines())

    again = _rotate(client, b"ignored")
    assert again.resumed
    assert _states(again) == {"web": "current", "worker": "updated"}
    assert api.refs(worker)[0]["SecretID"] == new_id
    assert api.count("create") == 1


def test_sdk_error_before_anything_changed_is_engine_error(client: FakeClient) -> None:
    """The first listing fails: nothing was created, so a plain SwarmError(engine_error)."""
    import requests

    _two_services(client.api)
    client.api.broken_calls["secrets"] = requests.exceptions.ReadTimeout("read timed out")
    with pytest.raises(SwarmError) as caught:
        _rotate(client)
    assert not isinstance(caught.value, sw.RotationError)
    assert caught.value.reason == "engine_error"
    assert "ReadTimeout" in str(caught.value)
    assert client.api.count("create") == 0


@pytest.mark.parametrize("call", [sw.inventory, sw.audit])
def test_listing_with_a_failing_engine_is_engine_error(
    client: FakeClient, call: Callable[[FakeClient], object]
) -> None:
    """``inventory`` and ``audit`` raise SwarmError(engine_error) naming the error type."""
    import requests

    _two_services(client.api)
    client.api.broken_calls["secrets"] = requests.exceptions.ConnectionError("refused")
    with pytest.raises(SwarmError) as caught:
        call(client)
    assert caught.value.reason == "engine_error"
    assert "ConnectionError" in str(caught.value)


# --- audit, inventory, and what the CLI prints ------------------------------------------------


def test_audit_and_inventory(client: FakeClient) -> None:
    """Audit groups versions, references (integer and octal modes) and running tasks."""
    api = client.api
    _two_services(api)
    api.add_secret("unrelated")
    (entry,) = sw.audit(client, "db_password")
    assert [v.name for v in entry.versions] == ["db_password"]
    modes = sorted((r.service_name, r.target, r.mode) for r in entry.references)
    assert modes == [("web", "db_password", 0o444), ("worker", "/etc/worker/db", 0o440)]
    assert entry.references[1].as_dict()["mode_octal"] == "0440"
    assert sorted(t.service_name for t in entry.tasks) == ["web", "worker"]
    # Each task names its node (by hostname), where its container id means something.
    assert {t.node for t in entry.tasks} == {"host0"}
    assert entry.tasks[0].as_dict()["node"] == "host0"
    assert client.api.count("nodes") == 1  # asked once per audit, not per task
    assert entry.unused == ()
    everything = sw.audit(client)
    assert [e.logical_name for e in everything] == ["db_password", "unrelated"]
    assert everything[1].unused == ("unrelated",)
    assert [(s.logical_name, s.version) for s in sw.inventory(client)] == [
        ("db_password", 1),
        ("unrelated", 1),
    ]
    assert "data" not in sw.inventory(client)[0].as_dict()


@pytest.mark.parametrize("command", [["swarm", "ls"], ["swarm", "audit"]])
def test_listings_escape_what_they_print(
    client: FakeClient,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Finding 8: a label with escape sequences and a newline, and a target holding some, are
    shown escaped: no escape character, no forged row."""
    api = client.api
    hostile = api.add_secret(
        "hostile", {sw.LABEL_LOGICAL_NAME: "\x1b[2Jowned\nFAKE-ROW", sw.LABEL_VERSION: "9"}
    )
    api.add_service("svc", (hostile, "t\x1b]0;title\x07\nFAKE-ROW", "0", "0", 0o444))
    monkeypatch.setattr(sys.modules["docker"], "from_env", lambda: client)
    assert cli.main(command) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert not any(line.startswith("FAKE-ROW") for line in out.splitlines())
    assert "\\x1b[2Jowned\\nFAKE-ROW" in out


def test_report_lines_escape_names_targets_and_details(client: FakeClient) -> None:
    """A rotation report's text escapes targets and engine messages."""
    api = client.api
    old = api.add_secret("db_password")
    api.add_service("svc", (old, "t\x1b[31m\nx", "0", "0", 0o444))
    text = "\n".join(_rotate(client).lines())
    assert "\x1b" not in text
    assert "t\\x1b[31m\\nx" in text


def test_cli_rotate_prints_the_report_and_adopts(
    client: FakeClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``swarm rotate --adopt`` on the fake engine; the refusal of a name that never existed
    is one line and exit 3."""
    api = client.api
    v2 = api.add_secret("db_password_v2")
    api.add_service("svc", (v2, "db_password", "0", "0", 0o444))
    monkeypatch.setattr(sys.modules["docker"], "from_env", lambda: client)
    assert cli.main(["swarm", "rotate", "db_password", "--generate", "8"]) == 3
    assert "nothing was changed" in capsys.readouterr().err
    code = cli.main(
        ["swarm", "rotate", "db_password", "--generate", "8", "--adopt", "db_password_v2"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "service svc: updated (db_password_v2 -> db_password_v0002 at db_password)" in out
    assert "kept db_password_v2: not made by runsecrets" in out
