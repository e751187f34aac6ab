"""Parsing certificates and private keys, PEM or DER, with ``cryptography``.

RSA keys are loaded with ``unsafe_skip_rsa_key_validation``: the default check of the private
numbers costs about 240 ms for a 4096-bit key, 400 times OpenSSL's own loading. What that check
would catch (a corrupt private half) cannot reach a client: the key/certificate pair is compared
here on the public half, and OpenSSL loads the same key again when a context is built.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from ..exceptions import InvalidTLSMaterialError
from ._pem import CERTIFICATE_KINDS, read_blocks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import (
        CertificatePublicKeyTypes,
        PrivateKeyTypes,
    )

_PEM_MARK = b"-----BEGIN "
_PEM_KEY_MARK = b"PRIVATE KEY-----"


def is_pem(data: bytes) -> bool:
    """Whether ``data`` holds PEM blocks (else it is taken for DER)."""
    return _PEM_MARK in data


def parse_error(message: str, files: tuple[str, ...]) -> InvalidTLSMaterialError:
    """An ``InvalidTLSMaterialError`` with the reason ``parse_error``."""
    return InvalidTLSMaterialError(message, reason="parse_error", files=files)


def parse_certificates(data: bytes, label: str) -> list[x509.Certificate]:
    """Every certificate in ``data``: PEM blocks in order (other blocks skipped), or one DER.

    Raises:
        InvalidTLSMaterialError: ``parse_error``, naming ``label`` and, for PEM, the damaged
            block (kind, position, byte offset). cryptography's own message is never shown: it
            quotes the line it could not parse, which in a file holding a key is key material.
    """
    try:
        if is_pem(data):
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        pass  # said below in our own words, outside this handler: nothing of it is chained
    raise parse_error(f"{label}: no valid certificate found: {_certificate_damage(data)}", (label,))


def _certificate_damage(data: bytes) -> str:
    if not is_pem(data):
        return "no PEM header found, and the data is not a DER certificate"
    blocks, damage = read_blocks(data)
    if damage is not None:
        return damage
    certificates = [block for block in blocks if block.kind in CERTIFICATE_KINDS]
    if not certificates:
        kinds = ", ".join(block.kind for block in blocks)
        return f"no CERTIFICATE block among the {len(blocks)} PEM block(s) ({kinds})"
    for block in certificates:
        try:
            x509.load_der_x509_certificate(block.der)
        except ValueError:
            return f"{block.describe()} is not a valid X.509 certificate (damaged or truncated)"
    return "cryptography refused the PEM data, though every block is well formed"


def has_pem_key(data: bytes) -> bool:
    """Whether ``data`` holds a PEM private key block (a certificate file with its key)."""
    return is_pem(data) and _PEM_KEY_MARK in data


def parse_private_key(data: bytes, password: bytes | None, label: str) -> PrivateKeyTypes:
    """The private key in ``data``: PEM or DER, PKCS#8 or traditional, encrypted or not.

    Raises:
        InvalidTLSMaterialError: ``parse_error``: not a key, encrypted without a password, a
            wrong password, a password for an unencrypted key, a damaged PEM block (named by
            kind, position and byte offset). Never shows key bytes, nor cryptography's message.
    """
    pem = is_pem(data)
    load = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        return load(data, password, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        # cryptography says TypeError for a password mismatch in either direction.
        if password is None:
            detail = "the key is encrypted: give its password"
        else:
            detail = "a password was given but the key is not encrypted"
    except ValueError:
        detail = _key_damage(data, password)
    except Exception as e:  # noqa: BLE001 - cryptography's UnsupportedAlgorithm and friends
        detail = f"unsupported private key ({type(e).__name__})"
    # Raised here, past the handlers: cryptography's error is neither chained nor kept.
    raise parse_error(f"{label}: {detail}", (label,))


def _key_damage(data: bytes, password: bytes | None) -> str:
    if not is_pem(data):
        wrong = " (or a wrong password)" if password is not None else ""
        return f"no valid private key found (DER){wrong}"
    blocks, damage = read_blocks(data)
    if damage is not None:
        return f"no valid private key found: {damage}"
    keys = [block for block in blocks if block.kind.endswith("PRIVATE KEY")]
    if not keys:
        kinds = ", ".join(block.kind for block in blocks) or "none"
        return f"no PRIVATE KEY block among the {len(blocks)} PEM block(s) ({kinds})"
    if password is not None:
        return f"cannot decrypt or parse the key in {keys[0].describe()} (wrong password?)"
    return f"{keys[0].describe()} does not hold a valid private key (damaged or truncated)"


def describe_key(key: CertificatePublicKeyTypes) -> tuple[str, int]:
    """The key's type name and size in bits (the curve's size for EC, 256 for Ed25519)."""
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, 0
