"""``runsecrets watch``: whom a signal reaches, and how ``--exec`` ends, with real processes.

Targets are real processes counting the SIGHUPs they get; pid reuse is made real by writing
``/proc/sys/kernel/ns_last_pid`` (root, this PID namespace) so that a new process gets the pid
an old one had.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runsecrets.cli import main
from runsecrets.cli._actions import ActionError, PostAction
from runsecrets.cli._process import process
from runsecrets.cli._signal_action import SignalAction
from runsecrets.reload.snapshot import Changes, Snapshot
from runsecrets.testing import write_rename

from .test_cli_watch import COUNTER, sidecar, wait_until
from .test_cli_watch_actions import _Server

NOBODY = 65534
NS_LAST_PID = "/proc/sys/kernel/ns_last_pid"


def _changes() -> Changes:
    empty = Snapshot({}, version=0, created_at=0.0, strip=True)
    return Changes(
        added=frozenset(),
        changed=frozenset({"tls.crt"}),
        removed=frozenset(),
        snapshot=Snapshot({}, version=1, created_at=0.0, strip=True),
        previous=empty,
    )


class Counter:
    """A process counting its SIGHUPs into a file (in a directory any user may write)."""

    def __init__(
        self, work: Path, name: str = "c", *, user: int | None = None, program: str = sys.executable
    ) -> None:
        self.count_path = work / f"{name}.hups"
        self.process = subprocess.Popen([program, "-c", COUNTER, str(self.count_path)], user=user)
        assert wait_until(self.count_path.exists), "the counter did not start"

    @property
    def pid(self) -> int:
        return self.process.pid

    def count(self) -> int:
        return int(self.count_path.read_text() or 0)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def work() -> Iterator[Path]:
    """A directory under /tmp that another user may write to (pytest's own is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="runsecrets-watch-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)


@contextmanager
def counting(work: Path, name: str = "c", **kwargs: object) -> Iterator[Counter]:
    counter = Counter(work, name, **kwargs)  # type: ignore[arg-type]
    try:
        yield counter
    finally:
        counter.stop()


def _pidfile(work: Path, pid: int, *, mode: int = 0o644, owner: int = 0) -> Path:
    path = work / "app.pid"
    path.write_text(f"{pid}\n")
    path.chmod(mode)
    os.chown(path, owner, owner)
    return path


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (another user, ns_last_pid)")


# ------------------------------------------------------------------------------ finding 15
def test_a_pidfile_writable_by_others_is_not_trusted(work: Path) -> None:
    """Mode 0666 (or 0620): refused with the mode named; the process gets nothing."""
    with counting(work) as target:
        for mode in (0o666, 0o620):
            pidfile = _pidfile(work, target.pid, mode=mode)
            with pytest.raises(
                ActionError, match=f"writable by group or others \\(mode {mode:04o}\\)"
            ):
                SignalAction(signal.SIGHUP, pidfile=str(pidfile))(_changes())
        time.sleep(0.1)
        assert target.count() == 0


@needs_root
def test_a_pidfile_owned_by_another_user_names_only_that_users_processes(work: Path) -> None:
    """A pid file owned by uid 65534 naming a root process is refused; naming a process of
    uid 65534 it is obeyed. A root-owned file may name anyone."""
    if not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("no system python3 for the other user (the venv may be private)")
    with (
        counting(work, "root") as root_process,
        counting(work, "app", user=NOBODY, program="/usr/bin/python3") as app,
    ):
        forged = _pidfile(work, root_process.pid, owner=NOBODY)
        with pytest.raises(
            ActionError, match=f"owned by uid {NOBODY} but names process {root_process.pid}"
        ):
            SignalAction(signal.SIGHUP, pidfile=str(forged))(_changes())
        own = _pidfile(work, app.pid, owner=NOBODY)
        outcome = SignalAction(signal.SIGHUP, pidfile=str(own))(_changes())
        assert outcome == f"sent SIGHUP to {app.pid} ({_comm(app.pid)})"
        assert wait_until(lambda: app.count() == 1)
        by_root = _pidfile(work, app.pid)
        SignalAction(signal.SIGHUP, pidfile=str(by_root))(_changes())
        assert wait_until(lambda: app.count() == 2)
        assert root_process.count() == 0


def test_the_watcher_never_signals_itself(tmp_path: Path) -> None:
    """A pid file holding the sidecar's own pid: an error line, and the sidecar lives on;
    --pid with its own pid is a usage error."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "a", "1")
    pidfile = tmp_path / "app.pid"
    pidfile.write_text("999999999\n")
    args = ["--dir", str(secrets), "--signal", "TERM", "--pidfile", str(pidfile)]
    with sidecar(args, tmp_path) as watch:
        pidfile.write_text(f"{watch.process.pid}\n")
        write_rename(secrets / "a", "2")
        assert wait_until(lambda: "is this watcher itself: not signalled" in watch.log()), (
            watch.log()
        )
        assert watch.process.poll() is None
    assert main(["watch", "--dir", str(secrets), "--signal", "HUP", "--pid", str(os.getpid())]) == 2


def test_pid_1_is_refused_unless_allowed(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """PID 1 from a pid file is refused at the firing; --pid 1 is a usage error without
    --allow-pid-1 (which is accepted; PID 1 itself is not signalled by the suite)."""
    pidfile = _pidfile(work, 1)
    with pytest.raises(ActionError, match=r"is PID 1.*--allow-pid-1"):
        SignalAction(signal.SIGHUP, pidfile=str(pidfile))(_changes())
    assert main(["watch", "--dir", str(work), "--signal", "HUP", "--pid", "1"]) == 2
    assert "--allow-pid-1" in capsys.readouterr().err
    allowed = SignalAction(signal.SIGHUP, pid=1, allow_pid_1=True)
    assert [p.pid for p in allowed.targets()] == [1]


def _reuse_pid(pid: int, work: Path, name: str) -> Counter:
    """A new counter holding ``pid`` (free now), through ns_last_pid; skip when impossible."""
    for _ in range(50):
        try:
            Path(NS_LAST_PID).write_text(str(pid - 1))
        except OSError:
            pytest.skip("cannot write ns_last_pid here")
        counter = Counter(work, name)
        if counter.pid == pid:
            return counter
        counter.stop()  # another process took it first: try again
    pytest.skip("could not get the pid back (a busy machine)")


@needs_root
def test_a_reused_pid_is_not_signalled(work: Path) -> None:
    """--pid: bound to the process holding it at start; once that one exited and another got
    its pid, nothing is signalled. --pidfile: a process started after the pid file was
    written cannot have written it (a stale file): refused."""
    first = Counter(work, "first")
    pid = first.pid
    action = SignalAction(signal.SIGHUP, pid=pid)
    pidfile = _pidfile(work, pid)
    os.utime(pidfile, (time.time() - 60, time.time() - 60))  # written a minute ago
    first.stop()
    second = _reuse_pid(pid, work, "second")
    try:
        with pytest.raises(ActionError, match="given with --pid is gone"):
            action(_changes())
        with pytest.raises(ActionError, match="stale pid file and a reused pid"):
            SignalAction(signal.SIGHUP, pidfile=str(pidfile))(_changes())
        time.sleep(0.1)
        assert second.count() == 0
    finally:
        second.stop()


def test_identity_is_checked_again_right_before_the_signal(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target whose start time no longer matches (its pid given to another process between
    the look-up and the signal, here by changing the recorded start) is not signalled."""
    with counting(work) as target:
        action = SignalAction(signal.SIGHUP, pidfile=str(_pidfile(work, target.pid)))
        found = action.targets()
        found[0].start -= 1
        monkeypatch.setattr(action, "targets", lambda: found)
        with pytest.raises(ActionError, match="exited or its pid was reused"):
            action(_changes())
        time.sleep(0.1)
        assert target.count() == 0


def test_the_log_says_which_process_was_signalled(tmp_path: Path, work: Path) -> None:
    """A real sidecar logs "sent SIGHUP to PID (COMM)"."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "a", "1")
    with counting(work) as target:
        pidfile = _pidfile(work, target.pid)
        with sidecar(
            ["--dir", str(secrets), "--signal", "HUP", "--pidfile", str(pidfile)], tmp_path
        ) as watch:
            write_rename(secrets / "a", "2")
            assert wait_until(lambda: target.count() == 1), watch.log()
            expected = f"sent SIGHUP to {target.pid} ({_comm(target.pid)})"
            assert wait_until(lambda: expected in watch.log()), watch.log()


# ------------------------------------------------------------------------------ finding 16
@pytest.fixture
def program(work: Path) -> str:
    """The Python interpreter under a name no other process has (comm is the link's name)."""
    link = work / f"rs{os.urandom(3).hex()}"
    link.symlink_to(sys.executable)
    return str(link)


def test_an_ambiguous_name_is_refused_unless_all(work: Path, program: str) -> None:
    """Two processes with the name: neither is signalled, the error lists both; --all
    signals both."""
    name = os.path.basename(program)
    with (
        counting(work, "one", program=program) as one,
        counting(work, "two", program=program) as two,
    ):
        with pytest.raises(ActionError, match=f"2 processes match the name '{name}'") as caught:
            SignalAction(signal.SIGHUP, process_name=name)(_changes())
        assert f"{one.pid} ({name})" in str(caught.value)
        assert f"{two.pid} ({name})" in str(caught.value)
        time.sleep(0.1)
        assert (one.count(), two.count()) == (0, 0)
        SignalAction(signal.SIGHUP, process_name=name, all_matches=True)(_changes())
        assert wait_until(lambda: (one.count(), two.count()) == (1, 1))


def test_full_matches_the_whole_command_line(work: Path, program: str) -> None:
    """--full: the one process whose command line is exactly the one given."""
    with (
        counting(work, "one", program=program) as one,
        counting(work, "two", program=program) as two,
    ):
        raw = Path(f"/proc/{two.pid}/cmdline").read_bytes()
        command = " ".join(part.decode() for part in raw.split(b"\0")[:-1])
        outcome = SignalAction(signal.SIGHUP, process_name=command, full=True)(_changes())
        assert outcome == f"sent SIGHUP to {two.pid} ({os.path.basename(program)})"
        assert wait_until(lambda: two.count() == 1)
        assert one.count() == 0


def test_no_match_is_warned_about_at_start(tmp_path: Path) -> None:
    """A name that matches nothing when the watch starts is a warning (the app may start
    later), and the watch goes on."""
    (tmp_path / "s").mkdir()
    args = ["--dir", str(tmp_path / "s"), "--signal", "HUP", "--process-name", "no-such-prog"]
    with sidecar(args, tmp_path) as watch:
        assert wait_until(lambda: "no process matches the name 'no-such-prog' (yet)" in watch.log())
        assert watch.process.poll() is None


def test_the_docs_recommend_no_broad_process_name() -> None:
    """No README suggests --process-name python (any Python process would match)."""
    root = Path(__file__).resolve().parents[2]
    for readme in (root / "README.md", root / "examples" / "sidecar" / "README.md"):
        text = readme.read_text()
        assert "--process-name python" not in text, readme


# ------------------------------------------------------------------------------ finding 17
# A command that starts a child of its own (pid into a file), then hangs.
HANGING = (
    "import subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "open(sys.argv[1], 'w').write(str(child.pid)); time.sleep(120)"
)


def _gone(pid: int) -> bool:
    found = process(pid)
    return found is None or Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"


def test_exec_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    """--exec-timeout 0.5: the command and the child it started are both ended."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "a", "1")
    child_file = tmp_path / "child.pid"
    command = f'{sys.executable} -c "{HANGING}" {child_file}'
    args = ["--dir", str(secrets), "--exec", command, "--exec-timeout", "0.5"]
    with sidecar(args, tmp_path) as watch:
        write_rename(secrets / "a", "2")
        assert wait_until(child_file.exists), watch.log()
        assert wait_until(
            lambda: "ran longer than 0.5s; its process group was killed" in watch.log()
        ), watch.log()
        assert wait_until(lambda: _gone(int(child_file.read_text())))


def test_sigterm_during_a_hanging_exec_stops_at_once(tmp_path: Path) -> None:
    """SIGTERM while a command hangs (default 60 s timeout): the sidecar ends its group and
    exits 0 within a couple of seconds."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_rename(secrets / "a", "1")
    child_file = tmp_path / "child.pid"
    command = f'{sys.executable} -c "{HANGING}" {child_file}'
    with sidecar(["--dir", str(secrets), "--exec", command], tmp_path) as watch:
        write_rename(secrets / "a", "2")
        assert wait_until(child_file.exists), watch.log()
        started = time.monotonic()
        assert watch.stop() == 0
        assert time.monotonic() - started < 3.0, watch.log()
    assert "stopped: the watch is stopping" in watch.log()
    assert wait_until(lambda: _gone(int(child_file.read_text())))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exec", "true", "--exec-timeout", "0"], "positive"),
        (["--post", "http://127.0.0.1/x", "--exec-timeout", "5"], "goes with --exec"),
        (["--exec", "true", "--all"], "go with --signal"),
        (["--signal", "HUP", "--pid", "5", "--full"], "go with --process-name"),
    ],
)
def test_exec_and_target_option_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Options given with the wrong action are usage errors (exit 2)."""
    assert main(["watch", "--dir", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_post_never_shows_the_url_path(sentinel: str) -> None:
    """A token in the webhook's path stays out of the outcome line (and every log)."""
    server = _Server()
    server.thread.start()
    try:
        action = PostAction(f"http://127.0.0.1:{server.port}/hooks/{sentinel}", timeout=5)
        outcome = action(_changes())
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    assert outcome == f"POST http://127.0.0.1:{server.port}/***: 204"
    assert sentinel not in repr(action)
