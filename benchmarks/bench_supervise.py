"""Supervisor benchmarks (issue 18): change-to-restart latency, and idle CPU.

Run: ``python benchmarks/bench_supervise.py [--rotations N] [--idle-seconds S]``.

1. **Restart latency.** A secret file is replaced (write and rename); the clock starts when the
   rename has returned (the change has settled) and stops when the command receives the stop
   signal (its handler stamps ``CLOCK_MONOTONIC``, which every process shares): "the restart
   begins". The baseline, measured in the same run and interleaved, is the sidecar doing the
   same job with the same store (``runsecrets watch --signal TERM --pidfile``): change to
   signal received. Measured with ``--debounce 0``, then with ``--debounce 0.2`` (the debounce
   taken off), as the target is "50 ms after the change settles, plus the debounce".
2. **Idle CPU.** The supervisor and the sidecar side by side, idle for ``--idle-seconds``: CPU
   time from ``/proc/<pid>/task/*/schedstat`` (nanoseconds, every thread), as a share of one
   core.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _timing import verdict

from runsecrets.testing import wait_until, write_rename

#: The command: writes its pid (for the sidecar's --pidfile), stamps each SIGTERM into STAMPS;
#: with EXIT=1 it exits at SIGTERM (the supervisor restarts it), else it keeps running.
CHILD = r"""
import os, signal, sys, time
stamps = os.environ["STAMPS"]
def on_term(signum, frame):
    with open(stamps, "a") as f:
        f.write(f"{time.monotonic_ns()}\n")
    if os.environ.get("EXIT") == "1":
        os._exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(os.environ["PIDFILE"] + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace(os.environ["PIDFILE"] + ".tmp", os.environ["PIDFILE"])
while True:
    signal.pause()
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_FILE")}
    return {**env, **extra}


class Side:
    """One way of getting the command signalled: a directory, its secret, the stamps."""

    def __init__(self, root: Path, label: str) -> None:
        self.label = label
        self.dir = root / label
        self.dir.mkdir()
        self.secret = self.dir / "db_password"
        write_rename(self.secret, b"v0")
        self.stamps = root / f"{label}.stamps"
        self.stamps.touch()
        self.pidfile = root / f"{label}.pid"
        self.processes: list[subprocess.Popen[bytes]] = []

    def stamp_count(self) -> int:
        return len(self.stamps.read_text().split())

    def last_stamp(self) -> float:
        return int(self.stamps.read_text().split()[-1]) / 1e9

    def pid(self) -> int:
        return int(self.pidfile.read_text())

    def start_supervisor(self, debounce: float) -> None:
        env = _env(
            DB_PASSWORD_FILE=str(self.secret),
            STAMPS=str(self.stamps),
            PIDFILE=str(self.pidfile),
            EXIT="1",
        )
        command = [sys.executable, "-m", "runsecrets", "exec", "--restart-on-change"]
        command += ["--debounce", str(debounce), "--", sys.executable, "-c", CHILD]
        self._run(command, env)
        wait_until(self.pidfile.exists, timeout=20)

    def start_sidecar(self) -> None:
        env = _env(STAMPS=str(self.stamps), PIDFILE=str(self.pidfile))
        self._run([sys.executable, "-c", CHILD], env)
        wait_until(self.pidfile.exists, timeout=20)
        watch = [sys.executable, "-m", "runsecrets", "watch", "--dir", str(self.dir)]
        self._run(
            [*watch, "--name", "db_password", "--signal", "TERM", "--pidfile", str(self.pidfile)],
            _env(),
        )
        time.sleep(1.0)  # the sidecar's store and watcher are up

    def _run(self, command: list[str], env: dict[str, str]) -> None:
        self.processes.append(
            subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )

    def rotate(self, n: int) -> float:
        """Replace the secret; the seconds from the settled change to the signal."""
        before, old_pid = self.stamp_count(), self.pid()
        write_rename(self.secret, f"v{n}".encode())
        changed = time.monotonic()
        wait_until(lambda: self.stamp_count() > before, timeout=20, interval=0.001)
        latency = self.last_stamp() - changed
        # The supervisor's next command must be up before the next rotation.
        wait_until(lambda: self.is_sidecar or (self.pidfile.exists() and self.pid() != old_pid))
        return latency

    @property
    def is_sidecar(self) -> bool:
        return self.label.startswith("sidecar")

    def cpu_seconds(self) -> float:
        """CPU time of the supervisor or sidecar process (the first started that is runsecrets),
        all threads, from schedstat (nanoseconds)."""
        process = self.processes[-1] if self.is_sidecar else self.processes[0]
        total = 0
        for task in Path(f"/proc/{process.pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid(), signal.SIGKILL)


def latency(root: Path, rotations: int, debounce: float) -> None:
    supervisor = Side(root, f"supervisor-{debounce}")
    sidecar = Side(root, f"sidecar-{debounce}")
    supervisor.start_supervisor(debounce)
    sidecar.start_sidecar()
    samples: dict[str, list[float]] = {"supervisor": [], "sidecar": []}
    try:
        for n in range(1, rotations + 1):
            samples["supervisor"].append(supervisor.rotate(n) - debounce)
            samples["sidecar"].append(sidecar.rotate(n))
            time.sleep(0.05)
    finally:
        supervisor.stop()
        sidecar.stop()
    ours = statistics.median(samples["supervisor"])
    base = statistics.median(samples["sidecar"])
    worst = max(samples["supervisor"])
    print(
        f"change settled -> restart begins, --debounce {debounce} (debounce taken off), "
        f"{rotations} rotations: supervisor median {ours * 1000:.1f} ms (max {worst * 1000:.1f}), "
        f"sidecar (baseline: watch --signal) median {base * 1000:.1f} ms, "
        f"{ours / base:.2f}x baseline (target <= 50 ms: {verdict(ours, 0.050)})"
    )


def idle(root: Path, seconds: float) -> None:
    supervisor = Side(root, "supervisor-idle")
    sidecar = Side(root, "sidecar-idle")
    supervisor.start_supervisor(1.0)
    sidecar.start_sidecar()
    try:
        time.sleep(2.0)  # start-up done on both
        before = supervisor.cpu_seconds(), sidecar.cpu_seconds()
        started = time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - started
        ours = (supervisor.cpu_seconds() - before[0]) / wall
        base = (sidecar.cpu_seconds() - before[1]) / wall
    finally:
        supervisor.stop()
        sidecar.stop()
    ratio = ours / base if base else float("nan")
    print(
        f"idle over {wall:.0f} s: supervisor {ours * 100:.4f}% of a core, sidecar (baseline) "
        f"{base * 100:.4f}%, {ratio:.2f}x baseline (target <= 0.05%: {verdict(ours, 0.0005)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runsecrets-bench-supervise-") as directory:
        root = Path(directory)
        latency(root, args.rotations, 0.0)
        latency(root, args.rotations, 0.2)
        idle(root, args.idle_seconds)


if __name__ == "__main__":
    main()
