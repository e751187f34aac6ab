"""Seed 002 on the cluster: the stack deployed from ``docker/seed002/stack.yaml``, the operator's
database steps, what a user would look at (sessions, processes, health), and the load driver.

The stack runs MariaDB on the node labelled ``db=true`` (``rscl1``), the app's replicas and the
secrets agent on the others. The load driver is a task on the database's node: the client's
requests cross the overlay network to the replicas, and the replicas' queries cross it back.
A published port would need the routing mesh (IPVS, which this kernel lacks) or a host port on
the nodes' addresses, outside loopback: neither is allowed here, and a task on the overlay is
what an internal client of the app is anyway.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runsecrets.testing import Load

from ..e2e import _harness as e2e
from . import _images
from ._cluster import Cluster, Task
from ._layout import ClusterError, log

STACK_FILE = e2e.DOCKER_DIR / "seed002" / "stack.yaml"
LOAD_DRIVER = (Path(__file__).parent / "load_driver.py").read_text()
#: Every process of a container but the probe itself: pid, start time (clock ticks since boot),
#: command line. The same triples before and after mean no process was restarted.
PROCESSES = r"""
import json, os
found = []
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    if pid == os.getpid():
        continue
    try:
        stat = open(f"/proc/{pid}/stat").read()
        command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        continue
    if "gunicorn" in command:
        found.append([pid, int(stat.rsplit(")", 1)[1].split()[19]), command.strip()])
print(json.dumps(found))
"""

HEALTH = (
    "import urllib.request; "
    "print(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=5).read().decode())"
)


@dataclass
class Stack:
    """One deployment of ``docker/seed002/stack.yaml`` and its secrets.

    Attributes:
        cluster: Where it runs.
        name: The stack's name (its services are ``NAME_db``, ``NAME_secrets``, ``NAME_app``).
        secrets: The Swarm secret of each logical name (``db_user``...): the versions' base.
        db_node: The node labelled ``db=true``.
        users_made: When the app's users were made (seconds since the epoch): until then the
            app's tasks fail to start and are replaced, as the stack file says.
    """

    cluster: Cluster
    name: str
    secrets: dict[str, str]
    db_node: str
    users_made: float = 0.0
    _removed: bool = field(default=False, repr=False)

    def service(self, base: str) -> str:
        """The full name of one of the stack's services."""
        return f"{self.name}_{base}"

    @property
    def network(self) -> str:
        """The stack's overlay network."""
        return f"{self.name}_backend"

    def db_task(self) -> Task:
        """The running MariaDB task."""
        (task,) = self.cluster.wait_tasks(self.service("db"), 1, timeout=120)
        return task

    def sql(self, query: str) -> list[list[str]]:
        """Run a query as root inside the MariaDB task; its rows (tab-separated fields)."""
        script = (
            'MYSQL_PWD="$(cat "$MARIADB_ROOT_PASSWORD_FILE")" exec mariadb -u root -N -B -e "$1"'
        )
        out = self.cluster.exec(self.db_task(), "sh", "-c", script, "sh", query, timeout=30)
        return [line.split("\t") for line in out.splitlines() if line]

    def wait_db(self, timeout: float = 180) -> float:
        """Wait until the server answers (initialised, listening); return the seconds."""
        started = time.monotonic()
        while True:
            try:
                self.sql("SELECT 1")
                return time.monotonic() - started
            except (e2e.CommandError, ClusterError) as e:
                if time.monotonic() - started > timeout:
                    raise ClusterError(f"MariaDB did not answer within {timeout:.0f}s: {e}") from e
                time.sleep(1)

    def set_password(self, user: str, password: str) -> None:
        """The operator's database step: ``runsecrets-mariadb-user USER`` in the MariaDB task,
        the password on standard input."""
        task = self.db_task()
        assert task.node is not None
        task.node.docker.run(
            "exec", "-i", task.container, "runsecrets-mariadb-user", user,
            input=password.encode(), timeout=30,
        )  # fmt: skip

    def lock(self, user: str) -> None:
        """``runsecrets-mariadb-user --lock USER``: the old user of alternating users retired."""
        self.cluster.exec(self.db_task(), "runsecrets-mariadb-user", "--lock", user, timeout=30)

    def locked(self, user: str) -> bool:
        """Whether the account ``user@'%'`` is locked (``SHOW CREATE USER`` says so)."""
        ((statement,),) = self.sql(f"SHOW CREATE USER '{user}'@'%'")
        return "ACCOUNT LOCK" in statement

    def sessions(self) -> list[tuple[int, str, str]]:
        """The app's sessions on the server: (connection id, user, client address)."""
        rows = self.sql(
            "SELECT ID, USER, SUBSTRING_INDEX(HOST, ':', 1) FROM information_schema.PROCESSLIST "
            "WHERE USER LIKE 'app\\_%'"
        )
        return sorted((int(i), user, host) for i, user, host in rows)

    def last_session_id(self) -> int:
        """The highest connection id so far (any later connection has a higher one)."""
        ((value,),) = self.sql("SELECT CONNECTION_ID()")
        return int(value)

    def app_tasks(self, replicas: int = 2) -> list[Task]:
        """The app's running (healthy) tasks; a task made after the users may not fail."""
        assert self.users_made, "the app's users are not made yet"
        return self.cluster.wait_tasks(
            self.service("app"), replicas, timeout=240, created_after=self.users_made
        )

    def processes(self, task: Task) -> list[tuple[int, int, str]]:
        """The gunicorn processes of an app task: (pid, start time, command line)."""
        found = json.loads(self.cluster.exec(task, "python3", "-c", PROCESSES))
        return [(int(pid), int(start), str(command)) for pid, start, command in found]

    def health(self, task: Task) -> dict[str, Any]:
        """The app's ``/healthz`` answer, asked inside its task."""
        answer: dict[str, Any] = json.loads(self.cluster.exec(task, "python3", "-c", HEALTH))
        return answer

    def addresses(self, task: Task) -> str:
        """A task's address on the stack's network."""
        (raw,) = self.cluster.docker.inspect("inspect", task.id)
        attachments: list[dict[str, Any]] = raw.get("NetworksAttachments") or []  # type: ignore[assignment]
        for attachment in attachments:
            if attachment["Network"]["Spec"]["Name"] == self.network:
                return str(attachment["Addresses"][0]).split("/")[0]
        raise ClusterError(f"task {task.id[:12]} has no address on {self.network}")

    def remove(self) -> list[str]:
        """``docker stack rm``, then the stack's volumes on every node and the node label."""
        if self._removed:
            return []
        self._removed = True
        cluster = self.cluster
        cluster.docker.run("stack", "rm", self.name, check=False)
        problems = cluster.remove_objects()
        # stack rm gives up on a network whose tasks are still stopping: again, now they are gone.
        deadline = time.monotonic() + 60
        while self.network in cluster.docker.out("network", "ls", "--format", "{{.Name}}"):
            cluster.docker.run("network", "rm", self.network, check=False)
            if time.monotonic() > deadline:
                problems.append(f"network {self.network}")
                break
            time.sleep(0.5)
        for engine in cluster.engines:
            if not engine.running():
                continue
            for volume in (f"{self.name}_db-data", f"{self.name}_app-secrets"):
                engine.docker.run("volume", "rm", "--force", volume, check=False)
        cluster.docker.run("node", "update", "--label-rm", "db", self.db_node, check=False)
        return problems


def deploy(cluster: Cluster, secrets: dict[str, bytes], name: str = "seed002") -> Stack:
    """Load the images, make the secrets, label the database's node, deploy the stack file as
    a user would (``docker stack deploy``), and wait for the database to answer."""
    cluster.load_image(_images.MARIADB_IMAGE)
    cluster.load_image(_images.SEED002_IMAGE)
    made = {logical: cluster.secret(logical, value) for logical, value in secrets.items()}
    db_node = cluster.manager.name
    cluster.docker.run("node", "update", "--label-add", "db=true", db_node)
    stack = Stack(cluster, f"{cluster.session}{name}", made, db_node)
    env = {
        "MARIADB_IMAGE": _images.MARIADB_IMAGE,
        "APP_IMAGE": _images.SEED002_IMAGE,
        "SECRET_DB_ROOT_PASSWORD": made["db_root_password"],
        "SECRET_DB_USER": made["db_user"],
        "SECRET_DB_PASSWORD": made["db_password"],
    }
    cluster.docker.run(
        "stack", "deploy", "-c", str(STACK_FILE), "--resolve-image", "never", stack.name,
        env=env, timeout=120,
    )  # fmt: skip
    return stack


@dataclass
class LoadDriver:
    """The load driver's task (``load_driver.py``) and what it reports."""

    cluster: Cluster
    service: str
    task: Task

    @classmethod
    def start(cls, stack: Stack, target: str, threads: int = 4) -> LoadDriver:
        """A driver on the database's node sending ``POST /notes`` to the replicas of the
        service ``target`` (port 8000) on the stack's network."""
        cluster = stack.cluster
        service = cluster.service(
            "load",
            "--constraint",
            f"node.hostname=={stack.db_node}",
            network=stack.network,
            command=["python3", "-c", LOAD_DRIVER, target, "8000", "/notes", str(threads)],
        )
        (task,) = cluster.wait_tasks(service, 1)
        return cls(cluster, service, task)

    def progress(self) -> dict[str, int]:
        """Counts so far: ``ok``, ``failed``, ``retries``."""
        try:
            found: dict[str, int] = json.loads(self.cluster.exec(self.task, "cat", "/tmp/progress"))
        except e2e.CommandError:
            return {"ok": 0, "failed": 0, "retries": 0}
        return found

    def wait_for(self, requests: int, timeout: float = 60) -> None:
        """Wait until ``requests`` more requests have succeeded."""
        target = self.progress()["ok"] + requests
        deadline = time.monotonic() + timeout
        while self.progress()["ok"] < target:
            if time.monotonic() > deadline:
                raise ClusterError(f"the load driver is stuck: {self.progress()}")
            time.sleep(0.5)

    def stop(self) -> Result:
        """Stop the threads; what they recorded."""
        self.cluster.exec(self.task, "touch", "/tmp/stop")
        deadline = time.monotonic() + 60
        while True:
            try:
                raw = json.loads(self.cluster.exec(self.task, "cat", "/tmp/load.json"))
                break
            except e2e.CommandError:
                if time.monotonic() > deadline:
                    raise ClusterError("the load driver wrote no result") from None
                time.sleep(0.5)
        self.cluster.docker.run("service", "rm", self.service)
        load = Load(lambda: None)  # only its windows and percentiles: never started
        load.samples = [(float(when), float(took)) for when, took in raw["samples"]]
        load.failures = [(float(when), str(kind)) for when, kind in raw["failures"]]
        log.info("load driver: %d ok, %d failed", load.operations, len(load.failures))
        return Result(
            load,
            [(float(when), str(address)) for when, address in raw["served"]],
            [(float(when), str(address), str(kind)) for when, address, kind in raw["retries"]],
        )


@dataclass
class Result:
    """What the load driver measured (times on ``time.monotonic()``, as on the host)."""

    load: Load
    served: list[tuple[float, str]]
    retries: list[tuple[float, str, str]]

    def served_by(self, start: float, end: float) -> dict[str, int]:
        """Requests each replica address answered that started in ``[start, end)``."""
        counts: dict[str, int] = {}
        for when, address in self.served:
            if start <= when < end:
                counts[address] = counts.get(address, 0) + 1
        return counts
