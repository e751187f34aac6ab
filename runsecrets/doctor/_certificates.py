"""The certificates' checks, with the TLS module's own parsing and checks.

A secret file is taken for a certificate when it holds a PEM ``CERTIFICATE`` block, or when its
name ends in ``.crt``, ``.cer`` or ``.der`` (such a file that does not parse is reported).
``cryptography`` is imported only when there is one.

Rules (codes in :data:`~runsecrets.doctor.CODES`):

- ``certificate_invalid``: the file does not parse; a certificate in it is expired or not yet
  valid; a key is too weak or a signature uses SHA-1 or MD5 (``runsecrets.tls`` refuses all of
  these); or its private key does not match. The key is the one in the same file, else the
  secret ``<stem>.key`` beside ``<stem>.crt|.cer|.pem`` (Kubernetes' ``tls.crt`` and
  ``tls.key``); an encrypted key is not checked. The role is unknown, so neither the extended
  key usage nor a chain to a CA is judged (a CA bundle is a fine certificate file).
- ``certificate_expiring``: a certificate in the file has fewer than ``min_days`` days left
  (``--min-days``, default 30): the soonest is named.
"""

from __future__ import annotations

import datetime
import os

from ._finding import Finding

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from cryptography import x509

    from ._context import Context, SecretFile

_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
#: Names that say "certificate" whatever the content.
CERTIFICATE_SUFFIXES = (".crt", ".cer", ".der")
#: Certificate names whose ``<stem>.key`` sibling is taken for their key.
PAIRED_SUFFIXES = (".crt", ".cer", ".pem")
_KEY_SUFFIX = ".key"


def is_certificate_file(path: str, data: bytes) -> bool:
    """Whether the file at ``path`` with ``data`` is to be checked as a certificate."""
    return _PEM_CERTIFICATE in data or path.lower().endswith(CERTIFICATE_SUFFIXES)


def check_certificates(context: Context) -> Iterator[Finding]:
    """Every certificate finding, files in the order :meth:`Context.secret_files` gives."""
    candidates = []
    for file in context.secret_files():
        if file.dangling:
            continue
        result = context.read(file)
        if isinstance(result, tuple) and is_certificate_file(file.path, result[0]):
            candidates.append((file, result[0]))
    if not candidates:
        return
    from ..tls._material import DEFAULT_MIN_VALID_DAYS

    now = context.now or datetime.datetime.now(datetime.timezone.utc)
    min_days = DEFAULT_MIN_VALID_DAYS if context.min_days is None else context.min_days
    keys = {file.path: file for file in context.secret_files()}
    for file, data in candidates:
        yield from _check_one(context, file, data, keys, now=now, min_days=min_days)


def _check_one(
    context: Context,
    file: SecretFile,
    data: bytes,
    keys: dict[str, SecretFile],
    *,
    now: datetime.datetime,
    min_days: int,
) -> Iterator[Finding]:
    from ..exceptions import InvalidTLSMaterialError
    from ..tls._parse import parse_certificates

    try:
        chain = parse_certificates(data, file.path)
    except InvalidTLSMaterialError:
        # cryptography's message may quote the input: only say that it does not parse.
        yield Finding(
            "certificate_invalid",
            file.path,
            "does not parse as an X.509 certificate (PEM or DER): TLS loading will fail; "
            "replace it with the certificate file",
        )
        return
    yield from _dates(file, chain, now=now, min_days=min_days)
    yield from _strength(file, chain)
    yield from _key_pair(context, file, data, chain[0], keys)


def _dates(
    file: SecretFile, chain: list[x509.Certificate], *, now: datetime.datetime, min_days: int
) -> Iterator[Finding]:
    from ..tls._checks import check_validity
    from ..tls._material import days_left

    for position, certificate in enumerate(chain):
        verdict = check_validity(certificate, now)
        if verdict.ok is False:
            yield Finding(
                "certificate_invalid",
                file.path,
                f"{_which(chain, position)}: {verdict.detail} ({verdict.reason}): TLS peers "
                "refuse it; install a valid certificate",
            )
            return
    soonest = min(range(len(chain)), key=lambda i: chain[i].not_valid_after_utc)
    left = days_left(chain[soonest].not_valid_after_utc, now)
    if left < min_days:
        yield Finding(
            "certificate_expiring",
            file.path,
            f"{_which(chain, soonest)} expires in {left} day(s), on "
            f"{chain[soonest].not_valid_after_utc:%Y-%m-%d} (fewer than {min_days}); renew it "
            "before then",
        )


def _strength(file: SecretFile, chain: list[x509.Certificate]) -> Iterator[Finding]:
    from ..tls._checks import check_key_strength, check_signatures

    # A self-signed certificate's own signature is never checked by a peer (a root in a bundle).
    anchors = [c for c in chain if c.issuer == c.subject]
    for verdict in (check_key_strength(chain), check_signatures(chain, anchors)):
        if verdict.ok is False:
            yield Finding(
                "certificate_invalid",
                file.path,
                f"{verdict.detail} ({verdict.reason}): runsecrets' TLS loading refuses it; "
                "reissue it with RSA 2048+ or EC P-256+ and a SHA-256 signature",
            )


def _key_pair(
    context: Context,
    file: SecretFile,
    data: bytes,
    leaf: x509.Certificate,
    keys: dict[str, SecretFile],
) -> Iterator[Finding]:
    from ..exceptions import InvalidTLSMaterialError
    from ..tls._checks import check_key_pair
    from ..tls._parse import has_pem_key, parse_private_key

    found = _key_for(context, file, data, keys, has_pem_key(data))
    if found is None:
        return
    key_path, key_data = found
    if b"ENCRYPTED" in key_data:
        return  # its password lives elsewhere: not checked
    try:
        key = parse_private_key(key_data, None, key_path)
    except InvalidTLSMaterialError:
        yield Finding(
            "certificate_invalid",
            key_path,
            f"does not parse as a private key (the key of {file.path}): TLS loading will fail; "
            "replace it with the key file",
        )
        return
    verdict = check_key_pair(leaf, key)
    if verdict.ok is False:
        where = "the key in the same file" if key_path == file.path else f"its key {key_path}"
        yield Finding(
            "certificate_invalid",
            file.path,
            f"does not match {where} (key_mismatch): the two come from different issuances; "
            "write the certificate and its key from one issuance",
        )


def _key_for(
    context: Context, file: SecretFile, data: bytes, keys: dict[str, SecretFile], inline: bool
) -> tuple[str, bytes] | None:
    """The key to pair with a certificate file: in the file itself, else ``<stem>.key``."""
    if inline:
        return file.path, data
    stem, suffix = os.path.splitext(file.path)
    key_file = keys.get(stem + _KEY_SUFFIX)
    if suffix.lower() not in PAIRED_SUFFIXES or key_file is None or key_file.dangling:
        return None
    result = context.read(key_file)
    return (key_file.path, result[0]) if isinstance(result, tuple) else None


def _which(chain: list[x509.Certificate], position: int) -> str:
    subject = chain[position].subject.rfc4514_string() or "(empty subject)"
    if len(chain) == 1:
        return f"the certificate ({subject})"
    return f"certificate #{position + 1} of {len(chain)} ({subject})"
