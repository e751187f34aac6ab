"""The app of the e2e sidecar scenario: an HTTPS server that follows its secrets without restart.

Run inside the app container (``python3 -c "$(cat tls_server.py)" PORT``) with the shared volume
mounted read-only at ``/run/secrets`` (or ``RUNSECRETS_DIR``), holding ``tls.crt``, ``tls.key``
and ``db_password``. One :class:`runsecrets.SecretStore` watches the directory; a
:class:`runsecrets.tls.RotatingServerContext` follows the certificate through that store, and the
password is read from the store's current snapshot at each request.

Endpoints, on ``https://127.0.0.1:PORT`` (the container runs with ``--network host``):

- ``GET /status``: JSON with the served certificate's serial, the rotation and refusal counts,
  the reason of the last refused certificate (``key_mismatch``...) and the store's status. No
  secret value, nor anything derived from one, is ever part of it.
- ``GET /private``: 200 when ``Authorization: Bearer <password>`` holds the current
  ``db_password``, else 401; how a client observes a password rotation without the server ever
  printing the value.

Nothing is logged per request; the log holds start-up, each certificate rotation or refusal (by
``runsecrets.tls``), and the store's problems, none of which carries a value.
"""

from __future__ import annotations

import hmac
import json
import logging
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from runsecrets import InvalidTLSMaterialError, SecretStore
from runsecrets.tls import RotatingServerContext

logger = logging.getLogger("tls_server")


def status(store: SecretStore, context: RotatingServerContext) -> dict[str, object]:
    """What ``/status`` reports: names, counters and reasons only, never a value."""
    error = context.last_error
    return {
        "serial": context.material.serial_hex,
        "rotations": context.rotations,
        "refusals": context.refusals,
        "tls_error": (
            None
            if error is None
            else error.reason
            if isinstance(error, InvalidTLSMaterialError)
            else type(error).__name__
        ),
        "names": store.names,
        "store": store.status.as_dict(),
    }


def authorized(store: SecretStore, header: str | None) -> bool:
    """Whether ``header`` is ``Bearer <the current db_password>`` (compared in constant time)."""
    expected = store.get_bytes("db_password", None)
    if not expected or header is None or not header.startswith("Bearer "):
        return False  # an empty password file authorizes nobody
    return hmac.compare_digest(header.removeprefix("Bearer ").encode(), expected)


def make_handler(
    store: SecretStore, context: RotatingServerContext
) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to this store and context."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/status":
                self._reply(200, status(store, context))
            elif self.path == "/private":
                if authorized(store, self.headers.get("Authorization")):
                    self._reply(200, {"access": "granted"})
                else:
                    self._reply(401, {"access": "denied"})
            else:
                self._reply(404, {"error": "not found"})

        def _reply(self, code: int, payload: dict[str, object]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # no per-request log: a request line could carry anything a client sent

    return Handler


def main(port: int) -> None:
    """Serve on 127.0.0.1:``port`` until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stdout)
    store = SecretStore()  # RUNSECRETS_DIR, else /run/secrets
    context = RotatingServerContext("tls.crt", "tls.key", store=store)
    store.start()
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(store, context))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    logger.info(
        "serving https://127.0.0.1:%d, serial %s, store watching %s (%s)",
        server.server_port,
        context.material.serial_hex,
        ", ".join(store.dirs),
        store.status.mode,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
        context.close()
        store.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))
