"""The Celery recipe (examples/celery): a worker and a client on a real Redis (broker and
result backend), through both rotations with every connection killed after each: every task
answers."""

from __future__ import annotations

import gc
import os
import secrets
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("celery")
pytest.importorskip("redis")

from runsecrets.testing import SecretsDir

from .._servers import BIN, EXAMPLES, server_env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .._redis import RedisServer

RECIPE = os.path.join(EXAMPLES, "celery")


@pytest.fixture
def celery_setup(
    redis_server: RedisServer, tmp_path: Path, sentinel: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[object, SecretsDir, list[str]]]:
    """The recipe's app in this process (the client) and a worker subprocess, both reading
    the same secrets directory; yields the tasks module, the directory and the two users."""
    import subprocess

    blue, green = (f"app_{secrets.token_hex(4)}" for _ in range(2))
    redis_server.add_user(blue, sentinel)
    redis_server.add_user(green, sentinel + "-green")
    directory = SecretsDir(tmp_path / "secrets")
    directory.write_all({"redis_user": blue, "redis_password": sentinel})
    url = f"redis://{redis_server.host}:{redis_server.port}"
    monkeypatch.setenv("RUNSECRETS_DIR", str(directory.path))
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.syspath_prepend(RECIPE)
    sys.modules.pop("tasks", None)
    import tasks

    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [os.path.join(BIN, "celery"), "-A", "tasks", "worker", "--pool=solo",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
            cwd=RECIPE, env=server_env(directory.path, REDIS_URL=url), stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield tasks, directory, [blue, green]
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        # Celery leaves some of its client's connections to the garbage collector (a result
        # backend connection dropped by CLIENT KILL and replaced): collect them here, where their
        # ResourceWarning is Celery's and not this suite's.
        backend = tasks.app.backend
        backend.result_consumer.stop()
        backend.client.connection_pool.disconnect()
        tasks.app.close()
        tasks.secrets_store().close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        sys.modules.pop("tasks", None)
        text = log.read_text(errors="replace")
        assert sentinel not in text
        for name in (blue, green):
            with redis_server.admin() as admin:
                admin.execute_command("ACL", "DELUSER", name)


def _run_tasks(tasks: object, count: int) -> list[str]:
    """Send ``count`` tasks one after the other; the failures, by type."""
    failures = []
    for i in range(count):
        try:
            result = tasks.add.delay(i, 1).get(timeout=60)  # type: ignore[attr-defined]
            if result != i + 1:
                failures.append(f"wrong result {result!r}")
        except Exception as e:  # noqa: BLE001  (counted, never raised)
            failures.append(type(e).__name__)
    return failures


@pytest.mark.slow
def test_celery_follows_both_rotations(
    celery_setup: tuple[object, SecretsDir, list[str]], redis_server: RedisServer, sentinel: str
) -> None:
    """One user with two ACL passwords for a moment, then alternating users; after each step
    every connection of the old credentials is killed, so the worker and the client can only
    go on by logging in with the new ones."""
    tasks, directory, (blue, green) = celery_setup
    assert _run_tasks(tasks, 3) == []
    # One user: the new password beside the old, the file, then the old one removed.
    redis_server.set_user(blue, f">{sentinel}-2")
    directory.write("redis_password", sentinel + "-2")
    time.sleep(0.2)
    redis_server.set_user(blue, f"<{sentinel}")
    redis_server.kill_user_connections(blue)
    assert _run_tasks(tasks, 3) == []
    # Alternating users: both secrets switch together, then the old user is switched off.
    directory.write_all({"redis_user": green, "redis_password": sentinel + "-green"})
    time.sleep(0.2)
    redis_server.set_user(blue, "off")
    redis_server.kill_user_connections(blue)
    assert _run_tasks(tasks, 3) == []
    with redis_server.admin() as admin:
        clients = admin.client_list()
    assert {c["user"] for c in clients} - {"admin"} == {green}
