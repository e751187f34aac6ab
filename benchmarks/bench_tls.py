"""TLS benchmarks (issue 5): validation cost, and rotation under continuous handshakes.

Run: ``python benchmarks/bench_tls.py [--runs N] [--rotations N]``.

1. Full validation of a 4096-bit RSA leaf + key + 4096-bit CA (parse, pair, chain, hostname,
   dates) with ``runsecrets.tls.load`` against ``ssl.SSLContext(...).load_cert_chain`` on the
   same files (target <= 10x), the runs interleaved, medians compared.
2. A server rotating its certificate N times (default 100) while two client threads handshake
   without pause, against the same server with a static context: failed handshakes and
   mismatched pairs served (target 0), and the throughput ratio (target >= 0.9).
"""

from __future__ import annotations

import argparse
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests._pki

from _timing import time_calls, verdict

from runsecrets.testing import write_rename
from runsecrets.tls import RotatingServerContext, load
from tests._pki import Issued, cert_pem, key_bytes, make_ca, make_leaf, new_key, write_material
from tests._tls_server import TLSServer, fetch_serial


def validation(runs: int, directory: Path) -> None:
    """``tls.load`` (everything checked) against OpenSSL's ``load_cert_chain`` alone."""
    print("generating 4096-bit RSA keys (CA and leaf)...", flush=True)
    root = make_ca(new_key("rsa4096"), "Bench Root")
    leaf = make_leaf(root, new_key("rsa4096"))
    cert, key, ca = write_material(directory / "rsa4096", leaf, root)
    assert ca is not None

    def openssl_new_context() -> None:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)

    reused = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

    def openssl_reused_context() -> None:
        reused.load_cert_chain(cert, key)

    def runsecrets_load() -> None:
        load(cert, key, ca, host="localhost")

    medians = time_calls(
        {
            "load_cert_chain (new context)": openssl_new_context,
            "load_cert_chain (reused context)": openssl_reused_context,
            "runsecrets.tls.load (full validation)": runsecrets_load,
        },
        runs=runs,
        repeat=5,
    )
    ours = medians["runsecrets.tls.load (full validation)"]
    print("validation of a 4096-bit RSA leaf + key + CA:")
    for label, seconds in medians.items():
        print(f"  {label}: {seconds * 1000:.3f} ms")
    for label in ("load_cert_chain (new context)", "load_cert_chain (reused context)"):
        ratio = ours / medians[label]
        print(f"  ratio to {label}: {ratio:.2f}x (target <= 10x: {verdict(ratio, 10)})")


class Load:
    """Two client threads handshaking without pause; counts and failures."""

    def __init__(self, port: int, root: Issued, known: set[str]) -> None:
        self.port = port
        self.known = known
        self.handshakes = 0
        self.failures: list[str] = []
        self.unknown: list[str] = []
        self._stop = threading.Event()
        self._root_pem = cert_pem(root.cert).decode()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(2)]

    def _run(self) -> None:
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.load_verify_locations(cadata=self._root_pem)
        while not self._stop.is_set():
            try:
                serial = fetch_serial(self.port, client)
            except (ssl.SSLError, OSError, AssertionError) as e:
                with self._lock:
                    self.failures.append(f"{type(e).__name__}: {e}")
                continue
            with self._lock:
                self.handshakes += 1
                if serial not in self.known:
                    self.unknown.append(serial)

    def __enter__(self) -> Load:
        self.started = time.perf_counter()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.elapsed = time.perf_counter() - self.started

    @property
    def rate(self) -> float:
        """Handshakes per second."""
        return self.handshakes / self.elapsed


def rotation(rounds: int, rotations: int, interval: float, directory: Path) -> None:
    """Throughput with a rotating context (N rotations) against a static one."""
    root = make_ca(new_key("ec256"), "Bench Rotation Root")
    leaves = [make_leaf(root, new_key("ec256")) for _ in range(rotations + 1)]
    known = {leaf.serial_hex for leaf in leaves}
    live = directory / "live"
    cert, key, ca = write_material(live, leaves[0], root)
    assert ca is not None
    gap = 0.02  # between a certificate and its key: a pair half written for 20 ms each time

    static_rates: list[float] = []
    rotating_rates: list[float] = []
    totals = {"handshakes": 0, "failed": 0, "unknown": 0, "server_failures": 0, "refused": 0}
    rotations_done = 0
    for round_number in range(rounds):
        # ABBA order: a machine shared with others drifts; alternating who goes first cancels it.
        order = ("static", "rotating") if round_number % 2 == 0 else ("rotating", "static")
        for label in order:
            write_material(live, leaves[0], root)
            if label == "static":
                context: ssl.SSLContext = load(cert, key, ca).server_context()
                rotating = None
            else:
                rotating = RotatingServerContext(cert, key, ca)
                context = rotating
            server = TLSServer(context).start()
            with Load(server.port, root, known) as clients:
                for i, leaf in enumerate(leaves[1:]):
                    files = [(cert, cert_pem(leaf.cert)), (key, key_bytes(leaf.key))]
                    if i % 2:
                        files.reverse()  # both orders: key first, then certificate first
                    for path, data in files:
                        if rotating is not None:
                            write_rename(path, data)
                        time.sleep(gap)
                    time.sleep(max(0.0, interval - 2 * gap))
                if rotating is not None:
                    deadline = time.monotonic() + 10
                    while rotating.material.serial_hex != leaves[-1].serial_hex:
                        assert time.monotonic() < deadline, "last rotation not seen"
                        time.sleep(0.005)
            server.stop()
            (static_rates if label == "static" else rotating_rates).append(clients.rate)
            totals["handshakes"] += clients.handshakes
            totals["failed"] += len(clients.failures)
            totals["unknown"] += len(clients.unknown)
            totals["server_failures"] += len(server.failures)
            if rotating is not None:
                rotations_done += rotating.rotations
                totals["refused"] += rotating.refusals
                rotating.close()
            if clients.failures:
                print(f"  {label}: first failure: {clients.failures[0]}")
    static, moving = statistics.median(static_rates), statistics.median(rotating_rates)
    # Each round's two runs were back to back: their ratio is the least disturbed by drift.
    paired = [r / s for r, s in zip(rotating_rates, static_rates, strict=True)]
    ratio = statistics.median(paired)
    print(
        f"rotation under load ({rounds} rounds, {rotations} rotations each, one every "
        f"{max(interval, 2 * gap) * 1000:.0f} ms, certificate and key {gap * 1000:.0f} ms apart, "
        "2 client threads):"
    )
    print(f"  static context:   {static:.0f} handshakes/s (median)")
    print(f"  rotating context: {moving:.0f} handshakes/s (median), {rotations_done} rotations")
    print(
        f"  handshakes: {totals['handshakes']}, failed: {totals['failed']} (target 0: "
        f"{verdict(totals['failed'], 0)}), server-side failures: {totals['server_failures']}"
    )
    print(
        f"  mismatched pairs served: {totals['unknown']} (target 0: "
        f"{verdict(totals['unknown'], 0)}); half-written pairs refused: {totals['refused']}"
    )
    print(f"  per-round ratios: {', '.join(f'{r:.2f}' for r in paired)}")
    print(f"  throughput ratio rotating/static (median of rounds): {ratio:.3f} (target >= 0.9: "
          f"{verdict(ratio, 0.9, at_least=True)})")  # fmt: skip


def main() -> None:
    """Run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="validation samples")
    parser.add_argument("--rounds", type=int, default=6, help="rotation rounds per context")
    parser.add_argument("--rotations", type=int, default=100)
    parser.add_argument(
        "--interval",
        type=float,
        default=0.1,
        help="seconds from one rotation to the next (each costs ~1 ms of OpenSSL key loading "
        "plus validation; 0.04 is the fastest the 20 ms half-written window allows)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        validation(args.runs, Path(tmp))
        rotation(args.rounds, args.rotations, args.interval, Path(tmp))


if __name__ == "__main__":
    main()
