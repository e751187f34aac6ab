"""Scenario 1: seed 002 done right, across nodes, from the stack file a user deploys.

``docker/seed002/stack.yaml``: MariaDB on ``rscl1`` (the node labelled ``db=true``), two
replicas of the Flask + SQLAlchemy example (``follow_credentials``) on ``rscl2`` and ``rscl3``,
an internal overlay network between them. The app mounts no Swarm secret: the secrets agent
on its nodes mounts ``db_user`` and ``db_password`` and delivers them into a tmpfs volume the
app watches. So a ``runsecrets swarm rotate`` replaces the agent's tasks, and the app's store
follows the files: that is what "no restart" means in Swarm, where a task's secrets are fixed
for its life.

While a load driver (a task on ``rscl1``, see ``_seed002``) sends requests through the app
continuously, the database credentials rotate twice, end to end, the database side included
(``runsecrets-mariadb-user`` inside the MariaDB task, as the operator would run it):

1. **one user with the retry**: ``app_blue``'s password changes on the server, then
   ``swarm rotate db_password``; logins in between are refused and retried;
2. **alternating users**: the standby ``app_green`` gets a new password, ``swarm rotate
   db_user`` then ``swarm rotate db_password`` (the agent delivers the user first: the new user
   with the old password is a half rotation the app never combines), then ``app_blue`` is
   locked.

What a user would check, and what the tests assert: no request failed (and none had to be
retried elsewhere: no replica went away); the app's containers are the same, on the same
nodes, with the same processes (pid and start time); every replica ends on the new credentials
(the server's sessions: all from after the change, all as ``app_green`` at the end, from both
replicas' addresses; each replica's ``/healthz``); ``swarm audit`` shows the agent's task on
each node on the new versions and the old ones removed; no value anywhere.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from ..e2e import _harness as e2e
from . import _images, _seed002
from . import _scenario as sc
from ._cluster import Cluster, Task
from ._layout import ClusterError
from ._load import Result
from ._seed002 import Stack
from ._timings import Timings

pytestmark = pytest.mark.cluster

SCENARIO = "seed 002"
#: Requests in the steady state before, between and after the rotations.
STEADY_REQUESTS = 150


@dataclass
class Window:
    """One rotation under load: when it ran, what the commands said, when replicas followed."""

    name: str
    start: float  # time.monotonic(), the driver's clock
    end: float = 0.0
    runs: list[sc.Run] = field(default_factory=list)
    followed: dict[str, float] = field(default_factory=dict)  # replica address: seconds


@dataclass
class Episode:
    """The whole scenario, recorded once for the tests below."""

    values: dict[str, str]
    stack: Stack
    before: dict[str, tuple[str, list[tuple[int, int, str]]]]  # task: container, processes
    after: dict[str, tuple[str, list[tuple[int, int, str]]]]
    nodes: dict[str, str]  # app task: node
    replicas: dict[str, str]  # app task: address on the stack's network
    windows: list[Window]
    result: Result
    steady: tuple[float, float]
    sessions_after: list[tuple[int, str, str]]
    health: dict[str, dict[str, Any]]
    locked: dict[str, bool]
    audits: dict[str, dict[str, Any]]
    outputs: list[str]


def _value(step: str, token: str) -> str:
    return f"S3NT1NEL-{token}-{step}"


def _snapshot(stack: Stack, tasks: list[Task]) -> dict[str, tuple[str, list[tuple[int, int, str]]]]:
    return {task.id: (task.container, stack.processes(task)) for task in tasks}


def _wait_followed(
    stack: Stack, window: Window, replicas: dict[str, str], newer_than: int, user: str
) -> None:
    """Wait until every replica's sessions are all newer than ``newer_than`` and all as
    ``user``; note when each replica got there."""
    deadline = time.monotonic() + 60
    while True:
        sessions = stack.sessions()
        for address in replicas.values():
            own = [(i, u) for i, u, host in sessions if host == address]
            done = own and all(i > newer_than and u == user for i, u in own)
            if done and address not in window.followed:
                window.followed[address] = time.monotonic() - window.start
        if len(window.followed) == len(replicas):
            return
        if time.monotonic() > deadline:
            raise ClusterError(
                f"{window.name}: replicas still on the old credentials after 60 s: {sessions}"
            )
        time.sleep(0.3)


@dataclass
class _Rotate:
    """``runsecrets swarm rotate NAME --from-stdin``, timed per node right after it returns
    (the next rotation replaces the tasks it made)."""

    stack: Stack
    timings: Timings
    services: dict[str, str]  # label: service, for the per-node rows

    def __call__(self, window: Window, logical: str, value: str, secret: str = "") -> None:
        cluster = self.stack.cluster
        run = sc.runsecrets(
            cluster,
            "swarm", "rotate", secret or self.stack.secrets[logical], "--from-stdin",
            "--timeout", "180",
            input=value.encode(),
        )  # fmt: skip
        assert run.code == 0, run.text
        window.runs.append(run)
        row = f"{SCENARIO}, {window.name}, {logical}"
        self.timings.add(row, "swarm rotate command", run.seconds)
        self.timings.rotation(row, cluster, self.services, sc.created(run), run.started)


def _one_user(stack: Stack, rotate: _Rotate, replicas: dict[str, str], value: str) -> Window:
    """The server learns app_blue's new password, then the secret follows."""
    window = Window("one user", time.monotonic())
    newer_than = stack.last_session_id()
    stack.set_password("app_blue", value)
    rotate(window, "db_password", value)
    _wait_followed(stack, window, replicas, newer_than, "app_blue")
    window.end = time.monotonic()
    return window


def _alternating(stack: Stack, rotate: _Rotate, replicas: dict[str, str], value: str) -> Window:
    """The standby user gets a new password; the user, then the password, switch; the old user
    is locked once no session of it is left."""
    window = Window("alternating users", time.monotonic())
    newer_than = stack.last_session_id()
    stack.set_password("app_green", value)
    rotate(window, "db_user", "app_green")
    rotate(window, "db_password", value)
    _wait_followed(stack, window, replicas, newer_than, "app_green")
    stack.lock("app_blue")
    window.end = time.monotonic()
    return window


@pytest.fixture(scope="module")
def deployed(cluster: Cluster, timings: Timings) -> Iterator[tuple[Stack, dict[str, str]]]:
    """The stack deployed from its file, the database answering, the app's users made (the
    operator's first step: ``runsecrets-mariadb-user`` in the MariaDB task); removed after."""
    token = secrets.token_hex(12)
    values = {step: _value(step, token) for step in ("root", "blue", "one_user", "green")}
    values.update({step: _value(step, token) for step in ("red", "red_new")})
    begun = time.monotonic()
    stack: Stack | None = None
    try:
        stack = _seed002.deploy(
            cluster,
            {
                "db_root_password": values["root"].encode(),
                "db_user": b"app_blue",
                "db_password": values["blue"].encode(),
            },
        )
        for what, seconds in cluster.images.seconds.items() if cluster.images else ():
            if "mariadb" in what or "seed002" in what:
                timings.add(SCENARIO, f"host engine: {what}", seconds)
        timings.add(SCENARIO, "images loaded, stack deployed", time.monotonic() - begun)
        timings.add(SCENARIO, "MariaDB answers", stack.wait_db())
        stack.set_password("app_blue", values["blue"])
        stack.set_password("app_green", secrets.token_hex(16))  # the standby, never used yet
        stack.users_made = time.time()
        yield stack, values
    finally:
        problems = stack.remove() if stack is not None else cluster.remove_objects()
        timings.add(SCENARIO, "whole scenario (both variants)", time.monotonic() - begun)
        assert not problems, problems


@pytest.fixture(scope="module")
def episode(deployed: tuple[Stack, dict[str, str]], timings: Timings) -> Episode:
    """Load, rotate twice, stop; record everything (see the module docstring)."""
    stack, values = deployed
    cluster = stack.cluster
    step = time.monotonic()
    tasks = stack.app_tasks()
    timings.add(SCENARIO, "app replicas healthy", time.monotonic() - step)
    nodes = {task.id: task.node_name for task in tasks}
    replicas = {task.id: stack.addresses(task) for task in tasks}
    before = _snapshot(stack, tasks)

    driver = _seed002.start_driver(stack, stack.service("app"))
    driver.wait_for(STEADY_REQUESTS // 3)  # warmed up
    steady_start = time.monotonic()
    driver.wait_for(STEADY_REQUESTS)
    steady = (steady_start, time.monotonic())
    rotate = _Rotate(stack, timings, {"agent": stack.service("secrets")})
    windows = [_one_user(stack, rotate, replicas, values["one_user"])]
    driver.wait_for(STEADY_REQUESTS // 2)
    windows.append(_alternating(stack, rotate, replicas, values["green"]))
    driver.wait_for(STEADY_REQUESTS // 2)
    result = driver.stop()

    after_tasks = stack.app_tasks()
    for window in windows:
        for address, seconds in sorted(window.followed.items()):
            node = nodes[next(t for t, a in replicas.items() if a == address)]
            timings.add(
                SCENARIO,
                f"{window.name}: replica on {node} on the new credentials, from the start",
                seconds,
            )
        timings.latencies(SCENARIO, window.name, result.load, (window.start, window.end), steady)
    return Episode(
        values=values,
        stack=stack,
        before=before,
        after=_snapshot(stack, after_tasks),
        nodes=nodes,
        replicas=replicas,
        windows=windows,
        result=result,
        steady=steady,
        sessions_after=[s for s in stack.sessions() if s[2] in replicas.values()],
        health={task.id: stack.health(task) for task in after_tasks},
        locked={user: stack.locked(user) for user in ("app_blue", "app_green")},
        audits={
            logical: sc.audit(cluster, name)
            for logical, name in stack.secrets.items()
            if logical != "db_root_password"
        },
        outputs=[run.text for window in windows for run in window.runs]
        + sc.logs_and_specs(stack.cluster),
    )


def test_no_request_fails_while_the_credentials_rotate(episode: Episode) -> None:
    """0 failed requests through both rotations, and none had to try another replica (no
    replica went away); both replicas answered during each rotation."""
    result = episode.result
    assert result.load.failures == []
    assert result.retries == []
    for window in episode.windows:
        served = result.served_by(window.start, window.end)
        assert set(served) == set(episode.replicas.values()), (window.name, served)
    assert result.load.operations >= 4 * STEADY_REQUESTS


def test_the_app_is_never_restarted(episode: Episode) -> None:
    """The same app tasks, containers and nodes after both rotations, and in each container
    the same gunicorn processes (pid and start time): the store followed the files."""
    assert set(episode.after) == set(episode.before)
    for task_id, (container, processes) in episode.after.items():
        old_container, old_processes = episode.before[task_id]
        assert container == old_container
        assert processes == old_processes
        assert len(processes) == 3  # the master and its two workers
    engines = episode.stack.cluster.engines
    assert sorted(episode.nodes.values()) == sorted(
        engine.name for engine in engines if engine.name != episode.stack.db_node
    )


def test_every_replica_ends_on_the_new_credentials(episode: Episode) -> None:
    """On the server, every session of the app comes from after the last change and logs in as
    the new user, from both replicas; the old user is locked; each replica is healthy and its
    follower complete; each replica followed each rotation."""
    sessions = episode.sessions_after
    assert {user for _, user, _ in sessions} == {"app_green"}
    assert {host for _, _, host in sessions} == set(episode.replicas.values())
    assert episode.locked == {"app_blue": True, "app_green": False}
    for answer in episode.health.values():
        assert answer["database"] == "ok"
        assert answer["credentials"]["complete"] is True
        assert answer["credentials"]["failures"] == 0
    for window in episode.windows:
        assert set(window.followed) == set(episode.replicas.values()), window.name


def test_swarm_audit_shows_the_agent_on_each_node_on_the_new_versions(episode: Episode) -> None:
    """Each rotated secret: the newest version, referenced by the agent only, whose task on
    each app node mounts it (``node`` in ``swarm audit --json``); the versions runsecrets made
    before it are removed; the secret made by hand is kept, unused (runsecrets never removes
    what it did not make)."""
    stack = episode.stack
    app_nodes = sorted(episode.nodes.values())
    for logical, entry in episode.audits.items():
        base = stack.secrets[logical]
        newest = f"{base}_v0003" if logical == "db_password" else f"{base}_v0002"
        assert [v["name"] for v in entry["versions"]] == [base, newest], logical
        assert entry["unused"] == [base]
        assert {r["secret_name"] for r in entry["references"]} == {newest}
        assert {r["service_name"] for r in entry["references"]} == {stack.service("secrets")}
        tasks = entry["tasks"]
        assert sorted(t["node"] for t in tasks) == app_nodes, logical
        assert {t["secret_name"] for t in tasks} == {newest}


def test_no_value_is_in_any_output_log_or_spec(episode: Episode) -> None:
    """No password is in the commands' output, any container's log on any node (database,
    agent, app, driver), or the services' specs."""
    for step, value in episode.values.items():
        assert not e2e.leaked_any(value, *episode.outputs), step


# --- the other way: the app mounts the Swarm secret, the rotation replaces its tasks ----------

#: The rolling variant's health check (the stack file's, as a service option).
HEALTH_CMD = (
    'python3 -c "import urllib.request; '
    "urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)\""
)


@dataclass
class Rolling:
    """Seed 002 as most stacks run it: the app mounts ``db_password`` itself, one user
    (``app_red``); a rotation is a rolling update that replaces each task (start-first)."""

    values: dict[str, str]
    secret: str
    new_secret: str
    before: dict[str, tuple[str, str]]  # task: node, container
    after: dict[str, tuple[str, str, list[str], str | None]]  # + secrets, digest of the file
    window: Window
    result: Result
    steady: tuple[float, float]
    sessions_after: list[tuple[int, str, str]]
    addresses_after: set[str]
    health: dict[str, dict[str, Any]]
    versions: list[str]
    outputs: list[str]
    app_nodes: set[str]


@pytest.fixture(scope="module")
def rolling(deployed: tuple[Stack, dict[str, str]], timings: Timings) -> Rolling:
    """A second app service on the same database, mounting its password as a Swarm secret;
    under load, the server's password changes, then ``swarm rotate`` replaces its tasks."""
    stack, values = deployed
    cluster = stack.cluster
    stack.set_password("app_red", values["red"])
    secret = cluster.secret("red_password", values["red"].encode())
    service = cluster.service(
        "rolling",
        # No --replicas-max-per-node: a start-first update needs room for a second task on
        # the node (with at most one per node, the new task would stay pending).
        "--replicas", "2", "--constraint", "node.labels.db!=true",
        "--secret", f"source={secret},target=db_password,uid=10001,gid=10001,mode=0400",
        "--env", "DATABASE_URL=mysql+pymysql://app_red@db:3306/app",
        "--health-cmd", HEALTH_CMD, "--health-interval", "2s", "--health-timeout", "3s",
        "--health-retries", "3", "--health-start-period", "30s",
        "--update-order", "start-first", "--update-failure-action", "rollback",
        "--stop-grace-period", "15s",
        network=stack.network,
        image=_images.SEED002_IMAGE,
        # One thread per worker: each worker's pool holds the one connection it opened at
        # start, so an old task needs no new login between the server's change and its end.
        command=["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "1",
                 "--graceful-timeout", "10", "app:create_app()"],
    )  # fmt: skip
    step = time.monotonic()
    tasks = cluster.wait_tasks(service, 2, secret=secret, timeout=240)
    timings.add(f"{SCENARIO}, rolling update", "replicas healthy", time.monotonic() - step)
    before = {task.id: (task.node_name, task.container) for task in tasks}

    driver = _seed002.start_driver(stack, service)
    driver.wait_for(STEADY_REQUESTS // 3)
    steady_start = time.monotonic()
    driver.wait_for(STEADY_REQUESTS)
    steady = (steady_start, time.monotonic())
    window = Window("rolling update", time.monotonic())
    newer_than = stack.last_session_id()
    stack.set_password("app_red", values["red_new"])
    _Rotate(stack, timings, {"app": service})(window, "db_password", values["red_new"], secret)
    new_secret = sc.created(window.runs[0])
    after_tasks = cluster.wait_tasks(service, 2, secret=new_secret, timeout=30)
    addresses = {stack.addresses(task) for task in after_tasks}
    deadline = time.monotonic() + 60
    while True:
        own = [s for s in stack.sessions() if s[1] == "app_red"]
        if own and all(i > newer_than for i, _, _ in own) and {h for *_, h in own} == addresses:
            break
        assert time.monotonic() < deadline, f"sessions of app_red after 60 s: {own}"
        time.sleep(0.3)
    window.end = time.monotonic()
    timings.add(
        SCENARIO, "rolling update: every session new, from the start", window.end - window.start
    )
    driver.wait_for(STEADY_REQUESTS // 2)
    result = driver.stop()
    timings.latencies(SCENARIO, window.name, result.load, (window.start, window.end), steady)
    timings.add(
        SCENARIO, "rolling update: connections retried on another replica", len(result.retries)
    )
    return Rolling(
        values={"red": values["red"], "red_new": values["red_new"]},
        secret=secret,
        new_secret=new_secret,
        before=before,
        after={
            task.id: (
                task.node_name,
                task.container,
                task.secret_names(),
                cluster.probe(task, "/run/secrets/db_password")["/run/secrets/db_password"],
            )
            for task in after_tasks
        },
        window=window,
        result=result,
        steady=steady,
        sessions_after=[s for s in stack.sessions() if s[1] == "app_red"],
        addresses_after=addresses,
        health={task.id: stack.health(task) for task in after_tasks},
        versions=sc.versions(cluster, secret),
        outputs=[run.text for run in window.runs] + sc.logs_and_specs(stack.cluster),
        app_nodes={engine.name for engine in cluster.engines if engine.name != stack.db_node},
    )


def test_rolling_update_fails_no_request(rolling: Rolling) -> None:
    """The rolling variant: 0 failed requests while its tasks are replaced one by one; a
    connection refused by a task on its way out (nothing sent) is tried on another replica, as
    a client-side balancer does, and counted (see the timings)."""
    assert rolling.result.load.failures == []
    assert all(
        kind.endswith(("Refused", "Error", "Timeout")) for *_, kind in rolling.result.retries
    )
    assert rolling.result.load.operations >= 2 * STEADY_REQUESTS


def test_rolling_update_replaces_every_task_onto_the_new_version(rolling: Rolling) -> None:
    """What a user checks after a rolling update: new tasks (new containers) on the same nodes,
    each mounting the new version, whose file holds the new password; the old version is
    removed; every session on the server is from after the change and from the new tasks;
    each new replica is healthy."""
    assert not set(rolling.after) & set(rolling.before)
    assert not {container for _, container, *_ in rolling.after.values()} & {
        container for _, container in rolling.before.values()
    }
    assert {node for node, *_ in rolling.after.values()} <= rolling.app_nodes
    for _node, _container, names, digest in rolling.after.values():
        assert names == [rolling.new_secret]
        assert digest == sc.digest(rolling.values["red_new"])
    # The secret made by hand is kept (runsecrets removes only versions it made), unused.
    assert rolling.versions == sorted([rolling.secret, rolling.new_secret])
    assert {host for *_, host in rolling.sessions_after} == rolling.addresses_after
    for answer in rolling.health.values():
        assert answer["database"] == "ok"


def test_rolling_update_shows_no_value(rolling: Rolling) -> None:
    """No password of the rolling variant in any output, log or spec."""
    for step, value in rolling.values.items():
        assert not e2e.leaked_any(value, *rolling.outputs), step
