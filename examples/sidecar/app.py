"""An HTTPS app that reloads its certificate on SIGHUP, sent by a ``runsecrets watch`` sidecar.

The app does not watch files itself: the sidecar does, and signals it once per real change.
``RotatingServerContext(..., watch=False)`` checks the new pair and swaps it in for new
handshakes; an invalid or half-written pair is refused and the last good one keeps serving.

Run: ``RUNSECRETS_DIR=./secrets PORT=8443 PIDFILE=app.pid python app.py``
"""

import json
import logging
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from runsecrets import RunSecretsError
from runsecrets.tls import RotatingServerContext

logger = logging.getLogger("app")


def main() -> None:
    """Serve HTTPS on 127.0.0.1:$PORT until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    context = RotatingServerContext("tls.crt", "tls.key", watch=False)

    def reload() -> None:
        try:
            changed = context.reload()
        except RunSecretsError as e:  # refused: the last good certificate keeps serving
            logger.warning("certificate not reloaded: %s", e)
            return
        logger.info("SIGHUP: %s", "new certificate in service" if changed else "unchanged")

    # The handler only starts a thread: reloading reads files and must not run inside a signal.
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=reload).start())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {"serial": context.material.serial_hex, "rotations": context.rotations}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8443"))), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    with open(os.environ.get("PIDFILE", "app.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    logger.info(
        "serving https://127.0.0.1:%d, serial %s", server.server_port, context.material.serial_hex
    )
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
