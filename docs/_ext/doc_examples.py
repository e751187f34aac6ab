"""The world the documentation's examples run in: a secrets directory, TLS material, a clean
environment.

Every ``{testcode}`` group of the site (run by ``sphinx-build -b doctest``, see ``conf.py``) and
every ``console`` block (run by ``tests/docs/test_site.py``) starts in a new temporary
directory holding ``secrets/`` with the secrets below, ``RUNSECRETS_DIR`` pointing there, and no
other ``RUNSECRETS_*`` or ``*_FILE`` variable: what a container with those secrets mounted at
``/run/secrets`` would see.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import tempfile
from pathlib import Path

#: The plain secrets every example may read, by file name.
SECRETS = {
    "db_password": "correct horse battery staple\n",
    "db_user": "app\n",
    "api_token": "tok-3f9a1c2e7b\n",
    "app_api_token": "tok-app-81d0\n",
    "django_secret_key": "django-insecure-example-only-0123456789abcdef\n",
    "flask_secret_key": "flask-example-key-0123456789\n",
}


class ExampleWorld:
    """A temporary directory laid out for the examples.

    With ``activate`` (the doctest groups) the process itself moves in: ``os.environ`` and the
    working directory change, and :meth:`close` puts them back. Without it (the console
    examples, run in a subprocess) :meth:`environ` is the environment to hand over.
    """

    def __init__(self, *, activate: bool = True) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="runsecrets-docs-"))
        self.secrets = self.root / "secrets"
        self.secrets.mkdir()
        for name, value in SECRETS.items():
            (self.secrets / name).write_text(value)
        write_tls_material(self.secrets)
        self._saved: tuple[dict[str, str], str] | None = None
        if activate:
            self._saved = dict(os.environ), os.getcwd()
            os.environ.clear()
            os.environ.update(self.environ())
            os.chdir(self.root)

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default ``os.environ``) without runsecrets' and ``*_FILE`` variables, and
        with ``RUNSECRETS_DIR`` pointing at this world's secrets."""
        environ = {
            variable: value
            for variable, value in (os.environ if base is None else base).items()
            if not (variable.startswith("RUNSECRETS_") or variable.endswith("_FILE"))
        }
        environ["RUNSECRETS_DIR"] = str(self.secrets)
        return environ

    def close(self) -> None:
        if self._saved is not None:
            environ, cwd = self._saved
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(environ)
        shutil.rmtree(self.root, ignore_errors=True)


def write_tls_material(directory: Path) -> None:
    """``ca.crt``, and ``tls.crt``/``tls.key`` for ``api.internal``, ``localhost`` and
    127.0.0.1 signed by it (EC P-256: fast to make), valid from yesterday for 90 days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=90)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.internal")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("api.internal"),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.crt").write_bytes(ca.public_bytes(pem))
    (directory / "tls.crt").write_bytes(leaf.public_bytes(pem))
    (directory / "tls.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
