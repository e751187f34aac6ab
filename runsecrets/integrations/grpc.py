"""gRPC servers: a certificate (and, for mutual TLS, client CAs) that follows rotation.

::

    from concurrent import futures

    import grpc
    from runsecrets.integrations.grpc import ServerCertificates

    certificates = ServerCertificates("tls.crt", "tls.key", "ca.crt", require_client_cert=True)
    server = grpc.server(futures.ThreadPoolExecutor())
    server.add_secure_port("[::]:50051", certificates.credentials())

gRPC asks a *certificate configuration fetcher* for news before each new connection's
handshake (``grpc.dynamic_ssl_server_credentials``); :meth:`ServerCertificates.fetcher` is
one, answering with a new configuration only after a rotation put new, validated material in
service. Connections already open keep theirs. This module is the only one that imports grpc.
"""

from __future__ import annotations

import grpc

from .._scrub import scrub_errors
from ..tls._follow import FollowsRotation, MaterialFollower, Role
from ..tls._material import DEFAULT_MIN_VALID_DAYS
from ..tls._source import material_source

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable

    from .._secrets import Secrets
    from ..reload.store import SecretStore
    from ..tls._material import TLSMaterial
    from ..tls._source import Spec

__all__ = ["ServerCertificates"]

_ROLE = Role("gRPC server certificate", "serving", "gRPC server material")


class ServerCertificates(FollowsRotation):
    """The certificate configuration of a gRPC server, following rotation without a restart.

    New connections are served the newest material that passed every check of
    :func:`runsecrets.tls.load` (``purpose="server"``); a certificate whose key is not written
    yet, or that fails a check, is never served: the last good one stays, and the refusal is
    counted (:attr:`refusals`, :attr:`last_error`). With ``require_client_cert``, clients must
    present a certificate issued by the CA bundle in service, which rotates with the rest.

    Args:
        cert: The certificate (chain): a secret name or a path, as for ``load``.
        key: The private key (``None``: in the certificate file).
        ca: The CA bundle: checked against, and the CAs client certificates must come from.
        password: The secret or file holding the key's passphrase.
        host: A name or address every certificate must be valid for.
        require_client_cert: Mutual TLS: refuse clients without a certificate from ``ca``.
        min_valid_days: Fewer days left than this is logged as a warning on each rotation.
        secrets: The resolver for secret names (default ``Secrets()``).
        store: Follow this :class:`~runsecrets.SecretStore` (secret names only).
        watch: Without ``store``: follow the files with an internal store started now (stop it
            with :meth:`close`). ``False``: change only on :meth:`reload`.
        gate_store: With ``store``: a candidate these certificates refuse is held back by the
            store (they are a gated derived value of it). ``False``: only they refuse it.
        clock: Returns the time to check validity at (timezone-aware); default: now.

    Raises:
        ValueError: ``require_client_cert`` without ``ca``.
        runsecrets.InvalidTLSMaterialError: The material at start-up is invalid (nothing to
            serve).
        SecretNotFoundError, SecretReadError: It cannot be read at start-up.
    """

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
        if require_client_cert and ca is None:
            raise ValueError("require_client_cert needs a CA to verify client certificates with")
        self._require_client_cert = require_client_cert
        source = material_source(cert, key, ca, password, secrets=secrets, store=store, watch=watch)
        self._follow: MaterialFollower[grpc.ServerCertificateConfiguration] = MaterialFollower(
            source,
            _configuration,
            purpose="server",
            host=host,
            min_valid_days=min_valid_days,
            gate_store=gate_store,
            clock=clock,
            role=_ROLE,
        )

    @property
    def configuration(self) -> grpc.ServerCertificateConfiguration:
        """The configuration in service (``grpc.ssl_server_certificate_configuration``)."""
        return self._follow.value

    def fetcher(self) -> Callable[[], grpc.ServerCertificateConfiguration | None]:
        """A new fetcher for ``grpc.dynamic_ssl_server_credentials``.

        It answers each call with the configuration in service when that changed since its
        last answer (its first answer is the configuration in service), else ``None`` (no
        change). It never raises and does no I/O: gRPC calls it before every handshake. Use
        one fetcher per set of credentials (each remembers what it last handed out);
        :meth:`credentials` makes its own.
        """
        handed: grpc.ServerCertificateConfiguration | None = None

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            nonlocal handed
            current = self._follow.value
            if current is handed:
                return None
            handed = current
            return current

        return fetch

    def credentials(self) -> grpc.ServerCredentials:
        """Server credentials for ``server.add_secure_port``: the configuration in service
        now, a fetcher for the later ones, client certificates required as configured."""
        return grpc.dynamic_ssl_server_credentials(
            self.configuration,
            self.fetcher(),
            require_client_authentication=self._require_client_cert,
        )


def _configuration(material: TLSMaterial) -> grpc.ServerCertificateConfiguration:
    ca = material.ca_pem()
    return grpc.ssl_server_certificate_configuration(
        [(material.private_key_pem(), material.chain_pem())],
        root_certificates=ca.encode() if ca else None,
    )
