"""Scenario 2: one secret, services with tasks on every node, one ``runsecrets swarm rotate``."""

from __future__ import annotations

import pytest

from . import _scenario as sc
from ._cluster import Cluster
from ._timings import Timings

pytestmark = pytest.mark.cluster

GLOBAL_TARGET = ("db_password", "0", "10001", 0o440)
REPLICA_TARGET = ("/etc/app/db", "10001", "10001", 0o400)


def _mount(secret: str, target: tuple[str, str, str, int]) -> str:
    path, uid, gid, mode = target
    return f"source={secret},target={path},uid={uid},gid={gid},mode={mode:04o}"


def test_rotate_moves_every_task_on_every_node(
    swarm: Cluster, sentinel: str, timings: Timings
) -> None:
    """A global service (a task per node) and a replicated one placed one task per node share
    a secret at different targets, owners and modes. One ``swarm rotate`` returns only when
    every task on every node reads the new value at the same path, with the same uid, gid and
    mode; no service references the old secret, which was made by hand and so is kept (and
    the command says so), and ``swarm audit`` lists each node's task on the new version. No
    value appears in any output."""
    cluster = swarm
    old = cluster.secret("db_password", f"{sentinel}-old".encode())
    everywhere = cluster.service(
        "everywhere", "--mode", "global", "--secret", _mount(old, GLOBAL_TARGET)
    )
    spread = cluster.service(
        "spread",
        "--replicas",
        "3",
        "--replicas-max-per-node",
        "1",
        "--secret",
        _mount(old, REPLICA_TARGET),
    )
    nodes = {engine.name for engine in cluster.engines}
    for service, target in ((everywhere, GLOBAL_TARGET), (spread, REPLICA_TARGET)):
        tasks = cluster.wait_tasks(service, len(nodes), secret=old)
        assert {t.node_name for t in tasks} == nodes
        for task in tasks:
            assert sc.file_in_task(cluster, task, sc.secret_path(target[0]))[0] == sc.digest(
                f"{sentinel}-old"
            )

    run = sc.runsecrets(
        cluster,
        "swarm",
        "rotate",
        old,
        "--from-stdin",
        "--timeout",
        "180",
        input=f"{sentinel}-new".encode(),
    )
    assert run.code == 0, run.text
    assert everywhere in run.out
    assert spread in run.out
    assert sentinel not in run.text

    new = f"{old}_v0002"
    # The secret made by hand is kept (runsecrets removes only versions it made, issue 14
    # finding 1), and the command says so; no service references it any more.
    assert sc.versions(cluster, old) == sorted([old, new])
    assert f"kept {old}: not made by runsecrets" in run.out
    assert sc.refs(cluster, everywhere) == [(new, *GLOBAL_TARGET)]
    assert sc.refs(cluster, spread) == [(new, *REPLICA_TARGET)]
    # Checked at once, without waiting: the command itself waited for every service.
    running: dict[str, str] = {}
    for service, (path, uid, gid, mode) in ((everywhere, GLOBAL_TARGET), (spread, REPLICA_TARGET)):
        tasks = cluster.tasks(service)
        assert sorted(t.node_name for t in tasks) == sorted(nodes)
        for task in tasks:
            assert (task.state, task.secret_names()) == ("running", [new]), task
            digest, stat = sc.file_in_task(cluster, task, sc.secret_path(path))
            assert digest == sc.digest(f"{sentinel}-new"), (service, task.node_name)
            assert stat == f"{uid} {gid} {mode:o}", (service, task.node_name)
            running[task.id] = task.node_name
    timings.rotation(
        "rotation across nodes",
        cluster,
        {"global": everywhere, "replicated": spread},
        new,
        run.started,
    )
    timings.add("rotation across nodes", "swarm rotate command", run.seconds)

    entry = sc.audit(cluster, old)
    assert [v["name"] for v in entry["versions"]] == [old, new]
    assert sorted(
        (r["service_name"], r["target"], r["uid"], r["gid"], r["mode"]) for r in entry["references"]
    ) == sorted([(everywhere, *GLOBAL_TARGET), (spread, *REPLICA_TARGET)])
    # Every node's tasks, each on the new version, each the container that node runs.
    assert {t["task_id"] for t in entry["tasks"]} == set(running)
    assert {t["secret_name"] for t in entry["tasks"]} == {new}
    for task in entry["tasks"]:
        node = cluster.engine_by_name(running[task["task_id"]])
        assert task["container_id"] in node.docker.out("ps", "--quiet", "--no-trunc").split()
    assert entry["unused"] == [old]  # the original, kept and used by nothing
    assert sentinel not in str(entry)
