"""The Flask + SQLAlchemy example (seed 002) under gunicorn on a private MariaDB: the password
and then the user rotate under load, and no request fails."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytest.importorskip("sqlalchemy")
pytest.importorskip("pymysql")

from runsecrets.testing import Load, SecretsDir, rotate_password, switch_user, wait_until

from .._databases import MariaDB
from .._servers import BIN, EXAMPLES, Server, free_port, get_json, running, server_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._mariadb import MariaDBServer


@pytest.fixture
def database(mariadb_server: MariaDBServer) -> Iterator[MariaDB]:
    """A database ``app_N`` with two users allowed on it (blue has the sentinel password)."""
    db = MariaDB(mariadb_server)
    name = f"app_{secrets.token_hex(3)}"
    mariadb_server.execute(f"CREATE DATABASE {name}")
    db.name = name  # type: ignore[attr-defined]
    db.users = [f"{name}_blue", f"{name}_green"]  # type: ignore[attr-defined]
    yield db
    for user in db.users:  # type: ignore[attr-defined]
        db.drop_user(user)
    mariadb_server.execute(f"DROP DATABASE {name}")


@pytest.fixture
def app_server(
    tmp_path: Path, database: MariaDB, sentinel: str
) -> Iterator[tuple[Server, SecretsDir]]:
    blue, green = database.users  # type: ignore[attr-defined]
    for user, password in ((blue, sentinel), (green, secrets.token_hex(8))):
        database.create_user(user, password)
        database.server.execute(f"GRANT ALL ON {database.name}.* TO %s@'%%'", (user,))  # type: ignore[attr-defined]
    directory = SecretsDir(tmp_path / "secrets")
    directory.write_all({"db_user": blue, "db_password": sentinel})
    port = free_port()
    url = f"mysql+pymysql://nobody@{database.server.host}:{database.server.port}/{database.name}"  # type: ignore[attr-defined]
    env = server_env(directory.path, DATABASE_URL=url, DB_USER_SECRET="db_user")
    command = [os.path.join(BIN, "gunicorn"), "--bind", f"127.0.0.1:{port}", "--threads", "4"]
    with running(
        [*command, "app:create_app()"],
        port=port,
        ready_path="/healthz",
        env=env,
        cwd=os.path.join(EXAMPLES, "flask_sqlalchemy"),
        log_path=str(tmp_path / "server.log"),
    ) as server:
        yield server, directory
    assert sentinel not in server.log()


def _post(server: Server) -> None:
    import urllib.request

    request = urllib.request.Request(server.url("/notes"), method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=20) as response:
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")


@pytest.mark.slow
def test_rotations_under_load_fail_no_request(
    app_server: tuple[Server, SecretsDir], database: MariaDB, sentinel: str
) -> None:
    """Four threads of requests while the password rotates (server, then file 0.2 s later) and
    then the user switches: every request succeeds; the app ends on the green user's pool."""
    server, directory = app_server
    blue, green = database.users  # type: ignore[attr-defined]
    with Load(lambda: _post(server), threads=4, max_seconds=60) as load:
        time.sleep(0.5)
        rotate_password(
            directory,
            sentinel + "-2",
            set_on_server=lambda p: database.set_password(blue, p),
            gap=0.2,
        )
        wait_until(lambda: server.get("/healthz")[1]["credentials"]["changes"] == 1)  # type: ignore[index]
        time.sleep(0.5)
        switch_user(
            directory,
            green,
            sentinel + "-green",
            prepare=database.set_password,
            retire=lambda: database.lock(blue),
            grace=0.5,
        )
        time.sleep(0.5)
    assert load.failures == [], server.log()
    assert load.operations > 20
    status, health = get_json(server.url("/healthz"))
    assert status == 200
    assert health["credentials"]["changes"] == 2  # type: ignore[index]
    assert database.sessions(blue) == 0
