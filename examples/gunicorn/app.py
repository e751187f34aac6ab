"""A WSGI app whose API token follows rotation in every gunicorn worker.

The store is made at import time; with ``preload_app = True`` that is in the gunicorn master,
and each forked worker re-arms its watcher by itself (``post_fork`` logs it).
"""

import hmac
import json
import os

from runsecrets import SecretStore

store = SecretStore(names=["api_token"]).start()


def application(environ: dict[str, object], start_response: object) -> list[bytes]:
    """``GET /``: which worker answered, the store's version, and whether the token matched."""
    sent = str(environ.get("HTTP_AUTHORIZATION", "")).removeprefix("Bearer ")
    expected = store.get("api_token")
    # An empty token file must authorize nobody (compare_digest("", "") is True).
    authorized = bool(expected and sent) and hmac.compare_digest(sent.encode(), expected.encode())
    body = json.dumps(
        {"pid": os.getpid(), "version": store.snapshot.version, "authorized": authorized}
    ).encode()
    start_response(  # type: ignore[operator]
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
