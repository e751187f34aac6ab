"""``runsecrets watch``, run as a real sidecar process against real writers and targets."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runsecrets.cli import main
from runsecrets.cli._actions import check_post_url, is_loopback_host
from runsecrets.cli._signal_action import parse_signal, processes_named
from runsecrets.testing import SecretsDir, write_in_place, write_rename

from .._servers import BIN

RUNSECRETS = os.path.join(BIN, "runsecrets")

# A target process that counts the SIGHUPs it receives into a file.
COUNTER = """
import os, signal, sys, time
path = sys.argv[1]
count = 0
def hup(signum, frame):
    global count
    count += 1
    with open(path + ".tmp", "w") as f:
        f.write(str(count))
    os.replace(path + ".tmp", path)
signal.signal(signal.SIGHUP, hup)
open(path, "w").write("0")
while True:
    time.sleep(0.05)
"""


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes (bounded, never a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Sidecar:
    """A ``runsecrets watch`` process whose standard error is collected."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.log_path = cwd / "watch.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop())
        self.process = subprocess.Popen(
            [RUNSECRETS, "watch", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )
        if not wait_until(lambda: "watching" in self.log() or self.process.poll() is not None):
            raise AssertionError(f"watch did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()


@contextmanager
def sidecar(args: list[str], cwd: Path) -> Iterator[Sidecar]:
    """Run ``runsecrets watch ARGS`` for the duration of the block."""
    process = Sidecar(args, cwd)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def counter(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """A running HUP-counting process, its pid file and its count file."""
    count = tmp_path / "hups"
    process = subprocess.Popen([sys.executable, "-c", COUNTER, str(count)])
    pidfile = tmp_path / "app.pid"
    pidfile.write_text(f"{process.pid}\n")
    assert wait_until(count.exists)
    yield process, pidfile, count
    process.kill()
    process.wait()


def _count(path: Path) -> int:
    return int(path.read_text() or 0)


def test_signal_fires_once_per_real_change(
    tmp_path: Path, counter: tuple[subprocess.Popen[bytes], Path, Path], sentinel: str
) -> None:
    """A change signals once; the same content again does not; the log names, never values."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "tls.crt", sentinel)
    _, pidfile, count = counter
    with sidecar(
        ["--dir", str(secrets), "--signal", "HUP", "--pidfile", str(pidfile)], tmp_path
    ) as watch:
        write_rename(secrets / "tls.crt", sentinel + "-2")
        assert wait_until(lambda: _count(count) == 1), watch.log()
        write_rename(secrets / "tls.crt", sentinel + "-2")  # same content, new inode
        write_in_place(secrets / "tls.crt", sentinel + "-3", pause=0.005)  # naive writer
        assert wait_until(lambda: _count(count) == 2), watch.log()
        time.sleep(0.3)  # nothing else may arrive
        assert _count(count) == 2
        assert "tls.crt" in watch.log()
        assert watch.stop() == 0
    assert sentinel not in watch.log()
    assert "stopped" in watch.log()


def test_kubernetes_swap_of_several_keys_fires_once(
    tmp_path: Path, counter: tuple[subprocess.Popen[bytes], Path, Path]
) -> None:
    """A kubelet swap changing certificate and key together is one firing."""
    volume = SecretsDir(tmp_path / "volume", kubernetes=True)
    volume.write_all({"tls.crt": "c1", "tls.key": "k1"})
    process, _, count = counter
    args = ["--dir", str(volume.path), "--signal", "SIGHUP", "--pid", str(process.pid)]
    with sidecar(args, tmp_path) as watch:
        volume.write_all({"tls.crt": "c2", "tls.key": "k2"})
        assert wait_until(lambda: _count(count) == 1), watch.log()
        time.sleep(0.3)
        assert _count(count) == 1
        assert "tls.crt, tls.key" in watch.log()


def test_exec_runs_the_command_with_the_changed_names(tmp_path: Path) -> None:
    """--exec runs the command with RUNSECRETS_CHANGED and RUNSECRETS_VERSION."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "api_token", "one")
    out = tmp_path / "out.txt"
    script = (
        "import os, sys; open(sys.argv[1], 'a').write("
        "os.environ['RUNSECRETS_CHANGED'] + ' ' + os.environ['RUNSECRETS_VERSION'] + '\\n')"
    )
    command = f'{sys.executable} -c "{script}" {out}'
    with sidecar(["--dir", str(secrets), "--exec", command], tmp_path) as watch:
        write_rename(secrets / "api_token", "two")
        assert wait_until(out.exists), watch.log()
        write_rename(secrets / "db_password", "new")
        assert wait_until(lambda: len(out.read_text().splitlines()) == 2), watch.log()
    assert out.read_text().splitlines() == ["api_token 1", "db_password 2"]


def test_post_sends_names_and_version_to_loopback(tmp_path: Path, sentinel: str) -> None:
    """--post sends {version, added, changed, removed} as JSON, never a value."""
    received: list[dict[str, object]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "db_password", sentinel)
    url = f"http://127.0.0.1:{server.server_address[1]}/-/reload"
    try:
        with sidecar(["--dir", str(secrets), "--post", url], tmp_path) as watch:
            write_rename(secrets / "db_password", sentinel + "x")
            assert wait_until(lambda: len(received) == 1), watch.log()
    finally:
        server.shutdown()
        server.server_close()
    assert received == [{"version": 1, "added": [], "changed": ["db_password"], "removed": []}]
    assert sentinel not in watch.log()


def test_sigint_is_a_clean_stop(tmp_path: Path) -> None:
    """SIGINT, like SIGTERM, ends the sidecar with exit 0."""
    (tmp_path / "s").mkdir()
    watch = Sidecar(["--dir", str(tmp_path / "s"), "--exec", "true"], tmp_path)
    assert watch.stop(signal.SIGINT) == 0


def test_missing_target_is_logged_and_the_watch_goes_on(tmp_path: Path) -> None:
    """A pid file that is gone is an error line per firing, not a crash."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "a", "1")
    args = ["--dir", str(secrets), "--signal", "HUP", "--pidfile", str(tmp_path / "none.pid")]
    with sidecar(args, tmp_path) as watch:
        write_rename(secrets / "a", "2")
        assert wait_until(lambda: "cannot read pid file" in watch.log()), watch.log()
        assert watch.process.poll() is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--signal", "HUP"], "--signal needs"),
        (["--exec", "true", "--pid", "1"], "go with --signal"),
        (["--signal", "NOPE", "--pid", "1"], "unknown signal"),
        (["--post", "http://example.com/reload"], "refused"),
        (["--post", "file:///etc/passwd"], "http://"),
        (["--pid", "1"], "required"),
    ],
)
def test_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad option combinations are usage errors, before anything is watched."""
    assert main(["watch", *args]) == 2
    assert message in capsys.readouterr().err


def test_post_allow_list_and_loopback_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback literals and localhost pass; other hosts only when allowed; no DNS lookups."""
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("127.8.0.1")
    assert is_loopback_host("::1")
    assert is_loopback_host("LOCALHOST")
    assert not is_loopback_host("10.0.0.1")
    assert not is_loopback_host("localhost.example.com")
    assert check_post_url("http://[::1]:8080/x", []) == "http://[::1]:8080/x"
    assert check_post_url("https://app:8443/reload", ["app"])
    with pytest.raises(ValueError, match="refused"):
        check_post_url("http://app/reload", ["other"])


def test_signal_names_and_process_lookup() -> None:
    """HUP, SIGHUP and 1 are the same signal; a process is found by its program name."""
    assert parse_signal("hup") == parse_signal("SIGHUP") == parse_signal("1") == signal.SIGHUP
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        name = os.path.basename(sys.executable)
        assert wait_until(lambda: process.pid in [p.pid for p in processes_named(name)])
    finally:
        process.kill()
        process.wait()
