"""An empty token secret lets nobody in: the examples (copied into apps) and ``Secret``.

``hmac.compare_digest("", "")`` is True, so a check written as ``compare_digest(sent, token)``
lets in a request without a token once the token file is empty. Each example's real handler
runs here with an empty token, against a request with no header, an empty bearer and a token.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runsecrets import Secret
from runsecrets.testing import SecretsDir

from .test_examples_settings import (
    EXAMPLES,
    OPENER,
    clean_environment,
    free_port,
    get,
    load_example,
    wait_until,
)

__all__ = ["clean_environment"]  # the fixture, used here too (autouse)

NO_TOKEN: list[dict[str, str]] = [{}, {"Authorization": ""}, {"Authorization": "Bearer "}]


def test_secret_matches_refuses_empty_values() -> None:
    """An empty secret matches nothing and equals nothing; a real one matches itself only."""
    empty = Secret("")
    assert not empty.matches("")
    assert not empty.matches(b"")
    assert not empty.matches(None)
    assert empty != Secret("")
    token = Secret("t0ken")
    assert token.matches("t0ken")
    assert token.matches(b"t0ken")
    assert token.matches(Secret("t0ken"))
    assert not token.matches("")
    assert not token.matches("t0ken2")
    assert token == Secret("t0ken")


def test_flask_example_refuses_everyone_with_an_empty_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/flask: /api is 403 for every request while app_api_token is empty."""
    pytest.importorskip("flask")
    SecretsDir(tmp_path).write_all({"flask_secret_key": "k" * 32, "app_api_token": ""})
    monkeypatch.setenv("RUNSECRETS_DIR", str(tmp_path))
    module = load_example("flask")
    app = module.create_app()
    try:
        assert app.config["API_TOKEN"] == ""
        client = app.test_client()
        for headers in NO_TOKEN:
            assert client.get("/api", headers=headers).status_code == 403, headers
    finally:
        module.secrets.close(app)


def test_gunicorn_example_authorizes_nobody_with_an_empty_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/gunicorn: the WSGI app says authorized=false for every request."""
    SecretsDir(tmp_path).write_all({"api_token": ""})
    monkeypatch.setenv("RUNSECRETS_DIR", str(tmp_path))
    module = load_example("gunicorn")
    try:
        for headers in NO_TOKEN:
            environ = {f"HTTP_{k.upper()}": v for k, v in headers.items()}
            body = b"".join(module.application(environ, lambda *args: None))
            assert b'"authorized": false' in body, headers
    finally:
        module.store.close()


@contextmanager
def _private_endpoint(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[dict[str, str]], int]]:
    """GET /private of a settings example with an empty api_token: a function of the headers
    giving the status (the FastAPI one served by uvicorn, as ``python app.py`` runs it)."""
    SecretsDir(tmp_path).write_all({"api_token": "", "db_password": "pw"})
    monkeypatch.setenv("RUNSECRETS_DIR", str(tmp_path))
    module = load_example(name)
    if name == "flask_settings":
        client = module.create_app(module.live(module.Settings, watch=False)).test_client()
        yield lambda headers: int(client.get("/private", headers=headers).status_code)
        return
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / name / "app.py"), "--port", str(port)],
        env={**os.environ, "RUNSECRETS_DIR": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/private"
    try:
        wait_until(lambda: get(f"http://127.0.0.1:{port}/")[0] == 200)
        yield lambda headers: _status(url, headers)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _status(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, headers=headers)
    try:
        with OPENER.open(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        e.close()
        return e.code


@pytest.mark.parametrize("name", ["flask_settings", "fastapi_settings"])
def test_settings_examples_refuse_a_bare_bearer_with_an_empty_token(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/flask_settings and fastapi_settings: 401 for "Bearer " with an empty token."""
    pytest.importorskip("flask" if name == "flask_settings" else "uvicorn")
    with _private_endpoint(name, tmp_path, monkeypatch) as call:
        for headers in NO_TOKEN:
            assert call(headers) == 401, headers
