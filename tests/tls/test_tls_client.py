"""RotatingClientContext: the client certificate and CA bundle follow rotation, checked on the
server side of real handshakes; a half-written or invalid pair is never presented."""

from __future__ import annotations

import logging
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from runsecrets import InvalidTLSMaterialError, SecretStore
from runsecrets.testing import write_rename
from runsecrets.tls import RotatingClientContext

from .._mtls import client_files, client_leaf, mtls_server_context, server_leaf
from .._pki import (
    DAY,
    KEYS,
    NOW,
    PAIR_WRITER,
    Issued,
    cert_pem,
    key_bytes,
    make_ca,
    new_key,
    stage_pairs,
)
from .._tls_server import TLSServer, fetch_serial, running
from .._waiting import wait_until


@pytest.fixture(scope="module")
def root() -> Issued:
    """The mesh CA: it signs the server's certificate and every client certificate."""
    return make_ca(KEYS.get("ec256-mesh"), "Mesh Root")


@pytest.fixture
def server(tmp_path: Path, root: Issued) -> Iterator[TLSServer]:
    """A server that requires a client certificate from the mesh CA and records each one."""
    context = mtls_server_context(tmp_path / "server", root, server_leaf(root))
    with running(context) as started:
        yield started


def _handshake(server: TLSServer, context: ssl.SSLContext) -> str:
    """One new connection; the serial the client presented, as the server saw it."""
    before = len(server.presented)
    fetch_serial(server.port, context)
    assert wait_until(lambda: len(server.presented) > before, timeout=5)
    return server.presented[-1]


def test_new_connections_present_the_new_certificate_after_a_rotation(
    tmp_path: Path, root: Issued, server: TLSServer
) -> None:
    """The server sees the first client certificate, then the second after reload(); an
    unchanged reload puts nothing new in use."""
    first, second = client_leaf(root), client_leaf(root)
    files = client_files(tmp_path / "client", first, root)
    with RotatingClientContext(*files, watch=False) as context:
        assert context.protocol == ssl.PROTOCOL_TLS_CLIENT
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
        assert _handshake(server, context) == first.serial_hex
        assert not context.reload()
        client_files(tmp_path / "client", second)
        assert context.reload()
        assert _handshake(server, context) == second.serial_hex
        assert context.material.serial_hex == second.serial_hex
        assert (context.rotations, context.refusals, context.last_error) == (1, 0, None)
    assert not server.failures


def test_a_connection_opened_before_a_rotation_keeps_working(tmp_path: Path, root: Issued) -> None:
    """An open connection carries on after a rotation (it was made with the old pair); a new
    one presents the new pair; is_current tells the two apart."""
    first, second = client_leaf(root), client_leaf(root)
    files = client_files(tmp_path / "client", first, root)
    server_context = mtls_server_context(tmp_path / "server", root, server_leaf(root))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def echo(count: int) -> None:
        for _ in range(count):
            raw, _ = listener.accept()
            with server_context.wrap_socket(raw, server_side=True) as tls:
                while data := tls.recv(64):
                    tls.sendall(data)

    thread = threading.Thread(target=echo, args=(2,))
    thread.start()
    with RotatingClientContext(*files, watch=False) as context:
        old = context.wrap_socket(
            socket.create_connection(("127.0.0.1", port)), server_hostname="localhost"
        )
        old.sendall(b"before")
        assert old.recv(64) == b"before"
        client_files(tmp_path / "client", second)
        assert context.reload()
        old.sendall(b"after")
        assert old.recv(64) == b"after"
        assert not context.is_current(old)
        old.close()
        new = context.wrap_socket(
            socket.create_connection(("127.0.0.1", port)), server_hostname="localhost"
        )
        assert context.is_current(new)
        new.sendall(b"new")
        assert new.recv(64) == b"new"
        new.close()
    thread.join(timeout=10)
    listener.close()


def test_a_certificate_written_before_its_key_is_never_presented(
    tmp_path: Path, root: Issued, server: TLSServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Certificate first: key_mismatch, counted, logged at INFO (the normal middle of a
    rotation), the old pair still presented; once the key lands the new pair is."""
    first, second = client_leaf(root), client_leaf(root)
    files = client_files(tmp_path / "client", first, root)
    with RotatingClientContext(*files, watch=False) as context:
        write_rename(files[0], cert_pem(second.cert))
        with (
            caplog.at_level(logging.INFO, "runsecrets.tls"),
            pytest.raises(InvalidTLSMaterialError, match="key_mismatch"),
        ):
            context.reload()
        assert f"still presenting serial {first.serial_hex}" in caplog.text
        assert context.refusals == 1
        assert isinstance(context.last_error, InvalidTLSMaterialError)
        assert _handshake(server, context) == first.serial_hex
        write_rename(files[1], key_bytes(second.key), mode=0o600)
        assert context.reload()
        assert context.last_error is None
        assert _handshake(server, context) == second.serial_hex
    assert not server.failures


def _other_root() -> Issued:
    return make_ca(new_key("ec256"), "Another Root")


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "expired"),
        ("not_yet_valid", "not_yet_valid"),
        ("server_only_eku", "bad_key_usage"),
        ("other_ca", "untrusted_chain"),
    ],
)
def test_invalid_client_material_is_refused_and_the_last_good_pair_stays(
    tmp_path: Path, root: Issued, server: TLSServer, case: str, reason: str
) -> None:
    """Each check applies to a client certificate (dates, clientAuth, the chain to the CA
    bundle): the refused pair is never presented."""
    first = client_leaf(root)
    bad = {
        "expired": lambda: client_leaf(root, not_before=NOW - 30 * DAY, not_after=NOW - DAY),
        "not_yet_valid": lambda: client_leaf(root, not_before=NOW + DAY, not_after=NOW + 9 * DAY),
        "server_only_eku": lambda: client_leaf(root, eku=(ExtendedKeyUsageOID.SERVER_AUTH,)),
        "other_ca": lambda: client_leaf(_other_root()),
    }[case]()
    files = client_files(tmp_path / "client", first, root)
    with RotatingClientContext(*files, watch=False) as context:
        client_files(tmp_path / "client", bad)
        with pytest.raises(InvalidTLSMaterialError) as caught:
            context.reload()
        assert caught.value.reason == reason
        assert context.last_error is caught.value
        assert _handshake(server, context) == first.serial_hex


def test_invalid_material_at_start_raises_with_its_reason(tmp_path: Path, root: Issued) -> None:
    """A server certificate (serverAuth only) is no client certificate: nothing to present."""
    leaf = client_leaf(root, eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    files = client_files(tmp_path / "client", leaf, root)
    with pytest.raises(InvalidTLSMaterialError) as caught:
        RotatingClientContext(*files, watch=False)
    assert caught.value.reason == "bad_key_usage"


def test_the_ca_bundle_rotates_with_the_certificate(tmp_path: Path, root: Issued) -> None:
    """A move to a new CA: before the rotation the new CA's server is not trusted, after it the
    new CA's server is and the old one's is not."""
    new_root = _other_root()
    files = client_files(tmp_path / "client", client_leaf(root), root)
    old_server = mtls_server_context(tmp_path / "old", root, server_leaf(root))
    new_server = mtls_server_context(tmp_path / "new", new_root, server_leaf(new_root))
    with (
        RotatingClientContext(*files, watch=False) as context,
        running(old_server) as old,
        running(new_server) as new,
    ):
        assert fetch_serial(old.port, context)
        with pytest.raises(ssl.SSLCertVerificationError):
            fetch_serial(new.port, context)
        client_files(tmp_path / "client", client_leaf(new_root), new_root)
        assert context.reload()
        assert fetch_serial(new.port, context)
        with pytest.raises(ssl.SSLCertVerificationError):
            fetch_serial(old.port, context)


def test_settings_made_on_the_context_hold_for_every_connection(
    tmp_path: Path, root: Issued
) -> None:
    """ALPN protocols, options and extra CAs set on the context reach the connections before
    and after a rotation; setting the same value again rebuilds nothing."""
    extra_root = _other_root()
    files = client_files(tmp_path / "client", client_leaf(root), root)
    server_context = mtls_server_context(tmp_path / "server", root, server_leaf(root))
    server_context.set_alpn_protocols(["h2", "http/1.1"])
    extra = mtls_server_context(
        tmp_path / "extra", extra_root, server_leaf(extra_root), clients=root
    )
    with (
        RotatingClientContext(*files, watch=False) as context,
        running(server_context) as alpn_server,
        running(extra) as extra_server,
    ):
        context.set_alpn_protocols(["h2"])
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.options |= ssl.OP_NO_TICKET
        context.load_verify_locations(cadata=cert_pem(extra_root.cert).decode())
        inner = context.serving_context
        context.set_alpn_protocols(["h2"])
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        assert context.serving_context is inner  # nothing changed: no rebuild
        assert inner.options & ssl.OP_NO_TICKET

        def connect(port: int) -> tuple[str | None, str | None]:
            raw = socket.create_connection(("127.0.0.1", port))
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                return tls.selected_alpn_protocol(), tls.version()

        assert connect(alpn_server.port) == ("h2", "TLSv1.2")
        assert connect(extra_server.port)[1] == "TLSv1.2"  # the extra CA is trusted
        client_files(tmp_path / "client", client_leaf(root))
        assert context.reload()
        assert context.serving_context is not inner
        assert context.serving_context.options & ssl.OP_NO_TICKET
        assert connect(alpn_server.port) == ("h2", "TLSv1.2")
        assert connect(extra_server.port)[1] == "TLSv1.2"
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # a change after the fact reaches the next one
        raw = socket.create_connection(("127.0.0.1", extra_server.port))
        with context.wrap_socket(raw, server_hostname="not-the-name") as tls:
            assert tls.version()


def test_a_deprecated_option_is_copied_to_each_rotation_without_warning_again(
    tmp_path: Path, root: Issued
) -> None:
    """OP_NO_TLSv1 warns once, where the application sets it; the contexts of later rotations
    take it silently (a warning raised as an error would stop a rotation)."""
    files = client_files(tmp_path / "client", client_leaf(root), root)
    with RotatingClientContext(*files, watch=False) as context:
        with pytest.warns(DeprecationWarning, match="deprecated"):
            context.options |= ssl.OP_NO_TLSv1
        client_files(tmp_path / "client", client_leaf(root))
        assert context.reload()  # warnings are errors in this suite
        assert context.serving_context.options & ssl.OP_NO_TLSv1


def test_load_cert_chain_is_refused(tmp_path: Path, root: Issued) -> None:
    """The certificate is the one the context follows: another cannot be loaded into it."""
    files = client_files(tmp_path / "client", client_leaf(root), root)
    with (
        RotatingClientContext(*files, watch=False) as context,
        pytest.raises(TypeError, match="presents the certificate it follows"),
    ):
        context.load_cert_chain(str(files[0]), str(files[1]))


@pytest.mark.parametrize("order", ["cert-first", "key-first"])
def test_rotation_under_load_never_presents_a_mismatched_pair(
    tmp_path: Path, root: Issued, server: TLSServer, order: str
) -> None:
    """A writer process rotates 8 times, one file then the other; two client threads connect
    all along through the watching context: every handshake succeeds, and the server sees
    whole pairs only, in rotation order, ending on the last one."""
    live, staging = tmp_path / "live", tmp_path / "staging"
    leaves = [client_leaf(root) for _ in range(9)]
    files = client_files(live, leaves[0], root)
    stage_pairs(staging, leaves[1:])
    order_of = {leaf.serial_hex: i for i, leaf in enumerate(leaves)}
    errors: list[BaseException] = []
    tags: list[list[str]] = [[], []]
    stop = threading.Event()

    def connect_forever(context: ssl.SSLContext, mine: list[str]) -> None:
        while not stop.is_set():
            try:
                raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                with raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
                    assert tls.recv(3) == b"ok\n"
                    mine.append(f"{id(mine)}-{len(mine)}")
                    tls.sendall(mine[-1].encode())  # names the connection for the server
            except BaseException as e:  # noqa: BLE001 - every failure is the test's finding
                errors.append(e)

    with RotatingClientContext(*files) as context:
        clients = [threading.Thread(target=connect_forever, args=(context, mine)) for mine in tags]
        for thread in clients:
            thread.start()
        subprocess.run(
            [sys.executable, "-c", PAIR_WRITER, str(staging), str(live), order, "8"],
            check=True,
            timeout=60,
        )
        assert wait_until(lambda: context.material.serial_hex == leaves[-1].serial_hex)
        assert wait_until(lambda: server.presented[-1:] == [leaves[-1].serial_hex])
        stop.set()
        for thread in clients:
            thread.join(timeout=30)
    assert not errors, errors[:3]
    assert not server.failures, server.failures[:3]
    assert wait_until(lambda: len(server.presented_by) == sum(map(len, tags)), timeout=5)
    last = 0
    for mine in tags:
        # KeyError: a serial of no pair. Each thread's connections, in the order it made them,
        # present the pairs in the order they were written.
        positions = [order_of[server.presented_by[tag]] for tag in mine]
        assert positions == sorted(positions)
        last = max(last, positions[-1])
    assert last == 8
    assert context.rotations >= 1
    assert context.last_error is None


def test_follows_an_application_store_that_it_gates(tmp_path: Path, root: Issued) -> None:
    """With a shared store, a certificate written before its key is held back for the store's
    every reader; the pair is published and presented together."""
    first, second = client_leaf(root), client_leaf(root)
    client_files(tmp_path, first, root)
    store = SecretStore(tmp_path, environ={})
    server_context = mtls_server_context(tmp_path / "server", root, server_leaf(root))
    with (
        store,
        RotatingClientContext("tls.crt", "tls.key", "ca.crt", store=store) as context,
        running(server_context) as server,
    ):
        write_rename(tmp_path / "tls.crt", cert_pem(second.cert))
        assert wait_until(lambda: context.last_error is not None)
        assert store.get_bytes("tls.crt") == cert_pem(first.cert)
        assert _handshake(server, context) == first.serial_hex
        write_rename(tmp_path / "tls.key", key_bytes(second.key), mode=0o600)
        assert wait_until(lambda: context.material.serial_hex == second.serial_hex)
        assert _handshake(server, context) == second.serial_hex
    with pytest.raises(ValueError, match="not paths"):
        RotatingClientContext(tmp_path / "tls.crt", "tls.key", store=store)


def test_no_key_material_in_errors_logs_or_repr(
    tmp_path: Path, root: Issued, sentinel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A key file holding the sentinel (a writer's garbage) is refused as parse_error; neither
    the error, the log nor the repr shows it (the conftest hook checks every place)."""
    files = client_files(tmp_path / "client", client_leaf(root), root)
    with RotatingClientContext(*files, watch=False) as context:
        write_rename(files[1], f"-----BEGIN PRIVATE KEY-----\n{sentinel}\n".encode())
        with caplog.at_level(logging.DEBUG), pytest.raises(InvalidTLSMaterialError) as caught:
            context.reload()
        assert caught.value.reason in ("parse_error", "key_mismatch")
        assert sentinel not in repr(context)
        assert sentinel not in str(context.last_error)


def _s_server(tmp_path: Path, root: Issued) -> subprocess.Popen[bytes]:
    """``openssl s_server -Verify 1 -verify_return_error -www`` on a free port."""
    from .._pki import write_material
    from .._postgres import free_port

    cert, key, ca = write_material(tmp_path / "s_server", server_leaf(root), root)
    assert ca is not None
    port = free_port()
    command = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(cert),
               "-key", str(key), "-CAfile", str(ca), "-Verify", "1", "-verify_return_error",
               "-www"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process.port = port  # type: ignore[attr-defined]
    return process


def _page(port: int, context: ssl.SSLContext) -> str:
    """The -www page s_server answers with: it prints the client certificate it verified."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def _presented(page: str) -> str:
    match = re.search(r"Client certificate.*?Serial Number: \d+ \(0x([0-9a-f]+)\)", page, re.S)
    assert match, page[-1500:]
    return match.group(1).upper()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_openssl_s_server_verifies_each_presented_certificate(tmp_path: Path, root: Issued) -> None:
    """An outside peer that requires and verifies client certificates (openssl s_server
    -Verify) sees the first pair, still the first during a half-written rotation, then the
    second."""
    first, second = client_leaf(root), client_leaf(root)
    files = client_files(tmp_path / "client", first, root)
    process = _s_server(tmp_path, root)
    try:
        with RotatingClientContext(*files, watch=False) as context:
            assert wait_until(lambda: _connects(process.port), timeout=10)  # type: ignore[attr-defined]
            assert _presented(_page(process.port, context)) == first.serial_hex  # type: ignore[attr-defined]
            write_rename(files[0], cert_pem(second.cert))
            with pytest.raises(InvalidTLSMaterialError):
                context.reload()
            assert _presented(_page(process.port, context)) == first.serial_hex  # type: ignore[attr-defined]
            write_rename(files[1], key_bytes(second.key), mode=0o600)
            assert context.reload()
            assert _presented(_page(process.port, context)) == second.serial_hex  # type: ignore[attr-defined]
    finally:
        process.terminate()
        process.wait(timeout=10)


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
