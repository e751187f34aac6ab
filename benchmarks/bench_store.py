"""Hot-reload benchmarks (issue 4): rotation latency, idle cost, ``store.get()``, torture.

Run: ``python benchmarks/bench_store.py [--idle-seconds 60] [--rotations 10000]
[--torture-runs 3] [--latency-rotations 200] [--only latency,idle,get,torture]``.

- Latency: from the writer process's last system call (it prints ``time.monotonic_ns()``, a
  clock every process shares) to the subscriber's call, Kubernetes swap and rename writer;
  median and p99. For scale, the same measured for the watchfiles backend, for watchfiles'
  own ``watch()`` with its defaults and for a bare inotify read (no grouping, no re-read).
- Idle: a store watching 1,000 secrets, CPU% of one core over the idle period, and the RSS it
  adds (modules loaded, threads, the snapshot).
- ``store.get()`` against a dict's ``get`` and subscript, interleaved runs.
- Torture: rotations mixing the three writer styles while two threads read; torn values,
  invalid snapshots published, and the delay of the final value after the last write (median
  of the runs), for both settings of the store's ``prompt_switching`` option, run interleaved
  in the same process: off (the default: the switch interval left as the application set it,
  which shows the GIL convoy a busy process puts the watcher in) and on.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # _store_fixtures

from _store_fixtures import is_whole, make_value, number, refuse_torn
from _timing import verdict

import runsecrets
from runsecrets.testing import SecretsDir, kubernetes_swap

HERE = Path(__file__).resolve().parent
WRITER = HERE.parent / "tests" / "_store_writers.py"


def run_writer(
    style: str, directory: Path, names: list[str], count: int, interval: float
) -> dict[int, int]:
    """Run a writer process to the end; returns rotation number -> monotonic ns of its write."""
    out = subprocess.run(
        [
            sys.executable,
            str(WRITER),
            style,
            str(directory),
            ",".join(names),
            str(count),
            str(interval),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    written = {}
    for line in out.splitlines():
        n, ns = line.split()
        written[int(n)] = int(ns)
    return written


def summary(latencies_ms: list[float]) -> tuple[float, float]:
    """Median and 99th percentile."""
    ordered = sorted(latencies_ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def prepare(style: str, directory: Path) -> None:
    """Put rotation 0 in place with the writer's layout."""
    if style == "kubernetes":
        kubernetes_swap(directory, {"a": make_value(0)})
    else:
        SecretsDir(directory).write("a", make_value(0))


def store_latency(style: str, watcher: str, rotations: int, interval: float) -> list[float]:
    """Latencies (ms) from write to subscriber for one writer style and backend."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        prepare(style, directory)
        store = runsecrets.SecretStore(directory, environ={}, watcher=watcher)
        called: dict[int, int] = {}

        def record(changes: runsecrets.Changes) -> None:
            now = time.monotonic_ns()
            called.setdefault(number(changes.snapshot.get("a")), now)

        store.subscribe(record)
        with store.watch():
            written = run_writer(style, directory, ["a"], rotations, interval)
            time.sleep(0.2)
    return [(called[n] - t) / 1e6 for n, t in written.items() if n in called]


def scale_latency(kind: str, style: str, rotations: int, interval: float) -> list[float]:
    """Latencies (ms) of watchfiles' defaults or a bare inotify read, for scale."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        prepare(style, directory)
        seen: dict[int, int] = {}
        stop = threading.Event()

        def note() -> None:
            now = time.monotonic_ns()
            try:
                value = (directory / "a").read_text()
            except OSError:
                return
            if is_whole(value):
                seen.setdefault(number(value), now)

        def watchfiles_defaults() -> None:
            import watchfiles

            for _ in watchfiles.watch(
                directory, stop_event=stop, rust_timeout=100, yield_on_timeout=False
            ):
                note()

        def bare_inotify() -> None:
            import select

            from runsecrets.reload.watch.inotify_ctypes import Inotify

            notify = Inotify()
            notify.add(str(directory))
            poller = select.poll()
            poller.register(notify.fd, select.POLLIN)
            while not stop.is_set():
                if poller.poll(100):
                    notify.read()
                    note()
            notify.close()

        thread = threading.Thread(
            target=watchfiles_defaults if kind == "watchfiles" else bare_inotify
        )
        thread.start()
        time.sleep(0.3)
        written = run_writer(style, directory, ["a"], rotations, interval)
        time.sleep(2.0 if kind == "watchfiles" else 0.2)
        stop.set()
        thread.join()
    return [(seen[n] - t) / 1e6 for n, t in written.items() if n in seen]


def latency(rotations: int) -> None:
    """Rotation latency, both writers; the store's backends and the scale figures."""
    print(f"\n== rotation latency, writer's last syscall -> subscriber ({rotations} rotations)")
    print(f"{'writer':12} {'watcher':26} {'seen':>6} {'median ms':>10} {'p99 ms':>8}  target")
    for style in ("kubernetes", "rename"):
        rows = [
            ("store, inotify (default)", store_latency(style, "inotify", rotations, 0.03), True),
            (
                "store, watchfiles backend",
                store_latency(style, "watchfiles", rotations, 0.03),
                False,
            ),
            (
                "watchfiles defaults",
                scale_latency("watchfiles", style, max(20, rotations // 4), 0.15),
                False,
            ),
            ("bare inotify read", scale_latency("inotify", style, rotations, 0.03), False),
        ]
        for label, values, judged in rows:
            if not values:
                print(f"{style:12} {label:26} nothing seen")
                continue
            median, p99 = summary(values)
            judgement = ""
            if judged:
                ok = verdict(median, 10) == "ok" and verdict(p99, 25) == "ok"
                judgement = "median<=10 p99<=25: " + ("ok" if ok else "MISSED")
            print(
                f"{style:12} {label:26} {len(values):>6} {median:>10.2f} {p99:>8.2f}  {judgement}"
            )


def rss_kib() -> int:
    """Resident set size of this process."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds() -> float:
    """User + system CPU of the whole process (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def idle(seconds: float) -> None:
    """CPU and RSS of a store watching 1,000 secrets while nothing changes."""
    print(f"\n== idle: 1,000 secrets watched, {seconds:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for i in range(1000):
            (directory / f"secret_{i:04d}").write_text(make_value(i))
        # Steady state: a file changed within the last 2 s is re-read at every poll (its
        # timestamps cannot prove it unchanged yet); a running service's secrets are older.
        time.sleep(2.5)
        for watcher, period in (
            ("inotify", seconds),
            ("watchfiles", min(seconds, 10.0)),
            ("poll", min(seconds, 10.0)),
        ):
            before = rss_kib()
            store = runsecrets.SecretStore(directory, environ={}, watcher=watcher)
            with store.watch():
                time.sleep(0.5)
                start_cpu, start = cpu_seconds(), time.monotonic()
                time.sleep(period)
                used = cpu_seconds() - start_cpu
                elapsed = time.monotonic() - start
                added = (rss_kib() - before) / 1024
            percent = 100 * used / elapsed
            target = (
                f"<=0.1%: {verdict(percent, 0.1)}, <=5 MiB: {verdict(added, 5)}"
                if watcher == "inotify"
                else "(for scale)"
            )
            print(
                f"{watcher:11} CPU {percent:.3f}% of a core over {elapsed:.0f} s, RSS +{added:.1f} MiB  {target}"
            )
            del store


def get_cost(runs: int = 15) -> None:
    """``store.get(name)`` against ``dict.get(name)`` and ``dict[name]``."""
    print("\n== store.get() vs a dict lookup (median of interleaved runs)")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(100):
            Path(tmp, f"secret_{i:02d}").write_text(f"value-{i}")
        store = runsecrets.SecretStore(tmp, environ={})
        plain = {f"secret_{i:02d}": f"value-{i}" for i in range(100)}
        statements = {
            "store.get(name)": ("get(name)", {"get": store.get, "name": "secret_42"}),
            "snapshot.get(name)": ("get(name)", {"get": store.snapshot.get, "name": "secret_42"}),
            "dict.get(name)": ("get(name)", {"get": plain.get, "name": "secret_42"}),
            "dict[name]": ("d[name]", {"d": plain, "name": "secret_42"}),
        }
        samples: dict[str, list[float]] = {label: [] for label in statements}
        for _ in range(runs):
            for label, (statement, namespace) in statements.items():
                samples[label].append(
                    min(timeit.repeat(statement, globals=namespace, number=200_000, repeat=3))
                    / 200_000
                )
        medians = {label: statistics.median(values) for label, values in samples.items()}
    for label, value in medians.items():
        print(f"{label:20} {value * 1e9:6.1f} ns")
    ratio = medians["store.get(name)"] / medians["dict.get(name)"]
    print(f"store.get / dict.get = {ratio:.2f}x  (target <= 2x: {verdict(ratio, 2)})")
    print(
        f"store.get / dict[name] = {medians['store.get(name)'] / medians['dict[name]']:.2f}x  (for scale)"
    )


def torture_once(rotations: int, *, prompt_switching: bool) -> dict[str, float]:
    """One torture run: mixed writers, two reader threads; its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        kubernetes_swap(root / "k8s", {"cert": make_value(0), "key": make_value(0)})
        SecretsDir(root / "plain").write_all({"renamed": make_value(0), "inplace": make_value(0)})
        last = {
            residue: max(n for n in range(1, rotations + 1) if n % 3 == residue)
            for residue in range(3)
        }
        final = {
            "cert": make_value(last[0]),
            "key": make_value(last[0]),
            "renamed": make_value(last[1]),
            "inplace": make_value(last[2]),
        }
        store = runsecrets.SecretStore(
            [root / "k8s", root / "plain"],
            environ={},
            validate=refuse_torn,
            prompt_switching=prompt_switching,
        )
        invalid = []
        final_at: list[int] = []

        def check(changes: runsecrets.Changes) -> None:
            snapshot = changes.snapshot
            values = dict(snapshot.items())
            if not all(is_whole(v) for v in values.values()) or values["cert"] != values["key"]:
                invalid.append(snapshot.version)
            if not final_at and values == final:
                final_at.append(time.monotonic_ns())

        store.subscribe(check)
        stop = threading.Event()
        counts = {"reads": 0, "torn": 0}

        def read() -> None:
            while not stop.is_set():
                snapshot = store.snapshot
                values = [snapshot.get(n) for n in ("cert", "key", "renamed", "inplace")]
                counts["reads"] += 1
                if not all(is_whole(v) for v in values) or values[0] != values[1]:
                    counts["torn"] += 1

        readers = [threading.Thread(target=read) for _ in range(2)]
        with store.watch():
            for reader in readers:
                reader.start()
            started = time.monotonic()
            written = run_writer("mixed", root, ["cert", "key"], rotations, 0.0)
            took = time.monotonic() - started
            deadline = time.monotonic() + 5
            while not final_at and time.monotonic() < deadline:
                time.sleep(0.001)
            stop.set()
            for reader in readers:
                reader.join()
        status = store.status
    delay = (final_at[0] - written[rotations]) / 1e6 if final_at else float("inf")
    return {
        "final_ms": max(delay, 0.0),  # already there when the writer printed its last line
        "writes": len(written),
        "took": took,
        "reads": counts["reads"],
        "torn": counts["torn"],
        "invalid": len(invalid),
        "publishes": status.counters["publishes"],
        "refused": status.counters["refused"],
        "incomplete": status.counters["incomplete"],
    }


def torture(rotations: int, runs: int) -> None:
    """Mixed writers, concurrent readers: torn values, invalid publishes, final-value delay,
    for both settings of ``prompt_switching``, interleaved."""
    print(
        f"\n== torture: {runs} x {rotations} rotations mixing Kubernetes swap, rename and "
        "in-place writes, two reader threads"
    )
    modes = {
        "prompt_switching=False (default)": False,
        "prompt_switching=True": True,
    }
    results: dict[str, list[dict[str, float]]] = {label: [] for label in modes}
    for _ in range(runs):
        for label, prompt in modes.items():
            figures = torture_once(rotations, prompt_switching=prompt)
            results[label].append(figures)
            print(
                f"{label:34} final visible {figures['final_ms']:7.1f} ms; "
                f"writes {figures['writes']:.0f} in {figures['took']:.1f} s, "
                f"reads {figures['reads']:.0f}, publishes {figures['publishes']:.0f} "
                f"(held back: refused {figures['refused']:.0f}, "
                f"incomplete {figures['incomplete']:.0f}), torn {figures['torn']:.0f}, "
                f"invalid {figures['invalid']:.0f}",
                flush=True,
            )
    torn = sum(int(r["torn"]) for rows in results.values() for r in rows)
    invalid = sum(int(r["invalid"]) for rows in results.values() for r in rows)
    print(f"torn values seen: {torn} (target 0: {verdict(torn, 0)})")
    print(f"invalid snapshots published: {invalid} (target 0: {verdict(invalid, 0)})")
    medians = {
        label: statistics.median(r["final_ms"] for r in rows) for label, rows in results.items()
    }
    for label, median in medians.items():
        print(
            f"{label}: final value visible {median:.1f} ms after the last write, median of "
            f"{len(results[label])} (target <= 100 ms: {verdict(median, 100)})"
        )
    off, on = medians["prompt_switching=False (default)"], medians["prompt_switching=True"]
    print(f"off / on = {off / max(on, 0.1):.1f}x")


def main() -> int:
    """Run the chosen benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--rotations", type=int, default=10_000, help="torture rotations")
    parser.add_argument("--torture-runs", type=int, default=3, help="torture runs per mode")
    parser.add_argument("--latency-rotations", type=int, default=200)
    parser.add_argument("--only", default="latency,idle,get,torture")
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    print(
        f"runsecrets {runsecrets.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    if "get" in chosen:
        get_cost()
    if "latency" in chosen:
        latency(args.latency_rotations)
    if "torture" in chosen:
        torture(args.rotations, args.torture_runs)
    if "idle" in chosen:
        idle(args.idle_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
