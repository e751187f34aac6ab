"""Plain containers: Compose-style file secrets through ``runsecrets exec``, and build secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from . import _harness as h

pytestmark = pytest.mark.e2e

EXAMPLE = h.ROOT / "examples" / "build-secrets"


def _secret_file(directory: Path, name: str, content: str, mode: int = 0o644) -> Path:
    """A host file as Compose's ``secrets: file:`` would use."""
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(content)
    os.chmod(path, mode)
    return path


def _compose_mount(path: Path, name: str) -> str:
    """The bind mount Compose makes for a file secret: read-only at /run/secrets/<name>."""
    return f"type=bind,source={path},target=/run/secrets/{name},readonly"


def test_compose_yaml_declares_the_file_variables() -> None:
    """docker/compose.yaml uses the layout the next test reproduces (no Compose here)."""
    text = (h.DOCKER_DIR / "compose.yaml").read_text()
    for line in (
        "DB_PASSWORD_FILE: /run/secrets/db_password",
        "API_KEY_FILE: /run/secrets/api_key",
        "file: ./secrets/db_password.txt",
        "network_mode: none",
    ):
        assert line in text


def test_compose_file_secrets_through_runsecrets_exec(
    docker: h.Docker, app_image: str, sentinel: str, tmp_path: Path
) -> None:
    """Bind-mounted file secrets and ``_FILE`` variables, with ``runsecrets exec`` as entrypoint.

    What Compose does for docker/compose.yaml, done with ``docker run``: each file secret
    bind-mounted read-only at /run/secrets/<name>, ``X_FILE`` variables pointing there. The
    process started by the entrypoint sees ``DB_PASSWORD`` and ``API_KEY`` (trailing newline
    stripped as ``$(< file)`` does) and no ``_FILE`` variables; ``docker inspect`` shows the
    paths and never a value.
    """
    password = _secret_file(tmp_path / "secrets", "db_password.txt", f"{sentinel}\n")
    api_key = _secret_file(tmp_path / "secrets", "api_key.txt", f"{sentinel}-api")
    name = docker.name("compose-app")
    docker.run(
        "run",
        "--detach",
        "--name",
        name,
        "--label",
        docker.label,
        "--network",
        "none",
        "--read-only",
        "--mount",
        _compose_mount(password, "db_password"),
        "--mount",
        _compose_mount(api_key, "api_key"),
        "--env",
        "DB_PASSWORD_FILE=/run/secrets/db_password",
        "--env",
        "API_KEY_FILE=/run/secrets/api_key",
        app_image,
        "sleep",
        "infinity",
    )
    probe = json.loads(
        docker.out(
            "exec",
            name,
            "python3",
            "-c",
            h.PROBE,
            "env:DB_PASSWORD",
            "env:API_KEY",
            "env:DB_PASSWORD_FILE",
            "env:API_KEY_FILE",
        )
    )
    assert probe == {
        "env:DB_PASSWORD": h.digest(sentinel),
        "env:API_KEY": h.digest(f"{sentinel}-api"),
        "env:DB_PASSWORD_FILE": None,
        "env:API_KEY_FILE": None,
    }
    inspected = docker.run("inspect", name).stdout
    assert not h.leaked_any(sentinel, inspected)
    (container,) = json.loads(inspected)
    env = container["Config"]["Env"]
    assert "DB_PASSWORD_FILE=/run/secrets/db_password" in env
    assert not any(item.startswith(("DB_PASSWORD=", "API_KEY=")) for item in env)

    # The image's own app, unchanged, started the same way: it reads the value and says where
    # it came from without showing it.
    app = docker.name("compose-app-default-cmd")
    docker.run(
        "run",
        "--detach",
        "--name",
        app,
        "--label",
        docker.label,
        "--network",
        "none",
        "--mount",
        _compose_mount(password, "db_password"),
        "--env",
        "DB_PASSWORD_FILE=/run/secrets/db_password",
        app_image,
    )
    expected = b"app: db_password from environment variable DB_PASSWORD: **********"
    docker.wait_for("the app's first line", lambda: expected in docker.run("logs", app).stdout)
    logs = docker.run("logs", app)
    assert not h.leaked_any(sentinel, logs.stdout, logs.stderr, docker.run("inspect", app).stdout)


def test_compose_file_secret_unreadable_by_the_app_user(
    docker: h.Docker, app_image: str, sentinel: str, tmp_path: Path
) -> None:
    """A 0600 root-owned host file is unreadable by uid 10001: the error says why, exit 3."""
    password = _secret_file(tmp_path / "secrets", "db_password.txt", sentinel, mode=0o600)
    result = docker.run(
        "run",
        "--rm",
        "--label",
        docker.label,
        "--network",
        "none",
        "--mount",
        _compose_mount(password, "db_password"),
        "--env",
        "DB_PASSWORD_FILE=/run/secrets/db_password",
        app_image,
        "true",
        check=False,
    )
    assert result.returncode == 3
    message = result.stderr.decode()
    assert "permission denied" in message
    assert "/run/secrets/db_password" in message
    assert "uid 10001" in message
    assert "Compose file secret keeps the host file's owner and mode" in message
    assert not h.leaked_any(sentinel, result.stdout, result.stderr)


def _build_example(docker: h.Docker, app_image: str, tag: str, *args: str) -> str:
    """Build examples/build-secrets with Debian's client and BuildKit, offline."""
    docker.run(
        "build",
        "--quiet",
        "--network",
        "none",
        "--build-arg",
        f"BASE_IMAGE={app_image}",
        "--label",
        docker.label,
        "--tag",
        tag,
        *args,
        str(EXAMPLE),
        env={"DOCKER_BUILDKIT": "1"},
        timeout=300,
    )
    return tag


def test_build_secret_leaves_no_trace(
    docker: h.Docker, app_image: str, sentinel: str, tmp_path: Path
) -> None:
    """``--secret``: the RUN step got the value, yet history and ``docker save`` never show it."""
    source = tmp_path / "thepassword.txt"
    source.write_text(sentinel)
    tag = _build_example(
        docker, app_image, docker.name("build-secret"), "--secret", f"id=thepassword,src={source}"
    )
    receipt = docker.out("run", "--rm", "--network", "none", tag, "cat", "/tmp/receipt.txt")
    assert (
        receipt == f"fetch: authenticated with a {len(sentinel)}-character token; artifact fetched"
    )
    history = docker.run("history", "--no-trunc", tag).stdout
    # The step is recorded, with the build argument empty: the value came from the mount.
    assert b"THEPASSWORD= /bin/sh -c runsecrets get --env-fallback THEPASSWORD" in history
    assert not h.leaked_any(sentinel, history, docker.run("image", "inspect", tag).stdout)
    assert not h.saved_image_contains(docker, tag, sentinel.encode(), tmp_path)


def test_build_argument_fallback_leaks(docker: h.Docker, app_image: str, tmp_path: Path) -> None:
    """``--build-arg`` works through ``--env-fallback`` and is recorded: the README's warning.

    The value here is a canary meant to leak, not the suite's sentinel.
    """
    canary = f"LEAKED-BUILD-ARG-{os.urandom(6).hex()}"
    tag = _build_example(
        docker, app_image, docker.name("build-arg"), "--build-arg", f"THEPASSWORD={canary}"
    )
    receipt = docker.out("run", "--rm", "--network", "none", tag, "cat", "/tmp/receipt.txt")
    assert f"a {len(canary)}-character token" in receipt
    assert canary.encode() in docker.run("history", "--no-trunc", tag).stdout
    assert h.saved_image_contains(docker, tag, canary.encode(), tmp_path)
