"""Seed 002 on the cluster: the stack deployed from ``docker/seed002/stack.yaml``, the operator's
database steps, what a user would look at (sessions, processes, health), and the load driver.

The stack runs MariaDB on the node labelled ``db=true`` (``rscl1``), the app's replicas and the
secrets agent on the others. The load driver is a task on the database's node: the client's
requests cross the overlay network to the replicas, and the replicas' queries cross it back.
A published port would need the routing mesh (IPVS, which this kernel lacks) or a host port on
the nodes' addresses, outside loopback: neither is allowed here, and a task on the overlay is
what an internal client of the app is anyway (``_load``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from ..e2e import _harness as e2e
from . import _images
from . import _scenario as sc
from ._cluster import Cluster, Task
from ._layout import ClusterError
from ._load import LoadDriver

STACK_FILE = e2e.DOCKER_DIR / "seed002" / "stack.yaml"
HEALTH = (
    "import urllib.request; "
    "print(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=5).read().decode())"
)


@dataclass
class Stack(sc.Deployment):
    """One deployment of ``docker/seed002/stack.yaml`` and its secrets.

    Attributes:
        cluster: Where it runs.
        name: The stack's name (its services are ``NAME_db``, ``NAME_secrets``, ``NAME_app``).
        secrets: The Swarm secret of each logical name (``db_user``...): the versions' base.
        db_node: The node labelled ``db=true``.
        users_made: When the app's users were made (seconds since the epoch): until then the
            app's tasks fail to start and are replaced, as the stack file says.
    """

    NETWORK: ClassVar[str] = "backend"
    VOLUMES: ClassVar[tuple[str, ...]] = ("db-data", "app-secrets")

    db_node: str
    users_made: float = 0.0

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
        return sc.processes(self.cluster, task, "gunicorn")

    def health(self, task: Task) -> dict[str, Any]:
        """The app's ``/healthz`` answer, asked inside its task."""
        answer: dict[str, Any] = json.loads(self.cluster.exec(task, "python3", "-c", HEALTH))
        return answer

    def addresses(self, task: Task) -> str:
        """A task's address on the stack's network."""
        return self.cluster.address(task, self.network)

    def remove(self) -> list[str]:
        """The stack removed (:meth:`Deployment.remove`), then the database's node label."""
        if self._removed:
            return []
        problems = super().remove()
        self.cluster.docker.run("node", "update", "--label-rm", "db", self.db_node, check=False)
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
    stack.deploy(STACK_FILE, env)
    return stack


def start_driver(stack: Stack, target: str, threads: int = 4) -> LoadDriver:
    """A load driver on the database's node sending ``POST /notes`` to the replicas of the
    service ``target`` (port 8000) on the stack's network."""
    return LoadDriver.start(
        stack.cluster, node=stack.db_node, network=stack.network, target=target, threads=threads
    )
