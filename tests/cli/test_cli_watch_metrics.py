"""``runsecrets watch --metrics``: a real sidecar scraped over HTTP across real rotations."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")

from runsecrets.metrics import Metrics
from runsecrets.metrics._server import MetricsAddressError, MetricsServer, parse_address
from runsecrets.testing import write_rename

from .._access_watch import AccessWatch
from .._metrics import Scrape, scrape_url, value
from .._pki import DAY, KEYS, NOW, Issued, cert_pem, key_bytes, make_ca, make_leaf, new_key
from .test_cli_watch import RUNSECRETS, Sidecar, wait_until


@pytest.fixture(scope="module")
def root() -> Issued:
    """An EC root CA (fast to sign with)."""
    return make_ca(KEYS.get("ec256-sidecar-metrics-root"), "Sidecar Metrics Root")


def _issue(directory: Path, root: Issued, days: int, note: str = "") -> Issued:
    """Write the key, then the certificate (with ``note`` as text before its PEM block), by
    rename, as a renewer does."""
    leaf = make_leaf(root, new_key("ec256"), not_after=NOW + days * DAY)
    write_rename(directory / "tls.key", key_bytes(leaf.key), mode=0o600)
    write_rename(directory / "tls.crt", note.encode() + cert_pem(leaf.cert))
    return leaf


def _url(sidecar: Sidecar) -> str:
    found = re.search(r"serving metrics on (\S+)", sidecar.log())
    assert found, sidecar.log()
    return found.group(1)


def _scrape_until(url: str, done: object, timeout: float = 10.0) -> Scrape:
    samples: Scrape = {}

    def ready() -> bool:
        nonlocal samples
        samples = scrape_url(url)[1]
        return bool(done(samples))  # type: ignore[operator]

    assert wait_until(ready, timeout), samples
    return samples


def test_a_scrape_follows_a_real_rotation_and_never_shows_a_value(
    tmp_path: Path, root: Issued, sentinel: str
) -> None:
    """Across a renewer's rotation: publishes and actions go up, the last publish and action
    times move, the certificate's end date becomes the new one's; the planted value (a
    secret, and text inside the certificate file) is in no scrape and no log line."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "api_token", sentinel)
    first = _issue(secrets, root, 30, note=f"issued for {sentinel}\n")
    watch = Sidecar(["--dir", str(secrets), "--exec", "true", "--metrics", "127.0.0.1:0"], tmp_path)
    texts = []
    try:
        url = _url(watch)
        label = str(secrets)
        text, before = scrape_url(url)
        texts.append(text)
        cert = {"store": label, "secret": "tls.crt"}
        assert value(before, "runsecrets_secrets", store=label) == 3
        assert value(before, "runsecrets_publishes_total", store=label) == 1
        assert value(before, "runsecrets_watcher_mode", store=label, mode="inotify") == 1
        assert value(before, "runsecrets_watch_actions_total", store=label) == 0
        assert value(before, "runsecrets_watch_last_action_timestamp_seconds", store=label) == 0
        assert value(
            before, "runsecrets_certificate_not_after_timestamp_seconds", **cert
        ) == pytest.approx(first.cert.not_valid_after_utc.timestamp())
        time.sleep(0.01)  # the clock moves between the two publishes
        second = _issue(secrets, root, 60)
        after = _scrape_until(
            url,
            lambda s: (
                value(s, "runsecrets_watch_actions_total", store=label) >= 1
                and value(s, "runsecrets_certificate_not_after_timestamp_seconds", **cert)
                == pytest.approx(second.cert.not_valid_after_utc.timestamp())
            ),
        )
        assert value(after, "runsecrets_publishes_total", store=label) >= 2
        assert value(after, "runsecrets_last_publish_timestamp_seconds", store=label) > value(
            before, "runsecrets_last_publish_timestamp_seconds", store=label
        )
        assert value(after, "runsecrets_watch_action_failures_total", store=label) == 0
        assert value(after, "runsecrets_watch_last_action_timestamp_seconds", store=label) > 0
        assert value(after, "runsecrets_healthy", store=label) == 1
        texts.append(scrape_url(url)[0])
    finally:
        code = watch.stop()
    assert code == 0, watch.log()
    for text in texts:
        assert sentinel not in text
    assert sentinel not in watch.log()


def test_scrapes_open_no_secret_file(tmp_path: Path, root: Issued) -> None:
    """While the sidecar is idle, 50 scrapes cause no open or read in the secrets directory,
    by any process (inotify's access events; a window in which the sidecar's own backup
    re-read ran is tried again)."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "api_token", "token")
    _issue(secrets, root, 30)
    watch = Sidecar(["--dir", str(secrets), "--exec", "true", "--metrics", "127.0.0.1:0"], tmp_path)
    try:
        url = _url(watch)
        label = str(secrets)
        for _attempt in range(3):
            reads = value(scrape_url(url)[1], "runsecrets_reads_total", store=label)
            with AccessWatch(secrets) as access:
                for _ in range(50):
                    samples = scrape_url(url)[1]
                events = access.events()
            if value(samples, "runsecrets_reads_total", store=label) == reads:
                break  # no re-read of the sidecar's own in the window
        assert events == []
    finally:
        assert watch.stop() == 0, watch.log()


def test_the_metrics_server_stops_with_the_sidecar(tmp_path: Path) -> None:
    """SIGTERM ends the sidecar with exit 0 and its metrics port stops answering; a path
    other than /metrics is a 404."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    watch = Sidecar(["--dir", str(secrets), "--exec", "true", "--metrics", "0"], tmp_path)
    url = _url(watch)
    assert url.startswith("http://127.0.0.1:")  # a bare port listens on loopback
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url.replace("/metrics", "/"), timeout=5)
    assert caught.value.code == 404
    caught.value.close()
    assert watch.stop() == 0, watch.log()
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5).close()


def test_a_taken_port_or_a_bad_address_is_a_clear_error(tmp_path: Path) -> None:
    """Exit 2 with one line naming the address and why, before any secret is read; no
    traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for address, why in (
            (f"127.0.0.1:{port}", "the port is in use"),
            ("127.0.0.1:70000", "expected HOST:PORT"),
            ("::1:9100", "IPv6 address in brackets"),
            ("no-such-host.invalid:9100", "does not resolve"),
        ):
            out = subprocess.run(
                [
                    RUNSECRETS,
                    "watch",
                    "--dir",
                    str(tmp_path),
                    "--exec",
                    "true",
                    "--metrics",
                    address,
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert out.returncode == 2, out.stderr
            assert f"--metrics {address}" in out.stderr
            assert why in out.stderr
            assert "Traceback" not in out.stderr
            assert "watching" not in out.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9100", ("127.0.0.1", 9100)),
        ("9100", ("127.0.0.1", 9100)),
        ("[::1]:9100", ("::1", 9100)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_addresses_are_host_and_port(text: str, expected: tuple[str, int]) -> None:
    """HOST:PORT, [IPV6]:PORT and a bare port (loopback)."""
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", ":9100", "host:", "host:port", "1:2:3", "[::1]:99999"])
def test_malformed_addresses_are_refused(text: str) -> None:
    """Anything else is a MetricsAddressError naming what was given."""
    with pytest.raises(MetricsAddressError) as caught:
        parse_address(text)
    assert caught.value.address == text


def test_the_server_answers_openmetrics_when_asked(tmp_path: Path) -> None:
    """A scraper asking for OpenMetrics gets it (with its EOF line); close() frees the port."""
    from runsecrets import SecretStore

    store = SecretStore(tmp_path, environ={})
    server = MetricsServer(Metrics(store), "127.0.0.1:0").start()
    try:
        request = urllib.request.Request(
            server.url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            body = response.read().decode()
        assert body.rstrip().endswith("# EOF")
        assert f'runsecrets_publishes_total{{store="{tmp_path}"}} 1.0' in body
    finally:
        server.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=5).close()
