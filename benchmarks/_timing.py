"""Shared helpers for the benchmark scripts: interleaved runs, medians, ratios.

These scripts are not tests (pytest does not collect them): they print figures for the closing
notes. Each figure is a ratio against a baseline measured in the same run, because these
machines are noisy; the runs are interleaved so drift hits both sides alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence


def time_commands(
    commands: Mapping[str, Sequence[str]],
    runs: int,
    env: Mapping[str, str] | None = None,
    *,
    check: bool = True,
) -> dict[str, float]:
    """Median wall time in seconds of each command, the commands run interleaved.

    Args:
        check: Fail on a non-zero exit (off for commands whose exit code is a verdict).
    """
    samples: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=check, env=env, stdout=subprocess.DEVNULL)
            samples[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in samples.items()}


def time_calls(
    calls: Mapping[str, Callable[[], object]], runs: int, repeat: int = 1
) -> dict[str, float]:
    """Median time in seconds of one call of each callable, interleaved, ``repeat`` per sample."""
    samples: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(runs):
        for label, call in calls.items():
            start = time.perf_counter()
            for _ in range(repeat):
                call()
            samples[label].append((time.perf_counter() - start) / repeat)
    return {label: statistics.median(values) for label, values in samples.items()}


def bytecode_env() -> dict[str, str]:
    """This environment with bytecode writing allowed, as in an installed package."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def verdict(ratio: float, target: float, *, at_least: bool = False) -> str:
    """``ok`` or ``MISSED`` against a target ratio."""
    met = ratio >= target if at_least else ratio <= target
    return "ok" if met else "MISSED"
