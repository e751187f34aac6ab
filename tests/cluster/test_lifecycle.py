"""The harness's clean-up, proven on a nested session: interrupted (Ctrl-C) it removes all it
made on its way out; killed outright (``kill -9``) it leaves its traces, and the purge that
starts every session removes them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..e2e import _harness as e2e
from . import _cleanup
from ._cluster import Cluster
from ._layout import SELFTEST
from ._timings import Timings

pytestmark = pytest.mark.cluster

HOLD = Path(__file__).with_name("_hold.py")


def _default_sigint() -> None:
    # A background job's SIGINT may be ignored, and an ignored signal stays ignored across
    # exec: the nested session must react to Ctrl-C as an interactive one does.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("how", ["interrupted", "killed"])
def test_nothing_is_left_after_an_interrupt_or_a_crash(
    cluster: Cluster, tmp_path: Path, timings: Timings, how: str
) -> None:
    """A nested session holds a one-node cluster with a running task (self-test layout
    ``rsclx``). Interrupted, it leaves nothing; killed, its engine, namespace, bridge, rule,
    mounts and cgroups stay until :func:`purge` (what every session runs first) removes them."""
    assert cluster.images is not None
    hold = tmp_path / "hold"
    env = {
        **os.environ,
        "RUNSECRETS_CLUSTER_LAYOUT": SELFTEST.prefix,
        "RUNSECRETS_CLUSTER_NODES": "1",
        "RUNSECRETS_CLUSTER_HOLD_FILE": str(hold),
        # The outer session's saved app image, instead of a second build.
        "RUNSECRETS_CLUSTER_APP_ARCHIVE": str(cluster.images.app()),
    }
    with (tmp_path / "nested.log").open("wb") as output:
        nested = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-m", "cluster", "-p", "no:cacheprovider", str(HOLD)],
            cwd=e2e.ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_default_sigint,  # safe: the suite leaves no thread running
        )
    try:
        deadline = time.monotonic() + 240
        while not hold.exists():
            if nested.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the nested session did not get ready:\n{_tail(tmp_path)}")
            time.sleep(0.5)
        assert _cleanup.leftovers(SELFTEST)  # it holds a cluster now
        nested.send_signal(signal.SIGINT if how == "interrupted" else signal.SIGKILL)
        started = time.monotonic()
        nested.wait(timeout=180)
    finally:
        if nested.poll() is None:
            nested.kill()
            nested.wait()
    if how == "interrupted":
        timings.add(
            "harness", "nested session: Ctrl-C to everything removed", time.monotonic() - started
        )
        assert nested.returncode == 2, _tail(tmp_path)  # pytest's "interrupted"
        assert _cleanup.leftovers(SELFTEST) == []
        return
    left = " ".join(_cleanup.leftovers(SELFTEST))
    for trace in (
        "process",
        "network namespace rsclx1",
        "link rsclxbr0",
        "iptables rule",
        "mount",
        "cgroup",
    ):
        assert trace in left, left
    started = time.monotonic()
    _cleanup.purge(SELFTEST)
    timings.add("harness", "purge of a killed session's cluster", time.monotonic() - started)
    assert _cleanup.leftovers(SELFTEST) == []


def _tail(directory: Path) -> str:
    return (directory / "nested.log").read_text(errors="replace")[-3000:]
