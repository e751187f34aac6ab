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
``openssl_refused``    OpenSSL would not load material that passed every check (a rotating
                       context keeps serving the last good one)
=====================  ===================================================================

This package is the only one that imports ``cryptography``; ``import runsecrets`` does not load
it.
"""

from __future__ import annotations

from ..exceptions import InvalidTLSMaterialError
from ._checks import CHECK_ORDER, Check
from ._load import REASONS, examine, load
from ._material import DEFAULT_MIN_VALID_DAYS, TLSMaterial
from ._rotate import RotatingServerContext
from ._source import is_path

__all__ = [
    "CHECK_ORDER",
    "DEFAULT_MIN_VALID_DAYS",
    "REASONS",
    "Check",
    "InvalidTLSMaterialError",
    "RotatingServerContext",
    "TLSMaterial",
    "examine",
    "is_path",
    "load",
]
