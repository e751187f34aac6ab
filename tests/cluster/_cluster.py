"""A Swarm of several engines on this machine: building it, using it, taking it apart.

:class:`Cluster` owns the nodes (:class:`~._engine.Engine`), forms the Swarm (one manager and
workers, or three managers for quorum), and offers what the scenarios need: overlay networks,
secrets, services, their tasks with the node each runs on, ``exec`` inside a task on its node.
Every wait has a timeout, and a task that the engine rejects (an image missing on its node, a
bad mount) fails the wait at once with the engine's reason instead of running out the clock.
"""

from __future__ import annotations

import json
import secrets as _random
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..e2e import _harness as e2e
from . import _cleanup, _images, _network
from ._engine import Engine
from ._layout import ClusterError, Layout, log

#: Swarm's ports on each node: the managers' API, gossip (TCP and UDP), VXLAN.
SWARM_PORTS = (2377, 7946, 4789)
#: Task states that end a task without it running as asked.
_DEAD_STATES = frozenset({"rejected", "failed"})


@dataclass(frozen=True)
class Task:
    """A task of a service, with the node that runs it.

    Attributes:
        id: The task id.
        service: The service's name.
        node: The engine of the node the task is assigned to (None while unassigned).
        container: The container id on that node ("" before it starts).
        state: The task's current state (``running``, ``pending``...).
        desired: The state the orchestrator wants (``running``, ``shutdown``...).
        secrets: The task's secret references, as the Engine API returns them.
        timestamp: When the task reached its current state (seconds since the epoch).
        error: The engine's error for the task, if any.
        created: When the orchestrator created the task (seconds since the epoch).
    """

    id: str
    service: str
    node: Engine | None
    container: str
    state: str
    desired: str
    secrets: tuple[dict[str, Any], ...]
    timestamp: float
    error: str
    created: float = 0.0

    @property
    def node_name(self) -> str:
        """The node's name, or ``-`` when unassigned."""
        return self.node.name if self.node is not None else "-"

    def secret_names(self) -> list[str]:
        """Names of the secrets this task mounts."""
        return [ref["SecretName"] for ref in self.secrets]


@dataclass
class Cluster:
    """The nodes of one layout and the Swarm they form.

    Attributes:
        layout: Names, addresses and paths.
        size: How many nodes the cluster starts with.
        session: Prefix of the names of the objects the scenarios create.
    """

    layout: Layout
    size: int = 3
    session: str = field(default_factory=lambda: f"rscl{_random.token_hex(3)}")
    engines: list[Engine] = field(default_factory=list)
    managers: int = 0
    network: str = ""
    images: _images.HostImages | None = None
    _loaded: set[str] = field(default_factory=set)
    _names: e2e.Docker | None = None

    # --- nodes ------------------------------------------------------------------------------

    def engine(self, index: int) -> Engine:
        """A node's engine, numbered from 1 (``rscl1`` is the first manager)."""
        return self.engines[index - 1]

    @property
    def manager(self) -> Engine:
        """The first manager, where Swarm objects are created and read."""
        return self.engines[0]

    @property
    def docker(self) -> e2e.Docker:
        """The manager's docker wrapper; its ``name()`` makes this session's object names."""
        if self._names is None:
            self._names = e2e.Docker(
                e2e.docker_cli() or "/usr/bin/docker", self.session, self.manager.host
            )
        return self._names

    def create_network(self) -> None:
        """The bridge, the FORWARD rule and one namespace per node."""
        _network.check_subnet_free(self.layout)
        _cleanup.note_netns_dir()
        _network.create_bridge(self.layout)
        for index in range(1, self.size + 1):
            self.add_namespace(index)

    def add_namespace(self, index: int) -> Engine:
        """A node's namespace on the bridge and its (not yet started) engine."""
        name = self.layout.node_name(index)
        _network.create_namespace(self.layout, name, self.layout.address(index))
        docker = e2e.Docker(e2e.docker_cli() or "/usr/bin/docker", self.session, "")
        engine = Engine(self.layout, name, docker)
        docker.host = engine.host
        self.engines.append(engine)
        return engine

    def start_engines(self, timeout: float = 60) -> dict[str, float]:
        """Start every node's engine; return the seconds each took to answer."""
        return {engine.name: engine.start(timeout=timeout) for engine in self.engines}

    # --- the Swarm --------------------------------------------------------------------------

    def form_swarm(self, managers: int = 1, timeout: float = 60) -> None:
        """``swarm init`` on the first node, ``swarm join`` on the others; wait until all are
        ready. ``managers`` of the nodes join as managers (3 gives a quorum that survives the
        loss of one).

        The dispatcher heartbeat is 2 s (5 s by default) so that a lost node is noticed in
        seconds rather than tens of seconds; nothing else differs from a default Swarm.

        Raises:
            ClusterError: a Swarm port is taken on a node, a join failed, or a node did not
                become ready in ``timeout`` seconds.
        """
        first = self.manager
        self.require_free_ports(first)
        address = self.layout.address(1)
        first.docker.run(
            "swarm",
            "init",
            "--advertise-addr",
            str(address),
            "--listen-addr",
            f"{address}:2377",
            "--dispatcher-heartbeat",
            "2s",
            timeout=timeout,
        )
        self.managers = 1
        for index, engine in enumerate(self.engines[1:], start=2):
            self.join(engine, index, manager=index <= managers, timeout=timeout)
        self.wait_nodes_ready(timeout=timeout)

    def join(
        self, engine: Engine, index: int, *, manager: bool = False, timeout: float = 60
    ) -> None:
        """Join one node to the Swarm (as a worker unless ``manager``)."""
        self.require_free_ports(engine)
        role = "manager" if manager else "worker"
        token = self.manager.docker.out("swarm", "join-token", "--quiet", role)
        address = self.layout.address(index)
        engine.docker.run(
            "swarm",
            "join",
            "--token",
            token,
            "--advertise-addr",
            str(address),
            "--listen-addr",
            f"{address}:2377",
            f"{self.layout.address(1)}:2377",
            timeout=timeout,
        )
        if manager:
            self.managers += 1

    def require_free_ports(self, engine: Engine) -> None:
        """Refuse to form or join when a Swarm port is already taken in the node's namespace.

        Raises:
            ClusterError: naming the port and what holds it.
        """
        taken = _network.ports_in_use(engine.name, SWARM_PORTS)
        if taken:
            raise ClusterError(
                f"Swarm ports {SWARM_PORTS} must be free on {engine.name}, but these are "
                f"taken there: {'; '.join(taken)}"
            )

    def nodes(self) -> list[dict[str, Any]]:
        """``docker node inspect`` of every node, as the manager sees them."""
        ids = self.manager.docker.out("node", "ls", "--quiet").split()
        return self.manager.docker.inspect("node", "inspect", *ids) if ids else []

    def node_states(self) -> dict[str, str]:
        """Each node's hostname and state (``ready``, ``down``...) as the manager sees it."""
        return {n["Description"]["Hostname"]: n["Status"]["State"] for n in self.nodes()}

    def wait_nodes_ready(self, timeout: float = 60, names: Sequence[str] | None = None) -> None:
        """Wait until the manager sees the nodes (default: all) ready.

        Raises:
            ClusterError: naming the nodes that are not, with their state and engine log.
        """
        wanted = list(names or (engine.name for engine in self.engines))
        deadline = time.monotonic() + timeout
        while True:
            states = self.node_states()
            late = [name for name in wanted if states.get(name) != "ready"]
            if not late:
                return
            if time.monotonic() > deadline:
                details = "; ".join(
                    f"{name}: {states.get(name, 'not in the Swarm')}" for name in late
                )
                tail = self.engine_by_name(late[0]).log_tail(1500)
                raise ClusterError(
                    f"Swarm nodes not ready after {timeout:.0f}s: {details}; the log of "
                    f"{late[0]} ends with:\n{tail}"
                )
            time.sleep(0.3)

    def wait_node_state(self, name: str, state: str, timeout: float = 60) -> float:
        """Wait until the manager sees node ``name`` in ``state``; return the seconds."""
        started = time.monotonic()
        while self.node_states().get(name) != state:
            if time.monotonic() - started > timeout:
                raise ClusterError(
                    f"node {name} is {self.node_states().get(name)!r}, not {state!r}, after "
                    f"{timeout:.0f}s"
                )
            time.sleep(0.3)
        return time.monotonic() - started

    def engine_by_name(self, name: str) -> Engine:
        """The engine of the node called ``name``."""
        for engine in self.engines:
            if engine.name == name:
                return engine
        raise KeyError(name)

    def restore(self, timeout: float = 60) -> None:
        """Undo a test's damage: start stopped engines, reconnect cut links, wait until every
        node is ready again.

        Raises:
            ClusterError: an engine did not start, or a node did not become ready.
        """
        for engine in self.engines:
            _network.set_connected(engine.name, True)
            if not engine.running():
                log.info("restarting the engine of %s", engine.name)
                engine.start(timeout=timeout)
        self.wait_nodes_ready(timeout=timeout)

    def leave_swarm(self) -> None:
        """Every running node leaves the Swarm (workers first, the first manager last)."""
        for engine in reversed(self.engines):
            if engine.running():
                engine.docker.run("swarm", "leave", "--force", check=False, timeout=60)
        self.managers = 0

    # --- images -----------------------------------------------------------------------------

    def load_image(self, image: str) -> float:
        """Build (on the host, once per session) and load ``image`` into every node.

        Returns:
            The seconds the loads took (0 when it was already loaded).
        """
        if image in self._loaded:
            return 0.0
        assert self.images is not None, "the cluster has no image source"
        archive = self.images.archive(image)
        seconds = _images.load(
            archive, [engine.docker for engine in self.engines if engine.running()]
        )
        self.require_image(image)
        self._loaded.add(image)
        return seconds

    def require_image(self, image: str) -> None:
        """Refuse to go on when a running node lacks ``image`` (its tasks would be rejected).

        Raises:
            ClusterError: naming the nodes without it.
        """
        running = [(engine.name, engine.docker) for engine in self.engines if engine.running()]
        missing = _images.missing_on(image, running)
        if missing:
            raise ClusterError(
                f"image {image} is missing on {', '.join(missing)}: no node can pull, so "
                "every image must be loaded into every node (Cluster.load_image)"
            )

    # --- Swarm objects ----------------------------------------------------------------------

    def overlay(self, base: str, *, internal: bool = True, attachable: bool = False) -> str:
        """An overlay network across the nodes; return its name.

        ``internal`` (the default) gives it no route out, the Swarm equivalent of
        ``--network none``; ``attachable`` lets plain containers join it too.
        """
        name = self.docker.name(base)
        args = ["network", "create", "--driver", "overlay", "--label", self.docker.label]
        args += ["--internal"] if internal else []
        args += ["--attachable"] if attachable else []
        self.docker.run(*args, name)
        return name

    def secret(self, base: str, value: bytes) -> str:
        """A Swarm secret made from ``value`` (on standard input); return its name."""
        name = self.docker.name(base)
        self.docker.run("secret", "create", "--label", self.docker.label, name, "-", input=value)
        return name

    def service(
        self,
        base: str,
        *args: str,
        image: str = e2e.APP_IMAGE,
        command: Sequence[str] = ("sleep", "infinity"),
        network: str | None = None,
    ) -> str:
        """Create a service (not waited for) on the session's overlay network; return its name.

        Its image must be on every node (checked first). The stop grace period is 2 s and the
        update monitor 1 s (5 s by default) to keep the suite fast; later ``args`` override.

        The endpoint mode is ``dnsrr``: the service's name resolves to its tasks' addresses.
        The default virtual IP needs IPVS in the kernel, which this machine's kernel lacks
        (dockerd logs "Could not get ipvs family information from the kernel"; connections
        to the VIP time out), on the host engine as in the nodes.
        """
        self.require_image(image)
        name = self.docker.name(base)
        self.docker.run(
            "service",
            "create",
            "--detach",
            "--quiet",
            "--name",
            name,
            "--label",
            self.docker.label,
            "--network",
            network or self.network,
            "--stop-grace-period",
            "2s",
            "--update-monitor",
            "1s",
            "--endpoint-mode",
            "dnsrr",
            *args,
            image,
            *command,
        )
        return name

    def tasks(self, service: str, *, desired: str | None = "running") -> list[Task]:
        """The service's tasks (those meant to run, by default) with their nodes."""
        filters = ["--filter", f"desired-state={desired}"] if desired else []
        ids = self.docker.out("service", "ps", "--quiet", "--no-trunc", *filters, service).split()
        if not ids:
            return []
        nodes = {n["ID"]: n["Description"]["Hostname"] for n in self.nodes()}
        found = []
        raws: list[dict[str, Any]] = json.loads(self.docker.out("inspect", *ids))
        for raw in raws:
            status = raw.get("Status") or {}
            node = nodes.get(str(raw.get("NodeID", "")))
            refs = ((raw.get("Spec") or {}).get("ContainerSpec") or {}).get("Secrets") or []
            found.append(
                Task(
                    id=str(raw["ID"]),
                    service=service,
                    node=self.engine_by_name(node) if node else None,
                    container=(status.get("ContainerStatus") or {}).get("ContainerID", ""),
                    state=status.get("State", ""),
                    desired=str(raw.get("DesiredState", "")),
                    secrets=tuple(refs),
                    timestamp=parse_time(status.get("Timestamp", "")),
                    error=status.get("Err", ""),
                    created=parse_time(str(raw.get("CreatedAt", ""))),
                )
            )
        return found

    def wait_tasks(
        self,
        service: str,
        count: int,
        *,
        secret: str | None = None,
        timeout: float = 90,
        created_after: float | None = None,
    ) -> list[Task]:
        """Wait until ``count`` tasks of ``service`` run (each mounting ``secret`` if given).

        ``created_after`` (seconds since the epoch) is for a service expected to fail until
        then: a failure of a task the orchestrator created before it is not one (it is
        replaced); any failure of a later task is.

        Raises:
            ClusterError: a task was rejected or failed (the engine's reason and the node are
                in the message), or the tasks were not there after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        since = time.time() - 1
        while True:
            # A rejected task is at once replaced (and no longer meant to run): look at all
            # tasks for failures since the wait began, at the ones meant to run for the rest.
            for task in self.tasks(service, desired=None):
                if created_after is not None and task.created < created_after:
                    continue
                if task.state in _DEAD_STATES and task.timestamp >= since:
                    raise ClusterError(
                        f"a task of {service} on {task.node_name} is {task.state}: {task.error}"
                    )
            tasks = self.tasks(service)
            ready = [
                t
                for t in tasks
                if t.state == "running" and (secret is None or secret in t.secret_names())
            ]
            if len(ready) == count == len(tasks):
                return ready
            if time.monotonic() > deadline:
                seen = ", ".join(f"{t.node_name}:{t.state}" for t in tasks) or "none"
                raise ClusterError(
                    f"{service}: {len(ready)} of {count} tasks running"
                    f"{' on ' + secret if secret else ''} after {timeout:.0f}s (tasks: {seen})"
                )
            time.sleep(0.3)

    def exec(self, task: Task, *command: str, **kwargs: Any) -> str:
        """Run a command in a running task's container, on the node that runs it."""
        if task.node is None or not task.container:
            raise ClusterError(f"task {task.id[:12]} of {task.service} has no container")
        return task.node.docker.out("exec", task.container, *command, **kwargs)

    def probe(self, task: Task, *paths: str) -> dict[str, str | None]:
        """SHA-256 digests of files in a task (the single-node suite's probe), never values."""
        parsed: dict[str, str | None] = json.loads(
            self.exec(task, "python3", "-c", e2e.PROBE, *paths)
        )
        return parsed

    def address(self, task: Task, network: str) -> str:
        """A task's address on ``network``."""
        (raw,) = self.docker.inspect("inspect", task.id)
        for attachment in raw.get("NetworksAttachments") or []:  # type: ignore[union-attr]
            if attachment["Network"]["Spec"]["Name"] == network:
                return str(attachment["Addresses"][0]).split("/")[0]
        raise ClusterError(f"task {task.id[:12]} has no address on {network}")

    def remove_stack(self, name: str, network: str, volumes: Sequence[str] = ()) -> list[str]:
        """``docker stack rm NAME``, every object left (:meth:`remove_objects`), the stack's
        network, and its ``volumes`` (short names) on every running node.

        Returns:
            What could not be removed.
        """
        self.docker.run("stack", "rm", name, check=False)
        problems = self.remove_objects()
        # stack rm gives up on a network whose tasks are still stopping: again, now they are gone.
        deadline = time.monotonic() + 60
        while network in self.docker.out("network", "ls", "--format", "{{.Name}}"):
            self.docker.run("network", "rm", network, check=False)
            if time.monotonic() > deadline:
                problems.append(f"network {network}")
                break
            time.sleep(0.5)
        for engine in self.engines:
            if engine.running():
                for volume in volumes:
                    engine.docker.run("volume", "rm", "--force", f"{name}_{volume}", check=False)
        return problems

    def remove_objects(self, *, keep_network: bool = True, timeout: float = 60) -> list[str]:
        """Remove every service and secret, and the networks made in this session.

        The cluster is this harness's own, so "every" is safe. Waits until no task container is
        left on any running node (a secret or network stays in use until then). The session's
        overlay network stays unless ``keep_network`` is false.

        Returns:
            What could not be removed.
        """
        docker = self.docker
        services = docker.out("service", "ls", "--quiet", check=False).split()
        if services:
            docker.run("service", "rm", *services, check=False)
        deadline = time.monotonic() + timeout
        while self._containers() and time.monotonic() < deadline:
            time.sleep(0.3)
        problems = [f"containers: {' '.join(self._containers())}"] if self._containers() else []
        listings: dict[str, Callable[[], list[str]]] = {
            "secret": lambda: docker.out("secret", "ls", "--quiet", check=False).split(),
            "network": lambda: [
                name
                for name in docker.out(
                    "network",
                    "ls",
                    "--format",
                    "{{.Name}}",
                    "--filter",
                    f"label={docker.label}",
                    check=False,
                ).split()
                if not (keep_network and name == self.network)
            ],
        }
        for kind, listing in listings.items():
            while names := listing():
                docker.run(kind, "rm", *names, check=False)
                if time.monotonic() > deadline:
                    problems.append(f"{kind}s: {' '.join(listing())}")
                    break
                time.sleep(0.3)
        return problems

    def _containers(self) -> list[str]:
        """Containers left on the running nodes, as ``node:id``."""
        return [
            f"{engine.name}:{cid}"
            for engine in self.engines
            if engine.running()
            for cid in engine.docker.out("ps", "--all", "--quiet", check=False).split()
        ]

    def teardown(self) -> list[str]:
        """Take everything apart: objects, Swarm membership, engines, then the purge.

        Returns:
            What could not be removed, or was still there after the purge (empty when clean).
        """
        problems: list[str] = []
        try:
            if self.managers and self.manager.running():
                problems += self.remove_objects(keep_network=False)
            self.leave_swarm()
        except (ClusterError, e2e.CommandError, OSError, subprocess.TimeoutExpired) as e:
            problems.append(f"orderly removal failed ({e}); purged instead")
        finally:
            for engine in self.engines:
                engine.stop()
            _cleanup.purge(self.layout)
        problems += _cleanup.leftovers(self.layout)
        return problems


def parse_time(text: str) -> float:
    """Seconds since the epoch of an Engine API timestamp (RFC 3339, nanoseconds, ``Z``)."""
    import datetime

    if not text or text.startswith("0001-"):
        return 0.0
    head, _, rest = text.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())
    moment = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)
