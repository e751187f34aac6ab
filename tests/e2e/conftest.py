"""Fixtures of the end-to-end suite: a real engine, the images, a single-node Swarm.

The engine is found or started once per session; every test here needs it, so a missing engine
skips the whole suite (or fails it when ``RUNSECRETS_E2E_REQUIRED=1``). See ``_harness`` for the
rules on installing, starting and cleaning up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from . import _harness as h

log = logging.getLogger("runsecrets.e2e")


def _unavailable(reason: str) -> None:
    """Skip, or fail when the engine is required (CI)."""
    if h.required():
        pytest.fail(f"RUNSECRETS_E2E_REQUIRED=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine() -> Iterator[h.Engine]:
    """A Docker engine that answers; everything the session made is removed afterwards."""
    try:
        engine = h.start_engine()
    except h.EngineUnavailable as e:
        _unavailable(str(e))
        raise  # unreachable: _unavailable always raises
    try:
        yield engine
    finally:
        problems = h.cleanup(engine)
    assert not problems, f"the e2e session left these behind: {problems}"


@pytest.fixture(scope="session")
def docker(engine: h.Engine) -> h.Docker:
    """The session's docker command wrapper."""
    return engine.docker


@pytest.fixture(scope="session")
def app_image(docker: h.Docker) -> str:
    """The production image (docker/Dockerfile) built from this checkout's wheel."""
    try:
        seconds = h.build_images(docker)
    except h.EngineUnavailable as e:
        _unavailable(str(e))
    log.info("images built in %.1fs", seconds)
    return h.APP_IMAGE


@pytest.fixture(scope="session")
def swarm(engine: h.Engine, app_image: str) -> h.Swarm:
    """A single-node Swarm (initialised here unless it already ran) and an internal network."""
    try:
        h.init_swarm(engine)
    except h.EngineUnavailable as e:
        _unavailable(str(e))
    docker = engine.docker
    network = docker.name("isolated")
    docker.run(
        "network",
        "create",
        "--driver",
        "overlay",
        "--internal",
        "--label",
        docker.label,
        network,
    )
    return h.Swarm(docker, network)


@pytest.fixture(scope="session")
def docker_sdk(engine: h.Engine) -> Any:
    """A ``docker.DockerClient`` for the runsecrets.swarm tests (the ``swarm`` extra)."""
    try:
        import docker as sdk
    except ImportError:
        _unavailable("the docker SDK is not installed (pip install 'runsecrets[swarm]')")
    client = sdk.from_env()
    yield client
    client.close()
