"""The Flask example, really run: rotate its API token and SECRET_KEY while it serves."""

from __future__ import annotations

import http.cookiejar
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from runsecrets.testing import write_rename

from .._servers import EXAMPLES, Server, free_port, running, server_env

pytest.importorskip("flask")


@pytest.fixture
def flask_server(tmp_path: Path, sentinel: str) -> Iterator[tuple[Server, Path]]:
    """examples/flask/app.py on 127.0.0.1 with a private secrets directory."""
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    write_rename(secrets_dir / "flask_secret_key", "key-one-" + "x" * 32)
    write_rename(secrets_dir / "app_api_token", sentinel + "\n")
    port = free_port()
    env = server_env(secrets_dir, PORT=str(port))
    with running(
        [sys.executable, "app.py"],
        port=port,
        ready_path="/healthz",
        env=env,
        cwd=os.path.join(EXAMPLES, "flask"),
        log_path=str(tmp_path / "server.log"),
    ) as server:
        yield server, secrets_dir


def _call_api(server: Server, token: str) -> int:
    request = urllib.request.Request(
        server.url("/api"), headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


def _wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_rotated_token_is_used_without_restart(
    flask_server: tuple[Server, Path], sentinel: str
) -> None:
    """After the token file is rewritten, the new token is accepted and the old one refused."""
    server, secrets_dir = flask_server
    assert _call_api(server, sentinel) == 200
    assert _call_api(server, "wrong") == 403
    new_token = sentinel + "-rotated"
    write_rename(secrets_dir / "app_api_token", new_token)
    assert _wait_for(lambda: _call_api(server, new_token) == 200), server.log()
    assert _call_api(server, sentinel) == 403
    assert server.process.poll() is None
    assert "API_TOKEN" in server.log()
    assert sentinel not in server.log()


def test_sessions_survive_a_secret_key_rotation(flask_server: tuple[Server, Path]) -> None:
    """A session cookie signed with the old SECRET_KEY is still accepted after rotation."""
    server, secrets_dir = flask_server
    from flask import Flask

    if "SECRET_KEY_FALLBACKS" not in Flask.default_config:
        pytest.skip("SECRET_KEY_FALLBACKS needs Flask 3.1")
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    opener.open(urllib.request.Request(server.url("/login?user=bob"), method="POST"), timeout=10)
    version = server.get("/healthz")[1]["version"]
    write_rename(secrets_dir / "flask_secret_key", "key-two-" + "y" * 32)
    assert _wait_for(lambda: server.get("/healthz")[1]["version"] != version), server.log()
    with opener.open(server.url("/me"), timeout=10) as response:
        assert b'"bob"' in response.read()


def test_health_endpoint_is_liveness_naming_nothing(
    flask_server: tuple[Server, Path], sentinel: str
) -> None:
    """/healthz: 200 with a status and the store's version; no secret, key or path named."""
    server, secrets_dir = flask_server
    status, body = server.get("/healthz")
    assert status == 200
    assert set(body) == {"status", "version"}
    assert body["status"] == "ok"
    assert sentinel not in str(body)
    assert str(secrets_dir) not in str(body)
