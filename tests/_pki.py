"""A small certificate factory for the TLS tests, built on ``cryptography``.

RSA keys are slow to generate, so a :class:`KeyPool` makes each kind once per session; EC keys
are cheap and made fresh where a test needs many distinct pairs (rotations).
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The tests' reference time: now (real handshakes check dates against the real clock), to the
#: second so that a test passing ``now=NOW`` is deterministic.
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)
_serials = itertools.count(0x1000)


class KeyPool:
    """Keys made on first use and reused for the whole session."""

    def __init__(self) -> None:
        self._keys: dict[str, PrivateKeyTypes] = {}

    def get(self, label: str) -> CertificateIssuerPrivateKeyTypes:
        """``rsa2048-<tag>``, ``rsa1024``, ``ec256-<tag>``, ``ec192``, ``ed25519-<tag>``."""
        if label not in self._keys:
            kind = label.split("-", 1)[0]
            self._keys[label] = new_key(kind)
        key = self._keys[label]
        assert isinstance(
            key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        )
        return key


#: The session's keys (a test module's fixtures draw from it).
KEYS = KeyPool()


def new_key(kind: str) -> CertificateIssuerPrivateKeyTypes:
    """A fresh key: ``rsa2048``, ``rsa1024``, ``rsa4096``, ``ec256``, ``ec192``, ``ed25519``."""
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec192":
        return ec.generate_private_key(ec.SECP192R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


class Issued:
    """A certificate with its private key."""

    def __init__(self, cert: x509.Certificate, key: CertificateIssuerPrivateKeyTypes) -> None:
        self.cert = cert
        self.key = key

    @property
    def serial_hex(self) -> str:
        """The serial as openssl prints it."""
        return format(self.cert.serial_number, "X")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _sign_hash(
    key: CertificateIssuerPrivateKeyTypes, algorithm: hashes.HashAlgorithm | None
) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    return algorithm or hashes.SHA256()


def make_ca(
    key: CertificateIssuerPrivateKeyTypes,
    name: str = "Test Root CA",
    *,
    issuer: Issued | None = None,
    path_length: int | None = 1,
    not_before: datetime.datetime = NOW - 365 * DAY,
    not_after: datetime.datetime = NOW + 3650 * DAY,
) -> Issued:
    """A CA certificate: self-signed root, or an intermediate signed by ``issuer``."""
    signer_key = key if issuer is None else issuer.key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name) if issuer is None else issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(next(_serials))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    cert = builder.sign(signer_key, _sign_hash(signer_key, None))
    return Issued(cert, key)


def make_leaf(
    issuer: Issued,
    key: CertificateIssuerPrivateKeyTypes,
    *,
    names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    eku: tuple[x509.ObjectIdentifier, ...] | None = (ExtendedKeyUsageOID.SERVER_AUTH,),
    not_before: datetime.datetime = NOW - 10 * DAY,
    not_after: datetime.datetime = NOW + 90 * DAY,
    hash_algorithm: hashes.HashAlgorithm | None = None,
    is_ca: bool = False,
    serial: int | None = None,
    common_name: str = "localhost",
) -> Issued:
    """A leaf certificate for ``names`` (DNS names and IP addresses), signed by ``issuer``."""
    general: list[x509.GeneralName] = []
    for entry in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(entry)))
        except ValueError:
            general.append(x509.DNSName(entry))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else next(_serials))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    cert = builder.sign(issuer.key, _sign_hash(issuer.key, hash_algorithm))
    return Issued(cert, key)


def cert_pem(*certs: x509.Certificate) -> bytes:
    """PEM blocks of ``certs``, in order."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_bytes(
    key: PrivateKeyTypes,
    *,
    encoding: serialization.Encoding = serialization.Encoding.PEM,
    traditional: bool = False,
    password: bytes | None = None,
) -> bytes:
    """The key serialised: PKCS#8 (or traditional), PEM (or DER), encrypted with ``password``."""
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if traditional
        else serialization.PrivateFormat.PKCS8
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(encoding, fmt, encryption)


def write_material(
    directory: Path,
    leaf: Issued,
    ca: Issued | None = None,
    *,
    intermediates: tuple[x509.Certificate, ...] = (),
    prefix: str = "",
) -> tuple[Path, Path, Path | None]:
    """Write ``<prefix>cert.pem`` (leaf + intermediates), ``key.pem`` and ``ca.pem``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{prefix}cert.pem"
    key_path = directory / f"{prefix}key.pem"
    cert_path.write_bytes(cert_pem(leaf.cert, *intermediates))
    key_path.write_bytes(key_bytes(leaf.key))
    key_path.chmod(0o600)
    ca_path = None
    if ca is not None:
        ca_path = directory / f"{prefix}ca.pem"
        ca_path.write_bytes(cert_pem(ca.cert))
    return cert_path, key_path, ca_path


def openssl_sign_sha1(
    issuer: Issued, key: CertificateIssuerPrivateKeyTypes, workdir: Path
) -> Issued:
    """A leaf for localhost signed with SHA-1 by the ``openssl`` command (cryptography refuses
    to make SHA-1 signatures)."""
    import subprocess

    workdir.mkdir(parents=True, exist_ok=True)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name("localhost"))
        .sign(key, _sign_hash(key, None))
    )
    (workdir / "leaf.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    (workdir / "issuer.pem").write_bytes(cert_pem(issuer.cert))
    (workdir / "issuer.key").write_bytes(key_bytes(issuer.key))
    (workdir / "leaf.ext").write_text(
        "basicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n"
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
    )
    subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "issuer.pem",
            "-CAkey",
            "issuer.key",
            "-set_serial",
            str(next(_serials)),
            "-days",
            "30",
            "-sha1",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.pem",
        ],
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    return Issued(x509.load_pem_x509_certificate((workdir / "leaf.pem").read_bytes()), key)


def publish_material(directory: Path, leaf: Issued, root: Issued | None = None) -> None:
    """Rotate ``tls.crt`` and ``tls.key`` (and ``ca.crt`` with ``root``) in ``directory`` the
    way a renewer does: each file renamed into place, the key at mode 0600."""
    from runsecrets.testing import write_rename

    write_rename(directory / "tls.crt", cert_pem(leaf.cert))
    write_rename(directory / "tls.key", key_bytes(leaf.key), mode=0o600)
    if root is not None:
        write_rename(directory / "ca.crt", cert_pem(root.cert))


def client_trusting(root: Issued) -> ssl.SSLContext:
    """A client context that trusts ``root`` only (hostname checks on)."""
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cadata=cert_pem(root.cert).decode())
    return client


#: A writer process: ``python -c PAIR_WRITER STAGING LIVE ORDER COUNT`` renames ``STAGING/<i>.crt``
#: and ``<i>.key`` over ``LIVE/tls.crt`` and ``tls.key`` for each i, one file then the other 30 ms
#: apart (ORDER ``cert-first`` or ``key-first``), 50 ms between rotations.
PAIR_WRITER = """
import sys, time
from pathlib import Path
from runsecrets.testing import write_rename
staging, live, order, count = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
for i in range(count):
    cert = (staging / f"{i}.crt").read_bytes()
    key = (staging / f"{i}.key").read_bytes()
    steps = [("tls.crt", cert), ("tls.key", key)]
    if order == "key-first":
        steps.reverse()
    for name, data in steps:
        write_rename(live / name, data)
        time.sleep(0.03)  # the two files land at clearly different moments
    time.sleep(0.05)
"""


def stage_pairs(staging: Path, leaves: list[Issued]) -> None:
    """Write each leaf as ``<i>.crt`` and ``<i>.key`` for :data:`PAIR_WRITER`."""
    staging.mkdir(parents=True, exist_ok=True)
    for i, leaf in enumerate(leaves):
        (staging / f"{i}.crt").write_bytes(cert_pem(leaf.cert))
        (staging / f"{i}.key").write_bytes(key_bytes(leaf.key))
