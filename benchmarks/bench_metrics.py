"""Scraping runsecrets' metrics (issue 17): at most 1 ms per scrape, and no secret read.

Run: ``python benchmarks/bench_metrics.py [--runs N] [--secrets N]``. A watching store of
N secrets (a certificate and its key among them, dated at each publish), a
``RotatingServerContext`` and live settings on it are exported by one ``Metrics``. Measured,
interleaved, medians:

- a scrape in the process (``generate_latest``: read every object, write the exposition),
  beside the same scrape of an empty registry (the exporter's own floor) and of a registry
  holding the same samples in ``prometheus_client``'s own counters and gauges (what writing
  these samples costs whoever keeps them);
- a real HTTP scrape of ``runsecrets watch --metrics``'s server, beside the same server with
  nothing registered (the HTTP round trip's floor).

The secrets directory is watched with inotify's access events during every scrape: the count
of opens and reads printed must be 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests._pki, tests._access_watch

from _timing import time_calls, verdict
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from runsecrets import SecretStore
from runsecrets.metrics import Metrics
from runsecrets.metrics._server import MetricsServer
from runsecrets.pydantic import SecretsSettings, live
from runsecrets.tls import RotatingServerContext
from tests._access_watch import AccessWatch
from tests._pki import KEYS, cert_pem, key_bytes, make_ca, make_leaf

TARGET_SECONDS = 0.001


def _write(directory: Path, count: int) -> None:
    for i in range(count - 2):
        (directory / f"secret_{i:04d}").write_text(f"value-{i}\n")
    root = make_ca(KEYS.get("ec256-bench-metrics-root"))
    leaf = make_leaf(root, KEYS.get("ec256-bench-metrics-leaf"))
    (directory / "tls.crt").write_bytes(cert_pem(leaf.cert))
    (directory / "tls.key").write_bytes(key_bytes(leaf.key))


def _settings(directory: Path) -> type[SecretsSettings]:
    class BenchSettings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=directory)
        secret_0000: SecretStr

    return BenchSettings


def _same_samples(metrics: Metrics) -> CollectorRegistry:
    """A registry with the samples of ``metrics`` in prometheus_client's own metrics."""
    registry = CollectorRegistry()
    for family, samples in metrics.families():
        if family.kind == "counter":
            counter = Counter(family.name, family.help, family.labels, registry=registry)
            for values, value in samples:
                counter.labels(*values).inc(value)
        else:
            gauge = Gauge(family.name, family.help, family.labels, registry=registry)
            for values, value in samples:
                gauge.labels(*values).set(value)
    return registry


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def measure(directory: Path, runs: int, repeat: int) -> None:
    """Print the medians and ratios, and the access events seen during the scrapes."""
    store = SecretStore(directory, environ={}, backup_poll_interval=3600)
    with store, live(_settings(directory), store=store) as settings:
        context = RotatingServerContext("tls.crt", "tls.key", store=store)
        metrics = Metrics()
        metrics.add(store, certificates="auto")
        metrics.add(context)
        metrics.add(settings)
        registry, empty = CollectorRegistry(), CollectorRegistry()
        registry.register(metrics)
        plain = _same_samples(metrics)
        families = len(metrics.families())
        samples = len(metrics.samples())
        with (
            MetricsServer(metrics, "127.0.0.1:0") as server,
            MetricsServer(Metrics(), "127.0.0.1:0") as bare,
            AccessWatch(directory) as access,
        ):
            local = time_calls(
                {
                    "empty registry": lambda: generate_latest(empty),
                    "same samples": lambda: generate_latest(plain),
                    "runsecrets": lambda: generate_latest(registry),
                },
                runs,
                repeat,
            )
            http = time_calls(
                {"empty server": lambda: _get(bare.url), "runsecrets": lambda: _get(server.url)},
                runs,
                max(1, repeat // 10),
            )
            events = access.events()
        context.close()
    print(f"{len(store.names)} secrets; {families} families, {samples} samples per scrape")
    floor, same, ours = local["empty registry"], local["same samples"], local["runsecrets"]
    print(
        f"in-process scrape: {ours * 1e6:.0f} us (empty registry {floor * 1e6:.0f} us; the "
        f"same samples in prometheus_client's own metrics {same * 1e6:.0f} us, "
        f"{ours / same:.2f}x); target <= {TARGET_SECONDS * 1e3:.0f} ms: "
        f"{verdict(ours, TARGET_SECONDS)}"
    )
    floor, ours = http["empty server"], http["runsecrets"]
    print(
        f"HTTP scrape: {ours * 1e6:.0f} us (empty server {floor * 1e6:.0f} us, "
        f"{ours / floor:.2f}x; added {(ours - floor) * 1e6:.0f} us); "
        f"added cost target <= {TARGET_SECONDS * 1e3:.0f} ms: "
        f"{verdict(ours - floor, TARGET_SECONDS)}"
    )
    print(f"opens and reads in the secrets directory during the scrapes: {len(events)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--secrets", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runsecrets-bench-metrics-") as tmp:
        directory = Path(tmp)
        _write(directory, args.secrets)
        measure(directory, args.runs, args.repeat)


if __name__ == "__main__":
    main()
