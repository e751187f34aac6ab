"""``make demo`` end to end: every part runs, and no value but the one `get` prints shows up."""

from __future__ import annotations

import os
import subprocess
import sys

from .._servers import ROOT

# Values the demo plants; only "demo-db-password" is printed, by `runsecrets get`, on purpose.
HIDDEN_VALUES = (
    "demo-api-key",
    "demo-smtp-password",
    "demo-redis-from-env",
    "first-password-0001",
    "second-password-0002",
)


def test_demo_runs_every_part_and_prints_no_hidden_value() -> None:
    """The whole demo exits 0 with each part's heading, no traceback, and no planted value
    other than the one `runsecrets get` prints on purpose."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("RUNSECRETS_DIR", None)
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "demo.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    for heading in ("runsecrets explain", "Hot reload", "pydantic-settings", "TLS", "Sidecar"):
        assert heading in output
    assert result.stdout.rstrip().endswith("demo finished")
    assert [v for v in HIDDEN_VALUES if v in output] == []
    assert output.count("demo-db-password") == 1
