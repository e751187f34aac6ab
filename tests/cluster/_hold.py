"""Run only by ``test_lifecycle.py``, in a nested session on the self-test layout: a cluster
with a running task (mounts, shims, cgroups), held until that test interrupts or kills it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ._cluster import Cluster

pytestmark = pytest.mark.cluster


def test_hold(swarm: Cluster) -> None:
    """Start a task with a secret, say so in the hold file, then wait to be signalled."""
    hold = os.environ.get("RUNSECRETS_CLUSTER_HOLD_FILE")
    if not hold:
        pytest.skip("run by test_lifecycle.py only")
    secret = swarm.secret("held", b"held-value")
    service = swarm.service("held", "--secret", f"source={secret},target=held")
    swarm.wait_tasks(service, 1)
    Path(hold).write_text("ready")
    time.sleep(600)
