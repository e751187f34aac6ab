"""A private MariaDB server for tests: ``mariadb-install-db`` + ``mariadbd`` in a temporary
directory, on 127.0.0.1 and a free port, stopped and removed at the end (also after a failure).

As root the server runs as the ``mysql`` user (created by Debian's ``mariadb-server``).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._required import free_port, require_program, wait_until

TYPE_CHECKING = False
if TYPE_CHECKING:
    import pymysql

#: CI sets this: a missing MariaDB then fails the test instead of skipping it.
REQUIRE_ENV = "RUNSECRETS_REQUIRE_MARIADB"
_SBIN = ("/usr/sbin", "/usr/local/sbin")


class MariaDBServer:
    """Connection facts of a running private server (``root`` with a password, over TCP)."""

    def __init__(self, port: int, root_password: str, socket_path: str) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.root_password = root_password
        self.socket_path = socket_path

    def connect(
        self, user: str = "root", password: str | None = None, database: str | None = None
    ) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        """A PyMySQL connection (autocommit) as ``user`` over TCP."""
        import pymysql

        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=self.root_password if password is None else password,
            database=database,
            autocommit=True,
            connect_timeout=5,
        )

    def execute(
        self, sql: str, params: tuple[object, ...] | None = None
    ) -> list[tuple[object, ...]]:
        """Run one statement as root and return its rows (if any)."""
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            connection.close()


@contextmanager
def running_mariadb() -> Iterator[MariaDBServer]:
    """Start a private server, yield it, stop it and delete its files."""
    install = require_program("mariadb-install-db", REQUIRE_ENV, "mariadb-server", *_SBIN)
    server = require_program("mariadbd", REQUIRE_ENV, "mariadb-server", *_SBIN)
    base = tempfile.mkdtemp(prefix="runsecrets-mariadb-")
    data = os.path.join(base, "data")
    socket_path = os.path.join(base, "mysqld.sock")
    log = os.path.join(base, "server.log")
    user = "mysql" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        owner = pwd.getpwnam("mysql")
        os.chown(base, owner.pw_uid, owner.pw_gid)
    port = free_port()
    password = secrets.token_hex(16)
    process: subprocess.Popen[bytes] | None = None

    def server_log() -> str:
        return Path(log).read_text(errors="replace") if os.path.exists(log) else ""

    try:
        result = subprocess.run(
            [install, "--no-defaults", f"--user={user}", f"--datadir={data}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [server, "--no-defaults", f"--user={user}", f"--datadir={data}",
                 f"--socket={socket_path}", f"--pid-file={base}/mysqld.pid",
                 "--skip-networking=0", "--bind-address=127.0.0.1", f"--port={port}",
                 "--skip-log-bin", "--innodb-buffer-pool-size=32M", "--max-connections=500",
                 "--skip-name-resolve"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until(
            lambda: process.poll() is not None or "ready for connections" in server_log(),
            60,
            "mariadbd",
            server_log,
        )
        if process.poll() is not None:
            raise RuntimeError(f"mariadbd exited with {process.returncode}:\n{server_log()}")
        _set_root_password(socket_path, password)
        yield MariaDBServer(port, password, socket_path)
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(base, ignore_errors=True)


def _set_root_password(socket_path: str, password: str) -> None:
    """Give root a password and make it reachable over TCP from 127.0.0.1."""
    import pymysql

    connection = pymysql.connect(unix_socket=socket_path, user="root", autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (password,))
            cursor.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'")
            cursor.execute("ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY %s", (password,))
            cursor.execute("GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
    finally:
        connection.close()
