"""A load driver that runs as a Swarm task on the overlay network (``python3 -c`` of this file).

Usage: ``python3 -c SOURCE NAME PORT PATH THREADS``. It resolves ``tasks.NAME`` (endpoint mode
``dnsrr``: one address per running task) every 0.2 s, as a client-side load balancer does, and
sends ``POST PATH`` from THREADS threads (``runsecrets.testing.Load``), round robin over the
addresses it knows, a new connection per request. A connection that cannot be made (refused,
unreachable, timed out: nothing was sent) is tried on the next address and counted as a retry;
anything else but a 200 (an error status, a reset or a timeout once the request was sent) is a
failure, recorded by its type.

With ``LOAD_TLS_DIR`` set (a directory holding ``tls.crt``, ``tls.key`` and ``ca.crt``, such
as the TLS mesh's secrets volume) it speaks HTTPS: each connection's handshake goes through a
``runsecrets.tls.RotatingClientContext`` on a store of that directory (it presents the client
certificate and verifies the server as ``LOAD_TLS_NAME``, default ``mesh.internal``), and a
failed handshake is a failure of its own (``HandshakeFailed``, the error type kept in
``handshakes``), never a retry.

It writes ``/tmp/progress`` (counts) every 0.5 s. When ``/tmp/stop`` appears it stops and
writes ``/tmp/load.json``: ``samples`` and ``failures`` as ``Load`` has them (``when`` on
``time.monotonic()``, which is the same clock in every container and on the host: Docker makes
no time namespace), ``served`` (``[when, address]`` of each success), ``retries``
(``[when, address, error type]``), and with TLS ``handshakes`` (``[when, address, error
type]`` of each failed handshake) and ``certificates`` (``[when, address, fingerprint]``: the
SHA-256 fingerprint of the certificate each successful request was served, public data, then
what a JSON body's ``peer`` and ``served`` said, when it has them); then it waits to be
stopped.

Not a test module: the cluster tests send its source to a task (the nodes have only the
images the suite built, and this needs nothing but them).
"""

import hashlib
import http.client
import itertools
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time

from runsecrets.testing import Load

NAME, PORT, PATH, THREADS = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
TLS_DIR = os.environ.get("LOAD_TLS_DIR", "")
TLS_NAME = os.environ.get("LOAD_TLS_NAME", "mesh.internal")
#: How long a request keeps trying other addresses before it counts as failed.
CONNECT_BUDGET = 10.0


class HTTPStatusError(Exception):
    """The replica answered with a status other than 200."""


class Unreachable(Exception):
    """No replica accepted a connection within the budget."""


class HandshakeFailed(Exception):
    """The TLS handshake with a replica failed (its error type is in ``handshakes``)."""


addresses: list[str] = []
served: list[list[object]] = []
retries: list[list[object]] = []
handshakes: list[list[object]] = []
certificates: list[list[object]] = []
lock = threading.Lock()
turn = itertools.count()
done = threading.Event()


def resolve() -> None:
    global addresses
    while not done.is_set():
        try:
            found = sorted({str(a[4][0]) for a in socket.getaddrinfo(f"tasks.{NAME}", PORT)})
        except OSError:
            found = []
        if found:
            addresses = found
        time.sleep(0.2)


def connect() -> tuple[http.client.HTTPConnection, str]:
    """A connection to the next replica that accepts one (nothing is sent before that)."""
    deadline = time.monotonic() + CONNECT_BUDGET
    while True:
        known = addresses
        address = known[next(turn) % len(known)]
        connection = http.client.HTTPConnection(address, PORT, timeout=10)
        try:
            connection.connect()
        except OSError as error:
            connection.close()
            with lock:
                retries.append([time.monotonic(), address, type(error).__name__])
            if time.monotonic() > deadline:
                raise Unreachable(type(error).__name__) from None
            time.sleep(0.05)
            continue
        return connection, address


def tls_context() -> ssl.SSLContext | None:
    """The client context for HTTPS (None without ``LOAD_TLS_DIR``)."""
    if not TLS_DIR:
        return None
    from runsecrets import SecretStore, tls

    names = ("tls.crt", "tls.key", "ca.crt")
    store = SecretStore(TLS_DIR, names=names)
    context = tls.RotatingClientContext(*names, store=store)
    store.start()
    return context


CONTEXT = tls_context()


def handshake(connection: http.client.HTTPConnection, address: str) -> str:
    """TLS over the connected socket; the fingerprint of the certificate the replica served."""
    assert CONTEXT is not None
    try:
        connection.sock = CONTEXT.wrap_socket(connection.sock, server_hostname=TLS_NAME)
    except Exception as error:  # noqa: BLE001  (a reset mid-handshake is a failed one too)
        with lock:
            handshakes.append([time.monotonic(), address, type(error).__name__])
        raise HandshakeFailed(type(error).__name__) from None
    der = connection.sock.getpeercert(binary_form=True) or b""
    return hashlib.sha256(der).digest().hex(":").upper()


def request() -> None:
    connection, address = connect()
    try:
        certificate = handshake(connection, address) if CONTEXT is not None else ""
        connection.request("POST", PATH, body=b"")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise HTTPStatusError(response.status)
    now = time.monotonic()
    with lock:
        served.append([now, address])
        if certificate:
            peer = json.loads(body) if body.startswith(b"{") else {}
            certificates.append(
                [now, address, certificate, peer.get("peer", ""), peer.get("served", "")]
            )


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # PID 1 has no default action
    threading.Thread(target=resolve, daemon=True).start()
    while not addresses:
        time.sleep(0.1)
    load = Load(request, threads=THREADS, max_seconds=1800).start()
    while not os.path.exists("/tmp/stop"):
        with lock:
            progress = {
                "ok": load.operations,
                "failed": len(load.failures),
                "retries": len(retries),
                "handshakes_failed": len(handshakes),
            }
        with open("/tmp/progress.tmp", "w") as file:
            json.dump(progress, file)
        os.replace("/tmp/progress.tmp", "/tmp/progress")
        time.sleep(0.5)
    load.stop()
    done.set()
    result = {
        "samples": load.samples,
        "failures": load.failures,
        "served": served,
        "retries": retries,
        "handshakes": handshakes,
        "certificates": certificates,
    }
    with open("/tmp/load.tmp", "w") as file:
        json.dump(result, file)
    os.replace("/tmp/load.tmp", "/tmp/load.json")
    while True:
        time.sleep(3600)


main()
