"""Building ``ssl.SSLContext`` objects from material held in memory.

OpenSSL (through ``ssl``) loads certificates and keys from files only. Reloading the original
files would load whatever is there *now*, not the bytes that were validated (a renewer may have
written a new certificate in between), so the validated bytes are handed over through an
anonymous in-memory file (``memfd``) on Linux, else a private temporary file removed at once.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import sys
import tempfile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


def new_server_context() -> ssl.SSLContext:
    """An empty server context with safe defaults: TLS 1.2 or newer."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    require_tls12(context)
    return context


def require_tls12(context: ssl.SSLContext) -> None:
    """Raise the context's minimum protocol to TLS 1.2 (a higher minimum is kept)."""
    current = context.minimum_version
    if current == ssl.TLSVersion.MINIMUM_SUPPORTED or current < ssl.TLSVersion.TLSv1_2:
        context.minimum_version = ssl.TLSVersion.TLSv1_2


def configure_server(
    context: ssl.SSLContext,
    chain_and_key_pem: bytes,
    ca_pem: str | None,
    *,
    require_client_cert: bool,
) -> None:
    """Load a certificate chain and key into a server context, and the CA for mutual TLS.

    Raises:
        ValueError: ``require_client_cert`` without a CA to check client certificates with.
        ssl.SSLError: OpenSSL refused the material (validated material never is).
    """
    require_tls12(context)
    load_chain_and_key(context, chain_and_key_pem)
    if require_client_cert:
        if not ca_pem:
            raise ValueError("require_client_cert needs a CA to verify client certificates with")
        context.load_verify_locations(cadata=ca_pem)
        context.verify_mode = ssl.CERT_REQUIRED


def new_client_context(ca_pem: str | None, chain_and_key_pem: bytes | None) -> ssl.SSLContext:
    """A client context: TLS 1.2+, certificate and hostname verification on.

    Args:
        ca_pem: The CA to trust; ``None`` trusts the system's default CAs.
        chain_and_key_pem: A client certificate and key to present (mutual TLS), or ``None``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    require_tls12(context)
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if chain_and_key_pem is not None:
        load_chain_and_key(context, chain_and_key_pem)
    return context


def load_chain_and_key(context: ssl.SSLContext, chain_and_key_pem: bytes) -> None:
    """``context.load_cert_chain`` from bytes: the chain's PEM blocks followed by the key's."""
    with _memory_file(chain_and_key_pem) as path:
        context.load_cert_chain(path)


@contextlib.contextmanager
def _memory_file(data: bytes) -> Iterator[str]:
    if sys.platform == "linux" and hasattr(os, "memfd_create"):
        fd = os.memfd_create("runsecrets-tls", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    # Elsewhere: a file only this user can read, in a directory only this user can list.
    directory = tempfile.mkdtemp(prefix="runsecrets-tls-")
    path = os.path.join(directory, "material.pem")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.rmdir(directory)
