"""An HTTPS service whose replicas call each other with mutual TLS, following certificate
rotation with no restart (docker/tls-mesh/stack.yaml).

One process, one :class:`~runsecrets.SecretStore` on the directory the secrets agent writes
(``RUNSECRETS_DIR``, a tmpfs volume: ``tls.crt``, ``tls.key``, ``ca.crt``), and two contexts
derived from it: a :class:`~runsecrets.tls.RotatingServerContext` that serves the certificate
and requires a client certificate from the CA bundle, and a
:class:`~runsecrets.tls.RotatingClientContext` that presents the same certificate to the peers
and verifies theirs. Both are gated: a certificate delivered before its key is held back by the
store, and the last good pair keeps serving and presenting until the key follows.

On ``MESH_PORT`` (8443), HTTPS, client certificate required:

``GET /hello``
    200, JSON: the SHA-256 fingerprint of the client certificate this replica verified.
``GET /relay`` (or ``POST``)
    Calls ``/hello`` on another replica (an address of ``MESH_PEERS``, ``tasks.<service>``
    with endpoint mode dnsrr) over mutual TLS, a new connection per call, verifying the name
    ``MESH_SERVER_NAME``; 200 with the peer's address, the fingerprint of the certificate the
    peer served and the one it saw from this replica, or 502 when the call failed.

On ``127.0.0.1:MESH_ADMIN_PORT`` (8080), plain HTTP, inside the container only:

``GET /healthz``
    200 once the contexts are up.
``GET /state``
    JSON: the certificate served and presented (serial, SHA-256 fingerprint, subject, issuer,
    the CA bundle's subjects; never key material), rotations and refusals of each context, the
    store's status (a held-back update and its reason), and the counts of calls made to peers
    and received.

No value is ever printed: the log names certificates by serial and fingerprint only.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import itertools
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping

from runsecrets import RunSecretsError, SecretStore, tls

PORT = int(os.environ.get("MESH_PORT", "8443"))
ADMIN_PORT = int(os.environ.get("MESH_ADMIN_PORT", "8080"))
PEERS = os.environ.get("MESH_PEERS", "")
SERVER_NAME = os.environ.get("MESH_SERVER_NAME", "mesh.internal")
NAMES = ("tls.crt", "tls.key", "ca.crt")
CALL_TIMEOUT = 10.0
#: How long to wait at start for the agent's first delivery (the two tasks start together).
START_TIMEOUT = float(os.environ.get("MESH_START_TIMEOUT", "60"))


def fingerprint(der: bytes | None) -> str:
    """The SHA-256 fingerprint of a DER certificate (public data) as ``TLSMaterial`` writes
    it, or ``""``."""
    return hashlib.sha256(der).digest().hex(":").upper() if der else ""


class Counters:
    """Calls to peers (outbound) and requests received (inbound), by outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = {
            "outbound_ok": 0,
            "outbound_failed": 0,
            "outbound_handshake_failed": 0,
            "inbound_ok": 0,
            "inbound_handshake_failed": 0,
        }
        #: ``[when (time.monotonic()), what, error type]``: never a message.
        self.failures: list[list[object]] = []

    def add(self, what: str, error: BaseException | None = None) -> None:
        with self._lock:
            self.counts[what] += 1
            if error is not None and len(self.failures) < 100:
                self.failures.append([time.monotonic(), what, type(error).__name__])

    def as_dict(self) -> dict[str, object]:
        with self._lock:
            return {**self.counts, "failures": list(self.failures)}


class HandshakeFailed(Exception):
    """A call's TLS handshake with a peer failed (counted apart from other failures)."""


class Peers:
    """The replicas' addresses, resolved again every 0.5 s (a client-side balancer's view)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.addresses: list[str] = []
        self._turn = itertools.count()
        threading.Thread(target=self._resolve, daemon=True).start()

    def _resolve(self) -> None:
        while True:
            try:
                found = sorted({str(a[4][0]) for a in socket.getaddrinfo(self.name, PORT)})
            except OSError:
                found = []
            if found:
                self.addresses = found
            time.sleep(0.5)

    def other_than(self, own: str) -> str | None:
        others = [address for address in self.addresses if address != own]
        return others[next(self._turn) % len(others)] if others else None


class Mesh:
    """The store, the two contexts, the counters: everything the handlers share."""

    def __init__(self) -> None:
        self.store = SecretStore(names=NAMES)
        self.server = tls.RotatingServerContext(*NAMES, store=self.store, require_client_cert=True)
        self.client = tls.RotatingClientContext(*NAMES, store=self.store)
        self.store.start()
        self.counters = Counters()
        self.peers = Peers(PEERS)
        self.started = time.time()

    def call_peer(self, own: str) -> dict[str, str]:
        """``GET /hello`` on another replica over mutual TLS: what it served and saw.

        Raises:
            LookupError: no other replica is known.
            HandshakeFailed: the TLS handshake failed (counted here).
            OSError, http.client.HTTPException, ValueError: the call failed otherwise.
        """
        address = self.peers.other_than(own)
        if address is None:
            raise LookupError("no other replica is known")
        raw = socket.create_connection((address, PORT), timeout=CALL_TIMEOUT)
        try:
            sock = self.client.wrap_socket(raw, server_hostname=SERVER_NAME)
        except OSError as error:  # ssl.SSLError, or a reset in the middle of the handshake
            raw.close()
            self.counters.add("outbound_handshake_failed", error)
            raise HandshakeFailed(type(error).__name__) from None
        with sock:
            served = fingerprint(sock.getpeercert(binary_form=True))
            connection = http.client.HTTPConnection(address, PORT, timeout=CALL_TIMEOUT)
            connection.sock = sock
            connection.request("GET", "/hello", headers={"Host": SERVER_NAME})
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise ValueError(f"status {response.status}")
        seen = json.loads(body)["client"]
        return {"peer": address, "served": served, "seen": seen}

    def state(self) -> dict[str, object]:
        """What ``/state`` answers (public certificate data and counters only)."""
        return {
            "pid": os.getpid(),
            "started": self.started,
            "serving": _describe(self.server),
            "presenting": _describe(self.client),
            "store": self.store.status.as_dict(),
            "calls": self.counters.as_dict(),
            "peers": self.peers.addresses,
        }


def _describe(context: tls.RotatingServerContext | tls.RotatingClientContext) -> dict[str, object]:
    material = context.material
    error = context.last_error
    return {
        "serial": material.serial_hex,
        "fingerprint": material.fingerprint_sha256,
        "subject": material.subject,
        "issuer": material.issuer,
        "trusts": [ca.subject.rfc4514_string() for ca in material.ca_certificates],
        "rotations": context.rotations,
        "refusals": context.refusals,
        "last_error": getattr(error, "reason", None),
    }


def make_handler(mesh: Mesh) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            if self.path == "/hello":
                der = self.connection.getpeercert(binary_form=True)
                self._answer(200, {"client": fingerprint(der)})
            elif self.path == "/relay":
                own = self.connection.getsockname()[0]
                try:
                    answer = mesh.call_peer(own)
                except Exception as error:  # noqa: BLE001  (counted by type; the caller sees 502)
                    if not isinstance(error, HandshakeFailed):
                        mesh.counters.add("outbound_failed", error)
                    self._answer(502, {"error": type(error).__name__})
                    return
                mesh.counters.add("outbound_ok")
                self._answer(200, answer)
            else:
                self._answer(404, {"error": "not found"})

        do_POST = do_GET  # the load driver posts

        def _answer(self, status: int, body: Mapping[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request would drown the log

    return Handler


def make_admin_handler(mesh: Mesh) -> type[http.server.BaseHTTPRequestHandler]:
    class Admin(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/state":
                data = json.dumps(mesh.state()).encode()
            elif self.path == "/healthz":
                data = b'{"status": "ok"}'
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Admin


class TLSServer(http.server.ThreadingHTTPServer):
    """Handshakes in each request's thread, not in the accepting one (a slow or failed
    handshake never stalls the others), counted when they fail."""

    daemon_threads = True
    mesh: Mesh

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        request.settimeout(CALL_TIMEOUT)
        try:
            sock = self.mesh.server.wrap_socket(request, server_side=True)
        except OSError as error:  # ssl.SSLError, a reset, a timeout
            self.mesh.counters.add("inbound_handshake_failed", error)
            return
        with sock:
            self.mesh.counters.add("inbound_ok")
            self.RequestHandlerClass(sock, client_address, self)  # type: ignore[arg-type]


def start() -> Mesh:
    """The mesh, once the agent has delivered a whole, valid set (it starts beside us)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            return Mesh()
        except RunSecretsError as error:
            if time.monotonic() > deadline:
                raise
            print(f"mesh: waiting for the certificates: {type(error).__name__}", flush=True)
            time.sleep(1)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 has no default action
    try:
        mesh = start()
    except RunSecretsError as error:
        print(f"mesh: cannot start: {error}", file=sys.stderr)  # names files, never values
        return 1
    server = TLSServer(("0.0.0.0", PORT), make_handler(mesh))  # noqa: S104  (the overlay)
    server.mesh = mesh
    admin = http.server.ThreadingHTTPServer(("127.0.0.1", ADMIN_PORT), make_admin_handler(mesh))
    admin.daemon_threads = True
    threading.Thread(target=admin.serve_forever, daemon=True).start()
    material = mesh.server.material
    print(
        f"mesh: serving on {PORT}: {material.subject}, serial {material.serial_hex}, "
        f"fingerprint {material.fingerprint_sha256}",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        mesh.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
