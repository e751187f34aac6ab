"""A stand-in certificate renewer: issue a fresh self-signed certificate into a secrets dir.

Real renewers (cert-manager, Vault Agent, certbot hooks) write the key and the certificate one
after the other, each by rename; so does this one. Usage: ``python renew.py SECRETS_DIR``.
"""

import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runsecrets.testing import write_rename


def issue(directory: Path, common_name: str = "localhost") -> int:
    """Write ``tls.key`` then ``tls.crt`` (valid 90 days for localhost/127.0.0.1); the serial."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    serial = x509.random_serial_number()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_rename(directory / "tls.key", key_pem, mode=0o600)
    write_rename(directory / "tls.crt", cert.public_bytes(serialization.Encoding.PEM))
    return serial


if __name__ == "__main__":
    print(f"issued certificate serial {issue(Path(sys.argv[1])):x}")
