"""An HTTPS server that requires client certificates from the mesh CA, and rotates its own.

Its certificate, key and CA bundle are secrets (``RUNSECRETS_DIR``: ``tls.crt``, ``tls.key``,
``ca.crt``) followed by a :class:`~runsecrets.tls.RotatingServerContext`: renewed files are
served to new handshakes, and clients of a renewed CA are accepted, without a restart. Each
answer names the client certificate the connection presented.

    RUNSECRETS_DIR=server-secrets PORT=8443 python server.py
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import ssl
import sys
import threading

from cryptography import x509

from runsecrets.tls import RotatingServerContext


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients pool their connections
    timeout = 30

    def setup(self) -> None:
        super().setup()
        # Headers and body are two writes: without this, delayed ACKs stall each answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        der = self.connection.getpeercert(binary_form=True)  # type: ignore[attr-defined]
        serial = x509.load_der_x509_certificate(der).serial_number
        body = json.dumps({"client": format(serial, "X")})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the client counts


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.context = context

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        # The handshake in the connection's thread, so one slow client stalls no other.
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            print(f"handshake refused: {type(e).__name__}", file=sys.stderr, flush=True)
            return
        with tls:
            self.RequestHandlerClass(tls, client_address, self)


def main() -> None:
    context = RotatingServerContext("tls.crt", "tls.key", "ca.crt", require_client_cert=True)
    server = Server(int(os.environ.get("PORT", "8443")), context)
    # shutdown() waits for serve_forever(), which runs in this thread: ask from another one.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()
    context.close()
    print(
        f"server: {context.rotations} rotations, half-written pairs refused {context.refusals} "
        "times, never restarted",
        flush=True,
    )


if __name__ == "__main__":
    main()
