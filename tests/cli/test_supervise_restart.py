"""``runsecrets exec --restart-on-change``: when the command is restarted, and when it is not.

Real processes throughout: the supervisor runs as a subprocess, its command is
``_supervised_child.py``, which records its pid and environment, and the secret files change
the ways real writers change them. Every test ends with nothing of its own left running.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from runsecrets.testing import kubernetes_swap, write_in_place, write_rename

from ..conftest import leaked
from ._supervisor import Supervised, clean_environ

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="process groups, /proc, inotify: Linux"
)

FAST = ("--debounce", "0.1")


def _write(style: str, secret: Path, value: bytes) -> None:
    if style == "in-place":
        write_in_place(secret, value)
    elif style == "rename":
        write_rename(secret, value)
    else:
        kubernetes_swap(secret.parent, {secret.name: value})


@pytest.mark.parametrize("style", ["in-place", "rename", "kubernetes"])
def test_a_content_change_restarts_the_command_with_the_new_value(
    tmp_path: Path, style: str
) -> None:
    """The file behind ``DB_PASSWORD_FILE`` changes (an in-place write, a rename over it, a
    kubelet ``..data`` swap behind a symlink): the command gets the stop signal, and a new one
    starts under the same supervisor with the new value; ``DB_PASSWORD_FILE`` stays removed."""
    volume = tmp_path / "volume"
    volume.mkdir()
    secret = volume / "db_password"
    if style == "kubernetes":
        kubernetes_swap(volume, {"db_password": b"first\n"})
    else:
        secret.write_bytes(b"first\n")
    env = clean_environ(DB_PASSWORD_FILE=str(secret))
    with Supervised(
        tmp_path, env, options=FAST, child_args=["--trap", "TERM", "--exit", "TERM=0"]
    ) as run:
        (first,) = run.wait_starts(1)
        assert first["values"] == {"DB_PASSWORD": b"first"}
        assert first["ppid"] == run.process.pid
        _write(style, secret, b"second\n")
        second = run.wait_starts(2)[1]
        assert second["values"] == {"DB_PASSWORD": b"second"}
        assert second["ppid"] == run.process.pid
        assert second["pid"] != first["pid"]
        assert [e["pid"] for e in run.records("signal")] == [first["pid"]]
        _write(style, secret, b"third")
        assert run.wait_starts(3)[2]["values"] == {"DB_PASSWORD": b"third"}
        run.send(signal.SIGTERM)
        assert run.wait() == 0
    assert "DB_PASSWORD changed: restarting" in run.stderr


def test_a_touch_or_an_unchanged_rewrite_restarts_nothing(tmp_path: Path) -> None:
    """``touch``, the same bytes written in place and renamed over, and a change the
    environment does not see (a trailing newline, stripped) restart nothing; the last is said
    (the file changed, the environment did not)."""
    secret = tmp_path / "db_password"
    secret.write_bytes(b"same\n")
    with Supervised(tmp_path, clean_environ(DB_PASSWORD_FILE=str(secret)), options=FAST) as run:
        run.wait_starts(1)
        os.utime(secret, (time.time() + 5, time.time() + 5))
        write_in_place(secret, b"same\n")
        write_rename(secret, b"same\n")
        time.sleep(0.6)
        assert "not the environment" not in run.stderr
        write_rename(secret, b"same\n\n")
        run.wait_for(lambda: "not the environment" in run.stderr)
        time.sleep(0.3)
        assert len(run.starts()) == 1
        run.send(signal.SIGTERM)
        assert run.wait() == 128 + signal.SIGTERM


def test_a_burst_of_changes_is_one_restart(tmp_path: Path) -> None:
    """Twenty writes 20 ms apart, within the debounce: one restart, with the last value."""
    secret = tmp_path / "db_password"
    secret.write_bytes(b"v0")
    options = ("--debounce", "0.5")
    with Supervised(tmp_path, clean_environ(DB_PASSWORD_FILE=str(secret)), options=options) as run:
        run.wait_starts(1)
        for n in range(1, 21):
            write_rename(secret, f"v{n}".encode())
            time.sleep(0.02)
        starts = run.wait_starts(2)
        time.sleep(1.0)
        starts = run.starts()
        assert [s["values"]["DB_PASSWORD"] for s in starts] == [b"v0", b"v20"]
        run.send(signal.SIGTERM)
        run.wait()


def test_a_command_that_ignores_the_stop_signal_is_killed_after_the_grace(
    tmp_path: Path,
) -> None:
    """``--grace 0.5``: a command ignoring SIGTERM is killed with SIGKILL half a second after
    it, then the new one starts."""
    secret = tmp_path / "db_password"
    secret.write_bytes(b"old")
    with Supervised(
        tmp_path,
        clean_environ(DB_PASSWORD_FILE=str(secret)),
        options=(*FAST, "--grace", "0.5"),
        child_args=["--ignore", "TERM"],
    ) as run:
        run.wait_starts(1)
        changed = time.monotonic()
        write_rename(secret, b"new")
        second = run.wait_starts(2)[1]
        assert second["values"] == {"DB_PASSWORD": b"new"}
        assert second["t"] - changed >= 0.5
        assert "still running 0.5 s after SIGTERM: SIGKILL" in run.stderr
        # This one ignores SIGTERM too: the supervisor forwards it, then exits with the
        # status of the command killed from outside.
        run.send(signal.SIGTERM)
        run.wait_for(lambda: "SIGTERM received: forwarded" in run.stderr)
        os.kill(second["pid"], signal.SIGKILL)
        assert run.wait() == 128 + signal.SIGKILL


def test_the_stop_signal_option_chooses_the_signal(tmp_path: Path) -> None:
    """``--stop-signal USR1``: the command sees SIGUSR1 at a restart, never SIGTERM."""
    secret = tmp_path / "db_password"
    secret.write_bytes(b"old")
    with Supervised(
        tmp_path,
        clean_environ(DB_PASSWORD_FILE=str(secret)),
        options=(*FAST, "--stop-signal", "USR1"),
        child_args=["--exit", "USR1=0", "--trap", "TERM"],
    ) as run:
        first = run.wait_starts(1)[0]
        write_rename(secret, b"new")
        run.wait_starts(2)
        assert [(e["pid"], e["signal"]) for e in run.records("signal")] == [
            (first["pid"], "SIGUSR1")
        ]
        second = run.starts()[1]
        run.send(signal.SIGTERM)
        run.wait_for(lambda: len(run.records("signal")) == 2)
        os.kill(second["pid"], signal.SIGKILL)
        assert run.wait() == 128 + signal.SIGKILL


def _make_nul(secret: Path, sentinel: str) -> None:
    write_rename(secret, sentinel.encode() + b"\0")


def _make_directory(secret: Path, sentinel: str) -> None:
    secret.unlink()
    secret.mkdir()


def _remove(secret: Path, sentinel: str) -> None:
    secret.unlink()


def _make_unreadable(secret: Path, sentinel: str) -> None:
    write_rename(secret, sentinel, mode=0o000)


@pytest.mark.parametrize(
    "damage",
    [_make_nul, _make_directory, _remove, _make_unreadable],
    ids=["nul-byte", "directory", "removed", "unreadable"],
)
def test_an_invalid_new_environment_keeps_the_command_running(
    tmp_path: Path, damage: object, sentinel: str
) -> None:
    """The file becomes unusable (a NUL byte, a directory, gone, unreadable): the command
    keeps running, the log says why by names and paths only, and once the file is good
    again the command restarts with the new value."""
    prefix: tuple[str, ...] = ()
    if damage is _make_unreadable and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv (util-linux) is needed to drop root's file capabilities")
        prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")  # mode bits bind
    secret = tmp_path / "db_password"
    secret.write_bytes(b"good-old")
    env = clean_environ(DB_PASSWORD_FILE=str(secret))
    with Supervised(tmp_path, env, options=FAST, prefix=prefix) as run:
        (first,) = run.wait_starts(1)
        damage(secret, sentinel)  # type: ignore[operator]
        run.wait_for(lambda: "keeping the" in run.stderr or "held back" in run.stderr)
        time.sleep(0.5)
        assert len(run.starts()) == 1
        assert os.path.exists(f"/proc/{first['pid']}")
        if secret.is_dir():
            secret.rmdir()
        write_rename(secret, f"{sentinel}-good-new")
        second = run.wait_starts(2)[1]
        assert second["values"] == {"DB_PASSWORD": f"{sentinel}-good-new".encode()}
        run.send(signal.SIGTERM)
        run.wait()
    assert str(secret) in run.stderr
    assert not leaked(sentinel, run.stderr)
    assert not leaked("good-old", run.stderr)


def test_an_only_variable_from_a_directory_restarts_too(tmp_path: Path) -> None:
    """``--only DB_PASSWORD --dir D``: the secret read from ``D/db_password`` is watched; a
    rename over it restarts the command."""
    (tmp_path / "db_password").write_bytes(b"first")
    options = (*FAST, "--dir", str(tmp_path), "--only", "DB_PASSWORD")
    with Supervised(tmp_path, clean_environ(), options=options) as run:
        assert run.wait_starts(1)[0]["values"] == {"DB_PASSWORD": b"first"}
        write_rename(tmp_path / "db_password", b"second")
        assert run.wait_starts(2)[1]["values"] == {"DB_PASSWORD": b"second"}
        run.send(signal.SIGTERM)
        run.wait()


def test_the_file_prefix_convention_restarts_too(tmp_path: Path) -> None:
    """``--file-prefix FILE__``: ``FILE__DB_PASSWORD`` feeds ``DB_PASSWORD``, is removed,
    and a change of its file restarts the command."""
    secret = tmp_path / "pw"
    secret.write_bytes(b"first")
    env = clean_environ(FILE__DB_PASSWORD=str(secret))
    options = (*FAST, "--file-prefix", "FILE__")
    with Supervised(
        tmp_path, env, options=options, show=("DB_PASSWORD", "FILE__DB_PASSWORD")
    ) as run:
        assert run.wait_starts(1)[0]["values"] == {"DB_PASSWORD": b"first"}
        write_in_place(secret, b"second")
        assert run.wait_starts(2)[1]["values"] == {"DB_PASSWORD": b"second"}
        run.send(signal.SIGTERM)
        run.wait()


def test_what_the_command_started_goes_with_it_at_a_restart(tmp_path: Path) -> None:
    """A restart stops the command's whole process group: a process it started (``sleep``)
    does not survive into the next command's time with the old environment."""
    secret = tmp_path / "db_password"
    secret.write_bytes(b"old")
    with Supervised(
        tmp_path,
        clean_environ(DB_PASSWORD_FILE=str(secret)),
        options=FAST,
        child_args=["--grandchild", "1"],
    ) as run:
        run.wait_starts(1)
        run.wait_for(lambda: run.records("grandchild"))
        (spawned,) = run.records("grandchild")
        write_rename(secret, b"new")
        run.wait_starts(2)
        run.wait_for(lambda: not _alive(spawned["grandchild"]))
        run.send(signal.SIGTERM)
        run.wait()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"
