"""Scenario 4: TLS between nodes, certificates rotated as Swarm secrets under load.

``docker/tls-mesh/stack.yaml``: two replicas of the mesh app (``docker/tls-mesh/mesh.py``) on
``rscl2`` and ``rscl3`` serve HTTPS with a ``RotatingServerContext`` that requires client
certificates, and call each other with a ``RotatingClientContext`` that presents the same
certificate: mutual TLS both ways, over the overlay network. The app mounts no Swarm secret:
the secrets agent on each node mounts ``tls_ca``, ``tls_crt`` and ``tls_key`` and delivers them
into a tmpfs volume whose files the app's one store follows. A load driver on ``rscl1`` mounts
that node's volume and sends ``POST /relay`` over HTTPS with the same certificate (it follows
the rotations too); each relay makes the replica call its peer on the other node. So every
request is two handshakes across nodes, and each replica's server and client side are used.

The certificates are made here, at run time, with ``cryptography``. Under load, two rotations
with ``runsecrets swarm rotate``:

1. **leaf**: a new certificate and key from the same CA, as two secrets, the certificate
   first. Between the two commands each node holds the new certificate beside the old key; the
   store holds that pair back (``key_mismatch``) and the old pair keeps serving and presenting
   until the key follows;
2. **CA rollover**: the bundle of the old and new CA, then a leaf from the new CA (certificate,
   then key: held back in between again), then the bundle of the new CA only.

What a user would check, and what the tests assert: no handshake and no request failed, on the
driver and in each replica's calls to its peer (and no handshake it received); what each
replica serves, as the driver and its peer see it, is the old certificate while the pair is
half delivered and the new one at the end; each replica trusts the new CA only at the end (and
refuses a peer that presents a certificate of the old CA, made for that check); the same
containers and processes (pid and start time) throughout; ``swarm audit`` shows the
agent on each node on the newest versions; no private key in any output, log, state or spec.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from .. import _pki
from ..e2e import _harness as e2e
from . import _scenario as sc
from . import _tls_mesh as tm
from ._cluster import Cluster, Task
from ._load import LoadDriver, Result
from ._timings import Timings
from ._tls_mesh import Leaf, Mesh

pytestmark = pytest.mark.cluster

SCENARIO = "TLS between nodes"
#: Requests in the steady state before, between and after the rotations.
STEADY_REQUESTS = 150
#: Requests while a certificate waits for its key (the half-delivered pair held back).
HALF_REQUESTS = 40


@dataclass
class Half:
    """A certificate delivered before its key: when, which pair was in use, what each replica
    said meanwhile."""

    start: float
    end: float
    old: Leaf
    new: Leaf
    states: dict[str, dict[str, Any]]  # task id: /state
    held: dict[str, float] = field(default_factory=dict)  # task id: seconds, until the new pair


@dataclass
class Window:
    """One rotation under load: its commands, its half-delivered pairs, when replicas followed."""

    name: str
    start: float  # time.monotonic(), the driver's clock
    end: float = 0.0
    runs: list[sc.Run] = field(default_factory=list)
    halves: list[Half] = field(default_factory=list)
    followed: dict[str, float] = field(default_factory=dict)  # task id: seconds after the key


@dataclass
class Episode:
    """The whole scenario, recorded once for the tests below."""

    leaves: dict[str, Leaf]
    new_ca: str  # the subject of the CA every replica trusts at the end
    mesh: Mesh
    nodes: dict[str, str]  # app task: node
    replicas: dict[str, str]  # app task: address on the stack's network
    before: dict[str, tuple[str, list[tuple[int, int, str]]]]  # task: container, processes
    after: dict[str, tuple[str, list[tuple[int, int, str]]]]
    states: dict[str, dict[str, Any]]  # task: /state at the end
    #: At the end, a call from each replica to its peer presenting a certificate made for the
    #: check (not the mesh's), by the old or the new CA: the peer's answer, by task.
    outsiders: dict[str, dict[str, dict[str, Any]]]
    outsider_leaves: dict[str, Leaf]
    windows: list[Window]
    result: Result
    steady: tuple[float, float]
    audits: dict[str, dict[str, Any]]
    outputs: list[str]


@dataclass
class _Rotate:
    """``runsecrets swarm rotate NAME --from-stdin``, timed per node right after it returns."""

    mesh: Mesh
    timings: Timings

    def __call__(self, window: Window, logical: str, value: bytes) -> None:
        cluster = self.mesh.cluster
        run = sc.runsecrets(
            cluster,
            "swarm", "rotate", self.mesh.secrets[logical], "--from-stdin", "--timeout", "120",
            input=value,
        )  # fmt: skip
        assert run.code == 0, run.text
        window.runs.append(run)
        row = f"{SCENARIO}, {window.name}, {logical} ({len(window.runs)})"
        self.timings.add(row, "swarm rotate command", run.seconds)
        agent = {"agent": self.mesh.service("secrets")}
        self.timings.rotation(row, cluster, agent, sc.created(run), run.started)


@dataclass
class _Run:
    """What the rotations share: the stack, its replicas, the driver, the command."""

    mesh: Mesh
    tasks: list[Task]
    driver: LoadDriver
    rotate: _Rotate

    def pair(self, window: Window, old: Leaf, new: Leaf) -> None:
        """The certificate, then (once every replica held it back) the key."""
        self.rotate(window, "tls_crt", new.cert_pem)
        self.mesh.wait_states(
            self.tasks, lambda s: s["store"]["held_back_since"] is not None, "pair held back"
        )
        start = time.monotonic()
        self.driver.wait_for(HALF_REQUESTS)
        states = {task.id: self.mesh.state(task) for task in self.tasks}
        window.halves.append(Half(start, time.monotonic(), old, new, states))
        key_started = time.monotonic()
        self.rotate(window, "tls_key", new.key_pem)

        def serving_new(state: dict[str, Any]) -> bool:
            return all(
                state[side]["fingerprint"] == new.fingerprint for side in ("serving", "presenting")
            )

        reached = self.mesh.wait_states(self.tasks, serving_new, f"{window.name}: new pair")
        window.followed.update({t: moment - key_started for t, moment in reached.items()})
        epoch = time.time() - time.monotonic()
        window.halves[-1].held = {
            t: moment + epoch - states[t]["store"]["held_back_since"]
            for t, moment in reached.items()
        }

    def trust(self, window: Window, bundle: list[_pki.Issued]) -> None:
        """A new CA bundle, until every replica's both contexts trust exactly it."""
        self.rotate(window, "tls_ca", _pki.cert_pem(*(ca.cert for ca in bundle)))
        subjects = [ca.cert.subject.rfc4514_string() for ca in bundle]
        self.mesh.wait_states(
            self.tasks,
            lambda s: s["serving"]["trusts"] == s["presenting"]["trusts"] == subjects,
            f"{window.name}: trusting {subjects}",
        )


def _snapshot(mesh: Mesh, tasks: list[Task]) -> dict[str, tuple[str, list[tuple[int, int, str]]]]:
    return {task.id: (task.container, mesh.processes(task)) for task in tasks}


@pytest.fixture(scope="module")
def episode(cluster: Cluster, timings: Timings) -> Iterator[Episode]:
    """Deploy, load, rotate the leaf, roll the CA over, stop; record everything (see the
    module docstring); remove the stack afterwards."""
    begun = time.monotonic()
    old_ca, new_ca = tm.new_ca("Mesh CA 1"), tm.new_ca("Mesh CA 2")
    leaves = {
        "first": Leaf.issued_by(old_ca),
        "renewed": Leaf.issued_by(old_ca),
        "new CA": Leaf.issued_by(new_ca),
    }
    mesh: Mesh | None = None
    try:
        mesh = tm.deploy(cluster, leaves["first"], old_ca)
        for what, seconds in cluster.images.seconds.items() if cluster.images else ():
            if "tls-mesh" in what:
                timings.add(SCENARIO, f"host engine: {what}", seconds)
        tasks = mesh.app_tasks()
        mesh.agent_tasks()
        timings.add(
            SCENARIO,
            "image built and loaded, stack deployed, replicas healthy",
            time.monotonic() - begun,
        )
        yield _record(mesh, tasks, leaves, (old_ca, new_ca), timings)
    finally:
        problems = mesh.remove() if mesh is not None else cluster.remove_objects()
        timings.add(SCENARIO, "whole scenario", time.monotonic() - begun)
        assert not problems, problems


def _record(
    mesh: Mesh,
    tasks: list[Task],
    leaves: dict[str, Leaf],
    cas: tuple[_pki.Issued, _pki.Issued],
    timings: Timings,
) -> Episode:
    old_ca, new_ca = cas
    cluster = mesh.cluster
    # A replica's peer is in the Swarm's DNS a moment after it runs (gossip between the nodes):
    # the mesh is up once each replica resolves both addresses.
    step = time.monotonic()
    mesh.wait_states(tasks, lambda s: len(s["peers"]) == len(tasks), "replicas resolving both")
    timings.add(SCENARIO, "every replica resolves both replicas", time.monotonic() - step)
    before = _snapshot(mesh, tasks)
    driver = mesh.start_driver(cluster.manager.name)
    driver.wait_for(STEADY_REQUESTS // 3)  # warmed up
    steady_start = time.monotonic()
    # The rotations poll each replica's /state (a docker exec each time): so does the steady
    # state, or the two p99s would differ by that load as well.
    driver.wait_for(STEADY_REQUESTS, meanwhile=lambda: [mesh.state(task) for task in tasks])
    steady = (steady_start, time.monotonic())
    run = _Run(mesh, tasks, driver, _Rotate(mesh, timings))

    leaf = Window("leaf", time.monotonic())
    run.pair(leaf, leaves["first"], leaves["renewed"])
    leaf.end = time.monotonic()
    driver.wait_for(STEADY_REQUESTS // 2)

    rollover = Window("CA rollover", time.monotonic())
    run.trust(rollover, [old_ca, new_ca])
    run.pair(rollover, leaves["renewed"], leaves["new CA"])
    run.trust(rollover, [new_ca])
    rollover.end = time.monotonic()
    driver.wait_for(STEADY_REQUESTS // 2)
    result = driver.stop()

    windows = [leaf, rollover]
    nodes = {task.id: task.node_name for task in tasks}
    for window in windows:
        _report(timings, result, steady, window, nodes)
    after_tasks = mesh.app_tasks()
    states = {task.id: mesh.state(task) for task in after_tasks}  # before the calls below
    replicas = {task.id: cluster.address(task, mesh.network) for task in tasks}
    outsider_leaves = {"old CA": Leaf.issued_by(old_ca), "new CA": Leaf.issued_by(new_ca)}
    outsiders = {
        which: {
            task.id: mesh.call_with(
                task,
                next(a for t, a in replicas.items() if t != task.id),
                leaf,
                _pki.cert_pem(new_ca.cert),
            )
            for task in after_tasks
        }
        for which, leaf in outsider_leaves.items()
    }
    return Episode(
        leaves=leaves,
        new_ca=new_ca.cert.subject.rfc4514_string(),
        mesh=mesh,
        nodes=nodes,
        replicas=replicas,
        before=before,
        after=_snapshot(mesh, after_tasks),
        states=states,
        outsiders=outsiders,
        outsider_leaves=outsider_leaves,
        windows=windows,
        result=result,
        steady=steady,
        audits={logical: sc.audit(cluster, name) for logical, name in mesh.secrets.items()},
        outputs=[run.text for window in windows for run in window.runs]
        + sc.logs_and_specs(cluster),
    )


def _report(
    timings: Timings, result: Result, steady: tuple[float, float], w: Window, nodes: dict[str, str]
) -> None:
    timings.add(
        SCENARIO, f"{w.name}: rotation, first command to every replica done", w.end - w.start
    )
    for task_id, seconds in sorted(w.followed.items(), key=lambda item: nodes[item[0]]):
        timings.add(
            SCENARIO,
            f"{w.name}: replica on {nodes[task_id]} on the new pair, from the key's command",
            seconds,
        )
    for half in w.halves:
        for task_id, seconds in sorted(half.held.items(), key=lambda item: nodes[item[0]]):
            timings.add(
                SCENARIO,
                f"{w.name}: replica on {nodes[task_id]}: certificate held back until its key",
                seconds,
            )
    timings.latencies(SCENARIO, w.name, result.load, (w.start, w.end), steady)


def test_no_handshake_and_no_request_fails(episode: Episode) -> None:
    """0 failed handshakes and 0 failed requests through both rotations: on the driver (none
    retried elsewhere either: no replica went away), and in each replica's calls to its peer
    and the handshakes it received; both replicas answered during each rotation."""
    result = episode.result
    marks = [
        (w.name, w.start - episode.steady[0], w.end - episode.steady[0]) for w in episode.windows
    ]
    for task_id, state in episode.states.items():
        calls = state["calls"]
        failed = [(when - episode.steady[0], *rest) for when, *rest in calls["failures"]]
        assert failed == [], (
            episode.nodes[task_id],
            marks,
            failed[:5],
            failed[-5:],
            state["peers"],
        )
        assert calls["outbound_failed"] == calls["outbound_handshake_failed"] == 0
        assert calls["inbound_handshake_failed"] == 0
        assert calls["outbound_ok"] >= STEADY_REQUESTS, episode.nodes[task_id]
    failed = [(when - episode.steady[0], kind) for when, kind in result.load.failures]
    assert failed == [], (marks, failed[:5], failed[-5:])
    assert result.handshakes == []
    assert result.retries == []
    for window in episode.windows:
        served = result.served_by(window.start, window.end)
        assert set(served) == set(episode.replicas.values()), (window.name, served)
    assert result.load.operations >= 3 * STEADY_REQUESTS


def test_a_certificate_without_its_key_is_held_back(episode: Episode) -> None:
    """Between the certificate's rotation and the key's, each node holds the new certificate
    beside the old key: every replica's store holds that pair back (``key_mismatch``), and the
    old pair is what the replica serves and presents, as the driver and the peer saw it on
    every request meanwhile."""
    certificates = episode.result.certificates
    for window in episode.windows:
        (half,) = window.halves
        for task_id, state in half.states.items():
            node = episode.nodes[task_id]
            assert state["store"]["held_back_since"] is not None, (window.name, node)
            assert "key_mismatch" in state["store"]["problem"], (window.name, node)
            # The store asks its derived values in turn and stops at the first refusal: the
            # server context's (made first) is the one that names the reason.
            assert state["serving"]["last_error"] == "key_mismatch", (window.name, node)
            for side in ("serving", "presenting"):
                assert state[side]["fingerprint"] == half.old.fingerprint, (window.name, side)
        seen = [c for c in certificates if half.start <= c[0] < half.end]
        assert len(seen) >= HALF_REQUESTS // 2, window.name
        assert {served for _, _, served, _, _ in seen} == {half.old.fingerprint}
        assert {peer_served for *_, peer_served in seen} == {half.old.fingerprint}
        assert {address for _, address, *_ in seen} == set(episode.replicas.values())


def test_every_replica_ends_on_the_new_certificate_and_ca(episode: Episode) -> None:
    """At the end each replica serves and presents the new CA's leaf (as its own state says,
    and as the driver and its peer saw it on the last requests), trusts the new CA only, and
    its store holds nothing back; each replica followed each pair."""
    new = episode.leaves["new CA"]
    for task_id, state in episode.states.items():
        for side in ("serving", "presenting"):
            assert state[side]["fingerprint"] == new.fingerprint, side
            assert state[side]["issuer"] == new.issuer
            assert state[side]["trusts"] == [episode.new_ca]
            assert state[side]["last_error"] is None
        assert state["store"]["problem"] is None, episode.nodes[task_id]
        assert state["store"]["held_back_since"] is None
    last: dict[str, tuple[str, str]] = {}
    for _, address, served, _, peer_served in episode.result.certificates:
        last[address] = (served, peer_served)
    assert last == {a: (new.fingerprint, new.fingerprint) for a in episode.replicas.values()}
    for window in episode.windows:
        assert set(window.followed) == set(episode.replicas), window.name


def test_a_peer_presenting_the_old_cas_certificate_is_refused(episode: Episode) -> None:
    """After the rollover each replica's server requires the new CA: from the other replica,
    a certificate of the old CA (made for this check) is refused in the handshake, one of the
    new CA is answered; so the trust a replica reports is the trust its handshakes use."""
    for task_id, answer in episode.outsiders["old CA"].items():
        assert answer["ok"] is False, episode.nodes[task_id]
        assert answer["error"] in {"SSLError", "SSLEOFError", "ConnectionResetError"}, answer
    for task_id, answer in episode.outsiders["new CA"].items():
        assert answer == {"ok": True, "error": None, "reason": None}, episode.nodes[task_id]


def test_the_app_is_never_restarted(episode: Episode) -> None:
    """The same app tasks, containers and nodes after both rotations, and in each container
    the same mesh process (pid and start time): the store followed the files."""
    assert set(episode.after) == set(episode.before)
    for task_id, (container, processes) in episode.after.items():
        old_container, old_processes = episode.before[task_id]
        assert container == old_container
        assert processes == old_processes
        assert len(processes) == 1
    assert sorted(episode.nodes.values()) == sorted(
        engine.name for engine in episode.mesh.cluster.engines[1:]
    )


def test_swarm_audit_shows_the_agent_on_each_node_on_the_new_versions(episode: Episode) -> None:
    """Each secret rotated twice: its third version, referenced by the agent only, whose task
    on every node mounts it; the runsecrets version in between is removed, the secret made by
    hand kept, unused."""
    mesh = episode.mesh
    all_nodes = sorted(engine.name for engine in mesh.cluster.engines)
    for logical, entry in episode.audits.items():
        base = mesh.secrets[logical]
        newest = f"{base}_v0003"
        assert [v["name"] for v in entry["versions"]] == [base, newest], logical
        assert entry["unused"] == [base]
        assert {r["secret_name"] for r in entry["references"]} == {newest}
        assert {r["service_name"] for r in entry["references"]} == {mesh.service("secrets")}
        assert sorted(t["node"] for t in entry["tasks"]) == all_nodes, logical
        assert {t["secret_name"] for t in entry["tasks"]} == {newest}


def test_no_private_key_is_in_any_output_log_state_or_spec(episode: Episode) -> None:
    """No private key (the whole PEM, or any line of its body) is in the commands' output, any
    container's log on any node (agents, replicas, driver), the replicas' states or the
    services' specs."""
    import json

    texts = [*episode.outputs, *(json.dumps(state) for state in episode.states.values())]
    for window in episode.windows:
        texts += [json.dumps(state) for half in window.halves for state in half.states.values()]
    for name, leaf in {**episode.leaves, **episode.outsider_leaves}.items():
        pem = leaf.key_pem.decode()
        body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        for fragment in [pem, *body]:
            assert not e2e.leaked_any(fragment, *texts), name
