"""A server ``ssl.SSLContext`` that follows the rotation of its certificate, key and CA.

How the swap works: OpenSSL calls the SNI callback early in every handshake (with or without a
server name from the client), and the callback may set ``sslsocket.context``: the connection
then uses that context's certificate and key. So this context never reloads itself (a failed
``load_cert_chain`` on a live context leaves it broken); each validated rotation builds a new
context from the validated bytes, and the callback points *new* handshakes at the latest one.
Handshakes in flight keep the context they started with.

Where new material comes from (a :class:`~runsecrets.SecretStore`, whose derived value the
context then is, or the files read on :meth:`RotatingServerContext.reload`) and when it is put
in service is the job of ``_follow.MaterialFollower``, shared with the client context and
gRPC's server certificates.
"""

from __future__ import annotations

import ssl

from .._scrub import scrub_errors
from ._context import copy_options
from ._follow import FollowsRotation, MaterialFollower, Role
from ._material import DEFAULT_MIN_VALID_DAYS, TLSMaterial
from ._source import material_source

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable, Iterable

    from .._secrets import Secrets
    from ..reload.store import SecretStore
    from ._source import Spec

_ROLE = Role("TLS certificate", "serving", "TLS material")


class RotatingServerContext(FollowsRotation, ssl.SSLContext):
    """A server ``ssl.SSLContext`` whose certificate follows rotation, without a restart.

    Use it wherever a server takes an ``ssl.SSLContext``: ``http.server`` (``wrap_socket``),
    ``asyncio.start_server(ssl=...)``, uvicorn (``Config.ssl``), gunicorn (its ``ssl_context``
    hook). New handshakes get the newest material that passed every check of
    :func:`runsecrets.tls.load`; a certificate and key written at different moments are never
    served as a mismatched pair: the last good pair is served until a consistent one appears.

    Args:
        cert: The certificate (chain): a secret name or a path, as for ``load``.
        key: The private key (``None``: in the certificate file).
        ca: The CA bundle (checked against; used to verify client certificates).
        password: The secret or file holding the key's passphrase.
        host: A name or address every new certificate must be valid for.
        require_client_cert: Mutual TLS: require client certificates issued by ``ca``.
        min_valid_days: Fewer days left than this is logged as a warning on each rotation.
        secrets: The resolver for secret names (default ``Secrets()``).
        store: Follow this :class:`~runsecrets.SecretStore` (it must track the secret names
            given; paths are then not allowed). You start and close it.
        watch: Without ``store``: follow the files with an internal store started now (stop it
            with :meth:`close`). ``False``: change only on :meth:`reload`.
        gate_store: With ``store``: a candidate this context refuses is held back by the store
            (the context is a gated derived value of it), so that the store itself never
            publishes a certificate without its key (nor other invalid material) to any of its
            readers; a held-back candidate holds back the store's other secrets too until it is
            completed. ``False``: only this context refuses it. An internal store is always
            gated.
        clock: Returns the time to check validity at (timezone-aware); default: now.

    Raises:
        InvalidTLSMaterialError: The material at start-up is invalid (nothing to serve).
        SecretNotFoundError, SecretReadError: It cannot be read at start-up.
    """

    def __new__(cls, *args: object, **kwargs: object) -> RotatingServerContext:
        # ssl.SSLContext.__new__ takes the protocol as its first argument: ours are the specs.
        return super().__new__(cls, ssl.PROTOCOL_TLS_SERVER)

    @scrub_errors
    def __init__(
        self,
        cert: Spec,
        key: Spec | None = None,
        ca: Spec | None = None,
        *,
        password: Spec | None = None,
        host: str | None = None,
        require_client_cert: bool = False,
        min_valid_days: int = DEFAULT_MIN_VALID_DAYS,
        secrets: Secrets | None = None,
        store: SecretStore | None = None,
        watch: bool = True,
        gate_store: bool = True,
        clock: Callable[[], datetime.datetime] | None = None,
    ) -> None:
        super().__init__()
        source = material_source(cert, key, ca, password, secrets=secrets, store=store, watch=watch)
        self._require_client_cert = require_client_cert
        self._alpn_protocols: list[str] | None = None
        # This context serves the first material itself; rotations get contexts of their own.
        self._follow: MaterialFollower[ssl.SSLContext] = MaterialFollower(
            source,
            self._new_context,
            first=self._serve_first,
            purpose="server",
            host=host,
            min_valid_days=min_valid_days,
            gate_store=gate_store,
            clock=clock,
            role=_ROLE,
        )
        self.sni_callback = self._choose_context

    # ----------------------------------------------------------------------------- public
    @property
    def serving_context(self) -> ssl.SSLContext:
        """The context new handshakes are switched to (``self`` until the first rotation)."""
        return self._follow.value

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        """As ``ssl.SSLContext.set_alpn_protocols``, kept for the contexts of later rotations
        (OpenSSL picks the ALPN protocol with the context a connection was switched to)."""
        protocols = list(alpn_protocols)
        super().set_alpn_protocols(protocols)
        self._alpn_protocols = protocols

    # ---------------------------------------------------------------------------- internals
    def _choose_context(
        self, connection: ssl.SSLSocket | ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        serving = self._follow.value
        if serving is not self:
            connection.context = serving

    def _serve_first(self, material: TLSMaterial) -> ssl.SSLContext:
        material.configure_server(self, require_client_cert=self._require_client_cert)
        return self

    def _new_context(self, material: TLSMaterial) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # What a server may have tuned on this context and OpenSSL reads from the switched one.
        copy_options(self, context)
        context.minimum_version = self.minimum_version
        context.maximum_version = self.maximum_version
        if self._alpn_protocols is not None:
            context.set_alpn_protocols(self._alpn_protocols)
        material.configure_server(context, require_client_cert=self._require_client_cert)
        return context
