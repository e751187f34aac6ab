"""``runsecrets exec --restart-on-change`` as an init: signals forwarded, exit statuses, a
crash loop that never spins, zombies reaped as PID 1 of a PID namespace, a terminal's
Ctrl-C. Real processes, real ``kill``; nothing left behind."""

from __future__ import annotations

import itertools
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runsecrets.testing import write_rename

from ._supervisor import CHILD, Supervised, clean_environ, cpu_seconds, session_processes

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="process groups, /proc, inotify: Linux"
)

FAST = ("--debounce", "0.1")
FORWARDED = ["TERM", "INT", "HUP", "QUIT", "USR1", "USR2", "WINCH"]


def _secret(tmp_path: Path, value: bytes = b"pw") -> tuple[Path, dict[str, str]]:
    secret = tmp_path / "db_password"
    secret.write_bytes(value)
    return secret, clean_environ(DB_PASSWORD_FILE=str(secret))


@pytest.mark.parametrize("name", FORWARDED)
def test_each_signal_is_forwarded_to_the_command(tmp_path: Path, name: str) -> None:
    """Each of SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH sent to the
    supervisor reaches the command (it records it); the command's own exit after it is the
    supervisor's exit code."""
    _, env = _secret(tmp_path)
    with Supervised(tmp_path, env, child_args=["--exit", f"{name}=7"]) as run:
        (start,) = run.wait_starts(1)
        run.send(signal.Signals["SIG" + name])
        assert run.wait() == 7
        assert [(e["pid"], e["signal"]) for e in run.records("signal")] == [
            (start["pid"], "SIG" + name)
        ]


def test_every_signal_in_turn_reaches_the_same_command(tmp_path: Path) -> None:
    """All seven in a row to one command that traps them: each arrives once, in order, and
    only the ending ones (TERM last) end the run."""
    _, env = _secret(tmp_path)
    trapped = [arg for name in FORWARDED[1:] for arg in ("--trap", name)]
    with Supervised(tmp_path, env, child_args=[*trapped, "--exit", "TERM=0"]) as run:
        run.wait_starts(1)
        for name in [*FORWARDED[2:], "INT", "TERM"]:
            seen = len(run.records("signal"))
            run.send(signal.Signals["SIG" + name])
            if name != "TERM":
                run.wait_for(lambda seen=seen: len(run.records("signal")) > seen)
        assert run.wait() == 0
        assert [e["signal"] for e in run.records("signal")] == [
            *(f"SIG{n}" for n in FORWARDED[2:]),
            "SIGINT",
            "SIGTERM",
        ]


@pytest.mark.parametrize(
    ("child_args", "sent", "expected"),
    [
        (["--exit-after", "0.2=0"], None, 0),
        (["--exit-after", "0.2=7"], None, 7),
        ([], "TERM", 128 + signal.SIGTERM),
        (["--exit", "TERM=0"], "TERM", 0),
        ([], "USR1", 128 + signal.SIGUSR1),
        ([], "KILL-the-command", 128 + signal.SIGKILL),
    ],
    ids=[
        "exits-0",
        "exits-7",
        "killed-by-forwarded-term",
        "handles-term-exits-0",
        "killed-by-forwarded-usr1",
        "killed-from-outside",
    ],
)
def test_the_supervisor_exits_with_the_commands_status(
    tmp_path: Path, child_args: list[str], sent: str | None, expected: int
) -> None:
    """The command's exit code, or 128 + the signal that killed it (a forwarded one, or one
    sent to the command itself from outside), as a shell reports it."""
    _, env = _secret(tmp_path)
    with Supervised(tmp_path, env, child_args=child_args) as run:
        (start,) = run.wait_starts(1)
        if sent == "KILL-the-command":
            os.kill(start["pid"], signal.SIGKILL)
        elif sent is not None:
            run.send(signal.Signals["SIG" + sent])
        assert run.wait() == expected
    assert "exiting with it" in run.stderr


def test_a_command_that_cannot_start_exits_as_plain_exec_does(tmp_path: Path) -> None:
    """Not found: 127, one error line; an environment refused at start: 3, nothing started."""
    _, env = _secret(tmp_path)
    missing = Supervised(tmp_path, env, command=["no-such-program-anywhere"])
    assert missing.wait() == 127
    assert "exec: command not found: no-such-program-anywhere" in missing.stderr
    assert missing.close() == []
    env["DB_PASSWORD"] = "inline"
    conflict = Supervised(tmp_path, env)
    assert conflict.wait() == 3
    assert "both DB_PASSWORD and DB_PASSWORD_FILE are set" in conflict.stderr
    assert conflict.starts() == []
    assert conflict.close() == []


def test_a_crash_loop_after_a_restart_backs_off_and_never_spins(tmp_path: Path) -> None:
    """A new password the command refuses (it exits 1 at once): started again after 0.5 s,
    1 s, 2 s... while the supervisor's own CPU time stays a sliver of the time passed; the
    fixed password starts it at once, without waiting out the delay."""
    secret, env = _secret(tmp_path, b"good")
    with Supervised(
        tmp_path, env, options=FAST, child_args=["--crash-if", "DB_PASSWORD=bad"]
    ) as run:
        run.wait_starts(1)
        cpu_before, wall_before = run.cpu(), time.monotonic()
        write_rename(secret, b"bad")
        run.wait_for(lambda: len(run.records("crash")) >= 4, timeout=15)
        cpu, wall = run.cpu() - cpu_before, time.monotonic() - wall_before
        crashes = [e["t"] for e in run.records("crash")]
        gaps = [b - a for a, b in itertools.pairwise(crashes)]
        assert [round(gap * 2) / 2 for gap in gaps] == [0.5, 1.0, 2.0], gaps
        assert cpu < 0.05 * wall, (cpu, wall)  # about 1% here: startup logs, four spawns
        fixed = time.monotonic()
        write_rename(secret, b"good-again")
        run.wait_for(lambda: run.starts()[-1]["values"] == {"DB_PASSWORD": b"good-again"})
        assert run.starts()[-1]["t"] - fixed < 1.0  # not the 4 s the next delay would be
        run.send(signal.SIGTERM)
        assert run.wait() == 128 + signal.SIGTERM
    assert "after a restart: starting it again in 0.5 s" in run.stderr


def test_a_command_that_ends_long_after_a_restart_ends_the_supervisor(tmp_path: Path) -> None:
    """Only an end soon after a restart is retried: the first command's own end (even at
    once) ends the supervisor with its code, so the orchestrator sees a failing program."""
    _, env = _secret(tmp_path)
    with Supervised(tmp_path, env, child_args=["--exit-after", "0=1"]) as run:
        assert run.wait() == 1
        assert len(run.starts()) == 1


def test_a_caller_ignored_signal_stays_ignored_in_the_command(tmp_path: Path) -> None:
    """``nohup`` ignores SIGHUP: the supervisor does not take it over, and the command
    inherits it ignored, as with plain ``exec``; SIGPIPE, ignored by the interpreter, is back
    at its default in the command."""
    _, env = _secret(tmp_path)
    show = "cat /proc/self/status > " + str(tmp_path / "status")
    with Supervised(tmp_path, env, command=["sh", "-c", show], prefix=["nohup"]) as run:
        assert run.wait() == 0
    masks = {}
    for line in (tmp_path / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("SigIgn", "SigBlk"):
            masks[key] = int(value, 16)
    assert masks["SigIgn"] & (1 << (signal.SIGHUP - 1))
    assert not masks["SigIgn"] & (1 << (signal.SIGPIPE - 1))
    assert masks["SigBlk"] == 0


needs_unshare = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="a PID namespace needs root and unshare (util-linux)",
)


def _namespace_init(run: Supervised) -> int:
    """The host pid of the supervisor, PID 1 of the namespace ``unshare --fork`` made."""
    unshare = run.process.pid
    children: list[int] = []
    run.wait_for(
        lambda: (
            children.extend(
                int(p) for p in Path(f"/proc/{unshare}/task/{unshare}/children").read_text().split()
            )
            or children
        )
    )
    return children[0]


@needs_unshare
def test_as_pid_1_of_a_pid_namespace_it_reaps_orphans_and_forwards(tmp_path: Path) -> None:
    """Run as PID 1 (``unshare --pid --fork --mount-proc``): an orphan the command leaves
    (a shell's background ``sleep``) is reaped when it ends, so the command sees no zombie in
    the namespace; SIGTERM sent to PID 1 from outside is forwarded; the exit code comes back
    through ``unshare``."""
    _, env = _secret(tmp_path)
    with Supervised(
        tmp_path,
        env,
        child_args=["--orphan", "0.1", "--zombies-after", "0.6", "--exit", "TERM=5"],
        prefix=["unshare", "--pid", "--fork", "--mount-proc"],
    ) as run:
        (start,) = run.wait_starts(1)
        assert start["ppid"] == 1
        run.wait_for(lambda: run.records("zombies"))
        assert run.records("zombies")[0]["zombies"] == []
        init = _namespace_init(run)
        os.kill(init, signal.SIGTERM)
        assert run.wait() == 5


@needs_unshare
def test_as_pid_1_a_restart_works_the_same(tmp_path: Path) -> None:
    """As PID 1 of its namespace the supervisor restarts on a change as anywhere else."""
    secret, env = _secret(tmp_path, b"one")
    with Supervised(
        tmp_path, env, options=FAST, prefix=["unshare", "--pid", "--fork", "--mount-proc"]
    ) as run:
        run.wait_starts(1)
        write_rename(secret, b"two")
        second = run.wait_starts(2)[1]
        assert (second["ppid"], second["values"]) == (1, {"DB_PASSWORD": b"two"})
        os.kill(_namespace_init(run), signal.SIGTERM)
        assert run.wait() == 128 + signal.SIGTERM


def test_outside_pid_1_orphans_come_back_to_the_supervisor(tmp_path: Path) -> None:
    """Not PID 1: the supervisor is the subreaper of what the command leaves, so an orphan
    is its child and is reaped, never a zombie of someone else's."""
    _, env = _secret(tmp_path)
    with Supervised(tmp_path, env, child_args=["--orphan", "0.1", "--zombies-after", "0.6"]) as run:
        run.wait_starts(1)
        run.wait_for(lambda: run.records("zombies"))
        assert run.records("zombies")[0]["zombies"] == []
        assert session_processes(run.sid) == [run.process.pid, run.starts()[0]["pid"]]
        run.send(signal.SIGTERM)
        run.wait()


def test_ctrl_c_on_a_terminal_reaches_the_command_once(tmp_path: Path) -> None:
    """On a terminal (``docker run -it``) the command's group gets the foreground: Ctrl-C is
    one SIGINT for the command, not one from the terminal and one forwarded; the command can
    read the terminal."""
    _, env = _secret(tmp_path)
    env.update(CHILD_LOG=str(tmp_path / "child.jsonl"), CHILD_SHOW="DB_PASSWORD")
    argv = [sys.executable, "-m", "runsecrets", "exec", "--restart-on-change", "--"]
    argv += [sys.executable, CHILD, "--trap", "INT", "--exit-after", "1.5=0"]
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=lambda: _make_controlling(slave),
        )
        os.close(slave)
        log = tmp_path / "child.jsonl"
        output = bytearray()
        deadline = time.monotonic() + 10
        while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
            output += _drain(master)
        time.sleep(0.2)
        os.write(master, b"\x03")
        code = None
        while code is None and time.monotonic() < deadline:
            output += _drain(master)
            code = process.poll()
        output += _drain(master)
        assert code == 0
        signals = [line for line in log.read_text().splitlines() if '"signal"' in line]
        assert len(signals) == 1
        assert '"SIGINT"' in signals[0]
        assert b"started" in output
        assert b"SIGINT received" not in output  # the terminal did not signal the supervisor
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
        process.wait()


def _make_controlling(fd: int) -> None:
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSCTTY, 0)


def _drain(master: int) -> bytes:
    readable, _, _ = select.select([master], [], [], 0.05)
    if readable:
        try:
            return os.read(master, 4096)
        except OSError:
            pass
    return b""


def test_the_supervisor_idles_without_waking(tmp_path: Path) -> None:
    """Idle for 2 s, the supervisor's CPU time hardly moves (no timer loop: it sleeps in
    ``select`` and the watcher thread in ``poll``). The figure for 60 s is the benchmark's."""
    _, env = _secret(tmp_path)
    with Supervised(tmp_path, env) as run:
        run.wait_starts(1)
        time.sleep(0.5)  # start-up done
        before = cpu_seconds(run.process.pid)
        time.sleep(2.0)
        assert cpu_seconds(run.process.pid) - before <= 0.02  # two clock ticks at most
        run.send(signal.SIGTERM)
        run.wait()
