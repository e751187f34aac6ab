"""Fixtures of the cluster suite: engines in network namespaces, one Swarm, the images.

The session fixture ``cluster`` holds a machine-wide lock for the whole session (two runs
would fight over the same names), removes the leftovers of an earlier crashed run, builds the
nodes and the Swarm, and takes everything apart at the end: after the last test, after a
failure, after Ctrl-C (pytest unwinds its fixtures) and after SIGTERM (turned into the same
interrupt). A run killed outright is cleaned by the next one. Anything still there after the
teardown fails the session.

The suite needs root and Linux tools (iproute2, iptables, util-linux, docker.io); without them
it is skipped, unless ``RUNSECRETS_CLUSTER_REQUIRED=1`` (CI), which makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from ..e2e import _harness as e2e
from . import _cleanup, _images
from ._cluster import Cluster
from ._layout import LAYOUTS, MAIN, ClusterError, Layout
from ._timings import Timings

TOOLS = ("ip", "iptables", "nsenter", "unshare", "ss", "umount", "dockerd")
_TIMINGS = pytest.StashKey[Timings]()


def _layout() -> Layout:
    """The suite's layout; ``RUNSECRETS_CLUSTER_LAYOUT=rsclx`` picks the self-test's (used by
    the harness's own interrupt test, which runs a nested session)."""
    prefix = os.environ.get("RUNSECRETS_CLUSTER_LAYOUT", MAIN.prefix)
    for layout in LAYOUTS:
        if layout.prefix == prefix:
            return layout
    raise pytest.UsageError(f"RUNSECRETS_CLUSTER_LAYOUT={prefix!r} is not a known layout")


def _missing() -> str | None:
    """Why the suite cannot run here, or None."""
    if os.geteuid() != 0:
        return "the cluster suite needs root (network namespaces, bridges, dockerd)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if e2e.docker_cli() is None:
        missing.append("docker")
    if missing:
        return f"the cluster suite needs {', '.join(missing)} (apt: iproute2 iptables util-linux docker.io)"
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("RUNSECRETS_CLUSTER_REQUIRED") == "1":
        pytest.fail(f"RUNSECRETS_CLUSTER_REQUIRED=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so that a terminated run unwinds and cleans up."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def pytest_configure(config: pytest.Config) -> None:
    """A place for the durations measured during the session."""
    config.stash[_TIMINGS] = Timings()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the durations the issue asks for (setup, scenarios, rotations per node)."""
    lines = terminalreporter.config.stash[_TIMINGS].lines()
    if lines:
        terminalreporter.section("cluster timings")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def timings(pytestconfig: pytest.Config) -> Timings:
    """The session's durations table (printed at the end)."""
    return pytestconfig.stash[_TIMINGS]


@pytest.fixture(scope="session")
def cluster(timings: Timings) -> Iterator[Cluster]:
    """Three engines in namespaces on one bridge, a Swarm of one manager and two workers, the
    app image on every node and an internal overlay network; all removed afterwards."""
    reason = _missing()
    if reason:
        _unavailable(reason)
    layout = _layout()
    size = int(os.environ.get("RUNSECRETS_CLUSTER_NODES", "3"))
    lock = Path(f"/tmp/runsecrets-cluster-{layout.prefix}.lock")
    wait = _images.default_lock_timeout()
    with (
        _images.file_lock(lock, "starting the cluster suite", wait) as waited,
        _sigterm_interrupts(),
    ):
        timings.add("setup", "waiting for another cluster run to end", waited)
        started = time.monotonic()
        if layout is MAIN:
            _cleanup.purge_all()
        else:
            _cleanup.purge(layout)
        left = _cleanup.leftovers(layout)
        if left:
            pytest.fail(f"leftovers of an earlier run could not be removed: {left}", pytrace=False)
        timings.add("setup", "leftovers of earlier runs removed", time.monotonic() - started)
        images = _images.HostImages(layout.state_dir / "images", lock_timeout=wait)
        built = Cluster(layout, size=size, images=images)
        problems: list[str] = []
        try:
            step = time.monotonic()
            images.app()
            for what, seconds in images.seconds.items():
                timings.add("setup", f"host engine: {what}", seconds)
            step = time.monotonic()
            built.create_network()
            answered = built.start_engines()
            timings.add(
                "setup",
                f"network and {size} engines up (slowest {max(answered.values()):.1f} s)",
                time.monotonic() - step,
            )
            step = time.monotonic()
            built.form_swarm()
            timings.add("setup", "Swarm formed, every node ready", time.monotonic() - step)
            timings.add(
                "setup", "app image loaded into every node", built.load_image(e2e.APP_IMAGE)
            )
            built.network = built.overlay("internal")
            timings.add("setup", "total", time.monotonic() - started)
            yield built
        finally:
            step = time.monotonic()
            problems = built.teardown()
            images.close()
            if layout is MAIN:
                _cleanup.purge_all()
                problems += _cleanup.all_leftovers()
            timings.add("teardown", "everything removed", time.monotonic() - step)
        assert not problems, f"the cluster session left these behind: {problems}"


@pytest.fixture
def swarm(cluster: Cluster) -> Iterator[Cluster]:
    """The session's cluster for one test: afterwards its services and secrets are removed and
    any node the test stopped or cut off is brought back."""
    yield cluster
    try:
        cluster.restore()
    except ClusterError as e:
        pytest.fail(f"the cluster could not be restored after the test: {e}", pytrace=False)
    problems = cluster.remove_objects()
    assert not problems, f"the test left these behind: {problems}"
