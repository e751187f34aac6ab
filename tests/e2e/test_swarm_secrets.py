"""Swarm secrets in real service tasks: paths, ownership, tmpfs, explain, rotation by hand."""

from __future__ import annotations

import json

import pytest

from . import _harness as h

pytestmark = pytest.mark.e2e


def _mount(docker: h.Docker, container: str, path: str) -> tuple[str, list[str]]:
    """The file system type and mount options of ``path`` inside ``container``."""
    line = docker.out("exec", container, "findmnt", "-n", "-o", "FSTYPE,OPTIONS", "--target", path)
    fstype, options = line.split()
    return fstype, options.split(",")


def test_swarm_secret_targets_ownership_tmpfs_and_explain(swarm: h.Swarm, sentinel: str) -> None:
    """A service reads /run/secrets/<name> and a custom target with uid/gid/mode; tmpfs, ro.

    The app runs as uid 10001. ``db_password`` keeps Swarm's default (root, 0444);
    ``api_key`` is mounted at an absolute custom path owned by the app user with mode 0400;
    ``admin_token`` is root-owned 0400, which the app user must be told it cannot read.
    """
    docker = swarm.docker
    password = swarm.secret("db_password", sentinel.encode())
    api_key = swarm.secret("api_key", f"{sentinel}-api".encode())
    token = swarm.secret("admin_token", f"{sentinel}-admin".encode())
    service = swarm.service(
        "targets",
        "--secret",
        f"source={password},target=db_password",
        "--secret",
        f"source={api_key},target=/etc/app/api_key,uid=10001,gid=10001,mode=0400",
        "--secret",
        f"source={token},target=admin_token,mode=0400",
        "--env",
        "API_KEY_FILE=/etc/app/api_key",
        command=["sleep", "infinity"],
    )
    (container,) = swarm.wait_containers(service)

    digests = swarm.exec_probe(
        container,
        "/run/secrets/db_password",
        "/etc/app/api_key",
        "/run/secrets/admin_token",
        "env:API_KEY",
    )
    assert digests["/run/secrets/db_password"] == h.digest(sentinel)
    assert digests["/etc/app/api_key"] == h.digest(f"{sentinel}-api")
    assert digests["/run/secrets/admin_token"] == "PermissionError"
    # `runsecrets exec` (the entrypoint) turned API_KEY_FILE into API_KEY for PID 1.
    assert digests["env:API_KEY"] == h.digest(f"{sentinel}-api")

    stat = docker.out(
        "exec",
        container,
        "stat",
        "-c",
        "%n %u %g %a",
        "/run/secrets/db_password",
        "/etc/app/api_key",
        "/run/secrets/admin_token",
    ).splitlines()
    assert stat == [
        "/run/secrets/db_password 0 0 444",
        "/etc/app/api_key 10001 10001 400",
        "/run/secrets/admin_token 0 0 400",
    ]
    for path in ("/run/secrets/db_password", "/etc/app/api_key"):
        fstype, options = _mount(docker, container, path)
        assert fstype == "tmpfs"
        assert "ro" in options
    # Read-only even for root inside the container.
    write = docker.run(
        "exec",
        "--user",
        "0",
        container,
        "sh",
        "-c",
        "echo x > /run/secrets/db_password",
        check=False,
    )
    assert write.returncode != 0
    assert b"Read-only file system" in write.stderr

    explained = docker.run("exec", container, "runsecrets", "explain", "--json", check=False)
    rows = {row["name"]: row for row in json.loads(explained.stdout)}
    assert rows["db_password"]["found"] is True
    assert rows["db_password"]["path"] == "/run/secrets/db_password"
    assert rows["api_key"]["path"] == "/etc/app/api_key"
    assert rows["api_key"]["variable"] == "API_KEY_FILE"
    assert rows["admin_token"]["found"] is False
    assert "runs as uid 10001" in rows["admin_token"]["message"]
    assert explained.returncode == 3  # one secret unreadable
    text = docker.out("exec", container, "runsecrets", "explain", "db_password", "api_key")
    assert "/run/secrets/db_password" in text
    assert "API_KEY_FILE" in text
    for output in (explained.stdout, text, docker.run("service", "logs", service).stdout):
        assert not h.leaked_any(sentinel, output)


def test_swarm_rotation_by_hand_same_target(swarm: h.Swarm, sentinel: str) -> None:
    """Rotation the Swarm way: ``db_password_v2`` swapped in at the same target.

    The service runs the image's own app (docker/app/app.py) unchanged; after
    ``service update --secret-rm/--secret-add`` a new task reads the new value at the same path.
    """
    docker = swarm.docker
    old = swarm.secret("db_password", f"{sentinel}-v1".encode())
    service = swarm.service("rotate-by-hand", "--secret", f"source={old},target=db_password")
    (before,) = swarm.wait_containers(service)
    assert swarm.exec_probe(before, "/run/secrets/db_password") == {
        "/run/secrets/db_password": h.digest(f"{sentinel}-v1")
    }

    new = swarm.secret("db_password_v2", f"{sentinel}-v2".encode())
    docker.run(
        "service",
        "update",
        "--detach",
        "--quiet",
        "--secret-rm",
        old,
        "--secret-add",
        f"source={new},target=db_password,uid=10001,gid=10001,mode=0440",
        service,
    )
    (after,) = swarm.wait_containers(service, secret=new)
    assert after != before, "Swarm replaces the task: a new container"
    assert swarm.exec_probe(after, "/run/secrets/db_password") == {
        "/run/secrets/db_password": h.digest(f"{sentinel}-v2")
    }
    # 0440 given with a leading zero is octal, and the API stores the integer 288.
    (spec,) = docker.inspect("service", "inspect", service)
    refs = spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]  # type: ignore[index]
    assert [(r["SecretName"], r["File"]["Name"], r["File"]["Mode"]) for r in refs] == [
        (new, "db_password", 0o440)
    ]
    # The old secret is no longer in use, so Swarm lets it go.
    docker.run("secret", "rm", old)
    logs = docker.run("service", "logs", "--raw", service).stdout
    assert b"app: db_password from file /run/secrets/db_password: **********" in logs
    assert not h.leaked_any(sentinel, logs)


def test_stack_file_custom_targets_uid_gid_mode(swarm: h.Swarm, sentinel: str) -> None:
    """docker/stack.yaml deploys as written: external secrets at its targets, owners and modes.

    YAML's ``0400`` and ``0440`` reach the API as the integers 256 and 288.
    """
    docker = swarm.docker
    password = swarm.secret("db_password_v1", sentinel.encode())
    api_key = swarm.secret("api_key_v1", f"{sentinel}-api".encode())
    stack = docker.name("stack")
    docker.run(
        "stack",
        "deploy",
        "--resolve-image",
        "never",
        "-c",
        str(h.DOCKER_DIR / "stack.yaml"),
        stack,
        env={"APP_IMAGE": h.APP_IMAGE, "DB_PASSWORD_SECRET": password, "API_KEY_SECRET": api_key},
    )
    service = f"{stack}_app"
    try:
        (container,) = swarm.wait_containers(service)
        (spec,) = docker.inspect("service", "inspect", service)
        refs = spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]  # type: ignore[index]
        assert sorted((r["File"]["Name"], r["File"]["Mode"]) for r in refs) == [
            ("/etc/app/api_key", 0o440),
            ("db_password", 0o400),
        ]
        stat = docker.out(
            "exec",
            container,
            "stat",
            "-c",
            "%n %u %g %a",
            "/run/secrets/db_password",
            "/etc/app/api_key",
        ).splitlines()
        assert stat == ["/run/secrets/db_password 10001 10001 400", "/etc/app/api_key 0 10001 440"]
        assert swarm.exec_probe(container, "/run/secrets/db_password", "env:API_KEY") == {
            "/run/secrets/db_password": h.digest(sentinel),
            "env:API_KEY": h.digest(f"{sentinel}-api"),
        }
        logs = docker.run("service", "logs", "--raw", service).stdout
        assert not h.leaked_any(sentinel, logs, docker.run("service", "inspect", service).stdout)
    finally:
        docker.run("stack", "rm", stack)
