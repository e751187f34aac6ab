"""Plain containers: Compose-style file secrets through ``runsecrets exec``, and build secrets."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import _harness as h

pytestmark = pytest.mark.e2e

EXAMPLE = h.ROOT / "examples" / "build-secrets"


#: The production image's user: the owner compose.yaml tells the host's secret files to have.
APP_UID = 10001


def _secret_file(
    directory: Path, name: str, content: str, mode: int = 0o400, owner: int = APP_UID
) -> Path:
    """A host file as Compose's ``secrets: file:`` would use, made as compose.yaml says: owned
    by the app's uid, mode 0400, readable by no one else."""
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(content)
    os.chown(path, owner, owner)
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
        "umask 077",
        "chown 10001:10001 docker/secrets/*.txt && chmod 0400 docker/secrets/*.txt",
    ):
        assert line in text
    # The host file is never to be world-readable, here nor in the README.
    readme = (h.ROOT / "README.md").read_text()
    for advice in ("umask 022", "mode 0644", "0644 or owned", "Make the host file 0644"):
        assert advice not in text
        assert advice not in readme


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
    password = _secret_file(tmp_path / "secrets", "db_password.txt", sentinel, mode=0o600, owner=0)
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
    assert b"THEPASSWORD= THEPASSWORD_VERSION=unversioned /bin/sh -c echo" in history
    assert b"runsecrets get --env-fallback THEPASSWORD thepassword" in history
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


def test_build_secret_version_busts_the_cache(
    docker: h.Docker, app_image: str, tmp_path: Path
) -> None:
    """BuildKit leaves the secret's content out of its cache key: a rebuild with a new token and
    the same THEPASSWORD_VERSION reuses the step (the old receipt); a new version runs it again
    with the new token. Tokens of different lengths tell the receipts apart; the labels are
    unique to this run, so no earlier build's cache answers."""
    label = os.urandom(4).hex()
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text("o" * 11)
    new.write_text("n" * 23)

    def receipt(source: Path, version: str) -> str:
        tag = _build_example(
            docker,
            app_image,
            docker.name(f"build-version-{version}"),
            "--secret",
            f"id=thepassword,src={source}",
            "--build-arg",
            f"THEPASSWORD_VERSION={version}",
        )
        return docker.out("run", "--rm", "--network", "none", tag, "cat", "/tmp/receipt.txt")

    assert "a 11-character token" in receipt(old, f"v1-{label}")
    # The token changed, its version label did not: the cached step, the old token's receipt.
    assert "a 11-character token" in receipt(new, f"v1-{label}")
    assert "a 23-character token" in receipt(new, f"v2-{label}")


ENTRYPOINT_EXAMPLE = h.ROOT / "examples" / "entrypoint"


def test_entrypoint_example_builds_as_documented_and_runs_without_arguments(
    docker: h.Docker, app_image: str, tmp_path: Path
) -> None:
    """examples/entrypoint: the Dockerfile's own build command (wheels inside the context)
    builds the image; run with no arguments (``--entrypoint`` drops CMD) under ``set -u`` it
    starts the default server; ``X_FILE`` becomes ``X`` for a given command."""
    text = (ENTRYPOINT_EXAMPLE / "Dockerfile").read_text()
    (wheel_dir,) = re.findall(r"pip wheel -w (\S+) \. gunicorn", text)
    context = re.findall(r"-t app-with-secrets (\S+)", text)[0]
    assert Path(wheel_dir).parent == Path(context), (wheel_dir, context)
    build = tmp_path / "context"
    shutil.copytree(ENTRYPOINT_EXAMPLE, build)
    # The documented `pip wheel`, with the wheelhouse the suite already built as a local index.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--wheel-dir",
            str(build / "wheels"),
            "--find-links",
            str(h.DOCKER_DIR / "wheels"),
            str(h.ROOT),
            "gunicorn",
        ],
        check=True,
        timeout=600,
    )
    tag = docker.name("entrypoint-example")
    docker.run(
        "build",
        "--quiet",
        "--network",
        "none",
        "--label",
        docker.label,
        "--build-arg",
        f"BASE={h.BASE_IMAGE}",
        "--tag",
        tag,
        str(build),
        env={"DOCKER_BUILDKIT": "1"},
        timeout=600,
    )
    name = docker.name("entrypoint-no-args")
    docker.run(
        "run",
        "--detach",
        "--name",
        name,
        "--label",
        docker.label,
        "--network",
        "none",
        "--entrypoint",
        "docker-entrypoint.sh",
        tag,
    )
    docker.wait_for(
        "gunicorn listening", lambda: b"Listening at" in docker.run("logs", name).stderr
    )
    logs = docker.run("logs", name)
    assert b"unbound variable" not in logs.stdout + logs.stderr
    # The image runs as uid 65534: the host file is that user's, 0400.
    password = _secret_file(tmp_path / "secrets", "db_password.txt", "pw-12345", owner=65534)
    seen = docker.out(
        "run",
        "--rm",
        "--network",
        "none",
        "--label",
        docker.label,
        "--mount",
        _compose_mount(password, "db_password"),
        "--env",
        "DB_PASSWORD_FILE=/run/secrets/db_password",
        tag,
        "python3",
        "-c",
        "import os; print(len(os.environ['DB_PASSWORD']), 'DB_PASSWORD_FILE' in os.environ)",
    )
    assert seen == "8 False"
