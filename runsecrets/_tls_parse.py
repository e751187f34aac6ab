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

from .exceptions import InvalidTLSMaterialError

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
        InvalidTLSMaterialError: ``parse_error``, naming ``label``.
    """
    try:
        if is_pem(data):
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as e:
        kind = "PEM" if is_pem(data) else "DER (no PEM header found)"
        raise parse_error(f"{label}: no valid certificate found ({kind}): {e}", (label,)) from e


def has_pem_key(data: bytes) -> bool:
    """Whether ``data`` holds a PEM private key block (a certificate file with its key)."""
    return is_pem(data) and _PEM_KEY_MARK in data


def parse_private_key(data: bytes, password: bytes | None, label: str) -> PrivateKeyTypes:
    """The private key in ``data``: PEM or DER, PKCS#8 or traditional, encrypted or not.

    Raises:
        InvalidTLSMaterialError: ``parse_error``: not a key, encrypted without a password, a
            wrong password, a password for an unencrypted key. Never shows key bytes.
    """
    pem = is_pem(data)
    load = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        return load(data, password, unsafe_skip_rsa_key_validation=True)
    except TypeError as e:
        # cryptography says TypeError for a password mismatch in either direction.
        if password is None:
            detail = "the key is encrypted: give its password"
        else:
            detail = "a password was given but the key is not encrypted"
        raise parse_error(f"{label}: {detail}", (label,)) from e
    except ValueError as e:
        if password is not None:
            detail = "cannot decrypt or parse the key (wrong password?)"
        else:
            detail = "no valid private key found (" + ("PEM" if pem else "DER") + ")"
        raise parse_error(f"{label}: {detail}", (label,)) from e
    except Exception as e:  # cryptography's UnsupportedAlgorithm and friends
        raise parse_error(f"{label}: unsupported private key ({type(e).__name__})", (label,)) from e


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
