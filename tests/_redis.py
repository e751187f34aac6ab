"""A private Redis server for tests: ``redis-server`` with no persistence, on 127.0.0.1 and a
free port, with ACL users (the ``default`` user off), stopped at the end (also after a failure).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._required import free_port, require_program, wait_until

TYPE_CHECKING = False
if TYPE_CHECKING:
    import redis

#: CI sets this: a missing Redis then fails the test instead of skipping it.
REQUIRE_ENV = "RUNSECRETS_REQUIRE_REDIS"


class RedisServer:
    """Connection facts of a running private server (an ``admin`` ACL user with a password)."""

    def __init__(self, port: int, admin_password: str) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.admin_password = admin_password

    def admin(self) -> redis.Redis:
        """A client as the ``admin`` user (every command allowed)."""
        import redis

        return redis.Redis(
            host=self.host, port=self.port, username="admin", password=self.admin_password
        )

    def set_user(self, name: str, *rules: str) -> None:
        """``ACL SETUSER name rules...`` (``on``, ``>password``, ``<password``, ``resetpass``...)."""
        with self.admin() as client:
            client.execute_command("ACL", "SETUSER", name, *rules)

    def add_user(self, name: str, password: str) -> None:
        """A fresh user allowed every key and command, with one password."""
        self.set_user(name, "reset", "on", f">{password}", "~*", "&*", "+@all")

    def drop_user(self, name: str) -> None:
        """``ACL DELUSER name`` (its connections are closed by the server)."""
        with self.admin() as client:
            client.execute_command("ACL", "DELUSER", name)

    def kill_user_connections(self, name: str) -> None:
        """Close every client connection of ``name`` (a server restart as the clients see it)."""
        with self.admin() as client:
            client.execute_command("CLIENT", "KILL", "USER", name)


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """Start a private server, yield it, stop it and delete its files."""
    server = require_program("redis-server", REQUIRE_ENV, "redis-server")
    base = tempfile.mkdtemp(prefix="runsecrets-redis-")
    log = os.path.join(base, "server.log")
    password = secrets.token_hex(16)
    acl = os.path.join(base, "users.acl")
    Path(acl).write_text(f"user default off\nuser admin on >{password} ~* &* +@all\n")
    port = free_port()
    process: subprocess.Popen[bytes] | None = None

    def answers() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [server, "--save", "", "--appendonly", "no", "--port", str(port),
                 "--bind", "127.0.0.1", "--dir", base, "--aclfile", acl, "--daemonize", "no"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until(
            lambda: process.poll() is not None or answers(),
            30,
            "redis-server",
            lambda: Path(log).read_text(errors="replace"),
        )
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{Path(log).read_text(errors='replace')}")
        yield RedisServer(port, password)
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(base, ignore_errors=True)
