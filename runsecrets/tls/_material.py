"""Parsed and checked TLS material: certificate chain, private key, CA bundle."""

from __future__ import annotations

import datetime
import math

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .._scrub import scrub_errors
from ..exceptions import InvalidTLSMaterialError
from ._checks import PURPOSES, Check, first_failure, run_checks
from ._context import configure_server, new_client_context, new_server_context
from ._parse import describe_key, has_pem_key, parse_certificates, parse_private_key
from ._source import password_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping

    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    #: What was read for each part (``cert``, ``key``, ``ca``, ``password``): bytes and a label.
    RawParts = Mapping[str, tuple[bytes, str] | None]

#: Days of validity left below which a certificate is reported as expiring.
DEFAULT_MIN_VALID_DAYS = 30
_SECONDS_PER_DAY = 86400


class TLSMaterial:
    """A certificate chain, its private key and the CA bundle, with every check's verdict.

    Made by :func:`runsecrets.tls.load` (which raises unless every check passed) or
    :func:`runsecrets.tls.examine` (which never raises for a failed check). The private key is
    held in memory only to build SSL contexts: no attribute, ``repr`` or :meth:`as_dict` shows it.

    Attributes:
        certificate: The leaf certificate (``cryptography.x509.Certificate``).
        chain: The leaf followed by the intermediates given with it.
        ca_certificates: The CA bundle (empty when none was given).
        checks: Every check's verdict, in the order failures are reported.
        files: Where each part came from (files, or variables for environment values).
        host: The name or address checked against the certificate, if any.
        purpose: ``"server"`` or ``"client"``.
        checked_at: The time the checks were made for (UTC).
        min_valid_days: Days of validity below which :attr:`expiring` is true.
    """

    __slots__ = (
        "_key",
        "ca_certificates",
        "certificate",
        "chain",
        "checked_at",
        "checks",
        "files",
        "host",
        "min_valid_days",
        "purpose",
    )

    def __init__(
        self,
        *,
        chain: list[x509.Certificate],
        key: PrivateKeyTypes,
        ca: list[x509.Certificate],
        checks: list[Check],
        files: tuple[str, ...],
        host: str | None,
        purpose: str,
        checked_at: datetime.datetime,
        min_valid_days: int,
    ) -> None:
        self.certificate = chain[0]
        self.chain = tuple(chain)
        self._key = key
        self.ca_certificates = tuple(ca)
        self.checks = tuple(checks)
        self.files = files
        self.host = host
        self.purpose = purpose
        self.checked_at = checked_at
        self.min_valid_days = min_valid_days

    # ------------------------------------------------------------------------------ verdicts
    @property
    def valid(self) -> bool:
        """Whether no check failed."""
        return first_failure(list(self.checks)) is None

    @property
    def failure(self) -> Check | None:
        """The failed check that :func:`~runsecrets.tls.load` reports, if any."""
        return first_failure(list(self.checks))

    def error(self) -> InvalidTLSMaterialError | None:
        """The error for the first failed check, or ``None`` when valid."""
        failed = self.failure
        if failed is None:
            return None
        assert failed.reason is not None
        return InvalidTLSMaterialError(
            f"invalid TLS material ({', '.join(self.files)}): {failed.reason}: {failed.detail}",
            reason=failed.reason,
            files=self.files,
        )

    # ------------------------------------------------------------------- certificate facts
    @property
    def subject(self) -> str:
        """The leaf's subject (RFC 4514)."""
        return self.certificate.subject.rfc4514_string()

    @property
    def issuer(self) -> str:
        """The leaf's issuer (RFC 4514)."""
        return self.certificate.issuer.rfc4514_string()

    @property
    def serial_number(self) -> int:
        """The leaf's serial number."""
        return self.certificate.serial_number

    @property
    def serial_hex(self) -> str:
        """The serial number as ``openssl x509 -serial`` prints it (upper-case hex)."""
        return format(self.certificate.serial_number, "X")

    @property
    def names(self) -> list[str]:
        """The subjectAltName's DNS names and IP addresses (``DNS:...``, ``IP:...``)."""
        try:
            san = self.certificate.extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            ).value
        except x509.ExtensionNotFound:
            return []
        return [
            *(f"DNS:{name}" for name in san.get_values_for_type(x509.DNSName)),
            *(f"IP:{ip}" for ip in san.get_values_for_type(x509.IPAddress)),
        ]

    @property
    def not_before(self) -> datetime.datetime:
        """Start of the leaf's validity (UTC)."""
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime.datetime:
        """End of the leaf's validity (UTC)."""
        return self.certificate.not_valid_after_utc

    @property
    def days_left(self) -> int:
        """Whole days of validity left at :attr:`checked_at` (negative once expired)."""
        return days_left(self.not_after, self.checked_at)

    @property
    def expiring(self) -> bool:
        """Valid, but for fewer than :attr:`min_valid_days` days."""
        return 0 <= self.days_left < self.min_valid_days

    @property
    def key_type(self) -> str:
        """``RSA``, ``EC secp256r1``, ``Ed25519``..."""
        return describe_key(self.certificate.public_key())[0]

    @property
    def key_size(self) -> int:
        """The key's size in bits (the curve's for EC)."""
        return describe_key(self.certificate.public_key())[1]

    @property
    def fingerprint_sha256(self) -> str:
        """The leaf certificate's SHA-256 fingerprint (of the public certificate, not the key)."""
        return self.certificate.fingerprint(hashes.SHA256()).hex(":").upper()

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary (never key material)."""
        failed = self.failure
        return {
            "valid": failed is None,
            "reason": None if failed is None else failed.reason,
            "subject": self.subject,
            "names": self.names,
            "issuer": self.issuer,
            "serial": self.serial_hex,
            "not_before": _stamp(self.not_before),
            "not_after": _stamp(self.not_after),
            "days_left": self.days_left,
            "expiring": self.expiring,
            "min_valid_days": self.min_valid_days,
            "key_type": self.key_type,
            "key_size": self.key_size,
            "fingerprint_sha256": self.fingerprint_sha256,
            "chain_length": len(self.chain),
            "ca_certificates": len(self.ca_certificates),
            "host": self.host,
            "purpose": self.purpose,
            "files": list(self.files),
            "checks": [check.as_dict() for check in self.checks],
        }

    # ---------------------------------------------------------------------------- contexts
    @scrub_errors
    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """A server ``ssl.SSLContext``: TLS 1.2+, this chain and key.

        Args:
            require_client_cert: Mutual TLS: require a client certificate issued by the CA.

        Raises:
            ValueError: ``require_client_cert`` without a CA.
        """
        context = new_server_context()
        self.configure_server(context, require_client_cert=require_client_cert)
        return context

    @scrub_errors
    def configure_server(self, context: ssl.SSLContext, *, require_client_cert: bool) -> None:
        """Load this material into an existing server context (see :meth:`server_context`)."""
        configure_server(
            context,
            self._chain_and_key_pem(),
            self.ca_pem(),
            require_client_cert=require_client_cert,
        )

    @scrub_errors
    def client_context(self, *, present_certificate: bool = True) -> ssl.SSLContext:
        """A client ``ssl.SSLContext``: TLS 1.2+, server certificate and hostname checked.

        Args:
            present_certificate: Send this chain and key as the client certificate (mutual
                TLS). The CA bundle (else the system's CAs) verifies the server.
        """
        chain_and_key = self._chain_and_key_pem() if present_certificate else None
        return new_client_context(self.ca_pem(), chain_and_key)

    def ca_pem(self) -> str | None:
        """The CA bundle as PEM text, or ``None``."""
        if not self.ca_certificates:
            return None
        return "".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in self.ca_certificates
        )

    def _chain_and_key_pem(self) -> bytes:
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)
        key = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return chain + key

    def same_material(self, other: TLSMaterial) -> bool:
        """Same certificates, same key and same CA bundle."""
        return (
            self.chain == other.chain
            and self.ca_certificates == other.ca_certificates
            and self._key.public_key() == other._key.public_key()
        )

    def __repr__(self) -> str:
        state = "valid" if self.valid else f"invalid: {self.failure.reason}"  # type: ignore[union-attr]
        return (
            f"TLSMaterial(subject={self.subject!r}, serial={self.serial_hex}, "
            f"not_after={_stamp(self.not_after)}, {state}, files={list(self.files)!r})"
        )


def material_from_parts(
    parts: RawParts,
    *,
    host: str | None,
    purpose: str,
    min_valid_days: int,
    now: datetime.datetime | None,
    exhaustive: bool = True,
) -> TLSMaterial:
    """Parse the parts read and run the checks (failures are recorded, not raised).

    With ``exhaustive`` false, the checks stop at the first failure (see ``run_checks``).

    Raises:
        InvalidTLSMaterialError: ``parse_error``: a part could not be parsed.
        ValueError: An unknown ``purpose``.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be 'server' or 'client', not {purpose!r}")
    cert = parts["cert"]
    assert cert is not None
    cert_data, cert_label = cert
    key = parts.get("key")
    key_data, key_label = key if key is not None else (cert_data, cert_label)
    files = [cert_label] + ([key_label] if key_label != cert_label else [])
    if key is None and not has_pem_key(cert_data):
        raise InvalidTLSMaterialError(
            f"{cert_label}: no private key given and none in the certificate file",
            reason="parse_error",
            files=files,
        )
    chain = parse_certificates(cert_data, cert_label)
    password_part = parts.get("password")
    password = password_bytes(*password_part) if password_part is not None else None
    private_key = parse_private_key(key_data, password, key_label)
    ca_part = parts.get("ca")
    ca: list[x509.Certificate] = []
    if ca_part is not None:
        ca = parse_certificates(*ca_part)
        files.append(ca_part[1])
    when = _utc(now)
    checks = run_checks(
        chain, private_key, ca, host=host, purpose=purpose, now=when, exhaustive=exhaustive
    )
    return TLSMaterial(
        chain=chain,
        key=private_key,
        ca=ca,
        checks=checks,
        files=tuple(files),
        host=host,
        purpose=purpose,
        checked_at=when,
        min_valid_days=min_valid_days,
    )


def days_left(not_after: datetime.datetime, at: datetime.datetime) -> int:
    """Whole days from ``at`` to ``not_after`` (negative once past), rounded down."""
    return math.floor((not_after - at).total_seconds() / _SECONDS_PER_DAY)


def _utc(now: datetime.datetime | None) -> datetime.datetime:
    if now is None:
        return datetime.datetime.now(datetime.timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (use datetime.timezone.utc)")
    return now.astimezone(datetime.timezone.utc)


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
