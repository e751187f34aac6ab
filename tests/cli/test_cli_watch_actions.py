"""``runsecrets watch`` actions in-process: POST failures, redirects, proxies, URL checks at
start-up, redaction of URLs and commands, and a serve loop that survives a failing action."""

from __future__ import annotations

import base64
import http.client
import http.server
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runsecrets.cli import main
from runsecrets.cli._actions import (
    ActionError,
    ExecAction,
    PostAction,
    check_post_url,
    redact_url,
)
from runsecrets.cli._output import describe_command
from runsecrets.cli._watch_run import _describe, _Pending, _serve
from runsecrets.reload.snapshot import Changes, Snapshot
from runsecrets.testing import write_rename

from .test_cli_watch import sidecar, wait_until


def _changes(version: int = 1, name: str = "db_password") -> Changes:
    """A published change of ``name`` (names only: the actions never read a value)."""
    empty = Snapshot({}, version=version - 1, created_at=0.0, strip=True)
    return Changes(
        added=frozenset(),
        changed=frozenset({name}),
        removed=frozenset(),
        snapshot=Snapshot({}, version=version, created_at=0.0, strip=True),
        previous=empty,
    )


class _Server:
    """A loopback HTTP server whose behaviour is chosen by the request path.

    ``/ok`` answers 204, ``/redirect`` answers 302 to ``/target``, ``/drop`` closes the
    connection without an answer, ``/garbage`` answers a status line that is not HTTP and
    quotes ``junk``. Every request's path and headers are recorded.
    """

    def __init__(self, junk: str = "nothing") -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                outer.requests.append((self.path, dict(self.headers)))
                path = self.path.split("?", 1)[0]
                if path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/target")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif path == "/drop":
                    self.close_connection = True
                elif path == "/garbage":
                    self.wfile.write(f"JUNK {junk}\r\n\r\n".encode())
                    self.close_connection = True
                else:
                    self.send_response(204)
                    self.end_headers()

            def do_GET(self) -> None:
                outer.requests.append((self.path, dict(self.headers)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


@pytest.fixture
def server(sentinel: str) -> Iterator[_Server]:
    """A running :class:`_Server` whose garbage answer quotes the sentinel."""
    running = _Server(junk=sentinel)
    running.thread.start()
    try:
        yield running
    finally:
        running.httpd.shutdown()
        running.httpd.server_close()


def test_post_sends_url_credentials_as_basic_auth_and_never_shows_them(
    server: _Server, sentinel: str
) -> None:
    """user:password in the URL becomes an Authorization header; messages show ***@ and ?***."""
    action = PostAction(
        f"http://ops:{sentinel}@127.0.0.1:{server.port}/ok?token={sentinel}", timeout=5
    )
    outcome = action(_changes())
    assert outcome == f"POST http://***@127.0.0.1:{server.port}/***?***: 204"
    ((path, headers),) = server.requests
    assert path == f"/ok?token={sentinel}"
    expected = base64.b64encode(f"ops:{sentinel}".encode()).decode()
    assert headers["Authorization"] == f"Basic {expected}"
    assert sentinel not in repr(action)


def test_post_does_not_follow_redirects(server: _Server) -> None:
    """A 302 is an ActionError naming the code; the redirect target is never requested."""
    action = PostAction(server.url("/redirect"), timeout=5)
    with pytest.raises(ActionError, match=r"HTTP 302 \(redirects are not followed\)"):
        action(_changes())
    assert server.paths() == ["/redirect"]


def test_post_ignores_proxy_variables(
    server: _Server, monkeypatch: pytest.MonkeyPatch, sentinel: str
) -> None:
    """http_proxy and friends are ignored: the request goes straight to the checked host."""
    proxy = _Server()
    proxy.thread.start()
    try:
        for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "all_proxy"):
            monkeypatch.setenv(variable, proxy.url("/"))
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        PostAction(server.url("/ok"), timeout=5)(_changes())
    finally:
        proxy.httpd.shutdown()
        proxy.httpd.server_close()
    assert server.paths() == ["/ok"]
    assert proxy.requests == []


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/drop", "RemoteDisconnected"), ("/garbage", "BadStatusLine")],
)
def test_post_protocol_errors_are_action_errors_by_type(
    server: _Server, path: str, kind: str, sentinel: str
) -> None:
    """A server that hangs up or answers garbage (quoting the sentinel) gives an ActionError
    that names the error type and the URL, never the garbage."""
    action = PostAction(server.url(path) + f"?key={sentinel}", timeout=5)
    with pytest.raises(ActionError) as caught:
        action(_changes())
    assert str(caught.value) == f"POST http://127.0.0.1:{server.port}/***?*** failed: {kind}"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


class _FailingOpener:
    """Stands in for the POST opener: ``open`` raises the given error."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def open(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("make_error", "shown"),
    [
        (lambda s: ValueError(f"bad value {s}"), "ValueError"),
        (lambda s: http.client.IncompleteRead(s.encode()), "IncompleteRead"),
        (lambda s: http.client.InvalidURL(s), "InvalidURL"),
        (lambda s: ConnectionRefusedError(111, "Connection refused"), "Connection refused"),
        (lambda s: OSError(s), "OSError"),
    ],
)
def test_post_value_http_and_os_errors_become_action_errors(
    make_error: Any, shown: str, sentinel: str
) -> None:
    """ValueError, http.client.HTTPException and OSError from the POST are ActionErrors that
    show the type (or the system's words), never the original message."""
    action = PostAction("http://127.0.0.1:9/reload", timeout=1)
    action._opener = _FailingOpener(make_error(sentinel))  # type: ignore[assignment]
    with pytest.raises(ActionError, match=shown) as caught:
        action(_changes())
    assert str(caught.value).startswith("POST http://127.0.0.1:9/*** failed: ")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:99999/reload", "invalid port"),
        ("http://127.0.0.1:0/reload", "invalid port"),
        ("http://127.0.0.1:http/reload", "invalid port"),
        ("http://127.0.0.1:80 80/reload", "spaces or control characters"),
        ("http:///reload", "has no host"),
        ("ftp://127.0.0.1/reload", "http:// or https://"),
    ],
)
def test_bad_post_urls_are_usage_errors_at_start(
    url: str, message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A URL the POST could never use is exit 2 when watch starts, not an error at first fire."""
    assert main(["watch", "--dir", str(tmp_path), "--post", url]) == 2
    assert message in capsys.readouterr().err


def test_url_check_errors_never_show_credentials(sentinel: str) -> None:
    """The start-up URL errors show the URL redacted, or not at all."""
    for url in (
        f"http://me:{sentinel}@127.0.0.1:99999/x?t={sentinel}",
        f"me:{sentinel}@127.0.0.1/x",
        f"http://me:{sentinel}@[::1/x",
    ):
        with pytest.raises(ValueError, match="--post") as caught:
            check_post_url(url, [])
        assert sentinel not in str(caught.value)


def test_redaction_of_urls_and_commands(sentinel: str) -> None:
    """URLs lose user, password, query and fragment; commands keep the program only."""
    assert redact_url(f"https://u:{sentinel}@app:8443/r?x={sentinel}#{sentinel}") == (
        "https://***@app:8443/***?***#***"
    )
    # Webhook tokens often sit in the path: it is never shown.
    assert redact_url(f"http://127.0.0.1:8080/hooks/{sentinel}") == "http://127.0.0.1:8080/***"
    assert redact_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert describe_command(["nginx", "-s", "reload"]) == "nginx (2 arguments not shown)"
    assert describe_command(["/usr/bin/reload"]) == "/usr/bin/reload"
    action = ExecAction(["false", f"--token={sentinel}"])
    with pytest.raises(ActionError, match="false exited with 1") as caught:
        action(_changes())
    assert sentinel not in str(caught.value)


def test_start_up_line_redacts_url_and_command(sentinel: str) -> None:
    """The "watching ...; action: ..." line shows the redacted URL and the program only."""
    main_args = {"signal": None, "pid": None, "pidfile": None, "process_name": None}
    post = _describe(
        _namespace(**main_args, exec_command=None, post=f"http://a:{sentinel}@h/x?k={sentinel}")
    )
    assert post == "POST http://***@h/***?***"
    run = _describe(_namespace(**main_args, exec_command=f"curl -H 'X-Token: {sentinel}' x"))
    assert run == "run curl (3 arguments not shown)"


def _namespace(**kwargs: Any) -> Any:
    import argparse

    return argparse.Namespace(**kwargs)


def test_serve_loop_survives_an_unexpected_exception(
    caplog: pytest.LogCaptureFixture, sentinel: str
) -> None:
    """An action raising anything is one error line with the type only; the next change fires."""
    pending = _Pending()
    fired: list[int] = []

    def action(changes: Changes) -> str:
        fired.append(changes.snapshot.version)
        if len(fired) == 1:
            pending.add(_changes(version=2))
            raise RuntimeError(f"boom {sentinel}")
        pending.stop()
        return "ok"

    pending.add(_changes(version=1))
    with caplog.at_level(logging.INFO, "runsecrets.cli.watch"):
        _serve(None, pending, action)  # type: ignore[arg-type]  (the loop never uses the store)
    assert fired == [1, 2]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "secrets changed: db_password (version 1); the action failed with RuntimeError"
    ]
    assert all(r.exc_info is None for r in caplog.records)


def test_sidecar_keeps_running_after_failed_posts(tmp_path: Path, sentinel: str) -> None:
    """A real sidecar POSTing to a server that hangs up logs the failure (redacted) and goes
    on; its start-up line shows the URL without credentials or query."""
    broken = _Server()
    broken.thread.start()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "api_token", "one")
    url = f"http://ops:{sentinel}@127.0.0.1:{broken.port}/drop?sig={sentinel}"
    try:
        with sidecar(["--dir", str(secrets), "--post", url], tmp_path) as watch:
            write_rename(secrets / "api_token", "two")
            assert wait_until(lambda: watch.log().count("RemoteDisconnected") == 1), watch.log()
            write_rename(secrets / "api_token", "three")
            assert wait_until(lambda: watch.log().count("RemoteDisconnected") == 2), watch.log()
            assert watch.process.poll() is None
    finally:
        broken.httpd.shutdown()
        broken.httpd.server_close()
    log = watch.log()
    assert f"POST http://***@127.0.0.1:{broken.port}/***?***" in log
    assert "Traceback" not in log
    assert sentinel not in log


def test_a_fifo_as_pid_file_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO where the pid file should be is an ActionError at once, not a hang waiting for
    a writer (the open is non-blocking and the type is checked before any read)."""
    from runsecrets.cli._actions import ActionError
    from runsecrets.cli._signal_action import read_pidfile

    fifo = tmp_path / "app.pid"
    os.mkfifo(fifo)
    with pytest.raises(ActionError, match="not a regular file"):
        read_pidfile(str(fifo))
