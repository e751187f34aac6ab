"""The Django example against a real PostgreSQL whose password is rotated mid-test."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runsecrets.testing import write_rename

from .._postgres import PostgresServer, running_postgres
from .._servers import BIN, EXAMPLES, Server, free_port, running, server_env

pytest.importorskip("django")
psycopg = pytest.importorskip("psycopg")

PROJECT = os.path.join(EXAMPLES, "django")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for this module."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def app_role(postgres: PostgresServer, sentinel: str) -> Iterator[str]:
    """A fresh role ``app`` and database ``app``, with ``sentinel`` as the first password."""
    postgres.execute("DROP DATABASE IF EXISTS app")
    postgres.execute("DROP ROLE IF EXISTS app")
    postgres.execute(f"CREATE ROLE app LOGIN PASSWORD '{sentinel}'")
    postgres.execute("CREATE DATABASE app OWNER app")
    yield "app"
    postgres.execute("DROP DATABASE IF EXISTS app WITH (FORCE)")
    postgres.execute("DROP ROLE IF EXISTS app")


@contextmanager
def django_running(
    tmp_path: Path, postgres: PostgresServer, password: str, *gunicorn_args: str
) -> Iterator[tuple[Server, Path]]:
    """The example project under gunicorn, with ``password`` in its secrets directory."""
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    write_rename(secrets_dir / "db_password", password + "\n")
    write_rename(secrets_dir / "django_secret_key", "k" * 50)
    port = free_port()
    env = server_env(secrets_dir, DB_HOST=postgres.host, DB_PORT=str(postgres.port), DB_NAME="app")
    command = [os.path.join(BIN, "gunicorn"), "--bind", f"127.0.0.1:{port}", *gunicorn_args]
    with running(
        [*command, "exampleproject.wsgi"],
        port=port,
        ready_path="/health/",
        env=env,
        cwd=PROJECT,
        log_path=str(tmp_path / "server.log"),
    ) as server:
        yield server, secrets_dir


@pytest.fixture
def django_server(
    tmp_path: Path, postgres: PostgresServer, app_role: str, sentinel: str
) -> Iterator[tuple[Server, Path]]:
    """One sync worker: one persistent connection, reused from request to request."""
    with django_running(tmp_path, postgres, sentinel, "--workers", "1") as running_server:
        yield running_server


def _rotate_on_server(postgres: PostgresServer, new_password: str) -> None:
    # psycopg cannot bind parameters in utility statements; the test's own password is safe to
    # inline (hex characters only).
    postgres.execute(f"ALTER ROLE app PASSWORD '{new_password}'")


class Traffic:
    """Requests in a loop from another thread, counting every failure."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.failures: list[str] = []
        self.pids: set[object] = set()
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 60  # bounded, whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                status, body = self.server.get("/whoami/")
            except (OSError, ValueError) as e:  # ValueError: an error page instead of JSON
                self.failures.append(type(e).__name__)
                continue
            self.count += 1
            if status != 200:
                self.failures.append(f"HTTP {status}")
            else:
                self.pids.add(body["backend_pid"])

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_rotation_under_load_fails_no_request(
    tmp_path: Path, postgres: PostgresServer, app_role: str, sentinel: str
) -> None:
    """Workers recycled every few requests open new connections all through a rotation."""
    with django_running(tmp_path, postgres, sentinel, "--workers", "2", "--max-requests", "4") as (
        server,
        secrets_dir,
    ):
        status, _ = server.get("/whoami/")
        assert status == 200, server.log()
        new_password = os.urandom(16).hex()
        with Traffic(server) as traffic:
            time.sleep(0.5)
            before = set(traffic.pids)
            _rotate_on_server(postgres, new_password)
            time.sleep(0.05)  # new logins in this window are refused, then retried
            write_rename(secrets_dir / "db_password", new_password + "\n")
            deadline = time.monotonic() + 30
            while not (traffic.pids - before) or traffic.count < 20:
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.05)
            time.sleep(0.5)
        assert traffic.failures == [], server.log()
        # Connections opened after the ALTER ROLE could only log in with the new password.
        assert traffic.pids - before
        with pytest.raises(psycopg.OperationalError):
            postgres.connect("app", sentinel, "app").close()
        assert sentinel not in server.log()


def test_open_connection_survives_and_the_next_one_uses_the_new_password(
    postgres: PostgresServer, django_server: tuple[Server, Path], sentinel: str
) -> None:
    """The persistent connection keeps serving after a rotation; its successor logs in anew."""
    server, secrets_dir = django_server
    master_pid = server.process.pid
    status, first = server.get("/whoami/")
    assert status == 200, server.log()
    assert first["user"] == "app"
    old_pid = first["backend_pid"]
    new_password = os.urandom(16).hex()
    _rotate_on_server(postgres, new_password)
    write_rename(secrets_dir / "db_password", new_password + "\n")
    status, body = server.get("/whoami/")
    assert (status, body["backend_pid"]) == (200, old_pid)
    with pytest.raises(psycopg.OperationalError):
        postgres.connect("app", sentinel, "app").close()
    # End the server side of the open connection (waiting until it is gone): the next
    # request's health check sees it dead and opens a new one, with the new password.
    _terminate(postgres, old_pid)
    status, body = server.get("/whoami/")
    assert status == 200, server.log()
    assert body["backend_pid"] != old_pid
    assert server.process.pid == master_pid
    assert server.process.poll() is None


def _terminate(postgres: PostgresServer, backend_pid: object) -> None:
    postgres.execute("SELECT pg_terminate_backend(%s, 10000)", (backend_pid,))


def test_login_during_a_rotation_waits_for_the_new_password_file(
    postgres: PostgresServer, django_server: tuple[Server, Path]
) -> None:
    """Server changed first, file rewritten later: a new connection in between still succeeds."""
    server, secrets_dir = django_server
    status, first = server.get("/whoami/")
    assert status == 200
    new_password = os.urandom(16).hex()
    _rotate_on_server(postgres, new_password)
    _terminate(postgres, first["backend_pid"])
    result: dict[str, object] = {}

    def request() -> None:
        result["response"] = server.get("/whoami/")

    thread = threading.Thread(target=request)
    thread.start()
    time.sleep(0.5)  # the request is now retrying its login with the old password
    write_rename(secrets_dir / "db_password", new_password)
    thread.join(timeout=30)
    status, body = result["response"]  # type: ignore[misc]
    assert status == 200, server.log()
    assert body["backend_pid"] != first["backend_pid"]
    assert "retrying" in server.log()


def test_health_view_names_the_source_never_the_value(
    django_server: tuple[Server, Path], sentinel: str
) -> None:
    """The health view says where the password comes from, and the value is nowhere."""
    server, secrets_dir = django_server
    status, body = server.get("/health/")
    assert status == 200
    assert str(secrets_dir / "db_password") in str(body["db_password"])
    assert sentinel not in str(body)
    assert sentinel not in server.log()
