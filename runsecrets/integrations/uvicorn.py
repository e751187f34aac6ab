"""uvicorn: serve TLS with a certificate that follows rotation, in every worker.

::

    import uvicorn
    from runsecrets.integrations.uvicorn import ssl_context_factory

    uvicorn.run("app:app", host="0.0.0.0", port=8443, workers=2,
                ssl_context_factory=ssl_context_factory("tls.crt", "tls.key"))

uvicorn (0.47 or later) calls the factory in each worker process; each builds one
:class:`~runsecrets.tls.RotatingServerContext` with its own watcher, so a renewed certificate is
served by new handshakes in every worker without a restart, and a certificate whose key has
not been written yet is never served.
"""

from __future__ import annotations

from ._tls_per_process import PerProcessContext

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ssl_context_factory"]


def ssl_context_factory(
    cert: str, key: str | None = None, ca: str | None = None, **options: Any
) -> PerProcessContext:
    """A value for uvicorn's ``ssl_context_factory`` that follows certificate rotation.

    Args:
        cert: The certificate (chain): a secret name (``tls.crt``) or a path.
        key: The private key, likewise (``None``: in the certificate file).
        ca: A CA bundle to check the chain against (and to verify client certificates).
        **options: More arguments for :class:`~runsecrets.tls.RotatingServerContext`
            (``host``, ``require_client_cert``, ``secrets``, ...).
    """
    # A picklable object, not a closure: uvicorn pickles its config for spawned workers.
    return PerProcessContext(cert, key, ca, **options)
