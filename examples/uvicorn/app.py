"""A minimal ASGI app: says which worker answered."""

import json
import os


async def app(scope: dict[str, object], receive: object, send: object) -> None:
    """Answer every HTTP request with the worker's process id."""
    if scope["type"] != "http":
        return
    body = json.dumps({"pid": os.getpid()}).encode()
    await send(  # type: ignore[operator]
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})  # type: ignore[operator]
