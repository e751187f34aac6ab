"""What the scenarios check the way a user would: the CLI's exit and output, service specs,
the secrets the Swarm holds, and each task's file on the node that runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..e2e import _harness as e2e
from ._cluster import Cluster, Task

#: The processes of a container whose command line holds ``sys.argv[1]``, but the probe itself:
#: pid, start time (clock ticks since boot), command line. The same triples before and after
#: mean no process was restarted.
PROCESSES = r"""
import json, os, sys
found = []
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    if pid == os.getpid():
        continue
    try:
        stat = open(f"/proc/{pid}/stat").read()
        command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        continue
    if sys.argv[1] in command:
        found.append([pid, int(stat.rsplit(")", 1)[1].split()[19]), command.strip()])
print(json.dumps(found))
"""


@dataclass
class Deployment:
    """One stack file deployed with ``docker stack deploy``, as a user would, and removed once.

    Attributes:
        cluster: Where it runs.
        name: The stack's name (its services are ``NAME_<service>``).
        secrets: The Swarm secret of each logical name: the versions' base.
    """

    #: The stack's overlay network and volumes, by their names in the stack file.
    NETWORK: ClassVar[str]
    VOLUMES: ClassVar[tuple[str, ...]]

    cluster: Cluster
    name: str
    secrets: dict[str, str]
    _removed: bool = field(default=False, init=False, repr=False)

    def service(self, base: str) -> str:
        """The full name of one of the stack's services."""
        return f"{self.name}_{base}"

    @property
    def network(self) -> str:
        """The stack's overlay network."""
        return f"{self.name}_{self.NETWORK}"

    def deploy(self, stack_file: Path, env: dict[str, str]) -> None:
        """``docker stack deploy`` of ``stack_file``, its variables from ``env``; no image is
        resolved (no node can pull)."""
        self.cluster.docker.run(
            "stack", "deploy", "-c", str(stack_file), "--resolve-image", "never", self.name,
            env=env, timeout=120,
        )  # fmt: skip

    def remove(self) -> list[str]:
        """``docker stack rm``, then the stack's volumes on every node (once).

        Returns:
            What could not be removed.
        """
        if self._removed:
            return []
        self._removed = True
        return self.cluster.remove_stack(self.name, self.network, self.VOLUMES)


@dataclass(frozen=True)
class Run:
    """One ``runsecrets`` command: exit status, output, wall time."""

    code: int
    out: str
    err: str
    seconds: float
    started: float  # seconds since the epoch, to compare with the engine's timestamps

    @property
    def text(self) -> str:
        """Standard output and error together (for leak checks and messages)."""
        return f"{self.out}\n{self.err}"


def runsecrets(
    cluster: Cluster, *args: str, input: bytes | None = None, timeout: float = 600
) -> Run:
    """Run ``python -m runsecrets ARGS`` against the cluster's manager (``DOCKER_HOST``)."""
    started, clock = time.time(), time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "runsecrets", *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        env=cli_env(cluster),
        check=False,
    )
    return Run(
        result.returncode,
        result.stdout.decode(errors="replace"),
        result.stderr.decode(errors="replace"),
        time.monotonic() - clock,
        started,
    )


def created(run: Run) -> str:
    """The version a ``swarm rotate`` created or resumed (the first line of its report)."""
    verb, name, *_ = [*run.out.split(maxsplit=2), "", ""]
    assert verb in {"created", "resumed"}, run.text
    return name


def cli_env(cluster: Cluster) -> dict[str, str]:
    """The environment of a ``runsecrets swarm`` command aimed at the cluster's manager."""
    import os

    return {**os.environ, "DOCKER_HOST": cluster.manager.host}


def audit(cluster: Cluster, name: str) -> dict[str, Any]:
    """``runsecrets swarm audit NAME --json``: the one entry for ``name``."""
    run = runsecrets(cluster, "swarm", "audit", name, "--json", timeout=60)
    assert run.code == 0, run.err
    (entry,) = json.loads(run.out)
    assert isinstance(entry, dict)
    return entry


def refs(cluster: Cluster, service: str) -> list[tuple[str, str, str, str, int]]:
    """A service's secret references: (secret, target, uid, gid, mode as an integer)."""
    (spec,) = cluster.docker.inspect("service", "inspect", service)
    template = spec["Spec"]["TaskTemplate"]  # type: ignore[index]
    return [
        (r["SecretName"], r["File"]["Name"], r["File"]["UID"], r["File"]["GID"], r["File"]["Mode"])
        for r in template["ContainerSpec"].get("Secrets") or []
    ]


def versions(cluster: Cluster, logical: str) -> list[str]:
    """Names of the secrets in the Swarm that start with ``logical`` (its versions), sorted."""
    names = cluster.docker.out(
        "secret", "ls", "--format", "{{.Name}}", "--filter", f"name={logical}"
    )
    return sorted(n for n in names.split() if n.startswith(logical))


def processes(cluster: Cluster, task: Task, match: str) -> list[tuple[int, int, str]]:
    """The processes of a task whose command line holds ``match``: (pid, start time, command
    line)."""
    found = json.loads(cluster.exec(task, "python3", "-c", PROCESSES, match))
    return [(int(pid), int(start), str(command)) for pid, start, command in found]


def logs_and_specs(cluster: Cluster) -> list[str]:
    """Every container's log on every running node (both streams), and the services' specs:
    where a leak check looks."""
    found = []
    for engine in cluster.engines:
        if not engine.running():
            continue
        for container in engine.docker.out("ps", "--all", "--quiet").split():
            logs = engine.docker.run("logs", container, check=False)
            found.append((logs.stdout + logs.stderr).decode(errors="replace"))
    services = cluster.docker.out("service", "ls", "--quiet").split()
    found += [cluster.docker.out("service", "inspect", service) for service in services]
    return found


def secret_path(target: str) -> str:
    """Where a secret reference's target is in the container (relative: under /run/secrets)."""
    return target if target.startswith("/") else f"/run/secrets/{target}"


def file_in_task(cluster: Cluster, task: Task, path: str) -> tuple[str | None, str]:
    """The digest of ``path`` in the task (on its node) and its ``uid gid mode``."""
    digest = cluster.probe(task, path)[path]
    stat = cluster.exec(task, "stat", "-c", "%u %g %a", path)
    return digest, stat


def json_out(text: str) -> Any:
    """Parse a probe's JSON output."""
    return json.loads(text)


def digest(value: str) -> str:
    """The digest the probe reports for ``value``."""
    return e2e.digest(value)
