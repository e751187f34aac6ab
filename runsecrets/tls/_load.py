"""``load()`` and ``examine()``: read the parts of a set of TLS material and run the checks."""

from __future__ import annotations

from .._scrub import scrub_errors
from .._secrets import Secrets
from .._warn import warn
from ..exceptions import CertificateExpiryWarning, TLSReason, reason_codes
from ._material import DEFAULT_MIN_VALID_DAYS, TLSMaterial, material_from_parts
from ._source import read_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime

    from ._source import Spec


#: Every reason code :class:`~runsecrets.InvalidTLSMaterialError` may carry (the codes of the
#: ``TLSReason`` type that the errors module defines).
REASONS: tuple[str, ...] = reason_codes(TLSReason)


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
