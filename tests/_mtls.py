"""Mutual-TLS material for the client tests: one CA, a server for localhost that requires client
certificates, and client certificates made fresh for each rotation."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography.x509.oid import ExtendedKeyUsageOID

from ._pki import Issued, cert_pem, make_leaf, new_key, publish_material, write_material


def client_leaf(root: Issued, **kwargs: object) -> Issued:
    """A fresh EC client certificate (``clientAuth``, no names) signed by ``root``."""
    options: dict[str, object] = {"names": (), "eku": (ExtendedKeyUsageOID.CLIENT_AUTH,)}
    options.update(kwargs)
    return make_leaf(root, new_key("ec256"), **options)  # type: ignore[arg-type]


def server_leaf(root: Issued) -> Issued:
    """A fresh EC server certificate for localhost and 127.0.0.1."""
    return make_leaf(root, new_key("ec256"))


def mtls_server_context(
    directory: Path, root: Issued, leaf: Issued, *, clients: Issued | None = None
) -> ssl.SSLContext:
    """A plain server context serving ``leaf`` that requires client certificates from
    ``clients`` (default: ``root``)."""
    cert, key, _ = write_material(directory, leaf, prefix="server-")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(cadata=cert_pem((clients or root).cert).decode())
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_files(directory: Path, leaf: Issued, root: Issued | None = None) -> tuple[Path, ...]:
    """Write ``tls.crt``, ``tls.key`` (and ``ca.crt``) as a renewer does; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    publish_material(directory, leaf, root)
    return directory / "tls.crt", directory / "tls.key", directory / "ca.crt"
