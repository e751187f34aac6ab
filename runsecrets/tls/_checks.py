"""The checks TLS material must pass, each with a stable reason code when it fails.

Every check runs (so ``runsecrets tls check`` can show a verdict for each); :func:`first_failure`
picks the one to raise, in the order of :data:`CHECK_ORDER`.
"""

from __future__ import annotations

import ipaddress
import itertools

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable
    from typing import TypeVar

    from cryptography.hazmat.primitives.asymmetric.types import (
        CertificatePublicKeyTypes,
        PrivateKeyTypes,
    )

    from ..exceptions import TLSReason

    _E = TypeVar("_E", bound=x509.ExtensionType)

#: Check names, in the order their failures are raised.
CHECK_ORDER = (
    "key_pair",
    "validity",
    "key_usage",
    "key_strength",
    "signature",
    "hostname",
    "chain",
)
PURPOSES = ("server", "client")
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
_WEAK_HASHES = (hashes.SHA1, hashes.MD5)
_PURPOSE_EKU = {
    "server": ExtendedKeyUsageOID.SERVER_AUTH,
    "client": ExtendedKeyUsageOID.CLIENT_AUTH,
}
#: Extended key usages by the names OpenSSL and RFC 5280 give them, for messages; any other shows
#: as its dotted OID (cryptography's own names are a private attribute, and "Unknown OID" for some).
_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}


class Check:
    """The verdict of one check.

    Attributes:
        name: One of :data:`CHECK_ORDER`.
        ok: ``True`` passed, ``False`` failed, ``None`` skipped (nothing to check against).
        detail: What was checked or what is wrong, for people (never key material).
        reason: The stable reason code when it failed (``expired``...), else ``None``.
    """

    __slots__ = ("detail", "name", "ok", "reason")

    def __init__(
        self, name: str, ok: bool | None, detail: str, reason: TLSReason | None = None
    ) -> None:
        self.name = name
        self.ok = ok
        self.detail = detail
        self.reason = reason

    @property
    def verdict(self) -> str:
        """``ok``, ``FAILED`` or ``skipped``."""
        return {True: "ok", False: "FAILED", None: "skipped"}[self.ok]

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "check": self.name,
            "verdict": self.verdict,
            "reason": self.reason,
            "detail": self.detail,
        }

    def __repr__(self) -> str:
        return f"Check({self.name!r}, {self.verdict}, {self.detail!r})"


def _passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def _failed(name: str, reason: TLSReason, detail: str) -> Check:
    return Check(name, False, detail, reason)


def run_checks(
    chain: list[x509.Certificate],
    key: PrivateKeyTypes,
    ca: list[x509.Certificate],
    *,
    host: str | None,
    purpose: str,
    now: datetime.datetime,
    exhaustive: bool = True,
) -> list[Check]:
    """Run the checks on a leaf (``chain[0]``), its intermediates, its key and the CA bundle.

    Args:
        exhaustive: Run every check even after one failed (for a report); otherwise stop at
            the first failure, which a rotation meets often (a certificate whose key is not
            written yet) and should pay little for.
    """
    leaf = chain[0]
    steps: tuple[Callable[[], Check], ...] = (
        lambda: check_key_pair(leaf, key),
        lambda: check_validity(leaf, now),
        lambda: check_key_usage(leaf, purpose),
        lambda: check_key_strength(chain),
        lambda: check_signatures(chain, ca),
        lambda: check_hostname(leaf, host),
        lambda: check_chain(chain, ca, now),
    )
    checks = []
    for step in steps:
        check = step()
        checks.append(check)
        if check.ok is False and not exhaustive:
            break
    return checks


def first_failure(checks: list[Check]) -> Check | None:
    """The failed check to report, in :data:`CHECK_ORDER`."""
    return next((c for c in checks if c.ok is False), None)


def check_key_pair(leaf: x509.Certificate, key: PrivateKeyTypes) -> Check:
    """The private key is the one the certificate certifies (compared on the public half)."""
    # Every private key type cryptography loads has public_key(); DH/X25519 keys are not
    # certificate keys and simply compare unequal.
    public = key.public_key()
    if public == leaf.public_key():
        return _passed("key_pair", "the private key matches the certificate")
    return _failed(
        "key_pair",
        "key_mismatch",
        "the private key does not match the certificate (the first certificate must be the "
        "leaf; were the certificate and key issued together?)",
    )


def check_validity(leaf: x509.Certificate, now: datetime.datetime) -> Check:
    """``now`` lies within the leaf's validity window."""
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if now < start:
        return _failed("validity", "not_yet_valid", f"not valid before {start:%Y-%m-%dT%H:%M:%SZ}")
    if now > end:
        return _failed("validity", "expired", f"expired at {end:%Y-%m-%dT%H:%M:%SZ}")
    return _passed("validity", f"valid from {start:%Y-%m-%dT%H:%M:%SZ} to {end:%Y-%m-%dT%H:%M:%SZ}")


def check_key_usage(leaf: x509.Certificate, purpose: str) -> Check:
    """Not a CA certificate; extended key usage (when present) allows ``purpose``."""
    basic = _extension(leaf, x509.BasicConstraints)
    if basic is not None and basic.ca:
        return _failed(
            "key_usage",
            "bad_key_usage",
            "a CA certificate (basicConstraints CA:TRUE) used as a leaf",
        )
    usage = _extension(leaf, x509.KeyUsage)
    if usage is not None and not (usage.digital_signature or usage.key_encipherment):
        return _failed(
            "key_usage",
            "bad_key_usage",
            "keyUsage allows neither digitalSignature nor keyEncipherment",
        )
    extended = _extension(leaf, x509.ExtendedKeyUsage)
    wanted = _PURPOSE_EKU[purpose]
    if extended is None:
        return _passed("key_usage", f"no extendedKeyUsage: any purpose, {purpose} included")
    if wanted in extended or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in extended:
        return _passed("key_usage", f"extendedKeyUsage allows {_eku_name(wanted)}")
    found = ", ".join(_eku_name(oid) for oid in extended)
    return _failed(
        "key_usage",
        "bad_key_usage",
        f"extendedKeyUsage ({found}) does not allow {_eku_name(wanted)} (purpose {purpose!r})",
    )


def _eku_name(oid: x509.ObjectIdentifier) -> str:
    return _EKU_NAMES.get(oid, oid.dotted_string)


def check_key_strength(chain: list[x509.Certificate]) -> Check:
    """RSA and DSA keys of 2048 bits or more, EC curves of 256 bits or more."""
    for position, certificate in enumerate(chain):
        problem = key_weakness(certificate.public_key())
        if problem is not None:
            where = "the certificate" if position == 0 else f"intermediate #{position}"
            return _failed("key_strength", "weak_key", f"{where}: {problem}")
    return _passed("key_strength", "every key in the chain is strong enough")


def key_weakness(key: CertificatePublicKeyTypes) -> str | None:
    """Why a public key is too weak, or ``None``."""
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"RSA key of {key.key_size} bits (at least {MIN_RSA_BITS} required)"
    if isinstance(key, dsa.DSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"DSA key of {key.key_size} bits (at least {MIN_RSA_BITS} required)"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        return f"EC curve {key.curve.name} (P-256 or stronger required)"
    return None


def check_signatures(chain: list[x509.Certificate], ca: list[x509.Certificate]) -> Check:
    """No SHA-1 or MD5 signature on the leaf or an intermediate (a root's self-signature is
    never checked by clients, so it does not count)."""
    anchors = set(ca)
    for position, certificate in enumerate(chain):
        if certificate in anchors or (position > 0 and _self_issued(certificate)):
            continue
        try:
            algorithm = certificate.signature_hash_algorithm
        except UnsupportedAlgorithm:
            continue  # an algorithm cryptography does not know: the chain check judges it
        if isinstance(algorithm, _WEAK_HASHES):
            where = "the certificate" if position == 0 else f"intermediate #{position}"
            return _failed(
                "signature", "weak_signature", f"{where} is signed with {algorithm.name.upper()}"
            )
    return _passed("signature", "no SHA-1 or MD5 signature")


def check_hostname(leaf: x509.Certificate, host: str | None) -> Check:
    """``host`` (a DNS name or an IP address) is in the subjectAltName; the CN does not count,
    as for every modern client."""
    if host is None:
        return Check("hostname", None, "no host given")
    san = _extension(leaf, x509.SubjectAlternativeName)
    dns_names = san.get_values_for_type(x509.DNSName) if san is not None else []
    ips = san.get_values_for_type(x509.IPAddress) if san is not None else []
    address = _as_ip(host)
    if address is not None:
        if any(address == ip for ip in ips):
            return _passed("hostname", f"{host} is in the subjectAltName")
    elif any(dns_name_matches(pattern, host) for pattern in dns_names):
        return _passed("hostname", f"{host} is in the subjectAltName")
    names = [*dns_names, *(str(ip) for ip in ips)]
    listed = ", ".join(names) if names else "none (no subjectAltName)"
    return _failed(
        "hostname", "hostname_mismatch", f"{host} is not among the certificate's names: {listed}"
    )


def dns_name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 matching: case-insensitive; a wildcard only as the whole leftmost label,
    matching exactly one label (``*.example.com`` matches ``a.example.com`` only)."""
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if not pattern.startswith("*."):
        return pattern == host
    first, _, rest = host.partition(".")
    return bool(first) and rest == pattern[2:] and "." in rest


def check_chain(
    chain: list[x509.Certificate], ca: list[x509.Certificate], now: datetime.datetime
) -> Check:
    """The chain verifies to the CA bundle at ``now`` (signatures, CA flags, path lengths, dates).

    Without a CA bundle, only the given chain's own links are checked (each certificate signed
    by the next).
    """
    if not ca:
        for child, parent in itertools.pairwise(chain):
            try:
                child.verify_directly_issued_by(parent)
            except Exception as e:  # noqa: BLE001 - ValueError, TypeError or InvalidSignature
                return _failed(
                    "chain",
                    "untrusted_chain",
                    f"{_subject(child)} is not issued by the next certificate in the file, "
                    f"{_subject(parent)} ({type(e).__name__})",
                )
        return Check("chain", None, "no CA given: only the links inside the file were checked")
    ca_policy, ee_policy = _extension_policies()
    verifier = (
        PolicyBuilder()
        .store(Store(ca))
        .time(now)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(chain[0], chain[1:])
    except VerificationError as e:
        return _failed("chain", "untrusted_chain", f"does not verify to the CA: {e}")
    path = " -> ".join(_subject(c) for c in verified.chain)
    return _passed("chain", f"verifies to the CA: {path}")


def _extension_policies() -> tuple[ExtensionPolicy, ExtensionPolicy]:
    # The Web PKI defaults, relaxed where OpenSSL's classic recipes (and OpenSSL itself) differ:
    # a CA's basicConstraints need not be critical and keyUsage may be absent; the leaf's own
    # usages and names are judged by the checks above, with their own reason codes.
    agnostic = Criticality.AGNOSTIC
    ca_policy = (
        ExtensionPolicy.webpki_defaults_ca()
        .require_present(x509.BasicConstraints, agnostic, _require_ca)
        .may_be_present(x509.KeyUsage, agnostic, _require_cert_sign)
        .may_be_present(x509.AuthorityKeyIdentifier, agnostic, None)
    )
    ee_policy = (
        ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.SubjectAlternativeName, agnostic, None)
        .may_be_present(x509.ExtendedKeyUsage, agnostic, None)
        .may_be_present(x509.BasicConstraints, agnostic, None)
        .may_be_present(x509.KeyUsage, agnostic, None)
        .may_be_present(x509.AuthorityKeyIdentifier, agnostic, None)
    )
    return ca_policy, ee_policy


def _require_ca(
    _policy: object, _certificate: x509.Certificate, value: x509.BasicConstraints
) -> None:
    if not value.ca:
        raise ValueError("an issuer is not a CA (basicConstraints CA:FALSE)")


def _require_cert_sign(
    _policy: object, _certificate: x509.Certificate, value: x509.KeyUsage | None
) -> None:
    if value is not None and not value.key_cert_sign:
        raise ValueError("an issuer's keyUsage lacks keyCertSign")


def _extension(certificate: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _self_issued(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def _as_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _subject(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string() or "(empty subject)"
