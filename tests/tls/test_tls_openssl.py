"""Material made by the ``openssl`` command line, the classic recipe, served to real clients.

The recipe: a 4096-bit root CA with ``basicConstraints = CA:TRUE,pathlen:1`` (not critical, no
keyUsage: what countless how-tos produce), a site certificate with ``extendedKeyUsage =
serverAuth`` and ``subjectAltName = DNS:localhost, IP:127.0.0.1``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from runsecrets.testing import write_rename
from runsecrets.tls import RotatingServerContext, load

from .._tls_server import fetch_serial, running, s_client_serial

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

_CA_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = Classic Root CA
[v3_ca]
basicConstraints = CA:TRUE,pathlen:1
subjectKeyIdentifier = hash
"""
_SITE_EXT = """\
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
"""


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def _site(directory: Path, name: str) -> tuple[Path, Path]:
    """A site key and certificate signed by the classic CA in ``directory``."""
    _openssl(directory, "genrsa", "-out", f"{name}.key", "2048")
    _openssl(directory, "req", "-new", "-key", f"{name}.key", "-subj", "/CN=localhost",
             "-out", f"{name}.csr")  # fmt: skip
    _openssl(directory, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey",
             "ca.key", "-CAcreateserial", "-days", "365", "-sha256", "-extfile", "site.ext",
             "-out", f"{name}.crt")  # fmt: skip
    return directory / f"{name}.crt", directory / f"{name}.key"


@pytest.fixture(scope="module")
def classic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ca.crt/ca.key (4096-bit) and two site pairs, site and site2."""
    directory = tmp_path_factory.mktemp("classic")
    (directory / "ca.cnf").write_text(_CA_CONFIG)
    (directory / "site.ext").write_text(_SITE_EXT)
    _openssl(directory, "genrsa", "-out", "ca.key", "4096")
    _openssl(directory, "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "3650",
             "-config", "ca.cnf", "-extensions", "v3_ca", "-out", "ca.crt")  # fmt: skip
    _site(directory, "site")
    _site(directory, "site2")
    return directory


def _serial(path: Path) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", "-serial"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().removeprefix("serial=").lstrip("0")


def test_classic_recipe_material_is_valid(classic: Path) -> None:
    """Material made with the classic openssl recipe is valid."""
    for host in ("localhost", "127.0.0.1"):
        material = load(classic / "site.crt", classic / "site.key", classic / "ca.crt", host=host)
        assert material.valid
    assert material.serial_hex == _serial(classic / "site.crt")
    assert material.ca_certificates[0].subject.rfc4514_string() == "CN=Classic Root CA"


def test_classic_site_cert_is_refused_for_another_host_and_for_clients(classic: Path) -> None:
    """The classic site certificate is refused for another host and for client use."""
    from runsecrets.tls import examine

    wrong_host = examine(
        classic / "site.crt", classic / "site.key", classic / "ca.crt", host="example.org"
    )
    assert wrong_host.failure is not None
    assert wrong_host.failure.reason == "hostname_mismatch"
    as_client = examine(
        classic / "site.crt", classic / "site.key", classic / "ca.crt", purpose="client"
    )
    assert as_client.failure is not None
    assert as_client.failure.reason == "bad_key_usage"


def test_mixing_two_openssl_pairs_is_key_mismatch(classic: Path) -> None:
    """A certificate with the key of another openssl pair is key_mismatch."""
    from runsecrets import InvalidTLSMaterialError

    with pytest.raises(InvalidTLSMaterialError) as caught:
        load(classic / "site.crt", classic / "site2.key", classic / "ca.crt")
    assert caught.value.reason == "key_mismatch"


def test_server_context_serves_python_and_openssl_clients(classic: Path) -> None:
    """The server context serves both Python's ssl and openssl s_client."""
    material = load(classic / "site.crt", classic / "site.key", classic / "ca.crt")
    expected = _serial(classic / "site.crt")
    with running(material.server_context()) as server:
        assert fetch_serial(server.port, material.client_context(present_certificate=False)) == (
            expected
        )
        assert s_client_serial(server.port, str(classic / "ca.crt")) == expected
        assert not server.failures


def test_openssl_s_client_sees_the_new_serial_without_restart(
    classic: Path, tmp_path: Path
) -> None:
    """The rotating context follows the files; s_client, with and without SNI, sees the change."""
    live = tmp_path / "live"
    live.mkdir()
    for name in ("site.crt", "site.key", "ca.crt"):
        shutil.copy(classic / name, live / name)
    first, second = _serial(classic / "site.crt"), _serial(classic / "site2.crt")
    with (
        RotatingServerContext(live / "site.crt", live / "site.key", live / "ca.crt") as context,
        running(context) as server,
    ):
        ca_file = str(live / "ca.crt")
        assert s_client_serial(server.port, ca_file) == first
        rotated = _wait_for_rotation(context)
        write_rename(live / "site.key", (classic / "site2.key").read_bytes())
        write_rename(live / "site.crt", (classic / "site2.crt").read_bytes())
        rotated.wait(10)
        assert context.material.serial_hex == second
        assert s_client_serial(server.port, ca_file) == second
        assert s_client_serial(server.port, ca_file, server_name=None) == second
        assert not server.failures


def _wait_for_rotation(context: RotatingServerContext) -> _Event:
    event = _Event()
    context.subscribe(lambda _material: event.set())
    return event


class _Event:
    """A threading.Event whose wait fails the test on timeout instead of returning False."""

    def __init__(self) -> None:
        import threading

        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> None:
        assert self._event.wait(timeout), "no rotation within the timeout"
