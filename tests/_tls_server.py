"""A TLS server on 127.0.0.1 and clients that report the serial they were served (tests and
benchmarks share them)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography import x509


class TLSServer:
    """Accepts connections on 127.0.0.1, handshakes with ``context``, writes ``ok``, closes.

    Each connection is served in its own thread, so a slow client never stalls the others.
    ``presented`` lists the serial of each client certificate presented, in handshake order;
    ``presented_by`` maps the name a client gave its connection (sent after ``ok``) to it.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port: int = self._listener.getsockname()[1]
        self.failures: list[str] = []
        self.presented: list[str] = []
        self.presented_by: dict[str, str] = {}
        self._stopping = False
        self._serving: set[threading.Thread] = set()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def start(self) -> TLSServer:
        """Start accepting."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting; wait for the accept loop and the connections being served to end
        (what they record is complete once this returns)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self._listener.close()
        self._thread.join(timeout=5)
        for thread in list(self._serving):
            thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._serving.add(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        # Small writes both ways: without this, Nagle and delayed ACKs add 40 ms per exchange.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            with self.context.wrap_socket(connection, server_side=True) as tls:
                der = tls.getpeercert(binary_form=True)
                if der:
                    self.presented.append(serial_of(der))
                tls.sendall(b"ok\n")
                # A client may name the connection before it closes (ports do not: loopback
                # reuses them at once); then wait for the close: no truncated-stream noise.
                tag = tls.recv(64)
                if tag:
                    if der:
                        self.presented_by[tag.decode(errors="replace")] = serial_of(der)
                    tls.recv(16)
        except (ssl.SSLError, OSError) as e:
            self.failures.append(f"{type(e).__name__}: {e}")
        finally:
            self._serving.discard(threading.current_thread())


@contextmanager
def running(context: ssl.SSLContext) -> Iterator[TLSServer]:
    """A started :class:`TLSServer`, stopped at the end."""
    server = TLSServer(context).start()
    try:
        yield server
    finally:
        server.stop()


def fetch_serial(port: int, client: ssl.SSLContext, server_name: str = "localhost") -> str:
    """Handshake (verifying the server), read ``ok``, return the served serial in hex."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with raw, client.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        assert tls.recv(3) == b"ok\n"
    return serial_of(der)


def serial_of(der: bytes) -> str:
    """A DER certificate's serial in upper-case hex, as openssl prints it."""
    return format(x509.load_der_x509_certificate(der).serial_number, "X")


def s_client_serial(port: int, ca_file: str, *, server_name: str | None = "localhost") -> str:
    """The serial ``openssl s_client`` is served, after checking it verified the chain."""
    command = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", ca_file]
    command += ["-servername", server_name] if server_name else ["-noservername"]
    session = subprocess.run(command, input=b"", capture_output=True, timeout=30, check=False)
    output = session.stdout.decode(errors="replace")
    assert "Verify return code: 0 (ok)" in output, output[-2000:]
    printed = subprocess.run(
        ["openssl", "x509", "-noout", "-serial"],
        input=session.stdout,
        capture_output=True,
        check=True,
    )
    return printed.stdout.decode().strip().removeprefix("serial=").lstrip("0") or "0"
