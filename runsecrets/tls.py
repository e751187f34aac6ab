"""TLS material from secrets: validated before use, served through contexts that follow rotation.

``load()`` reads a certificate (chain), its private key and optionally a CA bundle, each from a
secret name (resolved as every secret is: ``FOO_FILE``, ``FOO``, the secrets directories) or a
path, and refuses material that would break or weaken a TLS endpoint, with a stable reason code:

=====================  ===================================================================
``parse_error``        not PEM/DER, no certificate, no key, an encrypted key without (or
                       with a wrong) password
``key_mismatch``       the private key is not the certificate's
``not_yet_valid``      the certificate's validity starts in the future
``expired``            the certificate's validity has ended
``bad_key_usage``      a CA certificate used as a leaf, or an extended key usage that does
                       not allow the purpose (``serverAuth`` / ``clientAuth``)
``weak_key``           RSA or DSA below 2048 bits, an EC curve below P-256
``weak_signature``     the certificate or an intermediate signed with SHA-1 or MD5
``hostname_mismatch``  ``host`` is not among the subjectAltName's DNS names / IP addresses
``untrusted_chain``    the chain does not verify to the CA bundle
=====================  ===================================================================

This is the only module (with its private ``_tls_*`` helpers) that imports ``cryptography``;
``import runsecrets`` does not load it.
"""

from __future__ import annotations

from ._scrub import scrub_errors
from ._secrets import Secrets
from ._tls_checks import CHECK_ORDER, Check
from ._tls_client import RotatingClientContext
from ._tls_material import DEFAULT_MIN_VALID_DAYS, TLSMaterial, material_from_parts
from ._tls_rotate import RotatingServerContext
from ._tls_source import is_path, read_spec
from ._warn import warn
from .exceptions import CertificateExpiryWarning, InvalidTLSMaterialError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime

    from ._tls_source import Spec

__all__ = [
    "CHECK_ORDER",
    "DEFAULT_MIN_VALID_DAYS",
    "REASONS",
    "Check",
    "InvalidTLSMaterialError",
    "RotatingClientContext",
    "RotatingServerContext",
    "TLSMaterial",
    "examine",
    "is_path",
    "load",
]

#: Every reason code :class:`~runsecrets.InvalidTLSMaterialError` may carry.
REASONS = (
    "parse_error",
    "key_mismatch",
    "not_yet_valid",
    "expired",
    "bad_key_usage",
    "weak_key",
    "weak_signature",
    "hostname_mismatch",
    "untrusted_chain",
)


@scrub_errors
def load(
    cert: Spec,
    key: Spec | None = None,
    ca: Spec | None = None,
    *,
    password: Spec | None = None,
    host: str | None = None,
    purpose: str = "server",
    min_valid_days: int = DEFAULT_MIN_VALID_DAYS,
    secrets: Secrets | None = None,
    now: datetime.datetime | None = None,
) -> TLSMaterial:
    """Read and validate a certificate chain, its key and optionally a CA bundle.

    Each of ``cert``, ``key``, ``ca`` and ``password`` is a secret name (``"tls_cert"``,
    resolved by ``secrets``) or a path (an ``os.PathLike``, or a string with a path separator:
    ``"./tls.crt"``). Certificates and keys may be PEM or DER; the certificate file may hold the
    intermediates after the leaf; keys may be PKCS#8 or traditional, encrypted (``password``
    names the secret holding the passphrase), RSA, EC or Ed25519.

    Args:
        cert: The leaf certificate, optionally followed by its intermediates.
        key: The private key; ``None``: the key is in the certificate file.
        ca: The CA bundle the chain must verify to. Without it, only the links inside the
            certificate file are checked.
        password: The secret (or file) holding the key's passphrase.
        host: A DNS name or IP address the certificate must be valid for (subjectAltName).
        purpose: ``"server"`` or ``"client"``: the extended key usage required.
        min_valid_days: Fewer days of validity left than this gives a
            :class:`~runsecrets.CertificateExpiryWarning` (and :attr:`TLSMaterial.expiring`).
        secrets: The resolver for secret names (default: ``Secrets()``).
        now: The time to check validity at (timezone-aware); default: now.

    Raises:
        InvalidTLSMaterialError: A check failed; ``.reason`` is one of :data:`REASONS`.
        SecretNotFoundError: A secret name no source holds.
        SecretReadError: A file is missing or unreadable.
    """
    material = _read_and_check(
        cert,
        key,
        ca,
        password=password,
        host=host,
        purpose=purpose,
        min_valid_days=min_valid_days,
        secrets=secrets,
        now=now,
        exhaustive=False,  # only the first failure is raised: skip the checks after it
    )
    error = material.error()
    if error is not None:
        raise error
    if material.expiring:
        warn(
            f"certificate {material.subject!r} ({material.files[0]}) expires in "
            f"{material.days_left} days, on {material.not_after:%Y-%m-%d}",
            CertificateExpiryWarning,
        )
    return material


@scrub_errors
def examine(
    cert: Spec,
    key: Spec | None = None,
    ca: Spec | None = None,
    *,
    password: Spec | None = None,
    host: str | None = None,
    purpose: str = "server",
    min_valid_days: int = DEFAULT_MIN_VALID_DAYS,
    secrets: Secrets | None = None,
    now: datetime.datetime | None = None,
) -> TLSMaterial:
    """Like :func:`load`, but failed checks are recorded in :attr:`TLSMaterial.checks`, not
    raised (what ``runsecrets tls check`` shows). Unparseable material still raises."""
    return _read_and_check(
        cert,
        key,
        ca,
        password=password,
        host=host,
        purpose=purpose,
        min_valid_days=min_valid_days,
        secrets=secrets,
        now=now,
        exhaustive=True,
    )


def _read_and_check(
    cert: Spec,
    key: Spec | None,
    ca: Spec | None,
    *,
    password: Spec | None,
    host: str | None,
    purpose: str,
    min_valid_days: int,
    secrets: Secrets | None,
    now: datetime.datetime | None,
    exhaustive: bool,
) -> TLSMaterial:
    resolver = Secrets() if secrets is None else secrets
    specs = {"cert": cert, "key": key, "ca": ca, "password": password}
    parts = {
        part: None if spec is None else read_spec(spec, resolver) for part, spec in specs.items()
    }
    return material_from_parts(
        parts,
        host=host,
        purpose=purpose,
        min_valid_days=min_valid_days,
        now=now,
        exhaustive=exhaustive,
    )
