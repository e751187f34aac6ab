"""The load driver's task (``load_driver.py``, sent as ``python3 -c``) and what it measured.

The scenarios drive their app from a task on the overlay network, as an internal client of the
app would: a published port would need the routing mesh (IPVS, which this kernel lacks) or a
host port on the nodes' addresses, outside loopback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from runsecrets.testing import Load

from ..e2e import _harness as e2e
from ._cluster import Cluster, Task
from ._layout import ClusterError, log

LOAD_DRIVER = (Path(__file__).parent / "load_driver.py").read_text()


@dataclass
class LoadDriver:
    """The load driver's task and what it reports."""

    cluster: Cluster
    service: str
    task: Task

    @classmethod
    def start(
        cls,
        cluster: Cluster,
        *,
        node: str,
        network: str,
        target: str,
        port: int = 8000,
        path: str = "/notes",
        threads: int = 4,
        options: Sequence[str] = (),
        image: str = e2e.APP_IMAGE,
    ) -> LoadDriver:
        """A driver on ``node`` sending ``POST path`` to the replicas of the service
        ``target`` on ``network``; ``options`` are more ``docker service create`` options
        (``LOAD_TLS_DIR`` and the volume it names, for HTTPS)."""
        service = cluster.service(
            "load",
            "--constraint",
            f"node.hostname=={node}",
            *options,
            network=network,
            image=image,
            command=["python3", "-c", LOAD_DRIVER, target, str(port), path, str(threads)],
        )
        (task,) = cluster.wait_tasks(service, 1)
        return cls(cluster, service, task)

    def progress(self) -> dict[str, int]:
        """Counts so far: ``ok``, ``failed``, ``retries`` (and ``handshakes_failed``)."""
        try:
            found: dict[str, int] = json.loads(self.cluster.exec(self.task, "cat", "/tmp/progress"))
        except e2e.CommandError:
            return {"ok": 0, "failed": 0, "retries": 0}
        return found

    def wait_for(
        self, requests: int, timeout: float = 60, meanwhile: Callable[[], object] | None = None
    ) -> None:
        """Wait until ``requests`` more requests have succeeded, calling ``meanwhile`` between
        two looks (default: sleep half a second)."""
        target = self.progress()["ok"] + requests
        deadline = time.monotonic() + timeout
        while self.progress()["ok"] < target:
            if time.monotonic() > deadline:
                raise ClusterError(f"the load driver is stuck: {self.progress()}")
            if meanwhile is None:
                time.sleep(0.5)
            else:
                meanwhile()

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
            [(float(w), str(a), str(kind)) for w, a, kind in raw.get("handshakes", [])],
            [
                (float(w), str(a), str(cert), str(peer), str(peer_cert))
                for w, a, cert, peer, peer_cert in raw.get("certificates", [])
            ],
        )


@dataclass
class Result:
    """What the load driver measured (times on ``time.monotonic()``, as on the host).

    Attributes:
        load: The successful requests' timings and the failures, by type.
        served: ``(when, replica address)`` of each success.
        retries: ``(when, address, error type)`` of each connection that could not be made.
        handshakes: ``(when, address, error type)`` of each failed TLS handshake (HTTPS only).
        certificates: ``(when, address, fingerprint served, peer, fingerprint the peer
            served)`` of each success over HTTPS (the last two from a relay's answer).
    """

    load: Load
    served: list[tuple[float, str]]
    retries: list[tuple[float, str, str]]
    handshakes: list[tuple[float, str, str]]
    certificates: list[tuple[float, str, str, str, str]]

    def served_by(self, start: float, end: float) -> dict[str, int]:
        """Requests each replica address answered that started in ``[start, end)``."""
        counts: dict[str, int] = {}
        for when, address in self.served:
            if start <= when < end:
                counts[address] = counts.get(address, 0) + 1
        return counts
