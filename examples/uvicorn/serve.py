"""Run the app under uvicorn with two workers and a certificate that follows rotation.

Run: ``RUNSECRETS_DIR=/run/secrets PORT=8443 python serve.py`` (from this directory).
"""

import os

import uvicorn

from runsecrets.integrations.uvicorn import ssl_context_factory

if __name__ == "__main__":
    uvicorn.run(
        "app:app",
        host="127.0.0.1",
        port=int(os.environ.get("PORT", "8443")),
        workers=2,
        # Each worker builds one RotatingServerContext from the secrets tls.crt and tls.key,
        # with its own watcher: renewed certificates reach new handshakes in every worker.
        ssl_context_factory=ssl_context_factory("tls.crt", "tls.key"),
    )
