"""The cluster harness itself: overlay networks across nodes, the MariaDB image, clear failures
(a node that never answers or never becomes ready, a missing image, a taken port), and a Swarm
of three managers."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..e2e import _harness as e2e
from . import _cleanup, _images, _network
from . import _scenario as sc
from ._cluster import Cluster
from ._engine import Engine
from ._layout import SELFTEST, ClusterError, host_run
from ._timings import Timings

pytestmark = pytest.mark.cluster

#: Answers every TCP connection on port 8080 with the task's hostname (the node's name, from
#: ``--hostname {{.Node.Hostname}}``).
ECHO_HOSTNAME = """
import socket
server = socket.create_server(("0.0.0.0", 8080))
name = socket.gethostname().encode()
while True:
    connection, _ = server.accept()
    connection.sendall(name)
    connection.close()
"""

#: Connects to each address given (or to a name, several times) and prints what answered.
ASK = """
import json, socket, sys
answers = []
for host in sys.argv[1:]:
    for attempt in range(10):
        try:
            with socket.create_connection((host, 8080), timeout=2) as connection:
                answers.append(connection.recv(100).decode())
            break
        except OSError:
            import time; time.sleep(0.2)
    else:
        answers.append("unreachable")
print(json.dumps(answers))
"""


def test_overlay_network_reaches_a_task_on_every_node(swarm: Cluster) -> None:
    """Tasks on different nodes talk over an overlay network (VXLAN between the namespaces):
    from the first node, each task of a global service answers at its own address, found
    under ``tasks.<service>`` in the Swarm's DNS, and the service's own name resolves to the
    same addresses (endpoint mode ``dnsrr``: see ``Cluster.service``)."""
    cluster = swarm
    network = cluster.overlay("mesh")
    echo = cluster.service(
        "echo",
        "--mode",
        "global",
        "--hostname",
        "{{.Node.Hostname}}",
        network=network,
        command=["python3", "-c", ECHO_HOSTNAME],
    )
    tasks = cluster.wait_tasks(echo, len(cluster.engines))
    (here,) = [t for t in tasks if t.node_name == cluster.manager.name]
    resolve = (
        "import socket, sys; print(' '.join(sorted({a[4][0] for a in "
        "socket.getaddrinfo(sys.argv[1], 8080)})))"
    )
    addresses = cluster.exec(here, "python3", "-c", resolve, f"tasks.{echo}").split()
    assert len(addresses) == len(cluster.engines)
    answers = sc.json_out(cluster.exec(here, "python3", "-c", ASK, *addresses))
    assert sorted(answers) == sorted(engine.name for engine in cluster.engines)
    assert cluster.exec(here, "python3", "-c", resolve, echo).split() == addresses


def test_mariadb_image_serves_its_secret_passwords_across_nodes(
    swarm: Cluster, sentinel: str, timings: Timings
) -> None:
    """The MariaDB image (Debian's ``mariadb-server``, ``runsecrets exec`` as its entrypoint)
    runs on one node with its root and app passwords from Swarm secrets through
    ``MARIADB_ROOT_PASSWORD_FILE`` and ``MARIADB_PASSWORD_FILE``; a client on another node
    logs in over the overlay network with the app password and is refused with a wrong one.
    No value is in the service's spec or the task's environment."""
    cluster = swarm
    timings.add(
        "harness",
        "MariaDB image built, saved, loaded",
        _timed(cluster.load_image, _images.MARIADB_IMAGE),
    )
    root = cluster.secret("db_root_password", f"{sentinel}-root".encode())
    app = cluster.secret("db_password", f"{sentinel}-app".encode())
    db = cluster.service(
        "db",
        "--constraint",
        f"node.hostname=={cluster.engine(2).name}",
        "--secret",
        f"source={root},target=db_root_password",
        "--secret",
        f"source={app},target=db_password",
        "--env",
        "MARIADB_ROOT_PASSWORD_FILE=/run/secrets/db_root_password",
        "--env",
        "MARIADB_PASSWORD_FILE=/run/secrets/db_password",
        "--env",
        "MARIADB_USER=app",
        "--env",
        "MARIADB_DATABASE=app",
        image=_images.MARIADB_IMAGE,
        command=[],
    )
    client = cluster.service(
        "client",
        "--constraint",
        f"node.hostname=={cluster.engine(3).name}",
        "--secret",
        f"source={app},target=db_password",
        "--entrypoint",
        "sleep",
        image=_images.MARIADB_IMAGE,
        command=["infinity"],
    )
    (server,) = cluster.wait_tasks(db, 1)
    (box,) = cluster.wait_tasks(client, 1)
    login = (
        'MYSQL_PWD="$(cat "$1")" mariadb --connect-timeout=2 -h "$2" -u app app '
        "-N -e 'select current_user()'"
    )
    assert box.node is not None
    client_docker = box.node.docker
    started = time.monotonic()
    while True:
        answer = client_docker.run(
            "exec", box.container, "sh", "-c", login, "sh", "/run/secrets/db_password", db,
            check=False, timeout=30,
        )  # fmt: skip
        if answer.returncode == 0 or time.monotonic() - started > 90:
            break
        time.sleep(1)
    assert (answer.returncode, answer.stdout.decode().strip()) == (0, "app@%"), answer.stderr
    timings.add("harness", "MariaDB ready for a client on another node", time.monotonic() - started)
    wrong = cluster.exec(box, "sh", "-c", login, "sh", "/etc/hostname", db, check=False)
    assert "app@%" not in wrong
    environment = cluster.exec(server, "cat", "/proc/1/environ")
    spec = cluster.docker.out("service", "inspect", db)
    assert "MARIADB_ROOT_PASSWORD_FILE" in spec
    assert not e2e.leaked_any(sentinel, environment, spec)
    assert "MARIADB_PASSWORD=" not in environment  # removed before the server started


def _timed(function: object, *args: object) -> float:
    started = time.monotonic()
    function(*args)  # type: ignore[operator]
    return time.monotonic() - started


def test_an_image_missing_on_one_node_is_named(swarm: Cluster) -> None:
    """An image on two nodes of three: the harness refuses to create a service with it and
    names the node without it; a task sent there anyway fails the wait at once with the
    engine's reason instead of running out the clock."""
    cluster = swarm
    partial = "rscl-partial:1"
    have = cluster.engines[:2]
    for engine in have:
        engine.docker.run("tag", e2e.APP_IMAGE, partial)
    try:
        with pytest.raises(
            ClusterError, match=rf"{partial} is missing on {cluster.engine(3).name}:"
        ):
            cluster.service("partial", image=partial)
        name = cluster.docker.name("partial")
        cluster.docker.run(
            "service", "create", "--detach", "--quiet", "--name", name,
            "--network", cluster.network, "--constraint", f"node.hostname=={cluster.engine(3).name}",
            partial, "sleep", "infinity",
        )  # fmt: skip
        started = time.monotonic()
        with pytest.raises(
            ClusterError, match=rf"on {cluster.engine(3).name} is rejected: .*{partial}"
        ):
            cluster.wait_tasks(name, 1, timeout=120)
        assert time.monotonic() - started < 60
    finally:
        for engine in have:
            engine.docker.run("image", "rm", partial, check=False)


@pytest.fixture
def spare(swarm: Cluster) -> Iterator[Engine]:
    """A fourth node's namespace on the bridge and its engine (not started); all removed after."""
    engine = swarm.add_namespace(len(swarm.engines) + 1)
    try:
        yield engine
    finally:
        if engine.running():
            engine.docker.run("swarm", "leave", "--force", check=False, timeout=60)
            engine.stop()
        swarm.engines.remove(engine)
        for node in swarm.nodes():
            if node["Description"]["Hostname"] == engine.name:
                swarm.docker.run("node", "rm", "--force", node["ID"], check=False)
        host_run("ip", "netns", "delete", engine.name, check=False)
        host_run("ip", "link", "delete", f"{engine.name}-h", check=False)
        shutil.rmtree(engine.root, ignore_errors=True)


def test_an_engine_that_never_answers_fails_within_its_timeout(spare: Engine) -> None:
    """A node whose engine never answers on its socket: a clear failure naming the node and
    the socket after the timeout, and the process is stopped (no hang, nothing left)."""
    started = time.monotonic()
    with pytest.raises(
        ClusterError, match=rf"{spare.name} did not answer on {spare.host} within 3s"
    ):
        spare.start(timeout=3, command=["sleep", "120"])
    assert time.monotonic() - started < 15
    assert not spare.running()


def test_an_engine_that_exits_shows_its_log(spare: Engine) -> None:
    """An engine that exits at start (here: an unknown option) fails at once with the end of
    its log, which says why."""
    with pytest.raises(ClusterError, match=r"exited with status [0-9]+ .*\n(.|\n)*no-such-option"):
        spare.start(timeout=30, command=[*spare.command(), "--no-such-option"])


def test_a_node_that_never_becomes_ready_is_named(swarm: Cluster, spare: Engine) -> None:
    """A node whose engine runs but that never becomes a ready Swarm node (here: it never
    joined) fails the wait after its timeout, naming it and its state."""
    spare.start()
    with pytest.raises(ClusterError, match=rf"not ready after 3s: {spare.name}: not in the Swarm"):
        swarm.wait_nodes_ready(timeout=3, names=[spare.name])


def test_a_taken_swarm_port_is_reported(swarm: Cluster, spare: Engine) -> None:
    """A Swarm port already bound inside a node's namespace: joining refuses with the port and
    the process holding it, before any ``swarm join``."""
    spare.start()
    address = swarm.layout.address(spare.index)
    holder = subprocess.Popen(
        ["nsenter", f"--net={_network.netns_path(spare.name)}", "python3", "-c",
         f"import socket, time; s = socket.create_server(('{address}', 7946)); time.sleep(120)"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not _network.ports_in_use(spare.name, (7946,)):
            assert time.monotonic() < deadline, "the listener did not start"
            time.sleep(0.1)
        with pytest.raises(ClusterError, match=r"must be free on .*taken there: .*:7946 .*python3"):
            swarm.join(spare, spare.index)
        assert spare.name not in swarm.node_states()
    finally:
        holder.kill()
        holder.wait(timeout=10)


@pytest.fixture
def quorum(swarm: Cluster) -> Iterator[Cluster]:
    """The same engines re-formed as a Swarm of three managers; the usual Swarm afterwards."""
    swarm.remove_objects(keep_network=False)
    swarm.leave_swarm()
    swarm.form_swarm(managers=3)
    swarm.network = swarm.overlay("internal")
    try:
        yield swarm
    finally:
        swarm.restore()
        swarm.remove_objects(keep_network=False)
        swarm.leave_swarm()
        swarm.form_swarm(managers=1)
        swarm.network = swarm.overlay("internal")


def test_three_managers_keep_quorum_when_one_is_lost(quorum: Cluster) -> None:
    """Three managers: with one engine stopped the other two keep a quorum, so the Swarm
    still takes changes (a secret, a service that runs)."""
    cluster = quorum
    roles = {n["Description"]["Hostname"]: n["Spec"]["Role"] for n in cluster.nodes()}
    assert roles == {engine.name: "manager" for engine in cluster.engines}
    cluster.engine(3).stop()
    cluster.wait_node_state(cluster.engine(3).name, "down", timeout=60)
    secret = cluster.secret("after_loss", b"still-writable")
    service = cluster.service("after_loss", "--secret", f"source={secret},target=x")
    (task,) = cluster.wait_tasks(service, 1)
    assert task.node_name != cluster.engine(3).name


def test_a_namespace_left_by_a_crashed_run_is_named_and_purged(swarm: Cluster) -> None:
    """A namespace and a veth of the self-test layout, alone (a run that crashed while it built
    its network): making the same namespace again fails at once with ``ip``'s reason, the
    leftovers list names both, and the purge every session starts with removes them."""
    name = SELFTEST.node_name(1)
    host_run("ip", "netns", "add", name)
    try:
        host_run("ip", "link", "add", f"{name}-h", "type", "veth", "peer", "name", f"{name}-n")
        left = " ".join(_cleanup.leftovers(SELFTEST))
        assert f"network namespace {name}" in left
        assert f"{name}-h" in left
        with pytest.raises(ClusterError, match=rf"ip netns add {name} exited 1: .*exists"):
            _network.create_namespace(SELFTEST, name, SELFTEST.address(1))
        _cleanup.purge(SELFTEST)
        assert _cleanup.leftovers(SELFTEST) == []
    finally:
        _cleanup.purge(SELFTEST)


def test_a_lock_held_by_the_command_that_started_the_run_is_not_waited_for(
    tmp_path: Path,
) -> None:
    """``flock LOCK make test`` holds the image lock for the whole run, the cluster suite
    included: the suite sees that a process it descends from holds it, and goes on at once
    instead of waiting for itself until the timeout; an unrelated holder is still waited for."""
    import sys

    lock = tmp_path / "e2e.lock"
    lock.touch()
    probe = (
        "import sys; from pathlib import Path; from tests.cluster._images import "
        "held_by_an_ancestor; print(held_by_an_ancestor(Path(sys.argv[1])))"
    )
    inside = subprocess.run(
        ["flock", str(lock), sys.executable, "-c", probe, str(lock)],
        cwd=e2e.ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert inside.stdout.strip() == "True"
    holder = subprocess.Popen(["flock", str(lock), "sleep", "60"])
    try:
        deadline = time.monotonic() + 10
        while str(holder.pid) not in Path("/proc/locks").read_text():
            assert time.monotonic() < deadline, "flock did not take the lock"
            time.sleep(0.05)
        assert not _images.held_by_an_ancestor(lock)
        with (
            pytest.raises(ClusterError, match="stayed locked for 1s"),
            _images.file_lock(lock, "testing", timeout=1),
        ):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=10)
