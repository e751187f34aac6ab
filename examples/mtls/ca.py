"""A stand-in CA for the example: one root, server and client certificates issued from it.

Real issuers (cert-manager, Vault's PKI, a mesh's CA) write the certificate and its key one
after the other, each by rename; so does this one, with a pause between the two files, so
that every rotation leaves a half-written pair for a moment.

    python ca.py init CA_DIR                                  # the root: ca.crt, ca.key
    python ca.py issue CA_DIR SECRETS_DIR server [--key-first]
    python ca.py issue CA_DIR SECRETS_DIR client [--key-first]

``issue`` writes ``tls.crt``, ``tls.key`` and ``ca.crt`` into SECRETS_DIR and prints the serial.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runsecrets.testing import write_rename

#: Between the two files of a pair: the half-written moment every rotation goes through.
GAP = 0.05


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def init(ca_dir: Path) -> None:
    """Make the root CA (a private key the example keeps beside it: a real CA does not)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Mesh CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca_dir.mkdir(parents=True, exist_ok=True)
    write_rename(ca_dir / "ca.key", _key_pem(key), mode=0o600)
    write_rename(ca_dir / "ca.crt", _pem(cert))


def issue(ca_dir: Path, directory: Path, role: str, *, key_first: bool = False) -> str:
    """A fresh certificate for ``role`` (``server``: for localhost; ``client``), written into
    ``directory`` one file after the other; its serial in hex."""
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if role == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"example-{role}")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if role == "server":
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    directory.mkdir(parents=True, exist_ok=True)
    write_rename(directory / "ca.crt", _pem(ca_cert))
    steps = [("tls.crt", _pem(cert), 0o644), ("tls.key", _key_pem(key), 0o600)]
    for name, data, mode in reversed(steps) if key_first else steps:
        write_rename(directory / name, data, mode=mode)
        time.sleep(GAP)
    return format(cert.serial_number, "X")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init").add_argument("ca_dir", type=Path)
    issuing = commands.add_parser("issue")
    issuing.add_argument("ca_dir", type=Path)
    issuing.add_argument("directory", type=Path)
    issuing.add_argument("role", choices=("server", "client"))
    issuing.add_argument("--key-first", action="store_true")
    args = parser.parse_args()
    if args.command == "init":
        init(args.ca_dir)
    else:
        print(issue(args.ca_dir, args.directory, args.role, key_first=args.key_first))


if __name__ == "__main__":
    main()
