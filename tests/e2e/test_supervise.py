"""``runsecrets exec --restart-on-change`` in containers: a program that only reads its
environment, restarted when its secret rotates.

A Swarm secret is immutable and a rotation replaces the tasks that mount it, so a program
*inside a task* sees a rotation in place only when the file it reads is written while the task
lives. Three scenarios, each saying what it shows:

1. **Swarm, through a shared volume** (the restart inside the same task): a feeder service
   mounts the Swarm secret and copies it (write and rename) into a volume; the app service
   mounts the volume, not the secret. ``runsecrets swarm rotate`` replaces the feeder's task,
   which writes the new value; the app's task (same container, same PID 1) restarts only its
   program, which then has the new value in its environment.
2. **Swarm, the app's own secret**: the rotation replaces the app's task. The new task's
   program starts with the new value; the old task's supervisor, stopped by Swarm, forwarded
   SIGTERM to its program and exited with its status (143).
3. **A Compose-style file secret**: a host file bind-mounted at ``/run/secrets/db_password``
   and rewritten in place on the host (what a single-file bind mount shows): the program is
   restarted inside the same container.

In each, ``docker logs`` names variables and files only, never a value: the program prints
the SHA-256 of what it got to a file in the container, and the test compares digests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runsecrets import cli
from runsecrets.testing import write_in_place

from . import _harness as h

pytestmark = pytest.mark.e2e

SUPERVISOR = "runsecrets exec --restart-on-change --debounce 0.2 --"

#: The program: reads DB_PASSWORD once, records its pid and the value's digest, then sleeps.
PROGRAM = (
    'd=$(printf %s "$DB_PASSWORD" | sha256sum | cut -d" " -f1); echo "$$ $d" >> /tmp/seen; '
    'echo "program $$ started, DB_PASSWORD_FILE ${DB_PASSWORD_FILE:-unset}"; exec sleep infinity'
)

#: The feeder: copies its Swarm secret into the shared volume as a writer should (a temporary
#: dot-file renamed over the target), then stays up.
FEED = (
    "cp /run/secrets/db_password /shared/.db_password.new && chmod 0444 "
    "/shared/.db_password.new && mv -f /shared/.db_password.new /shared/db_password && "
    "exec sleep infinity"
)


def _seen(docker: h.Docker, container: str) -> list[tuple[str, str]]:
    """The (pid, digest) each program run in ``container`` recorded, in order."""
    text = docker.run("exec", container, "cat", "/tmp/seen", check=False).stdout.decode()
    return [tuple(line.split()) for line in text.splitlines() if line.strip()]  # type: ignore[misc]


def _wait_seen(docker: h.Docker, container: str, count: int) -> list[tuple[str, str]]:
    docker.wait_for(
        f"{count} program run(s) in {container}",
        lambda: len(_seen(docker, container)) >= count,
        timeout=60,
    )
    return _seen(docker, container)


def _logs(docker: h.Docker, container: str) -> str:
    result = docker.run("logs", container)
    return (result.stdout + result.stderr).decode(errors="replace")


def _rotate(docker: h.Docker, name: str, value: str, tmp_path: Path) -> None:
    """``runsecrets swarm rotate NAME --from-file`` (the value never on a command line)."""
    source = tmp_path / "new-value"
    source.write_text(value)
    label = f"{h.LABEL}={docker.session}"
    assert cli.main(["swarm", "rotate", name, "--from-file", str(source), "--label", label]) == 0


def _pid_1(docker: h.Docker, container: str) -> str:
    return docker.out("exec", container, "cat", "/proc/1/cmdline").replace("\0", " ")


def test_swarm_rotation_restarts_the_program_inside_the_same_task(
    swarm: h.Swarm, docker_sdk: object, sentinel: str, tmp_path: Path
) -> None:
    """Scenario 1: the feeder's task is replaced by ``runsecrets swarm rotate`` and writes the
    new value into the volume; the app's task is not replaced (same container, same PID 1),
    its program is restarted with the new value, and its log says which variable changed."""
    docker = swarm.docker
    old = swarm.secret("db_password", f"{sentinel}-old".encode())
    volume = docker.name("shared")
    docker.run("volume", "create", "--label", docker.label, volume)
    feeder = swarm.service(
        "feeder",
        "--user",
        "0:0",
        "--secret",
        f"source={old},target=db_password",
        "--mount",
        f"type=volume,source={volume},target=/shared",
        command=["sh", "-c", FEED],
    )
    (feeder_box,) = swarm.wait_containers(feeder)
    docker.wait_for(
        "the feeder's copy",
        lambda: (
            docker.run(
                "exec", feeder_box, "test", "-f", "/shared/db_password", check=False
            ).returncode
            == 0
        ),
    )
    app = swarm.service(
        "app",
        "--entrypoint",
        SUPERVISOR,
        "--env",
        "DB_PASSWORD_FILE=/shared/db_password",
        "--mount",
        f"type=volume,source={volume},target=/shared,readonly",
        command=["sh", "-c", PROGRAM],
    )
    (box,) = swarm.wait_containers(app)
    (first,) = _wait_seen(docker, box, 1)
    assert first[1] == h.digest(f"{sentinel}-old")
    supervisor = _pid_1(docker, box)
    assert "--restart-on-change" in supervisor

    _rotate(docker, old, f"{sentinel}-new", tmp_path)

    new = f"{old}_v0002"
    swarm.wait_containers(feeder, secret=new)
    runs = _wait_seen(docker, box, 2)
    assert runs[1][1] == h.digest(f"{sentinel}-new")
    assert runs[1][0] != runs[0][0]
    assert swarm.wait_containers(app) == [box]  # the same task, the same container
    assert _pid_1(docker, box) == supervisor
    logs = _logs(docker, box)
    assert "DB_PASSWORD changed: restarting sh" in logs
    assert "/shared/db_password (DB_PASSWORD_FILE)" in logs
    assert not h.leaked_any(sentinel, logs, _logs(docker, feeder_box))


def test_swarm_rotation_of_the_apps_own_secret_starts_a_new_task_with_it(
    swarm: h.Swarm, docker_sdk: object, sentinel: str, tmp_path: Path
) -> None:
    """Scenario 2: the app mounts the Swarm secret itself. The rotation replaces its task: the
    new task's program has the new value; the old task's supervisor forwarded Swarm's SIGTERM
    to its program and exited 143 with it, logging names only."""
    docker = swarm.docker
    old = swarm.secret("db_password", f"{sentinel}-old".encode())
    app = swarm.service(
        "own",
        "--entrypoint",
        SUPERVISOR,
        "--env",
        "DB_PASSWORD_FILE=/run/secrets/db_password",
        "--secret",
        f"source={old},target=db_password",
        command=["sh", "-c", PROGRAM],
    )
    (before,) = swarm.wait_containers(app)
    assert _wait_seen(docker, before, 1)[0][1] == h.digest(f"{sentinel}-old")

    _rotate(docker, old, f"{sentinel}-new", tmp_path)

    (after,) = swarm.wait_containers(app, secret=f"{old}_v0002")
    assert after != before
    assert _wait_seen(docker, after, 1)[0][1] == h.digest(f"{sentinel}-new")
    docker.wait_for(
        "the old task's container to stop",
        lambda: docker.out("inspect", "--format", "{{.State.Status}}", before) == "exited",
    )
    assert docker.out("inspect", "--format", "{{.State.ExitCode}}", before) == "143"
    old_logs = _logs(docker, before)
    assert "SIGTERM received: forwarded to sh" in old_logs
    assert "ended with exit code 143: exiting with it" in old_logs
    assert not h.leaked_any(sentinel, old_logs, _logs(docker, after))


def test_a_compose_file_secret_rewritten_in_place_restarts_the_program(
    docker: h.Docker, app_image: str, sentinel: str, tmp_path: Path
) -> None:
    """Scenario 3: a host file bind-mounted read-only at ``/run/secrets/db_password`` (as
    Compose's ``secrets: file:`` does) and rewritten in place on the host: the program in the
    running container is restarted with the new value; ``docker stop`` then ends the
    supervisor with its program's status."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    host_file = secrets / "db_password.txt"
    host_file.write_text(f"{sentinel}-old\n")
    os.chown(host_file, 10001, 10001)
    os.chmod(host_file, 0o400)
    name = docker.name("compose-supervised")
    docker.run(
        "run",
        "--detach",
        "--name",
        name,
        "--label",
        docker.label,
        "--network",
        "none",
        "--mount",
        f"type=bind,source={host_file},target=/run/secrets/db_password,readonly",
        "--env",
        "DB_PASSWORD_FILE=/run/secrets/db_password",
        "--stop-timeout",
        "5",
        "--entrypoint",
        "runsecrets",
        app_image,
        *SUPERVISOR.split()[1:],
        "sh",
        "-c",
        PROGRAM,
    )
    assert _wait_seen(docker, name, 1)[0][1] == h.digest(f"{sentinel}-old")
    write_in_place(host_file, f"{sentinel}-new\n")
    runs = _wait_seen(docker, name, 2)
    assert runs[1][1] == h.digest(f"{sentinel}-new")
    docker.run("stop", name)
    assert docker.out("inspect", "--format", "{{.State.ExitCode}}", name) == "143"
    logs = _logs(docker, name)
    assert "DB_PASSWORD changed: restarting sh" in logs
    assert not h.leaked_any(sentinel, logs)
