"""Rotation without restart across containers: the sidecar pattern of issue 7.

Two containers share a volume. The sidecar (a stand-in for Vault Agent, consul-template or a
certificate renewer) writes a TLS certificate, its key and a password into it, by rename and in
place. The app container is a long-running HTTPS server (``apps/tls_server.py``): one
``SecretStore`` over the read-only volume, a ``RotatingServerContext`` following the certificate
through it, listening on a loopback port with ``--network host``. Clients on the host
(``openssl s_client`` and Python's ``ssl``) check which certificate is served and whether a
password is accepted, so no value is ever printed: a certificate written without its key is
refused (``key_mismatch``) and the old one kept; the key makes the new one served; both password
writers are picked up; the container is never restarted; no value reaches ``docker logs`` or
``docker inspect``.

A last test shows the trap of a Compose-style single-file bind mount: a host in-place write
shows through, a host rename does not.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from .. import _pki
from .._tls_server import s_client_serial
from . import _harness as h

pytestmark = pytest.mark.e2e

#: The app, given to ``python3 -c`` (the image holds only the installed package).
APP = (Path(__file__).parent / "apps" / "tls_server.py").read_text()

#: The sidecar's writer: ``python3 -c WRITER rename|in-place PATH [MODE]`` with the value on
#: stdin, using the same writers as Vault Agent / consul-template (rename) and naive tools (in
#: place). MODE (octal) applies to a renamed file; an in-place write keeps the file's mode.
WRITER = r"""
import sys
from runsecrets.testing import write_in_place, write_rename
how, path, *mode = sys.argv[1:]
value = sys.stdin.buffer.read()
if how == "rename":
    write_rename(path, value, mode=int(mode[0], 8) if mode else 0o644)
else:
    write_in_place(path, value)
"""


def _started_at(docker: h.Docker, container: str) -> tuple[str, str]:
    """When the container's process started and how often it restarted."""
    line = docker.out("inspect", "--format", "{{.State.StartedAt}} {{.RestartCount}}", container)
    started, restarts = line.split()
    return started, restarts


def _free_port() -> int:
    """A loopback port free right now (the app binds it inside the host's network namespace)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Client:
    """HTTPS requests from the host to the app, verifying its certificate against the test CA."""

    def __init__(self, port: int, ca_file: Path) -> None:
        self.port = port
        self.ca_file = str(ca_file)

    def get(self, path: str, password: str | None = None) -> tuple[int, dict[str, object], str]:
        """``GET path`` over a fresh connection: the HTTP status, the JSON body, and the serial
        of the certificate served (upper-case hex). Connects to 127.0.0.1, so no SNI is sent
        and the name checked is the certificate's IP address."""
        context = ssl.create_default_context(cafile=self.ca_file)
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=context, timeout=10
        )
        try:
            headers = {} if password is None else {"Authorization": f"Bearer {password}"}
            connection.request("GET", path, headers=headers)
            assert isinstance(connection.sock, ssl.SSLSocket)
            der = connection.sock.getpeercert(binary_form=True)
            assert der is not None
            response = connection.getresponse()
            body = json.loads(response.read())
        finally:
            connection.close()
        serial = format(x509.load_der_x509_certificate(der).serial_number, "X")
        return response.status, body, serial

    def status(self) -> dict[str, object]:
        """The app's ``/status``."""
        code, body, _ = self.get("/status")
        assert code == 200, code
        return body

    def served_serial(self) -> str:
        """The serial Python's ``ssl`` is served (after verifying the chain and the address)."""
        return self.get("/status")[2]

    def accepts(self, password: str) -> bool:
        """Whether ``/private`` accepts ``password`` (200) rather than refusing it (401)."""
        code = self.get("/private", password)[0]
        assert code in (200, 401), code
        return code == 200


def _wait(docker: h.Docker, app: str, what: str, predicate: Callable[[], bool]) -> None:
    """Wait until ``predicate()`` holds (a connection error counts as not yet); on a timeout,
    fail with the app's log, which holds no value."""

    def check() -> bool:
        try:
            return predicate()
        except OSError:  # not listening yet, or a connection cut during a switch
            return False

    try:
        docker.wait_for(what, check, timeout=30)
    except AssertionError as e:
        logs = docker.run("logs", "--tail", "40", app, check=False)
        state = docker.out("inspect", "--format", "{{.State.Status}}", app, check=False)
        tail = (logs.stdout + logs.stderr).decode(errors="replace")
        raise AssertionError(f"{e} (app {state}); its log ends with:\n{tail}") from None


def test_sidecar_rotates_tls_and_password_for_a_running_server(
    docker: h.Docker, app_image: str, sentinel: str, tmp_path: Path
) -> None:
    """A sidecar rotates the certificate and the password on a shared volume; the app, an HTTPS
    server on SecretStore and RotatingServerContext, follows every change without a restart.

    (a) a new certificate without its key is refused (key_mismatch): s_client and Python ssl
    are still served the old one; once the key is written, both get the new serial, with and
    without SNI. (b) an in-place password write and (c) a rename are picked up: the old
    password is then refused (401), the new one accepted (200). (d) the container never
    restarted. (e) no password nor private key appears in ``docker logs`` or ``docker inspect``.
    """
    ca = _pki.make_ca(_pki.new_key("ec256"), "E2E Sidecar CA")
    first = _pki.make_leaf(ca, _pki.new_key("ec256"))
    second = _pki.make_leaf(ca, _pki.new_key("ec256"))
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(_pki.cert_pem(ca.cert))
    passwords = [f"{sentinel}-{n}" for n in range(1, 4)]

    volume = docker.name("secrets")
    docker.run("volume", "create", "--label", docker.label, volume)
    # The volume starts root-owned; the sidecar writes as the image's user.
    docker.run(
        "run", "--rm", "--network", "none", "--user", "0", "--label", docker.label,
        "--volume", f"{volume}:/secrets", app_image, "chown", "10001:10001", "/secrets",
    )  # fmt: skip
    sidecar = docker.name("sidecar")
    docker.run(
        "run", "--detach", "--name", sidecar, "--label", docker.label, "--network", "none",
        "--volume", f"{volume}:/secrets", app_image, "sleep", "infinity",
    )  # fmt: skip

    def write(how: str, name: str, value: bytes, mode: str = "644") -> None:
        docker.run(
            "exec", "-i", sidecar, "python3", "-c", WRITER, how, f"/secrets/{name}", mode,
            input=value,
        )  # fmt: skip

    write("rename", "tls.key", _pki.key_bytes(first.key), "600")
    write("rename", "tls.crt", _pki.cert_pem(first.cert))
    write("rename", "db_password", passwords[0].encode())

    port = _free_port()
    app = docker.name("tls-app")
    docker.run(
        "run", "--detach", "--name", app, "--label", docker.label, "--network", "host",
        "--read-only", "--volume", f"{volume}:/run/secrets:ro", app_image,
        "python3", "-c", APP, str(port),
    )  # fmt: skip
    client = Client(port, ca_file)
    _wait(docker, app, "the app to serve", lambda: client.served_serial() == first.serial_hex)
    assert s_client_serial(port, str(ca_file)) == first.serial_hex
    assert client.accepts(passwords[0])
    started = _started_at(docker, app)

    # (a) A renewer that writes the certificate and the key separately: the certificate alone
    # does not match the key in service; the pair in service stays.
    write("rename", "tls.crt", _pki.cert_pem(second.cert))
    # The context gates its store: the store holds the candidate back (and retries on its
    # timer, each retry a refusal), so no reader of the store sees the unmatched certificate.
    _wait(docker, app, "the certificate to be refused", lambda: client.status()["refusals"] >= 1)
    status = client.status()
    assert status["tls_error"] == "key_mismatch"
    assert "key_mismatch" in str(status["store"])
    assert status["serial"] == first.serial_hex
    assert status["rotations"] == 0
    assert s_client_serial(port, str(ca_file)) == first.serial_hex
    assert client.served_serial() == first.serial_hex

    write("rename", "tls.key", _pki.key_bytes(second.key), "600")
    _wait(docker, app, "the new certificate", lambda: client.served_serial() == second.serial_hex)
    assert s_client_serial(port, str(ca_file)) == second.serial_hex
    assert s_client_serial(port, str(ca_file), server_name=None) == second.serial_hex
    status = client.status()
    assert (status["rotations"], status["tls_error"]) == (1, None)

    # (b) A naive writer: truncate and write the same inode.
    write("in-place", "db_password", passwords[1].encode())
    _wait(docker, app, "the in-place password", lambda: client.accepts(passwords[1]))
    assert not client.accepts(passwords[0])
    # (c) Vault Agent / consul-template: a new file renamed over the old one.
    write("rename", "db_password", passwords[2].encode())
    _wait(docker, app, "the renamed password", lambda: client.accepts(passwords[2]))
    assert not client.accepts(passwords[1])
    assert client.served_serial() == second.serial_hex

    # (d) One process all along.
    assert _started_at(docker, app) == started, "the app was restarted"
    store = client.status()["store"]
    assert isinstance(store, dict)
    assert store["healthy"], store

    # (e) No value anywhere the engine shows: logs, container and volume metadata.
    logs = docker.run("logs", app)
    output = logs.stdout + logs.stderr
    assert b"key_mismatch" in output  # the refusal is logged (by reason, without the key)
    assert b"Traceback" not in output
    key_lines = [_pki.key_bytes(k).splitlines()[1] for k in (first.key, second.key)]
    for shown in (
        output,
        docker.run("logs", sidecar).stdout + docker.run("logs", sidecar).stderr,
        docker.run("inspect", app, sidecar).stdout,
        docker.run("volume", "inspect", volume).stdout,
    ):
        assert not h.leaked_any(sentinel, shown)
        assert not any(line in shown for line in key_lines)


def test_single_file_bind_mount_misses_a_host_rename(
    docker: h.Docker, app_image: str, sentinel: str, tmp_path: Path
) -> None:
    """A Compose ``secrets: file:`` mount is a single-file bind mount: an in-place host write
    shows through, a host-side rename does not (the mount keeps the old inode). This is why
    rotating such secrets means rewriting in place or recreating the container.

    The running container is checked with the probe (``docker exec``), which prints digests of
    what it reads to the test only; the container's own log stays empty."""
    host = tmp_path / "db_password.txt"
    host.write_text(f"{sentinel}-1")
    host.chmod(0o644)
    target = "/run/secrets/db_password"
    app = docker.name("bind-app")
    docker.run(
        "run", "--detach", "--name", app, "--label", docker.label, "--network", "none",
        "--read-only", "--mount", f"type=bind,source={host},target={target},readonly",
        app_image, "sleep", "infinity",
    )  # fmt: skip
    assert docker.probe(app, target) == {target: h.digest(f"{sentinel}-1")}

    with host.open("r+") as handle:  # in place: same inode
        handle.truncate(0)
        handle.write(f"{sentinel}-2")
    assert docker.probe(app, target) == {target: h.digest(f"{sentinel}-2")}

    replacement = tmp_path / "db_password.txt.new"
    replacement.write_text(f"{sentinel}-3")
    replacement.chmod(0o644)
    replacement.replace(host)  # rename: a new inode the mount never sees
    assert docker.probe(app, target) == {target: h.digest(f"{sentinel}-2")}
    logs = docker.run("logs", app)
    assert logs.stdout + logs.stderr == b""
