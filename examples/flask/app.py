"""A Flask app whose SECRET_KEY and API token come from secrets and follow rotation.

Run it: ``RUNSECRETS_DIR=./secrets PORT=5000 python app.py`` (``/run/secrets`` in a container).
"""

import hmac
import logging
import os

from flask import Flask, abort, request, session

from runsecrets.integrations.flask import RunSecrets

secrets = RunSecrets(
    config={"SECRET_KEY": "flask_secret_key"},
    prefix="app_",  # app_api_token fills API_TOKEN
    health_path="/healthz",
)


def create_app() -> Flask:
    """The application factory."""
    app = Flask(__name__)
    secrets.init_app(app)

    @app.get("/api")
    def api() -> dict[str, object]:
        # Read the config at request time: after a rotation it holds the new token.
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        expected = app.config["API_TOKEN"]
        # An empty token (an empty secret file) must let nobody in: compare_digest("", "") is
        # True, so a request without the header would pass.
        if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
            abort(403)
        return {"ok": True}

    @app.post("/login")
    def login() -> dict[str, object]:
        session["user"] = request.args.get("user", "alice")
        return {"ok": True}

    @app.get("/me")
    def me() -> dict[str, object]:
        # A session signed with the previous SECRET_KEY is still accepted (SECRET_KEY_FALLBACKS).
        return {"user": session.get("user")}

    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    create_app().run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
