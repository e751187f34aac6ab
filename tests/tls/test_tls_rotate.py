"""RotatingServerContext: live rotation under real handshakes, never a mismatched pair."""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from runsecrets import InvalidTLSMaterialError, Secrets, SecretStore
from runsecrets.testing import write_rename
from runsecrets.tls import RotatingServerContext, load

from .._pki import (
    DAY,
    KEYS,
    NOW,
    Issued,
    cert_pem,
    client_trusting,
    key_bytes,
    make_ca,
    make_leaf,
    new_key,
    publish_material,
)
from .._tls_server import fetch_serial, running


@pytest.fixture(scope="module")
def root() -> Issued:
    """An EC root CA (fast to sign with)."""
    return make_ca(KEYS.get("ec256-root"), "Rotation Root")


def _leaf(root: Issued, **kwargs: object) -> Issued:
    return make_leaf(root, new_key("ec256"), **kwargs)  # type: ignore[arg-type]


def _paths(directory: Path) -> tuple[Path, Path, Path]:
    return directory / "tls.crt", directory / "tls.key", directory / "ca.crt"


def test_reload_swaps_to_new_valid_material(tmp_path: Path, root: Issued) -> None:
    """A real server's next handshake gets the new serial after reload(); an unchanged reload
    swaps nothing."""
    first, second = _leaf(root), _leaf(root)
    publish_material(tmp_path, first, root)
    context = RotatingServerContext(*_paths(tmp_path), watch=False)
    with running(context) as server:
        assert fetch_serial(server.port, client_trusting(root)) == first.serial_hex
        assert not context.reload()  # nothing changed
        publish_material(tmp_path, second)
        assert context.reload()
        assert fetch_serial(server.port, client_trusting(root)) == second.serial_hex
        assert context.rotations == 1
        assert not server.failures


def test_invalid_new_material_is_refused_and_the_last_good_kept(
    tmp_path: Path, root: Issued, caplog: pytest.LogCaptureFixture
) -> None:
    """An expired certificate is refused (reason, log, counters) and the good one keeps serving."""
    good = _leaf(root)
    publish_material(tmp_path, good, root)
    context = RotatingServerContext(*_paths(tmp_path), watch=False)
    expired = _leaf(root, not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    with running(context) as server:
        publish_material(tmp_path, expired)
        with (
            caplog.at_level(logging.WARNING, "runsecrets.tls"),
            pytest.raises(InvalidTLSMaterialError) as caught,
        ):
            context.reload()
        assert caught.value.reason == "expired"
        assert "still serving serial " + good.serial_hex in caplog.text
        assert context.refusals == 1
        assert context.last_error is caught.value
        assert fetch_serial(server.port, client_trusting(root)) == good.serial_hex
        assert not server.failures


def test_certificate_written_before_its_key_is_not_served_until_the_key_arrives(
    tmp_path: Path, root: Issued
) -> None:
    """A new certificate with the old key fails key_mismatch; the old pair serves until the key
    lands."""
    first, second = _leaf(root), _leaf(root)
    publish_material(tmp_path, first, root)
    context = RotatingServerContext(*_paths(tmp_path), watch=False)
    with running(context) as server:
        write_rename(tmp_path / "tls.crt", cert_pem(second.cert))
        with pytest.raises(InvalidTLSMaterialError, match="key_mismatch"):
            context.reload()
        assert fetch_serial(server.port, client_trusting(root)) == first.serial_hex
        write_rename(tmp_path / "tls.key", key_bytes(second.key))
        assert context.reload()
        assert fetch_serial(server.port, client_trusting(root)) == second.serial_hex


def test_invalid_material_at_start_raises(tmp_path: Path, root: Issued) -> None:
    """With nothing valid to serve, construction raises with the reason code."""
    good = _leaf(root)
    publish_material(tmp_path, good, root)
    with pytest.raises(InvalidTLSMaterialError) as caught:
        RotatingServerContext(*_paths(tmp_path), host="example.org", watch=False)
    assert caught.value.reason == "hostname_mismatch"


_WRITER = """
import sys, time
from pathlib import Path
from runsecrets.testing import write_rename
staging, live, order, count = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
for i in range(count):
    cert = (staging / f"{i}.crt").read_bytes()
    key = (staging / f"{i}.key").read_bytes()
    steps = [("tls.crt", cert), ("tls.key", key)]
    if order == "key-first":
        steps.reverse()
    for name, data in steps:
        write_rename(live / name, data)
        time.sleep(0.03)  # the two files land at clearly different moments
    time.sleep(0.05)
"""


@pytest.mark.parametrize("order", ["cert-first", "key-first"])
def test_files_written_at_different_moments_are_never_served_mismatched(
    tmp_path: Path, root: Issued, order: str
) -> None:
    """A writer process rotates 8 times, one file then the other; two client threads handshake
    all along: every handshake succeeds and is served a serial of a real, whole pair."""
    live, staging = tmp_path / "live", tmp_path / "staging"
    live.mkdir()
    staging.mkdir()
    leaves = [_leaf(root) for _ in range(9)]
    publish_material(live, leaves[0], root)
    for i, leaf in enumerate(leaves[1:]):
        (staging / f"{i}.crt").write_bytes(cert_pem(leaf.cert))
        (staging / f"{i}.key").write_bytes(key_bytes(leaf.key))
    known = {leaf.serial_hex for leaf in leaves}
    seen: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def handshake_forever() -> None:
        client = client_trusting(root)
        while not stop.is_set():
            try:
                seen.append(fetch_serial(server.port, client))
            except BaseException as e:  # noqa: BLE001 - every failure is the test's finding
                errors.append(e)

    with (
        RotatingServerContext(*_paths(live)) as context,
        running(context) as server,
    ):
        clients = [threading.Thread(target=handshake_forever) for _ in range(2)]
        for thread in clients:
            thread.start()
        writer = subprocess.run(
            [sys.executable, "-c", _WRITER, str(staging), str(live), order, "8"],
            check=True,
            timeout=60,
        )
        assert writer.returncode == 0
        _wait_until(lambda: context.material.serial_hex == leaves[-1].serial_hex)
        stop.set()
        for thread in clients:
            thread.join(timeout=30)
        assert not errors, errors[:3]
        assert not server.failures, server.failures[:3]
        assert set(seen) <= known
        assert seen[-1] == leaves[-1].serial_hex
        assert context.rotations >= 1
        # The half-written states were seen (8 of them, 30 ms each) and refused, not served.
        assert context.refusals >= 1
        # Every refusal on the way was a half-written pair, never served.
        assert context.last_error is None


def _wait_until(condition: object, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_follows_an_external_store_by_secret_names(tmp_path: Path, root: Issued) -> None:
    """A store the application runs drives rotation by secret names; paths are refused with it."""
    first, second = _leaf(root), _leaf(root)
    publish_material(tmp_path, first, root)
    store = SecretStore(tmp_path, environ={})
    with (
        store,
        RotatingServerContext("tls.crt", "tls.key", "ca.crt", store=store) as context,
        running(context) as server,
    ):
        assert fetch_serial(server.port, client_trusting(root)) == first.serial_hex
        publish_material(tmp_path, second)
        _wait_until(lambda: context.material.serial_hex == second.serial_hex)
        assert fetch_serial(server.port, client_trusting(root)) == second.serial_hex
    with pytest.raises(ValueError, match="not paths"):
        RotatingServerContext(tmp_path / "tls.crt", "tls.key", store=store)


def test_secret_names_with_an_internal_store(tmp_path: Path, root: Issued) -> None:
    """Names resolved as usual (a _FILE variable here) are followed like paths are."""
    first, second = _leaf(root), _leaf(root)
    publish_material(tmp_path, first, root)
    secrets = Secrets(tmp_path, environ={"SITE_KEY_FILE": str(tmp_path / "tls.key")})
    with RotatingServerContext("tls.crt", "site_key", secrets=secrets) as context:
        publish_material(tmp_path, second)
        _wait_until(lambda: context.material.serial_hex == second.serial_hex)


def test_asyncio_server_rotates_without_restart(tmp_path: Path, root: Issued) -> None:
    """asyncio.start_server(ssl=context) serves the new certificate after a rotation, no restart."""
    first, second = _leaf(root), _leaf(root)
    publish_material(tmp_path, first, root)
    context = RotatingServerContext(*_paths(tmp_path), watch=False)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok\n")
        await writer.drain()
        await reader.read(16)
        writer.close()

    async def scenario() -> list[str]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        client = client_trusting(root)
        serials = [await asyncio.to_thread(fetch_serial, port, client)]
        publish_material(tmp_path, second)
        context.reload()
        serials.append(await asyncio.to_thread(fetch_serial, port, client))
        server.close()
        await server.wait_closed()
        return serials

    assert asyncio.run(scenario()) == [first.serial_hex, second.serial_hex]


def test_mutual_tls_requires_a_client_certificate_from_the_ca(tmp_path: Path, root: Issued) -> None:
    """Mutual TLS: a client without a certificate is refused, before and after a rotation."""
    publish_material(tmp_path, _leaf(root), root)
    context = RotatingServerContext(*_paths(tmp_path), require_client_cert=True, watch=False)
    client_leaf = _leaf(root, names=(), eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    (client_dir / "c.crt").write_bytes(cert_pem(client_leaf.cert))
    (client_dir / "c.key").write_bytes(key_bytes(client_leaf.key))
    (client_dir / "ca.crt").write_bytes(cert_pem(root.cert))
    material = load(
        client_dir / "c.crt", client_dir / "c.key", client_dir / "ca.crt", purpose="client"
    )
    with running(context) as server:
        assert fetch_serial(server.port, material.client_context())
        with pytest.raises((ssl.SSLError, ConnectionError)):
            fetch_serial(server.port, material.client_context(present_certificate=False))
        publish_material(tmp_path, _leaf(root))
        assert context.reload()
        # After the swap the new context still demands (and checks) client certificates.
        assert fetch_serial(server.port, material.client_context())
        with pytest.raises((ssl.SSLError, ConnectionError)):
            fetch_serial(server.port, material.client_context(present_certificate=False))


def test_a_gated_store_never_publishes_a_certificate_without_its_key(
    tmp_path: Path, root: Issued
) -> None:
    """With a shared store, the context's checks run as the store's validator: a certificate
    written before its key is held back for every reader of the store, not only for the
    server; once the key arrives both are published together and served."""
    first, second = _leaf(root), _leaf(root)
    publish_material(tmp_path, first, root)
    store = SecretStore(tmp_path, environ={})
    published: list[frozenset[str]] = []
    store.subscribe(lambda changes: published.append(frozenset(changes.changed)))
    with (
        store,
        RotatingServerContext("tls.crt", "tls.key", "ca.crt", store=store) as context,
        running(context) as server,
    ):
        write_rename(tmp_path / "tls.crt", cert_pem(second.cert))
        _wait_until(lambda: store.status.last_error is not None)
        assert store.get_bytes("tls.crt") == cert_pem(first.cert)
        assert isinstance(context.last_error, InvalidTLSMaterialError)
        assert context.last_error.reason == "key_mismatch"
        assert published == []
        write_rename(tmp_path / "tls.key", key_bytes(second.key), mode=0o600)
        _wait_until(lambda: context.material.serial_hex == second.serial_hex)
        assert published == [frozenset({"tls.crt", "tls.key"})]
        assert fetch_serial(server.port, client_trusting(root)) == second.serial_hex
    assert not store._publisher.derivations  # closing the context stopped its builds


def test_an_ungated_store_publishes_what_only_the_context_refuses(
    tmp_path: Path, root: Issued
) -> None:
    """``gate_store=False``: the store's other readers see the new certificate at once; the
    server keeps serving the last good pair until the key arrives."""
    first, second = _leaf(root), _leaf(root)
    publish_material(tmp_path, first, root)
    store = SecretStore(tmp_path, environ={})
    with (
        store,
        RotatingServerContext(
            "tls.crt", "tls.key", "ca.crt", store=store, gate_store=False
        ) as context,
    ):
        write_rename(tmp_path / "tls.crt", cert_pem(second.cert))
        _wait_until(lambda: store.get_bytes("tls.crt") == cert_pem(second.cert))
        _wait_until(lambda: context.last_error is not None)
        assert context.material.serial_hex == first.serial_hex


def test_the_resolvers_rules_reach_the_internal_store_whole(tmp_path: Path) -> None:
    """The store a context builds from a resolver reads by the resolver's very rules (finding
    19 of the hardening issue): every field of ``ReadingRules``, set away from its default
    here, arrives unchanged; only the environment is layered (the paths given as parts)."""
    from runsecrets._rules import ReadingRules
    from runsecrets.tls._rotate import store_for_specs

    environ = {"OTHER": "x"}
    chosen: dict[str, object] = {
        "dirs": (str(tmp_path),),
        "environ": environ,
        "prefix": "APP_",
        "sources": ("directory", "environment", "file_variable"),
        "case_sensitive": False,
        "max_size": 1_000_000,
        "strip": False,
        "allow_external_links": True,
    }
    assert set(chosen) == set(ReadingRules.FIELDS)  # a new field must be added here too
    defaults = ReadingRules(environ={})
    assert all(getattr(defaults, f) != v for f, v in chosen.items() if f != "environ")
    resolver = Secrets(**chosen)  # type: ignore[arg-type]
    (tmp_path / "tls.key").write_text("k")
    source = store_for_specs({"cert": tmp_path / "tls.crt", "key": "tls.key"}, resolver)
    try:
        rules = source.store.rules
        for field in ReadingRules.FIELDS:
            if field != "environ":
                assert getattr(rules, field) == getattr(resolver.rules, field), field
        assert rules.environ["OTHER"] == "x"  # the resolver's environment, read through
    finally:
        source.close()


@pytest.mark.parametrize("option", ["allow_external_links", "case_sensitive"])
def test_a_context_reads_what_its_resolver_reads(tmp_path: Path, root: Issued, option: str) -> None:
    """A resolver that follows a link out of its directory, or matches a name without case:
    the rotating context over it (an internal store) takes the same material (it used to
    refuse the link and miss the file), and follows its rotation."""
    first, second = _leaf(root), _leaf(root)
    secrets_dir, outside = tmp_path / "secrets", tmp_path / "renewer"
    secrets_dir.mkdir()
    outside.mkdir()
    publish_material(outside, first, root)
    if option == "allow_external_links":
        for name in ("tls.crt", "tls.key"):
            (secrets_dir / name).symlink_to(outside / name)
        resolver = Secrets(secrets_dir, environ={}, allow_external_links=True)
    else:
        publish_material(secrets_dir, first, root)
        for name in ("tls.crt", "tls.key"):
            (secrets_dir / name).rename(secrets_dir / name.upper())
        resolver = Secrets(secrets_dir, environ={}, case_sensitive=False)
    assert resolver.get_bytes("tls.crt") == cert_pem(first.cert)
    with RotatingServerContext("tls.crt", "tls.key", secrets=resolver) as context:
        assert context.material.serial_hex == first.serial_hex
        target = outside if option == "allow_external_links" else secrets_dir
        write_rename(
            target / ("tls.crt" if target is outside else "TLS.CRT"), cert_pem(second.cert)
        )
        write_rename(
            target / ("tls.key" if target is outside else "TLS.KEY"), key_bytes(second.key)
        )
        _wait_until(lambda: context.material.serial_hex == second.serial_hex)
