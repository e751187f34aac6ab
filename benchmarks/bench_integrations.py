"""Integrations: the cost of a rotating Django password, and the sidecar's firing latency.

1. Django: ``get_connection_params()`` of the runsecrets PostgreSQL engine (reads the password
   file for every new connection) against the stock engine, and the added time against a bare
   TCP connect on loopback (the floor of any real database connection).
2. ``runsecrets watch --signal``: from a renewer's last write to the signal's arrival in another
   process, against an in-process ``SecretStore`` subscriber on the same machine (the store's own
   latency), interleaved.

Run: ``.venv/bin/python benchmarks/bench_integrations.py``
"""

from __future__ import annotations

import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import time_calls, verdict

from runsecrets import SecretStore
from runsecrets.testing import write_rename

ROTATIONS = 25

_TARGET = """
import signal, sys, time
out = open(sys.argv[1], "a", buffering=1)
signal.signal(signal.SIGHUP, lambda *_: out.write(f"{time.monotonic_ns()}\\n"))
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def bench_django(directory: Path) -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_TZ=True)
    django.setup()
    from django.db.backends.postgresql.base import DatabaseWrapper as Stock

    from runsecrets.integrations.django.postgresql.base import DatabaseWrapper as Rotating

    write_rename(directory / "db_password", "x" * 32)
    base = {
        "NAME": "app",
        "USER": "app",
        "PASSWORD": "x" * 32,
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "OPTIONS": {},
        "TIME_ZONE": None,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "AUTOCOMMIT": True,
        "ATOMIC_REQUESTS": False,
        "TEST": {},
    }
    stock = Stock(dict(base), alias="default")
    rotating = Rotating(
        {**base, "RUNSECRETS": {"password": "db_password", "dirs": [str(directory)]}},
        alias="default",
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    address = listener.getsockname()

    def tcp_connect() -> None:
        with socket.create_connection(address):
            pass
        listener.accept()[0].close()

    medians = time_calls(
        {
            "stock": stock.get_connection_params,
            "rotating": rotating.get_connection_params,
            "tcp": tcp_connect,
        },
        runs=30,
        repeat=200,
    )
    listener.close()
    added = medians["rotating"] - medians["stock"]
    share = added / medians["tcp"]
    print("Django get_connection_params, median of 30 interleaved runs x 200 calls")
    print(f"  stock engine          {medians['stock'] * 1e6:8.1f} us")
    print(
        f"  runsecrets engine     {medians['rotating'] * 1e6:8.1f} us  (ratio {medians['rotating'] / medians['stock']:.2f})"
    )
    print(
        f"  added per connection  {added * 1e6:8.1f} us = {share:.2f} x a bare loopback TCP connect"
    )
    print(f"  target: added <= 1 x a bare TCP connect: {verdict(share, 1.0)}")


def bench_watch(root: Path) -> None:
    sidecar_dir, store_dir = root / "sidecar", root / "store"
    sidecar_dir.mkdir()
    store_dir.mkdir()
    write_rename(sidecar_dir / "tls.crt", "0")
    write_rename(store_dir / "tls.crt", "0")
    hits = root / "hits"
    hits.touch()
    target = subprocess.Popen(
        [sys.executable, "-c", _TARGET, str(hits)], stdout=subprocess.PIPE, text=True
    )
    assert target.stdout is not None
    assert target.stdout.readline().strip() == "ready"
    runsecrets = Path(sys.executable).parent / "runsecrets"
    watch = subprocess.Popen(
        [
            str(runsecrets),
            "watch",
            "--quiet",
            "--dir",
            str(sidecar_dir),
            "--signal",
            "HUP",
            "--pid",
            str(target.pid),
        ]
    )
    store = SecretStore([store_dir]).start()
    published = threading.Event()
    stamps: list[int] = []

    def on_change(changes: object) -> None:
        stamps.append(time.monotonic_ns())
        published.set()

    store.subscribe(on_change)
    time.sleep(0.5)  # both watchers armed
    sidecar_ms, store_ms = [], []
    try:
        for i in range(1, ROTATIONS + 1):
            write_rename(sidecar_dir / "tls.crt", str(i))
            written = time.monotonic_ns()
            deadline = time.monotonic() + 10
            while len(hits.read_text().split()) < i:
                if time.monotonic() > deadline:
                    raise RuntimeError("the sidecar did not fire")
                time.sleep(0.001)
            sidecar_ms.append((int(hits.read_text().split()[i - 1]) - written) / 1e6)
            published.clear()
            write_rename(store_dir / "tls.crt", str(i))
            written = time.monotonic_ns()
            if not published.wait(10):
                raise RuntimeError("the store did not publish")
            store_ms.append((stamps[-1] - written) / 1e6)
    finally:
        store.close()
        watch.send_signal(signal.SIGTERM)
        watch.wait(timeout=10)
        target.kill()
        target.wait()
    sidecar, in_process = statistics.median(sidecar_ms), statistics.median(store_ms)
    ratio = sidecar / in_process
    print(f"runsecrets watch --signal HUP, median of {ROTATIONS} interleaved rotations (rename)")
    print(f"  in-process store subscriber  {in_process:6.2f} ms")
    print(f"  sidecar signal delivered     {sidecar:6.2f} ms  (ratio {ratio:.2f})")
    print(f"  target: within 3 x the in-process latency: {verdict(ratio, 3.0)}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "django").mkdir()
        bench_django(root / "django")
        print()
        bench_watch(root)


if __name__ == "__main__":
    main()
