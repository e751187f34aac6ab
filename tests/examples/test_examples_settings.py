"""The Flask and FastAPI examples, really run: settings from SecretsSettings, rotation, no leak."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

from runsecrets.testing import SecretsDir, write_rename

from ..conftest import leaked

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable of the host may answer for the examples' fields."""
    for name in list(os.environ):
        if name.upper().startswith(("API_TOKEN", "DB_PASSWORD", "GREETING")):
            monkeypatch.delenv(name)


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>/app.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / name / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the annotations through the module
    spec.loader.exec_module(module)
    return module


def test_flask_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sentinel: str) -> None:
    """The Flask app authenticates with the token from the secrets directory and follows rotation."""
    pytest.importorskip("flask")
    SecretsDir(tmp_path).write_all({"api_token": sentinel, "db_password": "pw"})
    monkeypatch.setenv("RUNSECRETS_DIR", str(tmp_path))
    app_module = load_example("flask_settings")
    settings = app_module.live(app_module.Settings, watch=False)
    client = app_module.create_app(settings).test_client()

    assert client.get("/").get_json() == {"greeting": "hello", "settings_ok": True}
    assert client.get("/private").status_code == 401
    authorized = {"Authorization": f"Bearer {sentinel}"}
    assert client.get("/private", headers=authorized).status_code == 200

    write_rename(tmp_path / "api_token", "rotated-token")
    assert settings.reload() == {"api_token"}
    assert client.get("/private", headers=authorized).status_code == 401
    rotated = {"Authorization": "Bearer rotated-token"}
    assert client.get("/private", headers=rotated).status_code == 200


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


#: Straight to 127.0.0.1, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    """GET ``url``; the status and the JSON body."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with OPENER.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_until(predicate: object, timeout: float = 20.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail("condition not reached in time")


def test_fastapi_example_under_uvicorn(tmp_path: Path, sentinel: str) -> None:
    """``python examples/fastapi_settings/app.py`` serves, authenticates and follows rotation."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    SecretsDir(tmp_path).write_all({"api_token": sentinel, "db_password": "pw"})
    port = free_port()
    env = {**os.environ, "RUNSECRETS_DIR": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "fastapi_settings" / "app.py"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get(base + "/")[0] == 200)
        assert get(base + "/") == (200, {"greeting": "hello", "settings_ok": True})
        assert get(base + "/private")[0] == 401
        assert get(base + "/private", sentinel) == (200, {"message": "welcome"})

        write_rename(tmp_path / "api_token", "rotated-token")
        wait_until(lambda: get(base + "/private", "rotated-token")[0] == 200)
        assert get(base + "/private", sentinel)[0] == 401
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=10)
    assert b"Uvicorn running" in output or b"Application startup complete" in output
    assert not leaked(sentinel, output)
