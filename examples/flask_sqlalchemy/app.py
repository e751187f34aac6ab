"""A Flask app on MariaDB (or PostgreSQL) through SQLAlchemy whose database password rotates
with no restart: seed 002 done right.

The password is the secret ``db_password`` (``/run/secrets/db_password`` in a container, the
stable target a Swarm ``--secret-rm``/``--secret-add`` rotation keeps); with
``DB_USER_SECRET=db_user`` the user comes from a secret too (alternating users). Every new
connection logs in with the current credentials; a rotation drains the pool; a login refused
while the server and the file disagree is retried.

Run it::

    DATABASE_URL=mysql+pymysql://app@127.0.0.1:3306/app RUNSECRETS_DIR=./secrets \\
        gunicorn --threads 4 'app:create_app()'
"""

import os

from flask import Flask
from sqlalchemy import create_engine, text

from runsecrets import CredentialsError
from runsecrets.integrations.sqlalchemy import follow_credentials

SCHEMA = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY AUTO_INCREMENT, body TEXT)"
SCHEMA_POSTGRESQL = "CREATE TABLE IF NOT EXISTS notes (id SERIAL PRIMARY KEY, body TEXT)"


def create_app() -> Flask:
    """The application factory: one engine, following the credentials, for the process."""
    app = Flask(__name__)
    # The URL names no password: it comes from the secret at each new connection.
    engine = create_engine(os.environ["DATABASE_URL"], pool_size=4, pool_pre_ping=True)
    credentials = follow_credentials(
        engine, password="db_password", user=os.environ.get("DB_USER_SECRET") or None
    )
    schema = SCHEMA_POSTGRESQL if engine.dialect.name == "postgresql" else SCHEMA
    with engine.begin() as connection:
        connection.execute(text(schema))

    @app.post("/notes")
    def add_note() -> dict[str, object]:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO notes (body) VALUES ('hello')"))
            count = connection.execute(text("SELECT COUNT(*) FROM notes")).scalar()
        return {"notes": count}

    @app.get("/healthz")
    def health() -> tuple[dict[str, object], int]:
        # Counters and secret names only, never a value.
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except CredentialsError as e:
            return {"database": e.reason, "credentials": credentials.status()}, 503
        return {"database": "ok", "credentials": credentials.status()}, 200

    return app
