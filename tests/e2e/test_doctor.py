"""``runsecrets doctor`` on a real engine: an image built here with a secret build argument and
variable, a Swarm task (whose secret mounts are fine by design) and a Compose-style container
(whose single-file bind mount never sees a rotation)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runsecrets.cli import main

from . import _harness as h

pytestmark = pytest.mark.e2e

_DOCKERFILE = """\
ARG BASE=runsecrets-base:bookworm
FROM ${BASE}
ARG DB_PASSWORD
ARG VERSION=1.0
ENV API_TOKEN=from-dockerfile-{marker} PLAIN=1
RUN test -n "$DB_PASSWORD" && echo "$VERSION" > /version
"""


def _doctor_in(docker: h.Docker, container: str) -> tuple[int, list[dict[str, str]], bytes]:
    """Run ``runsecrets doctor --json`` inside ``container`` as its user."""
    result = docker.run("exec", container, "runsecrets", "doctor", "--json", check=False)
    return result.returncode, json.loads(result.stdout)["findings"], result.stdout + result.stderr


@pytest.mark.parametrize("buildkit", ["1", "0"], ids=["buildkit", "classic"])
def test_an_image_with_a_secret_build_argument(
    docker: h.Docker,
    tmp_path: Path,
    sentinel: str,
    capsys: pytest.CaptureFixture[str],
    buildkit: str,
) -> None:
    """Built from the local base image with ``--build-arg DB_PASSWORD`` (a sentinel) and an
    ``ENV API_TOKEN``: the doctor, through the SDK, reports the argument on the RUN step and the
    variable, exit 3, and prints neither value."""
    pytest.importorskip("docker")
    marker = sentinel.lower()
    (tmp_path / "Dockerfile").write_text(_DOCKERFILE.replace("{marker}", marker))
    tag = docker.name("doctor-image")
    docker.run(
        "build",
        "--quiet",
        "--network",
        "none",
        "--label",
        docker.label,
        "--build-arg",
        "DB_PASSWORD",  # its value from the environment: never on a logged command line
        "-t",
        tag,
        str(tmp_path),
        env={"DOCKER_BUILDKIT": buildkit, "DB_PASSWORD": sentinel},
    )
    try:
        code = main(["doctor", "--image", tag, "--json"])
        out = capsys.readouterr()
        findings = json.loads(out.out)["findings"]
        assert code == 3
        assert {(f["code"], f["subject"].split(" ", 1)[1]) for f in findings} == {
            ("secret_in_image_environment", "ENV API_TOKEN"),
            ("secret_build_argument", "step 5"),
        }
        assert not h.leaked_any(sentinel, out.out, out.err)
        assert marker not in out.out
    finally:
        docker.run("image", "rm", "-f", tag, check=False)


def test_a_swarm_task_and_a_compose_style_container(
    swarm: h.Swarm, tmp_path: Path, sentinel: str
) -> None:
    """Inside a Swarm task, the secrets (default target and a custom one named by a ``_FILE``
    variable) are neither reported as on a disk nor as never updating. Inside a container with
    a host file bind-mounted at /run/secrets/db_password and a password in the environment: a
    secret_in_environment error and the mount's never_updates and not_memory_backed warnings."""
    docker = swarm.docker
    password = swarm.secret("doctor_password", sentinel.encode())
    service = swarm.service(
        "doctor-swarm",
        "--secret",
        f"source={password},target=db_password",
        "--secret",
        f"source={password},target=/etc/app/api_key,uid=10001,mode=0400",
        "--env",
        "API_KEY_FILE=/etc/app/api_key",
        command=["sleep", "infinity"],
    )
    (task,) = swarm.wait_containers(service)
    code, findings, raw = _doctor_in(docker, task)
    codes = {f["code"] for f in findings}
    assert not codes & {"never_updates", "not_memory_backed", "unreadable", "not_checked"}, findings
    assert code in (0, 1)
    assert not h.leaked_any(sentinel, raw)

    host_file = tmp_path / "db_password.txt"
    host_file.write_text(sentinel)
    os.chmod(host_file, 0o644)
    container = docker.name("doctor-compose")
    docker.run(
        "run",
        "--detach",
        "--name",
        container,
        "--label",
        docker.label,
        "--network",
        "none",
        "--mount",
        f"type=bind,source={host_file},target=/run/secrets/db_password,readonly",
        "--env",
        "REDIS_PASSWORD",  # from the environment below, never on the command line
        "--entrypoint",
        "sleep",
        h.APP_IMAGE,
        "infinity",
        env={"REDIS_PASSWORD": sentinel},
    )
    code, findings, raw = _doctor_in(docker, container)
    found = {(f["code"], f["subject"]) for f in findings}
    assert {
        ("secret_in_environment", "REDIS_PASSWORD"),
        ("never_updates", "/run/secrets/db_password"),
        ("not_memory_backed", "/run/secrets"),
    } <= found, findings
    assert code == 3
    assert not h.leaked_any(sentinel, raw)
