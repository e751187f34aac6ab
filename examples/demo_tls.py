"""``make demo``, TLS part: validate a certificate, refuse a mismatched key, rotate a live server.

1. ``runsecrets tls check`` on a certificate, its key and CA: facts and a verdict per check.
2. ``runsecrets.tls.load`` refuses a key that belongs to another certificate (``key_mismatch``).
3. An HTTPS server (``http.server``) runs on 127.0.0.1 with a ``RotatingServerContext``;
   another process renews the certificate, writing the certificate and, 200 ms later, its key.
   A client prints the serial it is served before and after: the half-written pair is never
   served, and the server is not restarted.
"""

from __future__ import annotations

import datetime
import http.client
import http.server
import ipaddress
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runsecrets import InvalidTLSMaterialError
from runsecrets.tls import RotatingServerContext, load

_NOW = datetime.datetime.now(datetime.timezone.utc)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
) -> x509.Certificate:
    """A CA certificate (no issuer) or a server certificate for localhost and 127.0.0.1."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(subject) if issuer is None else issuer[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - datetime.timedelta(days=1))
        .not_valid_after(_NOW + datetime.timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    signer = key if issuer is None else issuer[1]
    return builder.sign(signer, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _site(
    directory: Path, name: str, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = _issue("localhost", key, ca)
    (directory / f"{name}.crt").write_bytes(_pem(certificate))
    (directory / f"{name}.key").write_bytes(_key_pem(key))
    (directory / f"{name}.key").chmod(0o600)
    return certificate


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello over TLS\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the demo's output to the point


def _served_serial(port: int, ca_file: Path) -> str:
    client = ssl.create_default_context(cafile=str(ca_file))
    connection = http.client.HTTPSConnection("localhost", port, context=client, timeout=10)
    try:
        connection.connect()
        assert isinstance(connection.sock, ssl.SSLSocket)
        der = connection.sock.getpeercert(binary_form=True)  # read before the server closes
        connection.request("GET", "/")
        connection.getresponse().read()
    finally:
        connection.close()
    assert der is not None
    return format(x509.load_der_x509_certificate(der).serial_number, "X")


# A renewer in another process: certificate first, key 200 ms later (two renames).
_RENEWER = """
import sys, time
from pathlib import Path
from runsecrets.testing import write_rename
staging, live = Path(sys.argv[1]), Path(sys.argv[2])
write_rename(live / "tls.crt", (staging / "new.crt").read_bytes())
print("certificate written", flush=True)
time.sleep(0.2)
write_rename(live / "tls.key", (staging / "new.key").read_bytes(), mode=0o600)
"""


def run_demo() -> None:
    """Validate, refuse a mismatched key, and rotate a running HTTPS server's certificate."""
    with tempfile.TemporaryDirectory(prefix="runsecrets-tls-") as tmp:
        root = Path(tmp)
        live, staging = root / "live", root / "staging"
        live.mkdir()
        staging.mkdir()
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (_issue("Demo Root CA", ca_key, None), ca_key)
        (live / "ca.crt").write_bytes(_pem(ca[0]))
        first = _site(live, "tls", ca)
        second = _site(staging, "new", ca)

        print("  1. runsecrets tls check --cert tls.crt --key tls.key --ca ca.crt --host localhost")
        check = subprocess.run(
            [sys.executable, "-m", "runsecrets", "tls", "check", "--cert", str(live / "tls.crt"),
             "--key", str(live / "tls.key"), "--ca", str(live / "ca.crt"), "--host", "localhost"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        for line in check.stdout.splitlines():
            print(f"     {line}")
        print(f"     (exit code {check.returncode})")

        print("  2. the new certificate with the old key (two renewals mixed up):")
        try:
            load(staging / "new.crt", live / "tls.key", live / "ca.crt")
        except InvalidTLSMaterialError as e:
            print(f"     refused: reason={e.reason}")

        print("  3. an HTTPS server with a RotatingServerContext; another process renews it:")
        context = RotatingServerContext(live / "tls.crt", live / "tls.key", live / "ca.crt")
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            print(f"     serial served before: {_served_serial(port, live / 'ca.crt')}")
            renewer = subprocess.Popen(
                [sys.executable, "-c", _RENEWER, str(staging), str(live)],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert renewer.stdout is not None
            renewer.stdout.readline()  # the certificate is written, its key not for 200 ms
            print(
                f"     serial served while only the certificate is new: "
                f"{_served_serial(port, live / 'ca.crt')} (the last good pair)"
            )
            renewer.communicate(timeout=30)
            deadline = time.monotonic() + 10
            while context.rotations == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            print(f"     serial served after:  {_served_serial(port, live / 'ca.crt')}")
            print(
                f"     expected {format(first.serial_number, 'X')} -> "
                f"{format(second.serial_number, 'X')}; rotations: {context.rotations}, "
                f"half-written pairs refused: {context.refusals}, no restart"
            )
        finally:
            server.shutdown()
            server.server_close()
            context.close()


if __name__ == "__main__":
    run_demo()
