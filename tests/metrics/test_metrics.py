"""runsecrets.metrics: real stores, contexts, settings and credentials, read by real scrapes.

Every exposition is parsed back with ``prometheus_client.parser``; values are checked to move
as the objects change (a publish, a rotation, a refusal), never to be counted here.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry
from pydantic import SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from runsecrets import SecretStore
from runsecrets.metrics import FAMILIES, Metrics, facts, register
from runsecrets.pydantic import SecretsSettings, live
from runsecrets.testing import write_rename
from runsecrets.tls import RotatingServerContext

from .._access_watch import AccessWatch, disk_forbidden
from .._metrics import names_of, scrape, value
from .._pki import DAY, KEYS, NOW, Issued, cert_pem, key_bytes, make_ca, make_leaf, new_key
from .._store_fixtures import no_leaked_threads

assert no_leaked_threads  # an autouse fixture, imported to apply to this module


@pytest.fixture(scope="module")
def root() -> Issued:
    """An EC root CA (fast to sign with)."""
    return make_ca(KEYS.get("ec256-metrics-root"), "Metrics Root")


def _leaf(root: Issued, days: int = 90) -> Issued:
    return make_leaf(root, new_key("ec256"), not_after=NOW + days * DAY)


def _publish(directory: Path, leaf: Issued) -> None:
    write_rename(directory / "tls.key", key_bytes(leaf.key), mode=0o600)
    write_rename(directory / "tls.crt", cert_pem(leaf.cert))


def _store(directory: Path, **kwargs: object) -> SecretStore:
    kwargs.setdefault("environ", {})
    return SecretStore(directory, **kwargs)  # type: ignore[arg-type]


def _registry(*objects: object) -> tuple[CollectorRegistry, Metrics]:
    registry = CollectorRegistry()
    return registry, register(*objects, registry=registry)


def test_a_store_is_read_afresh_at_each_scrape(tmp_path: Path) -> None:
    """Publishes, secrets, version, reads and the last publish time follow the store: a
    publish moves them, a scrape alone moves nothing."""
    write_rename(tmp_path / "db_password", "one")
    store = _store(tmp_path)
    registry, _ = _registry(store)
    label = str(tmp_path)
    _, first = scrape(registry)
    assert value(first, "runsecrets_publishes_total", store=label) == 1
    assert value(first, "runsecrets_secrets", store=label) == 1
    assert value(first, "runsecrets_snapshot_version", store=label) == 0
    assert value(first, "runsecrets_healthy", store=label) == 1
    assert value(first, "runsecrets_watcher_mode", store=label, mode="stopped") == 1
    assert value(first, "runsecrets_watcher_mode", store=label, mode="inotify") == 0
    assert scrape(registry)[1] == first  # nothing changed, nothing read
    write_rename(tmp_path / "api_token", "two")
    store.reload()
    _, second = scrape(registry)
    assert value(second, "runsecrets_publishes_total", store=label) == 2
    assert value(second, "runsecrets_secrets", store=label) == 2
    assert (
        value(second, "runsecrets_reads_total", store=label)
        == value(first, "runsecrets_reads_total", store=label) + 1
    )
    assert value(second, "runsecrets_last_publish_timestamp_seconds", store=label) > value(
        first, "runsecrets_last_publish_timestamp_seconds", store=label
    )
    with store:
        _, watching = scrape(registry)
    assert value(watching, "runsecrets_watcher_mode", store=label, mode="inotify") == 1


def test_a_refusal_and_a_hold_back_show_until_the_store_recovers(tmp_path: Path) -> None:
    """A refused candidate counts in refusals_total, makes the store unhealthy and held back
    (with its age); the next good publish clears both, the refusal stays counted."""

    def refuse_short(snapshot: object) -> None:
        if len(snapshot.get("a")) < 5:  # type: ignore[attr-defined]
            raise ValueError("too short")

    write_rename(tmp_path / "a", "long enough")
    store = _store(tmp_path, validate=refuse_short)
    registry, _ = _registry(store)
    label = str(tmp_path)
    write_rename(tmp_path / "a", "shrt")
    store.reload()
    _, held = scrape(registry)
    assert value(held, "runsecrets_refusals_total", store=label) == 1
    assert value(held, "runsecrets_healthy", store=label) == 0
    assert value(held, "runsecrets_held_back", store=label) == 1
    assert value(held, "runsecrets_held_back_seconds", store=label) >= 0
    assert value(held, "runsecrets_last_error_timestamp_seconds", store=label) > 0
    write_rename(tmp_path / "a", "long again")
    store.reload()
    _, clear = scrape(registry)
    assert value(clear, "runsecrets_refusals_total", store=label) == 1
    assert value(clear, "runsecrets_healthy", store=label) == 1
    assert value(clear, "runsecrets_held_back", store=label) == 0
    assert value(clear, "runsecrets_held_back_seconds", store=label) == 0


def test_read_errors_kept_and_skipped_files_are_counted(tmp_path: Path) -> None:
    """A file over the size cap is a read error; a removed file kept by on_remove="keep" is
    a kept secret; a file this process writes to is a skipped file."""
    write_rename(tmp_path / "a", "one")
    write_rename(tmp_path / "gone", "two")
    with open(tmp_path / "app.log", "w") as log:
        log.write("x")
        log.flush()
        store = _store(tmp_path, on_remove="keep", max_size=100)
        registry, _ = _registry(store)
        (tmp_path / "gone").unlink()
        write_rename(tmp_path / "huge", b"x" * 200)
        store.reload()
        _, samples = scrape(registry)
    label = str(tmp_path)
    assert value(samples, "runsecrets_read_errors_total", store=label) >= 1
    assert value(samples, "runsecrets_kept_secrets", store=label) == 1
    assert value(samples, "runsecrets_skipped_files", store=label) == 1


def test_label_values_are_escaped_as_the_exposition_format_says(tmp_path: Path) -> None:
    """A store named with a quote, a backslash and a newline is written escaped and parsed
    back to the same name."""
    store = _store(tmp_path)
    name = 'odd "store" \\ with\na newline'
    registry = CollectorRegistry()
    metrics = Metrics()
    metrics.add(store, name=name)
    registry.register(metrics)
    text, samples = scrape(registry)
    assert 'store="odd \\"store\\" \\\\ with\\na newline"' in text
    assert value(samples, "runsecrets_secrets", store=name) == 0


def test_several_stores_need_several_labels(tmp_path: Path) -> None:
    """The default label is the directories; a second store on the same ones must be named;
    both are then exported, and a registry takes one Metrics only."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _store(tmp_path / "a")
    twin = _store(tmp_path / "a")
    both = SecretStore([tmp_path / "a", tmp_path / "b"], environ={})
    registry, metrics = _registry(first)
    with pytest.raises(ValueError, match="give this one a name="):
        metrics.add(twin)
    assert metrics.add(twin, name="twin") == "twin"
    assert metrics.add(both) == f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"
    assert metrics.add(first) == str(tmp_path / "a")  # already there: its label
    with pytest.raises(ValueError, match="already added"):
        metrics.add(first, name="renamed")
    _, samples = scrape(registry)
    assert len(names_of(samples, "runsecrets_secrets")) == 3
    with pytest.raises(ValueError, match="Duplicated"):
        register(first, registry=registry)


def test_objects_are_held_weakly_and_can_be_removed(tmp_path: Path) -> None:
    """A store dropped by the application drops out of the figures; remove() takes one out."""
    (tmp_path / "a").mkdir()
    kept, dropped = _store(tmp_path), _store(tmp_path / "a")
    registry, metrics = _registry(kept, dropped)
    del dropped
    gc.collect()
    _, samples = scrape(registry)
    assert names_of(samples, "runsecrets_secrets") == [{"store": str(tmp_path)}]
    metrics.remove(kept)
    assert scrape(registry)[1] == {}


def test_unknown_objects_and_misplaced_options_are_refused(tmp_path: Path) -> None:
    """Only stores and their consumers are read; certificates= goes with a store."""
    metrics = Metrics()
    with pytest.raises(TypeError, match="cannot read metrics from a dict"):
        metrics.add({})
    follower = _follower(_store(tmp_path))
    with pytest.raises(ValueError, match="goes with a store"):
        metrics.add(follower, certificates="auto")


def test_a_tls_context_on_a_store_reports_rotations_refusals_and_its_certificate(
    tmp_path: Path, root: Issued
) -> None:
    """The context carries its store's label and its certificate's name; a rotation moves
    rotations_total and the certificate's end date; a key without its certificate is a
    refusal (tls_healthy 0) while the last good certificate's date stays."""
    first, second, third = _leaf(root, 30), _leaf(root, 60), _leaf(root, 90)
    _publish(tmp_path, first)
    store = _store(tmp_path)
    context = RotatingServerContext("tls.crt", "tls.key", store=store, gate_store=False)
    registry = CollectorRegistry()
    metrics = Metrics()
    metrics.add(store, name="web")
    assert metrics.add(context) == "tls.crt"
    registry.register(metrics)
    labels = {"store": "web", "secret": "tls.crt"}
    _, before = scrape(registry)
    assert value(before, "runsecrets_tls_rotations_total", **labels) == 0
    assert value(
        before, "runsecrets_certificate_not_after_timestamp_seconds", **labels
    ) == pytest.approx(first.cert.not_valid_after_utc.timestamp())
    _publish(tmp_path, second)
    store.reload()
    _, rotated = scrape(registry)
    assert value(rotated, "runsecrets_tls_rotations_total", **labels) == 1
    assert value(rotated, "runsecrets_tls_healthy", **labels) == 1
    assert value(
        rotated, "runsecrets_certificate_not_after_timestamp_seconds", **labels
    ) == pytest.approx(second.cert.not_valid_after_utc.timestamp())
    write_rename(tmp_path / "tls.key", key_bytes(third.key), mode=0o600)  # not its cert yet
    store.reload()
    _, refused = scrape(registry)
    assert value(refused, "runsecrets_tls_refusals_total", **labels) == 1
    assert value(refused, "runsecrets_tls_healthy", **labels) == 0
    assert value(
        refused, "runsecrets_certificate_not_after_timestamp_seconds", **labels
    ) == pytest.approx(second.cert.not_valid_after_utc.timestamp())
    context.close()


def test_a_context_with_its_own_store_exports_that_store_too(tmp_path: Path, root: Issued) -> None:
    """A context watching its files itself brings its internal store's figures, under the
    default label of that store."""
    leaf = _leaf(root)
    _publish(tmp_path, leaf)
    with RotatingServerContext(tmp_path / "tls.crt", tmp_path / "tls.key") as context:
        registry, _ = _registry(context)
        assert context.store is not None
        label = os.pathsep.join(context.store.dirs)
        _, samples = scrape(registry)
        assert value(samples, "runsecrets_secrets", store=label) == 2
        assert value(samples, "runsecrets_tls_rotations_total", store=label, secret="tls.crt") == 0


def test_certificate_secrets_of_a_store_are_dated_at_publish(
    tmp_path: Path, root: Issued, caplog: pytest.LogCaptureFixture
) -> None:
    """certificates="auto" dates every certificate secret (a PEM block, or a .crt name); a
    rotation moves the date, a removal drops it, one that does not parse is left out with a
    warning naming it; an explicit list dates only the names listed."""
    first, second = _leaf(root, 30), _leaf(root, 45)
    write_rename(tmp_path / "server-cert", cert_pem(first.cert))  # found by its content
    write_rename(tmp_path / "db_password", "not a certificate")
    store = _store(tmp_path, remove_delay=0)
    registry, metrics = _registry()
    metrics.add(store, certificates="auto")
    label = str(tmp_path)
    _, samples = scrape(registry)
    assert names_of(samples, "runsecrets_certificate_not_after_timestamp_seconds") == [
        {"store": label, "secret": "server-cert"}
    ]
    write_rename(tmp_path / "server-cert", cert_pem(second.cert))
    with caplog.at_level(logging.WARNING, "runsecrets.metrics"):
        write_rename(tmp_path / "broken.crt", b"-----BEGIN CERTIFICATE-----\nnope\n")
        store.reload()
    assert any("broken.crt" in r.getMessage() for r in caplog.records)
    _, rotated = scrape(registry)
    assert value(
        rotated,
        "runsecrets_certificate_not_after_timestamp_seconds",
        store=label,
        secret="server-cert",
    ) == pytest.approx(second.cert.not_valid_after_utc.timestamp())
    assert len(names_of(rotated, "runsecrets_certificate_not_after_timestamp_seconds")) == 1
    (tmp_path / "server-cert").unlink()
    store.reload()
    assert not names_of(scrape(registry)[1], "runsecrets_certificate_not_after_timestamp_seconds")
    listed = _store(tmp_path)
    write_rename(tmp_path / "a.pem", cert_pem(first.cert))
    write_rename(tmp_path / "b.pem", cert_pem(first.cert))
    listed.reload()
    metrics.add(listed, name="listed", certificates=["b.pem"])
    dated = names_of(scrape(registry)[1], "runsecrets_certificate_not_after_timestamp_seconds")
    assert {"store": "listed", "secret": "b.pem"} in dated
    assert {"store": "listed", "secret": "a.pem"} not in dated


def test_certificate_dates_are_derived_from_the_store_and_parse_only_what_changed(
    tmp_path: Path, root: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dates are a value derived from the store (store.derive): committed with the very
    snapshot published, never holding the store back (a certificate that does not parse is no
    refusal), and a publish that leaves a certificate's bytes alone does not parse it again."""
    from runsecrets.tls import _parse

    write_rename(tmp_path / "tls.crt", cert_pem(_leaf(root, 30).cert))
    write_rename(tmp_path / "token", "one")
    store = _store(tmp_path)
    registry, metrics = _registry()
    metrics.add(store, certificates="auto")
    parsed: list[str] = []
    real = _parse.parse_certificates

    def counting(data: bytes, label: str) -> object:
        parsed.append(os.path.basename(label))
        return real(data, label)

    monkeypatch.setattr(_parse, "parse_certificates", counting)
    write_rename(tmp_path / "token", "two")
    store.reload()
    assert parsed == []  # tls.crt unchanged: its date is kept, not worked out again
    write_rename(tmp_path / "tls.crt", b"-----BEGIN CERTIFICATE-----\nnope\n")
    store.reload()
    assert parsed == ["tls.crt"]
    assert store.status.counters["refused"] == 0
    assert store.status.held_back_since is None
    assert store.snapshot.get_bytes("tls.crt").endswith(b"nope\n")  # published all the same
    assert not names_of(scrape(registry)[1], "runsecrets_certificate_not_after_timestamp_seconds")


def test_a_certificate_both_in_a_store_and_served_is_reported_once(
    tmp_path: Path, root: Issued
) -> None:
    """Under the same labels, the served certificate's date wins over the published one."""
    _publish(tmp_path, _leaf(root))
    store = _store(tmp_path)
    context = RotatingServerContext("tls.crt", "tls.key", store=store)
    registry, metrics = _registry()
    metrics.add(store, certificates="auto")
    metrics.add(context)
    _, samples = scrape(registry)
    dated = names_of(samples, "runsecrets_certificate_not_after_timestamp_seconds")
    assert dated == [{"store": str(tmp_path), "secret": "tls.crt"}]
    context.close()


def _settings_class(directory: Path) -> type[SecretsSettings]:
    class AppSettings(SecretsSettings):
        model_config = SettingsConfigDict(secrets_dir=directory)
        token: SecretStr

        @field_validator("token")
        @classmethod
        def long_enough(cls, token: SecretStr) -> SecretStr:
            if len(token.get_secret_value()) < 3:
                raise ValueError("too short")
            return token

    return AppSettings


def test_live_settings_report_reloads_and_refusals(tmp_path: Path) -> None:
    """Settings carry their store's label and their model's name; a change is a reload, a
    value the model refuses a refusal (settings_healthy 0)."""
    write_rename(tmp_path / "token", "first")
    store = _store(tmp_path)
    with live(_settings_class(tmp_path), store=store, gate_store=False) as settings:
        registry, _ = _registry(settings)
        labels = {"store": str(tmp_path), "settings": "AppSettings"}
        write_rename(tmp_path / "token", "second")
        store.reload()
        _, changed = scrape(registry)
        assert value(changed, "runsecrets_settings_reloads_total", **labels) == 1
        assert value(changed, "runsecrets_settings_healthy", **labels) == 1
        write_rename(tmp_path / "token", "x")
        store.reload()
        _, refused = scrape(registry)
        assert value(refused, "runsecrets_settings_refusals_total", **labels) == 1
        assert value(refused, "runsecrets_settings_healthy", **labels) == 0
    store.close()


def _follower(store: SecretStore) -> object:
    from runsecrets.integrations._credentials import CredentialFollower
    from runsecrets.integrations._spec import CredentialSpec

    return CredentialFollower(CredentialSpec("db_password", "db_user"), store=store, label="pool")


def test_credentials_report_connects_failures_and_changes(tmp_path: Path) -> None:
    """A follower's connects, failures (a missing half) and rotations seen are exported
    under its store's label and what it is for."""
    write_rename(tmp_path / "db_user", "app")
    write_rename(tmp_path / "db_password", "pw1")
    store = _store(tmp_path)
    follower = _follower(store)
    registry, _ = _registry(follower)
    labels = {"store": str(tmp_path), "credentials": "pool"}
    follower.credentials()  # type: ignore[attr-defined]
    follower.connects += 1  # type: ignore[attr-defined]  (what a pool's connect hook counts)
    write_rename(tmp_path / "db_password", "pw2")
    store.reload()
    follower.credentials()  # type: ignore[attr-defined]
    _, samples = scrape(registry)
    assert value(samples, "runsecrets_credentials_connects_total", **labels) == 1
    assert value(samples, "runsecrets_credentials_changes_total", **labels) == 1
    assert value(samples, "runsecrets_credentials_failures_total", **labels) == 0
    assert value(samples, "runsecrets_credentials_refusals_total", **labels) == 0
    follower.detach()  # type: ignore[attr-defined]


def test_one_broken_object_leaves_the_rest_of_the_scrape_intact(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A consumer whose figures cannot be read is left out with an error line naming its
    kind and the error type; the store's figures are still there."""

    class Flaky:
        current, last_error, failures, broken = object(), None, 0, False

        @property
        def reloads(self) -> int:
            if self.broken:
                raise RuntimeError("cannot count")
            return 0

    store = _store(tmp_path)
    flaky = Flaky()
    registry, metrics = _registry(store)
    metrics.add(flaky, name="flaky")
    flaky.broken = True
    with caplog.at_level(logging.ERROR, "runsecrets.metrics"):
        _, samples = scrape(registry)
    assert value(samples, "runsecrets_secrets", store=str(tmp_path)) == 0
    assert not names_of(samples, "runsecrets_settings_reloads_total")
    assert "reading a settings failed (RuntimeError)" in caplog.text


def test_the_family_table_is_consistent() -> None:
    """Every family is prefixed, counters end in _total, store is the first label, and the
    names the issue asks for are there."""
    names = {family.name for family in FAMILIES}
    for family in FAMILIES:
        assert family.name.startswith("runsecrets_")
        assert family.name.endswith("_total") == (family.kind == "counter")
        assert family.labels[0] == "store"
    assert {
        "runsecrets_publishes_total",
        "runsecrets_refusals_total",
        "runsecrets_reads_total",
        "runsecrets_last_publish_timestamp_seconds",
        "runsecrets_healthy",
        "runsecrets_secrets",
        "runsecrets_certificate_not_after_timestamp_seconds",
        "runsecrets_watcher_mode",
    } <= names


def test_facts_use_the_metric_names_and_hold_no_value(
    tmp_path: Path, root: Issued, sentinel: str
) -> None:
    """facts() of a store and of a context: the families' names without runsecrets_, 0/1
    gauges as booleans, the mode by name; JSON-ready and free of the planted value."""
    write_rename(tmp_path / "api_token", sentinel)
    _publish(tmp_path, _leaf(root))
    store = _store(tmp_path)
    context = RotatingServerContext("tls.crt", "tls.key", store=store)
    shown = facts(store)
    assert shown["publishes_total"] == 1
    assert shown["secrets"] == 3
    assert shown["healthy"] is True
    assert shown["held_back"] is False
    assert shown["watcher_mode"] == "stopped"
    assert shown["watched"] == [str(tmp_path)]
    store_families = [f for f in FAMILIES if f.labels == ("store",) and "watch_" not in f.name]
    assert {f.name.removeprefix("runsecrets_") for f in store_families} <= shown.keys()
    tls = facts(context)
    assert tls["secret"] == "tls.crt"
    assert tls["tls_healthy"] is True
    assert tls["tls_rotations_total"] == 0
    assert tls["certificate_not_after_timestamp_seconds"] == pytest.approx(
        context.material.not_after.timestamp()
    )
    text = json.dumps([shown, tls])
    assert sentinel not in text
    context.close()


def test_a_scrape_reads_no_file_and_lists_no_directory(tmp_path: Path, root: Issued) -> None:
    """With a watching store, a context, settings and certificate dates registered, 200
    scrapes cause no open or read in the secrets directory (inotify sees every process's),
    and succeed with every open, stat and listing in this process failing."""
    write_rename(tmp_path / "token", "first")
    _publish(tmp_path, _leaf(root))
    store = _store(tmp_path, backup_poll_interval=3600)
    with store, live(_settings_class(tmp_path), store=store) as settings:
        context = RotatingServerContext("tls.crt", "tls.key", store=store)
        registry, metrics = _registry()
        metrics.add(store, certificates="auto")
        metrics.add(context)
        metrics.add(settings)
        scrape(registry)
        with AccessWatch(tmp_path) as watch:
            for _ in range(200):
                scrape(registry)
            assert watch.events() == []

        with disk_forbidden():
            _, samples = scrape(registry)
        assert value(samples, "runsecrets_secrets", store=str(tmp_path)) == 3
        context.close()


def test_no_secret_value_reaches_a_scrape(tmp_path: Path, root: Issued, sentinel: str) -> None:
    """The planted value as a secret, as a secrets file's text beside a certificate, in a
    file name's neighbour and in a refused candidate: never in the exposition."""
    write_rename(tmp_path / "api_token", sentinel)
    leaf = _leaf(root)
    write_rename(tmp_path / "tls.key", key_bytes(leaf.key), mode=0o600)
    write_rename(tmp_path / "tls.crt", f"comment {sentinel}\n".encode() + cert_pem(leaf.cert))

    def refuse_the_sentinel(snapshot: object) -> None:
        if snapshot.get("api_token") == "refuse " + sentinel:  # type: ignore[attr-defined]
            raise ValueError(f"refused {sentinel}")

    store = _store(tmp_path, validate=refuse_the_sentinel)
    context = RotatingServerContext("tls.crt", "tls.key", store=store)
    registry, metrics = _registry()
    metrics.add(store, certificates="auto")
    metrics.add(context)
    write_rename(tmp_path / "api_token", "refuse " + sentinel)
    store.reload()
    text, samples = scrape(registry)
    assert value(samples, "runsecrets_refusals_total", store=str(tmp_path)) == 1
    assert sentinel not in text
    assert sentinel not in json.dumps(facts(store))
    context.close()


def test_importing_metrics_loads_neither_exporter_nor_heavy_library() -> None:
    """runsecrets.metrics imports no prometheus_client, OpenTelemetry, cryptography or
    pydantic; import runsecrets does not import runsecrets.metrics."""
    code = (
        "import sys, runsecrets; assert 'runsecrets.metrics' not in sys.modules; "
        "import runsecrets.metrics; "
        "print(sorted(m for m in ('prometheus_client', 'opentelemetry', 'cryptography', "
        "'pydantic') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_opentelemetry_instruments_observe_the_same_figures(tmp_path: Path) -> None:
    """With the SDK's in-memory reader, each family is an instrument of the same name (a
    counter without _total) whose points carry the labels as attributes and follow the store."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from runsecrets.metrics import instrument

    write_rename(tmp_path / "a", "one")
    store = _store(tmp_path)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = Metrics(store)
    instruments = instrument(metrics, provider.get_meter("test"))
    assert len(instruments) == len(FAMILIES)

    def points() -> dict[str, list[tuple[dict[str, object], float]]]:
        data = reader.get_metrics_data()
        assert data is not None
        found: dict[str, list[tuple[dict[str, object], float]]] = {}
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = [
                        (dict(p.attributes or {}), p.value)  # type: ignore[union-attr]
                        for p in metric.data.data_points
                    ]
        return found

    first = points()
    label = {"store": str(tmp_path)}
    assert first["runsecrets_publishes"] == [(label, 1)]
    assert first["runsecrets_secrets"] == [(label, 1)]
    assert (dict(label, mode="stopped"), 1) in first["runsecrets_watcher_mode"]
    write_rename(tmp_path / "b", "two")
    store.reload()
    second = points()
    assert second["runsecrets_publishes"] == [(label, 2)]
    assert second["runsecrets_secrets"] == [(label, 2)]
    provider.shutdown()
