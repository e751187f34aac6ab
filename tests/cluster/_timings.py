"""The durations the cluster suite reports: setup steps, scenarios, rotations per service and node.

Rotations are timed from the engine's own records, not by polling: a service's
``UpdateStatus`` holds when Swarm started and completed its update, and each new task's status
timestamp says when it reached ``running`` on its node. The table is printed at the end of the
session (``make e2e-cluster``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ._cluster import Cluster, parse_time
from ._layout import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from runsecrets.testing import Load


@dataclass
class Timings:
    """Rows of ``(scenario, what, seconds)``, in the order they were measured."""

    rows: list[tuple[str, str, float]] = field(default_factory=list)

    def add(self, scenario: str, what: str, seconds: float) -> None:
        """Record one duration."""
        self.rows.append((scenario, what, seconds))

    def rotation(
        self,
        scenario: str,
        cluster: Cluster,
        services: Mapping[str, str],
        secret: str,
        started: float,
    ) -> None:
        """Record a rotation: each service's update, and each node's new task (tasks that
        already ran before ``started`` are left out: an earlier run replaced them).

        Args:
            scenario: The row group.
            cluster: Where the services run.
            services: A short label for each service name (the names are long and random).
            secret: The secret the new tasks mount.
            started: When the rotation command started (seconds since the epoch).
        """
        for label, service in services.items():
            (spec,) = cluster.docker.inspect("service", "inspect", service)
            status = spec.get("UpdateStatus") or {}
            assert isinstance(status, dict)
            begun = parse_time(status.get("StartedAt", ""))
            done = parse_time(status.get("CompletedAt", ""))
            if begun >= started and done:
                self.add(scenario, f"{label}: Swarm's update, start to completion", done - begun)
            for task in sorted(cluster.tasks(service), key=lambda t: t.node_name):
                fresh = task.timestamp >= started
                if fresh and task.state == "running" and secret in task.secret_names():
                    self.add(
                        scenario,
                        f"{label} on {task.node_name}: new task running, from the command's start",
                        task.timestamp - started,
                    )

    def latencies(
        self,
        scenario: str,
        name: str,
        load: Load,
        window: tuple[float, float],
        steady: tuple[float, float],
    ) -> None:
        """Record the p99 request latency during a rotation ``window`` and in the ``steady``
        state before it (both ``time.monotonic()`` spans), and log their ratio."""
        during = load.percentile(99, *window)
        calm = load.percentile(99, *steady)
        self.add(scenario, f"{name}: p99 latency during the rotation", during)
        self.add(scenario, f"{name}: p99 latency, steady state", calm)
        log.info("%s: p99 %.3f s during, %.3f s steady (%.1fx)", name, during, calm, during / calm)

    def lines(self) -> list[str]:
        """The table, one row per line."""
        if not self.rows:
            return []
        width = max(len(f"{scenario}: {what}") for scenario, what, _ in self.rows)
        return [
            f"{f'{scenario}: {what}':<{width}}  {seconds:8.3f} s"
            for scenario, what, seconds in self.rows
        ]
