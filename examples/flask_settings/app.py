"""A Flask app whose settings come from runsecrets' ``SecretsSettings``.

Run: ``python examples/flask_settings/app.py`` (serves on http://127.0.0.1:5000). Without
``RUNSECRETS_DIR`` it reads the example secrets beside this file; in a container it would read
``/run/secrets``, and ``API_TOKEN_FILE=/path`` works too. The settings follow rotation:
replace ``secrets/api_token`` and the next request needs the new token.
"""

from __future__ import annotations

import argparse
import hmac
import os
from pathlib import Path

from flask import Flask, Response, jsonify, request
from pydantic import SecretStr

from runsecrets.pydantic import LiveSettings, SecretsSettings, live


class Settings(SecretsSettings):
    """The app's settings: two secrets and a plain option."""

    api_token: SecretStr
    db_password: SecretStr
    greeting: str = "hello"


def create_app(settings: LiveSettings[Settings] | None = None) -> Flask:
    """Build the app around live settings (made here, and watching, unless given)."""
    if settings is None:
        settings = live(Settings).start()
    app = Flask(__name__)

    @app.get("/")
    def index() -> Response:
        current = settings.current  # never touches the disk
        return jsonify(greeting=current.greeting, settings_ok=settings.last_error is None)

    @app.get("/private")
    def private() -> tuple[Response, int]:
        token = settings.current.api_token.get_secret_value()
        given = request.headers.get("Authorization", "")
        # An empty token must let nobody in: "Bearer " + "" is what a client sends with no token.
        if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return jsonify(error="unauthorized"), 401
        return jsonify(message="welcome"), 200

    return app


def main() -> None:
    """Serve on 127.0.0.1."""
    parser = argparse.ArgumentParser(description="runsecrets + Flask example")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("RUNSECRETS_DIR", str(Path(__file__).parent / "secrets"))
    create_app().run(host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
