"""The app the image runs: it sees DB_PASSWORD, filled by the entrypoint from DB_PASSWORD_FILE."""

import os


def application(environ: dict[str, object], start_response: object) -> list[bytes]:
    """A WSGI app that says whether it got a password, never what it is."""
    body = b"db password set\n" if os.environ.get("DB_PASSWORD") else b"no db password\n"
    start_response("200 OK", [("Content-Type", "text/plain")])  # type: ignore[operator]
    return [body]
