"""Rotation without restart across containers: a sidecar writes, a running app sees it.

The full sidecar scenario of issue 7 (a TLS server on ``SecretStore`` and
``RotatingServerContext`` serving the new certificate on loopback) waits for those pieces to land
on ``main``; these tests prove the container-level half on a real engine now: what a writer in one
container does to a shared volume reaches a long-running reader in another, and what a host-side
writer does to a Compose-style single-file bind mount does or does not reach the container.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import _harness as h

pytestmark = pytest.mark.e2e

#: The app: a long-running process that re-reads db_password every 20 ms with runsecrets (which
#: caches nothing) and logs the digest of each new value, so the test can tell what it saw.
WATCHER = r"""
import hashlib, time, runsecrets
last = object()
while True:
    value = runsecrets.get_bytes("db_password", None)
    seen = None if value is None else hashlib.sha256(value).hexdigest()
    if seen != last:
        print("seen", seen, flush=True)
        last = seen
    time.sleep(0.02)
"""

#: The sidecar's writer: ``python3 -c WRITER rename|in-place PATH`` with the value on stdin,
#: using the same writers as Vault Agent / consul-template (rename) and naive tools (in place).
WRITER = r"""
import sys
from runsecrets.testing import write_in_place, write_rename
how, path = sys.argv[1:]
value = sys.stdin.buffer.read()
(write_rename if how == "rename" else write_in_place)(path, value)
"""


def _started_at(docker: h.Docker, container: str) -> tuple[str, str]:
    """When the container's process started and how often it restarted."""
    line = docker.out("inspect", "--format", "{{.State.StartedAt}} {{.RestartCount}}", container)
    started, restarts = line.split()
    return started, restarts


def _wait_seen(docker: h.Docker, container: str, value: str) -> None:
    line = f"seen {h.digest(value)}".encode()
    docker.wait_for(
        "the app to see the new value",
        lambda: line in docker.run("logs", container).stdout,
        timeout=30,
    )


def test_sidecar_rotates_a_shared_volume_for_a_running_app(
    docker: h.Docker, app_image: str, sentinel: str
) -> None:
    """Two containers share a volume: the sidecar replaces the password by rename, then
    rewrites it in place; the app (read-only mount, never restarted) sees each new value."""
    volume = docker.name("secrets")
    docker.run("volume", "create", "--label", docker.label, volume)
    # The volume starts root-owned; the sidecar writes as the image's user.
    docker.run(
        "run", "--rm", "--network", "none", "--user", "0", "--label", docker.label,
        "--volume", f"{volume}:/secrets", app_image, "chown", "10001:10001", "/secrets",
    )  # fmt: skip
    sidecar = docker.name("sidecar")
    docker.run(
        "run", "--detach", "--name", sidecar, "--label", docker.label, "--network", "none",
        "--volume", f"{volume}:/secrets", app_image, "sleep", "infinity",
    )  # fmt: skip

    def write(how: str, value: str) -> None:
        docker.run(
            "exec", "-i", sidecar, "python3", "-c", WRITER, how, "/secrets/db_password",
            input=value.encode(),
        )  # fmt: skip

    write("rename", f"{sentinel}-1")
    app = docker.name("app")
    docker.run(
        "run", "--detach", "--name", app, "--label", docker.label, "--network", "none",
        "--read-only", "--volume", f"{volume}:/run/secrets:ro", app_image,
        "python3", "-c", WATCHER,
    )  # fmt: skip
    _wait_seen(docker, app, f"{sentinel}-1")
    started = _started_at(docker, app)

    write("rename", f"{sentinel}-2")  # Vault Agent / consul-template / cert renewers
    _wait_seen(docker, app, f"{sentinel}-2")
    write("in-place", f"{sentinel}-3")  # a naive writer: truncate and write
    _wait_seen(docker, app, f"{sentinel}-3")

    assert _started_at(docker, app) == started, "the app was not restarted"
    logs = docker.run("logs", app)
    assert not h.leaked_any(sentinel, logs.stdout, logs.stderr)


def test_single_file_bind_mount_misses_a_host_rename(
    docker: h.Docker, app_image: str, sentinel: str, tmp_path: Path
) -> None:
    """A Compose ``secrets: file:`` mount is a single-file bind mount: an in-place host write
    shows through, a host-side rename does not (the mount keeps the old inode). This is why
    rotating such secrets means rewriting in place or recreating the container."""
    host = tmp_path / "db_password.txt"
    host.write_text(f"{sentinel}-1")
    host.chmod(0o644)
    app = docker.name("bind-app")
    docker.run(
        "run", "--detach", "--name", app, "--label", docker.label, "--network", "none",
        "--mount", f"type=bind,source={host},target=/run/secrets/db_password,readonly",
        app_image, "python3", "-c", WATCHER,
    )  # fmt: skip
    _wait_seen(docker, app, f"{sentinel}-1")

    with host.open("r+") as handle:  # in place: same inode
        handle.truncate(0)
        handle.write(f"{sentinel}-2")
    _wait_seen(docker, app, f"{sentinel}-2")

    replacement = tmp_path / "db_password.txt.new"
    replacement.write_text(f"{sentinel}-3")
    replacement.chmod(0o644)
    replacement.replace(host)  # rename: a new inode the mount never sees
    digest = f"seen {h.digest(f'{sentinel}-3')}".encode()
    probe = docker.probe(app, "/run/secrets/db_password")
    assert probe == {"/run/secrets/db_password": h.digest(f"{sentinel}-2")}
    assert digest not in docker.run("logs", app).stdout
