"""``runsecrets swarm`` on the real single-node Swarm, against the second review's findings
(issue 14, findings 1 to 8): what ``rotate`` must never touch, forged labels, registry
credentials, idle services and jobs, the timeout, rollbacks next to other operators' changes,
one target's owner and mode per secret, Swarm's size limit, and escaped listings."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runsecrets import cli
from runsecrets import swarm as rsw

from . import _harness as h

pytestmark = pytest.mark.e2e

SLEEP = ("sleep", "infinity")


def _labels(docker: h.Docker) -> dict[str, str]:
    """The session label, so the clean-up finds what a rotation creates."""
    return {h.LABEL: docker.session}


def _rotate(client: Any, name: str, value: str | bytes, docker: h.Docker, **kwargs: Any) -> Any:
    kwargs.setdefault("timeout", 120)
    return rsw.rotate(client, name, value, labels=_labels(docker), **kwargs)


def _secret_id(docker: h.Docker, name: str) -> str:
    return docker.out("secret", "inspect", "--format", "{{.ID}}", name)


def _root_digest(docker: h.Docker, container: str, path: str) -> str:
    """The SHA-256 of a file in the container, read as root (never the value itself)."""
    code = "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())"
    return docker.out("exec", "-u", "0", container, "python3", "-c", code, path)


def _stat(docker: h.Docker, container: str, path: str) -> str:
    return docker.out("exec", container, "stat", "-L", "-c", "%u %g %a", path)


# --- finding 1: only a rotation it can prove it started --------------------------------------


def test_a_name_that_never_existed_moves_and_deletes_nothing(
    swarm: h.Swarm, sentinel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``api_v1`` and ``api_v2`` are two independent tokens of two services. ``rotate api``
    (a name no secret has) is refused with one line and exit 3: nothing is created, no service
    is moved, both tokens stay (before the fix it "resumed" onto ``api_v2``, moved the
    ``api_v1`` service onto it and deleted ``api_v1``)."""
    docker = swarm.docker
    logical = docker.name("api")
    one = swarm.named_secret(f"{logical}_v1", f"{sentinel}-one".encode())
    two = swarm.named_secret(f"{logical}_v2", f"{sentinel}-two".encode())
    first = swarm.service("tok1", "--secret", f"source={logical}_v1,target=api", command=SLEEP)
    second = swarm.service("tok2", "--secret", f"source={logical}_v2,target=api", command=SLEEP)
    (box1,) = swarm.wait_containers(first)
    (box2,) = swarm.wait_containers(second)
    before = {first: swarm.references(first), second: swarm.references(second)}

    code = cli.main(
        ["swarm", "rotate", logical, "--generate", "24", "--label", f"{h.LABEL}={docker.session}"]
    )
    out, err = capsys.readouterr()

    assert code == 3, out
    assert "nothing was changed" in err
    assert out == ""
    assert swarm.secret_names(logical) == [f"{logical}_v1", f"{logical}_v2"]
    assert (_secret_id(docker, f"{logical}_v1"), _secret_id(docker, f"{logical}_v2")) == (one, two)
    assert {first: swarm.references(first), second: swarm.references(second)} == before
    assert swarm.wait_containers(first) == [box1]  # the tasks were not replaced
    assert swarm.wait_containers(second) == [box2]
    assert swarm.exec_probe(box1, "/run/secrets/api") == {
        "/run/secrets/api": h.digest(f"{sentinel}-one")
    }


def test_docker_docs_procedure_keeps_every_target_owner_and_mode(
    swarm: h.Swarm, docker_sdk: Any, sentinel: str
) -> None:
    """The Docker documentation's rotation by hand, half done: ``mysql_password`` mounted at
    ``old_mysql_password`` (root, 0400) and ``mysql_password_v2`` at ``mysql_password`` (999:999,
    0440). ``rotate mysql_password`` moves exactly the reference to ``mysql_password``, to a new
    version, at the same target, owner and mode; ``mysql_password_v2`` (made by hand, not by
    runsecrets) is neither resumed onto nor changed, and nothing is deleted (findings 1 and 6:
    before, both references went to ``_v2``, the files became 0440 999:999, and
    ``mysql_password`` was removed)."""
    docker = swarm.docker
    logical = docker.name("mysql_password")
    swarm.named_secret(logical, f"{sentinel}-old".encode())
    swarm.named_secret(f"{logical}_v2", f"{sentinel}-v2".encode())
    service = swarm.service(
        "mysql",
        "--secret",
        f"source={logical},target=old_mysql_password,mode=0400",
        "--secret",
        f"source={logical}_v2,target=mysql_password,uid=999,gid=999,mode=0440",
        command=SLEEP,
    )
    swarm.wait_containers(service)

    report = _rotate(docker_sdk, logical, f"{sentinel}-rotated", docker)

    assert report.created
    assert not report.resumed
    new = report.new_secret
    assert new == f"{logical}_v0002"
    assert swarm.references(service) == {
        "old_mysql_password": (new, "0", "0", 0o400),
        "mysql_password": (f"{logical}_v2", "999", "999", 0o440),
    }
    (box,) = swarm.wait_containers(service, secret=new)
    assert _stat(docker, box, "/run/secrets/old_mysql_password") == "0 0 400"
    assert _stat(docker, box, "/run/secrets/mysql_password") == "999 999 440"
    # As root: the app user (10001) may read neither file, by their modes.
    assert _root_digest(docker, box, "/run/secrets/old_mysql_password") == h.digest(
        f"{sentinel}-rotated"
    )
    assert _root_digest(docker, box, "/run/secrets/mysql_password") == h.digest(f"{sentinel}-v2")
    assert swarm.secret_names(logical) == sorted([logical, f"{logical}_v2", new])
    assert report.removed == []
    assert logical in report.kept


# --- finding 2: forged labels steer nothing ---------------------------------------------------


def test_forged_labels_steer_nothing(swarm: h.Swarm, docker_sdk: Any, sentinel: str) -> None:
    """Secrets carrying runsecrets' labels that runsecrets did not make (a plain forgery with
    ``version=7``, a copy of a real version's every label, a version number of 40 digits) are
    never resumed onto, moved from nor removed; each rotation creates the next version with
    the value it was given and moves the service to it (before: the service went to the
    forger's data, the real secret was removed, and the huge number broke every later run)."""
    docker = swarm.docker
    logical = docker.name("fl_pw")
    swarm.named_secret(logical, f"{sentinel}-real".encode())
    forged = f"{logical}_v0007"
    swarm.named_secret(
        forged,
        f"{sentinel}-forged".encode(),
        f"{rsw.LABEL_LOGICAL_NAME}={logical}",
        f"{rsw.LABEL_VERSION}=7",
    )
    service = swarm.service("fl", "--secret", f"source={logical},target=fl_pw", command=SLEEP)
    swarm.wait_containers(service)

    report = _rotated_with_own_value(swarm, docker_sdk, service, logical, f"{sentinel}-new", 2)
    assert forged in report.ignored

    # A copy of the real version's labels (its rotation id and the id it replaced included),
    # and a huge version number.
    (real,) = docker.inspect("secret", "inspect", report.new_secret)
    copied = dict(real["Spec"]["Labels"])  # type: ignore[index]
    copied[rsw.LABEL_VERSION] = "9"
    swarm.named_secret(
        f"{logical}_v0009", b"copy", *(f"{key}={value}" for key, value in copied.items())
    )
    swarm.named_secret(
        f"{logical}_v9",
        b"huge",
        f"{rsw.LABEL_LOGICAL_NAME}={logical}",
        f"{rsw.LABEL_VERSION}={'9' * 40}",
    )

    again = _rotated_with_own_value(swarm, docker_sdk, service, logical, f"{sentinel}-newer", 3)
    assert again.removed == [report.new_secret]  # the version runsecrets made, and only it
    assert swarm.secret_names(logical) == sorted(
        [logical, forged, f"{logical}_v0009", f"{logical}_v9", again.new_secret]
    )


def _rotated_with_own_value(
    swarm: h.Swarm, client: Any, service: str, logical: str, value: str, version: int
) -> Any:
    """Rotate ``logical`` (mounted at ``/run/secrets/fl_pw``) and check that a new version was
    created, not resumed, and that the service's new task reads ``value``."""
    report = _rotate(client, logical, value, swarm.docker)
    assert report.created
    assert not report.resumed
    assert report.new_secret == rsw.versioned_name(logical, version)
    (box,) = swarm.wait_containers(service, secret=report.new_secret)
    assert swarm.exec_probe(box, "/run/secrets/fl_pw") == {"/run/secrets/fl_pw": h.digest(value)}
    return report


# --- finding 3: the operator's registry credentials stay home -------------------------------


class RecordingProxy:
    """A Unix-socket proxy in front of the engine that keeps every byte the client sends.

    The engine stores an ``X-Registry-Auth`` header of a service update with the service and
    hands it to the nodes; nothing reports it back, so the request itself is what the test
    reads. Every socket and thread it opened is closed and joined on exit.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.directory = tempfile.mkdtemp(prefix="rs-proxy-")
        self.path = os.path.join(self.directory, "engine.sock")
        self.sent = bytearray()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(16)

    def __enter__(self) -> RecordingProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        with self._lock:
            sockets = list(self._sockets)
        for end in sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=10)
        for end in [self._listener, *sockets]:
            end.close()
        os.unlink(self.path)
        os.rmdir(self.directory)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # shut down
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            with self._lock:
                self._sockets += [client, engine]
            engine.connect(self.upstream)
            self._spawn(self._pump, client, engine, True)
            self._spawn(self._pump, engine, client, False)

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if record:
                    with self._lock:
                        self.sent.extend(chunk)
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _engine_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    return host[len("unix://") :] if host.startswith("unix://") else "/var/run/docker.sock"


def test_update_sends_no_registry_credentials(
    swarm: h.Swarm, sentinel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator's ``~/.docker/config.json`` holds credentials for the image's registry;
    a rotation's service updates carry no ``X-Registry-Auth`` header (the engine then keeps the
    spec's own pull credentials, as ``docker service update`` does without
    ``--with-registry-auth``). Before, docker-py's ``update_service`` sent them along."""
    import docker as sdk

    docker = swarm.docker
    config = Path(tempfile.mkdtemp(prefix="rs-docker-config-"))
    token = base64.b64encode(f"operator:{sentinel}".encode()).decode()
    (config / "config.json").write_text(
        json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": token}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    logical = docker.name("reg")
    swarm.named_secret(logical, b"before")
    service = swarm.service("reg", "--secret", f"source={logical},target=reg", command=SLEEP)
    swarm.wait_containers(service)
    try:
        with RecordingProxy(_engine_socket()) as proxy:
            client = sdk.DockerClient(base_url=f"unix://{proxy.path}", version="auto")
            try:
                report = _rotate(client, logical, "after", docker)
            finally:
                client.close()
    finally:
        (config / "config.json").unlink()
        config.rmdir()

    assert report.ok
    assert swarm.references(service)["reg"][0] == report.new_secret
    sent = bytes(proxy.sent).lower()
    assert b"/update?version=" in sent  # the updates went through the proxy
    assert b"x-registry-auth" not in sent
    assert sentinel.encode().lower() not in sent


# --- finding 4: idle services, jobs, and the timeout ----------------------------------------


def _job_runs(docker: h.Docker, service: str) -> tuple[int, object]:
    """How many tasks the job ran, and its iteration."""
    tasks = docker.out("service", "ps", "-q", service).split()
    (spec,) = docker.inspect("service", "inspect", service)
    return len(tasks), (spec.get("JobStatus") or {}).get("JobIteration")  # type: ignore[union-attr]


def test_idle_services_and_a_job_rotate_within_the_timeout(swarm: h.Swarm, docker_sdk: Any) -> None:
    """A service with 0 replicas and a global service no node is eligible for are rotated
    (their spec is applied: nothing is meant to run) well within ``timeout=15``; a job that has
    run is not updated (an update would run it again), is reported ``skipped`` and keeps its
    version. Before: each timed out, then waited a minute for its rollback, and the job ran
    again."""
    docker = swarm.docker
    logical = docker.name("idle")
    swarm.named_secret(logical, b"old")
    ref = f"source={logical},target=idle"
    zero = swarm.service("zero", "--replicas", "0", "--secret", ref, command=SLEEP)
    nowhere = swarm.service(
        "nowhere",
        "--mode",
        "global",
        "--constraint",
        "node.labels.runsecrets-nowhere==1",
        "--secret",
        ref,
        command=SLEEP,
    )
    job = swarm.service(
        "job",
        "--mode",
        "replicated-job",
        "--secret",
        ref,
        command=["cat", "/run/secrets/idle"],
        update_monitor=None,
    )
    docker.wait_for(
        "the job to complete",
        lambda: docker.out("service", "ps", "--format", "{{.CurrentState}}", job).startswith(
            "Complete"
        ),
    )
    runs = _job_runs(docker, job)

    started = time.monotonic()
    report = _rotate(docker_sdk, logical, b"new", docker, timeout=15)
    elapsed = time.monotonic() - started

    assert elapsed < 15
    assert report.ok
    assert {s.service_name: s.state for s in report.services} == {
        zero: "updated",
        nowhere: "updated",
        job: "skipped",
    }
    assert swarm.references(zero)["idle"][0] == report.new_secret
    assert swarm.references(nowhere)["idle"][0] == report.new_secret
    assert swarm.references(job)["idle"][0] == logical
    time.sleep(2)  # a job run again would show up by now
    assert _job_runs(docker, job) == runs
    assert logical in report.kept


def test_timeout_bounds_the_whole_wait_rollback_included(swarm: h.Swarm, docker_sdk: Any) -> None:
    """An update that cannot converge in time (the service watches new tasks for 30 s) with
    ``timeout=4``: the rotation gives up after about 4 s in all, the rollback submitted but not
    waited for, and the service's spec is back on its old version (before: the rollback was
    waited for another minute past the timeout)."""
    docker = swarm.docker
    logical = docker.name("slow")
    swarm.named_secret(logical, b"old")
    service = swarm.service(
        "slow", "--secret", f"source={logical},target=slow", "--update-monitor", "30s",
        command=SLEEP,
    )  # fmt: skip
    swarm.wait_containers(service)

    started = time.monotonic()
    with pytest.raises(rsw.RotationError) as caught:
        _rotate(docker_sdk, logical, b"new", docker, timeout=4, poll_interval=0.25)
    elapsed = time.monotonic() - started

    assert elapsed < 8, f"took {elapsed:.1f}s with timeout=4"
    (update,) = caught.value.report.services
    assert update.state == "failed"
    assert "timed out" in update.detail
    assert swarm.references(service)["slow"][0] == logical


# --- finding 5: a rollback reverts the secret references only -------------------------------


def test_rollback_keeps_other_operators_changes(
    swarm: h.Swarm, docker_sdk: Any, tmp_path: Path
) -> None:
    """While a rotation waits on an update that will fail (the app refuses the new value after
    two seconds), another operator adds an environment variable and a label. The rollback puts
    back the old secret and keeps both (before: the spec read before the rotation was
    re-applied, dropping them)."""
    docker = swarm.docker
    gate = Path(tempfile.mkdtemp(prefix="runsecrets-gate-"))
    os.chmod(gate, 0o755)  # noqa: S103 - the container user must read the gate file
    (gate / "deny").write_text("new")
    logical = docker.name("gated")
    swarm.named_secret(logical, b"old")
    script = "if cmp -s /gate/deny /run/secrets/pw; then sleep 2; exit 1; fi; exec sleep infinity"
    service = swarm.service(
        "gated",
        "--secret",
        f"source={logical},target=pw",
        "--mount",
        f"type=bind,source={gate},target=/gate,readonly",
        "--update-monitor",
        "4s",
        command=["sh", "-c", script],
    )
    swarm.wait_containers(service)
    outcome: dict[str, BaseException] = {}

    def rotate() -> None:
        try:
            _rotate(docker_sdk, logical, b"new", docker, timeout=90, poll_interval=0.25)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = e

    worker = threading.Thread(target=rotate)
    worker.start()
    try:
        docker.wait_for(
            "the rotation's update",
            lambda: swarm.references(service)["pw"][0] != logical,
            timeout=30,
        )
        docker.run(
            "service", "update", "--detach", "--quiet", "--env-add", "OTHER_OPERATOR=1",
            "--label-add", "org.example.owner=ops", service,
        )  # fmt: skip
    finally:
        worker.join(timeout=120)
        for child in gate.iterdir():
            child.unlink()
        gate.rmdir()

    assert isinstance(outcome.get("error"), rsw.RotationError), outcome
    (spec,) = docker.inspect("service", "inspect", service)
    assert swarm.references(service)["pw"][0] == logical
    container = spec["Spec"]["TaskTemplate"]["ContainerSpec"]  # type: ignore[index]
    assert "OTHER_OPERATOR=1" in container.get("Env", [])
    assert spec["Spec"]["Labels"]["org.example.owner"] == "ops"  # type: ignore[index]


# --- finding 7: Swarm's size limit ------------------------------------------------------------


def test_size_limit_is_less_than_512000_bytes(swarm: h.Swarm, docker_sdk: Any) -> None:
    """The engine refuses 512,000 bytes; so does ``rotate``, before any call (nothing is
    created); 511,999 random bytes rotate and reach the task byte for byte."""
    docker = swarm.docker
    refused = docker.run(
        "secret", "create", docker.name("limit"), "-", input=b"x" * 512_000, check=False
    )
    assert refused.returncode != 0
    assert b"512000" in refused.stderr
    logical = docker.name("big")
    swarm.named_secret(logical, b"small")
    service = swarm.service("big", "--secret", f"source={logical},target=big", command=SLEEP)
    swarm.wait_containers(service)

    with pytest.raises(rsw.InvalidSwarmSecretError) as caught:
        _rotate(docker_sdk, logical, os.urandom(512_000), docker)
    assert caught.value.reason == "too_large"
    assert swarm.secret_names(logical) == [logical]

    value = os.urandom(511_999)
    report = _rotate(docker_sdk, logical, value, docker)
    (box,) = swarm.wait_containers(service, secret=report.new_secret)
    assert swarm.exec_probe(box, "/run/secrets/big") == {"/run/secrets/big": h.digest(value)}


# --- finding 8: listings print no terminal escapes and no fake rows --------------------------


@pytest.fixture
def hostile(swarm: h.Swarm) -> str:
    """A secret whose logical-name label holds terminal escapes and a newline, in use."""
    docker = swarm.docker
    name = docker.name("hostile")
    swarm.named_secret(
        name,
        b"x",
        f"{rsw.LABEL_LOGICAL_NAME}=\x1b[2J\x1b[31mowned\nFAKE-ROW v9",
        f"{rsw.LABEL_VERSION}=9",
    )
    service = swarm.service("hostile", "--secret", f"source={name},target=h", command=SLEEP)
    swarm.wait_containers(service)
    return name


@pytest.mark.parametrize("command", [["swarm", "ls"], ["swarm", "audit"]])
def test_listings_escape_labels(
    hostile: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``swarm ls`` and ``swarm audit`` show a hostile label escaped: no escape character
    reaches the terminal and no line of output is forged."""
    assert cli.main(command) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert not any(line.startswith("FAKE-ROW") for line in out.splitlines())
    assert "\\x1b[31mowned\\nFAKE-ROW v9" in out
