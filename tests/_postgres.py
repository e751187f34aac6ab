"""A private PostgreSQL server for tests: initdb + pg_ctl in a temporary directory.

It listens on 127.0.0.1 only, on a free port, with password (SCRAM) authentication, and is
stopped and removed at the end. Root cannot run postgres, so as root the server runs as the
``postgres`` user (created by Debian's ``postgresql`` package) through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ._required import free_port, unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    import psycopg

#: CI sets this: a missing PostgreSQL then fails the test instead of skipping it.
REQUIRE_ENV = "RUNSECRETS_REQUIRE_POSTGRES"


def find_bindir() -> str | None:
    """The directory holding ``initdb`` and ``pg_ctl``, newest Debian version first."""
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(bindir, "pg_ctl"), os.X_OK):
            return bindir
    pg_ctl = shutil.which("pg_ctl")
    return os.path.dirname(os.path.realpath(pg_ctl)) if pg_ctl else None


def require_bindir() -> str:
    """The binaries' directory, or skip (fail when ``RUNSECRETS_REQUIRE_POSTGRES=1``)."""
    bindir = find_bindir()
    if bindir is None:
        unavailable("PostgreSQL binaries not found (apt-get install postgresql)", REQUIRE_ENV)
    assert bindir is not None
    return bindir


class PostgresServer:
    """Connection facts of a running private server (superuser ``postgres``)."""

    def __init__(self, port: int, superuser_password: str, log_path: str | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.superuser_password = superuser_password
        self.log_path = log_path  # the server's log (failed logins are logged there)

    def connect(
        self, user: str = "postgres", password: str | None = None, dbname: str = "postgres"
    ) -> psycopg.Connection[tuple[object, ...]]:
        """A psycopg connection (autocommit) as ``user``."""
        import psycopg  # imported here: a suite without it skips the PostgreSQL tests

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=self.superuser_password if password is None else password,
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        )

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement as the superuser and return its rows (if any)."""
        with self.connect() as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a private server, yield it, stop it and delete its files."""
    bindir = require_bindir()
    as_root = os.geteuid() == 0
    runner: list[str] = []
    owner = None
    if as_root:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root and no 'postgres' user to run the server as")
        runner = ["runuser", "-u", "postgres", "--"]
    # Not pytest's tmp_path: its parent is private to root, and postgres must reach it.
    base = tempfile.mkdtemp(prefix="runsecrets-pg-")
    data = os.path.join(base, "data")
    pwfile = os.path.join(base, "pwfile")
    password = secrets.token_hex(16)
    with open(pwfile, "w") as f:
        f.write(password)
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    os.chmod(pwfile, 0o600)
    port = free_port()
    log = os.path.join(base, "server.log")
    started = False

    def run(command: list[str], timeout: float) -> None:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            server_log = Path(log).read_text() if os.path.exists(log) else ""
            raise RuntimeError(
                f"{os.path.basename(command[len(runner)])} failed ({result.returncode}):\n"
                f"{result.stderr}\n{server_log}"
            )

    try:
        run(
            [
                *runner,
                os.path.join(bindir, "initdb"),
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--no-sync",
            ],
            timeout=120,
        )
        options = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off"
        subprocess.run(
            [
                *runner,
                os.path.join(bindir, "pg_ctl"),
                "-D",
                data,
                "-o",
                options,
                "-l",
                log,
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
        started = True
        yield PostgresServer(port, password, log)
    finally:
        if started:
            subprocess.run(
                [*runner, os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(base, ignore_errors=True)
