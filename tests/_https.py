"""A real HTTPS server on 127.0.0.1 for the client tests: HTTP/1.1 with keep-alive, optionally
requiring client certificates and accepting only the current bearer token.

It records, for every request, which connection carried it and which client certificate that
connection presented, so a test can tell a reused connection from a new one and check the
certificates in the order the server saw them.
"""

from __future__ import annotations

import http.server
import itertools
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ._tls_server import serial_of


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    connection: int
    serial: str | None
    path: str
    status: int


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: pooled clients reuse the connection
    timeout = 10  # an idle kept-alive connection ends, and its thread with it
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.number = next(self.server.numbers)
        der = self.connection.getpeercert(binary_form=True)  # type: ignore[attr-defined]
        self.serial = serial_of(der) if der else None

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self._answer()

    def _answer(self) -> None:
        owner = self.server.owner
        token = owner.token() if callable(owner.token) else owner.token
        sent = self.headers.get("Authorization")
        status = 200 if token is None or sent == f"Bearer {token}" else 401
        body = f"{status} {self.serial}\n".encode()
        with owner.lock:
            owner.seen.append(Seen(self.number, self.serial, self.path, status))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # the tests read .seen
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: HTTPSServer) -> None:
        self.owner = owner
        self.numbers = itertools.count(1)
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        # The handshake in the connection's own thread: one slow client stalls no other.
        try:
            tls = self.owner.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self.owner.lock:
                self.owner.failures.append(f"{type(e).__name__}: {e}")
            return
        with tls:
            handler = self.RequestHandlerClass(tls, client_address, self)
        with self.owner.lock:
            self.owner.closed.append(handler.number)  # type: ignore[attr-defined]

    def handle_error(self, request: object, client_address: object) -> None:
        with self.owner.lock:
            self.owner.failures.append("handler error")


class HTTPSServer:
    """The server: ``url``, ``seen`` (each request), ``failures`` (handshakes that failed),
    ``closed`` (the connections the client closed, by number).

    Attributes:
        token: When set, only ``Authorization: Bearer <token>`` is answered 200, else 401; a
            callable gives the token at each request (a file the server reads, say).
    """

    def __init__(
        self, context: ssl.SSLContext, *, token: str | Callable[[], str] | None = None
    ) -> None:
        self.context = context
        self.token = token
        self.seen: list[Seen] = []
        self.failures: list[str] = []
        self.closed: list[int] = []
        self.lock = threading.Lock()
        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self.url = f"https://localhost:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def serials(self) -> list[str | None]:
        """The client certificate of each request, in order."""
        with self.lock:
            return [s.serial for s in self.seen]

    def connections(self) -> list[int]:
        """The connection of each request, in order."""
        with self.lock:
            return [s.connection for s in self.seen]

    def start(self) -> HTTPSServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def https_server(context: ssl.SSLContext, *, token: str | None = None) -> Iterator[HTTPSServer]:
    """A started :class:`HTTPSServer`, stopped at the end."""
    server = HTTPSServer(context, token=token).start()
    try:
        yield server
    finally:
        server.stop()
