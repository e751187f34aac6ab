"""gRPC: ServerCertificates behind grpc.dynamic_ssl_server_credentials, with a real gRPC server
and real gRPC clients over loopback: rotated certificates and client CAs (mutual TLS) taken
without a restart, a half-written pair never served."""

from __future__ import annotations

import socket
import ssl
import tempfile
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from runsecrets import InvalidTLSMaterialError
from runsecrets.integrations.grpc import ServerCertificates
from runsecrets.testing import write_rename

from .._mtls import client_leaf, server_leaf
from .._pki import (
    KEYS,
    Issued,
    cert_pem,
    key_bytes,
    make_ca,
    new_key,
    publish_material,
    write_material,
)
from .._tls_server import serial_of
from .._waiting import wait_until

_METHOD = "/runsecrets.test.Peer/Who"


def _who(request: bytes, context: grpc.ServicerContext) -> bytes:
    """Answers with the serial of the client certificate the connection presented."""
    pem = context.auth_context().get("x509_pem_cert")
    if not pem:
        return b"none"
    return format(x509.load_pem_x509_certificate(pem[0]).serial_number, "X").encode()


@contextmanager
def grpc_server(credentials: grpc.ServerCredentials) -> Iterator[int]:
    """A gRPC server on 127.0.0.1 with one method; its port."""
    executor = futures.ThreadPoolExecutor(max_workers=2)
    server = grpc.server(executor)
    handler = grpc.unary_unary_rpc_method_handler(_who)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("runsecrets.test.Peer", {"Who": handler}),)
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield port
    finally:
        server.stop(None).wait()
        executor.shutdown(wait=True)


@contextmanager
def channel(port: int, root: Issued, client: Issued | None = None) -> Iterator[grpc.Channel]:
    """A gRPC client channel trusting ``root``, presenting ``client`` when given."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=cert_pem(root.cert),
        private_key=key_bytes(client.key) if client else None,
        certificate_chain=cert_pem(client.cert) if client else None,
    )
    opened = grpc.secure_channel(
        f"127.0.0.1:{port}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    )
    try:
        yield opened
    finally:
        opened.close()


def _call(opened: grpc.Channel) -> bytes:
    answer: bytes = opened.unary_unary(_METHOD)(b"", timeout=10)
    return answer


def _served(port: int, root: Issued, client: Issued | None = None) -> str:
    """The serial of the certificate the server presents to a new connection (a plain TLS
    handshake with ALPN h2, as a gRPC client makes)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=cert_pem(root.cert).decode())
    context.set_alpn_protocols(["h2"])
    if client is not None:
        with tempfile.TemporaryDirectory() as tmp:
            cert, key, _ = write_material(Path(tmp), client)
            context.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
    return serial_of(der)


@pytest.fixture(scope="module")
def root() -> Issued:
    """The CA of the server's certificates and of the clients'."""
    return make_ca(KEYS.get("ec256-grpc"), "gRPC Root")


def _paths(directory: Path) -> tuple[Path, Path, Path]:
    return directory / "tls.crt", directory / "tls.key", directory / "ca.crt"


def test_a_rotated_certificate_is_served_to_new_connections(tmp_path: Path, root: Issued) -> None:
    """After reload(), a new connection is served the new certificate and calls succeed on it;
    a channel opened before keeps working."""
    first, second = server_leaf(root), server_leaf(root)
    publish_material(tmp_path, first, root)
    with (
        ServerCertificates(*_paths(tmp_path), watch=False) as certificates,
        grpc_server(certificates.credentials()) as port,
        channel(port, root) as before,
    ):
        assert _call(before) == b"none"
        assert _served(port, root) == first.serial_hex
        publish_material(tmp_path, second)
        assert certificates.reload()
        assert _served(port, root) == second.serial_hex
        with channel(port, root) as after:
            assert _call(after) == b"none"
        assert _call(before) == b"none"
        assert certificates.rotations == 1


def test_a_certificate_without_its_key_is_never_served(tmp_path: Path, root: Issued) -> None:
    """Certificate first: refused (key_mismatch), the old pair served; then both: the new."""
    first, second = server_leaf(root), server_leaf(root)
    publish_material(tmp_path, first, root)
    with (
        ServerCertificates(*_paths(tmp_path), watch=False) as certificates,
        grpc_server(certificates.credentials()) as port,
    ):
        write_rename(tmp_path / "tls.crt", cert_pem(second.cert))
        with pytest.raises(InvalidTLSMaterialError, match="key_mismatch"):
            certificates.reload()
        assert certificates.refusals == 1
        assert _served(port, root) == first.serial_hex
        with channel(port, root) as opened:
            assert _call(opened) == b"none"
        write_rename(tmp_path / "tls.key", key_bytes(second.key), mode=0o600)
        assert certificates.reload()
        assert _served(port, root) == second.serial_hex


def test_mutual_tls_with_client_cas_that_rotate(tmp_path: Path, root: Issued) -> None:
    """require_client_cert: a client of the CA in service gets in (the server sees its
    certificate), one without a certificate does not; after a move to a new CA, its clients
    get in and the old CA's do not."""
    new_root = make_ca(new_key("ec256"), "gRPC Root 2")
    old_client, new_client = client_leaf(root), client_leaf(new_root)
    publish_material(tmp_path, server_leaf(root), root)
    with (
        ServerCertificates(*_paths(tmp_path), require_client_cert=True, watch=False) as certs,
        grpc_server(certs.credentials()) as port,
    ):
        with channel(port, root, old_client) as opened:
            assert _call(opened) == old_client.serial_hex.encode()
        with channel(port, root) as anonymous, pytest.raises(grpc.RpcError):
            _call(anonymous)
        publish_material(tmp_path, server_leaf(new_root), new_root)
        assert certs.reload()
        with channel(port, new_root, new_client) as opened:
            assert _call(opened) == new_client.serial_hex.encode()
        with channel(port, new_root, old_client) as refused, pytest.raises(grpc.RpcError):
            _call(refused)


def test_a_watched_rotation_needs_no_reload(tmp_path: Path, root: Issued) -> None:
    """With the internal store watching, a renewer's rename reaches new connections alone."""
    first, second = server_leaf(root), server_leaf(root)
    publish_material(tmp_path, first, root)
    with (
        ServerCertificates(*_paths(tmp_path)) as certificates,
        grpc_server(certificates.credentials()) as port,
    ):
        publish_material(tmp_path, second)
        assert wait_until(lambda: certificates.material.serial_hex == second.serial_hex)
        assert _served(port, root) == second.serial_hex
        with channel(port, root) as opened:
            assert _call(opened) == b"none"


def test_the_fetcher_answers_only_news(tmp_path: Path, root: Issued) -> None:
    """A fetcher hands out the configuration in service once, then None until a rotation."""
    publish_material(tmp_path, server_leaf(root), root)
    with ServerCertificates(*_paths(tmp_path), watch=False) as certificates:
        fetch = certificates.fetcher()
        assert fetch() is certificates.configuration
        assert fetch() is None
        publish_material(tmp_path, server_leaf(root))
        certificates.reload()
        assert fetch() is certificates.configuration
        assert fetch() is None


def test_client_certificates_need_a_ca(tmp_path: Path, root: Issued) -> None:
    """require_client_cert without a CA is a ValueError, before anything is read."""
    with pytest.raises(ValueError, match="needs a CA"):
        ServerCertificates("tls.crt", "tls.key", require_client_cert=True)
