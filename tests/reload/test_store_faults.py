"""The faults a watching store survives, one test each (issue 4's list)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runsecrets import SecretNotFoundError, SecretStore
from runsecrets.testing import SecretsDir, kubernetes_swap, write_rename

from .._store_fixtures import no_leaked_threads, wait_for

assert no_leaked_threads  # an autouse fixture, imported to apply to this module

# Long enough that only a notification (or the short retry timer) can explain a pick-up within
# wait_for's bound: the backup poll never fires during these tests.
NO_BACKUP_POLL = 600.0


def test_directory_removed_and_recreated(tmp_path: Path) -> None:
    """While the directory is gone the values are kept (and said to be); once it is back, its
    new files are picked up, and it is watched again (a later rotation arrives by event)."""
    secrets = tmp_path / "secrets"
    SecretsDir(secrets).write("a", "1")
    store = SecretStore(secrets, environ={}, backup_poll_interval=NO_BACKUP_POLL)
    with store.watch():
        shutil.rmtree(secrets)
        assert wait_for(lambda: "missing" in (store.status.problem or ""))
        assert store.get("a") == "1"
        assert store.status.kept == ("a",)
        secrets.mkdir()
        write_rename(secrets / "a", "2")
        assert wait_for(lambda: store.get("a") == "2")
        write_rename(secrets / "a", "3")
        assert wait_for(lambda: store.get("a") == "3")
        assert store.status.healthy
        assert store.status.watched == (str(secrets),)


def test_removed_secret_is_published_as_removed_by_default(tmp_path: Path) -> None:
    """``on_remove="publish"``: subscribers hear ``removed``; ``get`` then says not found."""
    d = SecretsDir(tmp_path)
    d.write_all({"a": "1", "b": "1"})
    store = SecretStore(tmp_path, environ={})
    removed: list[frozenset[str]] = []
    store.subscribe(lambda c: removed.append(c.removed))
    with store.watch():
        d.remove("b")
        assert wait_for(lambda: removed == [frozenset({"b"})])
    with pytest.raises(SecretNotFoundError):
        store.get("b")
    assert store.get("a") == "1"


@pytest.mark.parametrize("kubernetes", [False, True])
def test_removed_secret_is_kept_when_asked(tmp_path: Path, kubernetes: bool) -> None:
    """``on_remove="keep"``: the last value stays, listed in ``status.kept``; nothing published."""
    d = SecretsDir(tmp_path, kubernetes=kubernetes)
    d.write_all({"a": "1", "b": "1"})
    store = SecretStore(tmp_path, environ={}, on_remove="keep")
    published: list[object] = []
    store.subscribe(published.append)
    with store.watch():
        d.remove("b")
        assert wait_for(lambda: store.status.kept == ("b",))
        d.write("a", "2")
        assert wait_for(lambda: store.get("a") == "2")
    assert store.get("b") == "1"
    assert [sorted(c.names) for c in published] == [["a"]]  # type: ignore[attr-defined]


def test_data_link_pointing_at_a_missing_target_mid_swap(tmp_path: Path) -> None:
    """``..data`` renamed onto a link to a directory that is not there yet: every key dangles.
    Nothing is wiped or published; the short retry timer picks the values up once the target
    exists (its files are written where no watch sees them)."""
    kubernetes_swap(tmp_path, {"a": "1", "b": "1"})
    old = os.readlink(tmp_path / "..data")
    store = SecretStore(tmp_path, environ={}, backup_poll_interval=NO_BACKUP_POLL)
    published: list[object] = []
    store.subscribe(published.append)
    with store.watch():
        os.symlink("..2099_01_01_00_00_00.1", tmp_path / "..data_tmp")
        os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
        shutil.rmtree(tmp_path / old)
        assert wait_for(lambda: store.status.counters["incomplete"] > 0)
        assert (store.get("a"), store.get("b")) == ("1", "1")
        assert published == []
        target = tmp_path / "..2099_01_01_00_00_00.1"
        target.mkdir()
        (target / "a").write_text("2")
        (target / "b").write_text("2")
        assert wait_for(lambda: (store.get("a"), store.get("b")) == ("2", "2"))
    assert len(published) == 1


def _can_unshare() -> bool:
    try:
        result = subprocess.run(
            ["unshare", "-U", "-r", "sh", "-c", "test -w /proc/sys/user/max_inotify_watches"],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        return False
    return result.returncode == 0


# Runs inside a new user namespace, whose inotify limits are its own: setting one to 0 there
# makes the kernel really refuse (EMFILE from inotify_init1, ENOSPC from inotify_add_watch)
# for that process only, without touching the machine's limits or mocking anything.
_FALLBACK_SCRIPT = """
import json, os, sys, time, warnings
limit, watcher, directory = sys.argv[1:]
with open(f"/proc/sys/user/{limit}", "w") as f:
    f.write("0")
from runsecrets import SecretStore, WatchFallbackWarning
from runsecrets.testing import write_rename
store = SecretStore(directory, environ={}, watcher=watcher, poll_interval=0.05)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    store.start()
write_rename(os.path.join(directory, "a"), "2")
deadline = time.monotonic() + 10
while store.get("a") != "2" and time.monotonic() < deadline:
    time.sleep(0.01)
print(json.dumps({
    "mode": store.status.mode,
    "warnings": [str(w.message) for w in caught if w.category is WatchFallbackWarning],
    "picked_up": store.get("a") == "2",
}))
store.close()
"""


@pytest.mark.skipif(not _can_unshare(), reason="needs user namespaces (unshare -U -r)")
@pytest.mark.parametrize("watcher", ["inotify", "watchfiles"])
@pytest.mark.parametrize(
    ("limit", "why"),
    [("max_inotify_instances", "instance"), ("max_inotify_watches", "limit")],
)
def test_falls_back_to_polling_when_inotify_is_refused(
    tmp_path: Path, watcher: str, limit: str, why: str
) -> None:
    """No inotify instance left, or the watch limit exhausted (really, in a user namespace with
    that limit set to 0): the store warns, polls, and still picks up a rotation."""
    (tmp_path / "a").write_text("1")
    result = subprocess.run(
        [
            "unshare",
            "-U",
            "-r",
            sys.executable,
            "-c",
            _FALLBACK_SCRIPT,
            limit,
            watcher,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    assert report["mode"] == "poll"
    assert report["picked_up"] is True
    assert len(report["warnings"]) == 1
    assert "polling instead" in report["warnings"][0]
    if watcher == "inotify":
        assert why in report["warnings"][0]


@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")
@pytest.mark.parametrize("watcher", ["inotify", "watchfiles"])
def test_fork_after_start_gives_the_child_a_working_watcher(tmp_path: Path, watcher: str) -> None:
    """As under gunicorn ``--preload``: after ``os.fork()`` the child has its own watcher thread
    and sees a rotation written after the fork; the parent's watcher keeps working too."""
    SecretsDir(tmp_path).write("a", "0")
    store = SecretStore(tmp_path, environ={}, watcher=watcher, backup_poll_interval=NO_BACKUP_POLL)
    store.start()
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only, never run pytest's teardown
        code = 3
        try:
            watching = any(t.name == "runsecrets-watch" for t in threading.enumerate())
            os.write(ready_write, b"r")
            seen = wait_for(lambda: store.get("a") == "after-fork", timeout=15)
            code = 0 if watching and seen and store.status.mode == watcher else 1
            store.close()
        finally:
            os._exit(code)
    try:
        assert os.read(ready_read, 1) == b"r"
        write_rename(tmp_path / "a", "after-fork")
        assert wait_for(lambda: store.get("a") == "after-fork")
        _, status = os.waitpid(pid, 0)
    finally:
        store.close()
        os.close(ready_read)
        os.close(ready_write)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_file_briefly_gone_is_never_published_as_removed(tmp_path: Path) -> None:
    """A writer that unlinks before it creates: within ``remove_delay`` the old value stays and
    nothing is published; a removal is published only once it has lasted that long."""
    d = SecretsDir(tmp_path)
    d.write_all({"a": "1", "b": "1"})
    patient = SecretStore(tmp_path, environ={}, remove_delay=60)
    eager = SecretStore(tmp_path, environ={}, remove_delay=0)
    os.unlink(tmp_path / "b")
    assert patient.reload() is None
    assert patient.get("b") == "1"
    changes = eager.reload()
    assert changes is not None
    assert changes.removed == {"b"}
    write_rename(tmp_path / "b", "1")
    assert patient.reload() is None
    assert patient.status.healthy


@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")
def test_fork_without_rearm_leaves_the_child_free_to_start_its_own(tmp_path: Path) -> None:
    """``rearm_after_fork=False``: the child has no watcher and says so (not running, mode
    ``stopped``), and a ``start()`` there starts a real one that sees a rotation."""
    SecretsDir(tmp_path).write("a", "0")
    store = SecretStore(
        tmp_path, environ={}, rearm_after_fork=False, backup_poll_interval=NO_BACKUP_POLL
    )
    store.start()
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only, never run pytest's teardown
        code = 3
        try:
            inherited_stopped = not store.running and store.status.mode == "stopped"
            no_thread = not any(t.name == "runsecrets-watch" for t in threading.enumerate())
            store.start()
            started = store.running and store.status.mode == "inotify"
            os.write(ready_write, b"r")
            assert os.read(go_read, 1) == b"g"
            seen = wait_for(lambda: store.get("a") == "after-fork", timeout=30)
            store.close()
            code = 0 if (inherited_stopped, no_thread, started, seen) == (True,) * 4 else 1
        finally:
            os._exit(code)
    try:
        assert os.read(ready_read, 1) == b"r"
        write_rename(tmp_path / "a", "after-fork")
        os.write(go_write, b"g")
        assert wait_for(lambda: store.get("a") == "after-fork", timeout=30)
        _, status = os.waitpid(pid, 0)
    finally:
        store.close()
        for fd in (ready_read, ready_write, go_read, go_write):
            os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_inotify_backend_closes_its_instance_when_pipe_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of descriptors right after ``inotify_init``: the instance is closed again (no leak)
    and the store falls back to polling with a warning."""
    from runsecrets import WatchFallbackWarning
    from runsecrets.reload.watch import inotify as _watch

    def no_pipe() -> tuple[int, int]:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(_watch.os, "pipe", no_pipe)
    before = _open_fds()
    with pytest.raises(OSError, match="Too many open files"):
        _watch.InotifyBackend(0.002, 0.05, lambda name: True)
    assert _open_fds() == before
    (tmp_path / "a").write_text("1")
    store = SecretStore(tmp_path, environ={}, watcher="inotify")
    with pytest.warns(WatchFallbackWarning, match="polling instead"):
        store.start()
    try:
        assert store.status.mode == "poll"
    finally:
        store.close()
    assert _open_fds() == before


class _RearmTarget:
    """A watch target whose second directory shows up after the start (so the watcher adds a
    watch and re-reads for ``rearm``), and whose ``rearm`` re-read raises."""

    def __init__(self, first: Path, second: Path, sentinel: str) -> None:
        self.paths = [str(first)]
        self.second = str(second)
        self.sentinel = sentinel
        self.reasons: list[str] = []
        self.problems: list[str] = []
        self.changed = threading.Event()

    read_cost = 0.0

    def refresh_for_watcher(self, reason: str) -> float | None:
        self.reasons.append(reason)
        if reason == "start":
            self.paths = [*self.paths, self.second]
        if reason == "rearm":
            raise RuntimeError(f"bad read of {self.sentinel}")
        if reason == "changed":
            self.changed.set()
        return None

    def watch_paths(self) -> list[str]:
        return list(self.paths)

    def is_relevant(self, name: str) -> bool:
        return True

    def covers_every_file(self, written: object) -> bool:
        return False

    def after_fork_in_child(self, *, rearmed: bool) -> None:
        """Nothing to reset."""

    def note_problem(self, problem: str) -> None:
        self.problems.append(problem)


def test_a_failing_rearm_reread_is_logged_and_the_watcher_lives_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, sentinel: str
) -> None:
    """The re-read after adding a watch raises: logged by type only (never its message), noted
    as a problem, and the watcher thread keeps serving events."""
    from runsecrets.reload.watch.options import WatchOptions
    from runsecrets.reload.watch.thread import Watcher

    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    target = _RearmTarget(first, second, sentinel)
    watcher = Watcher(
        target,
        WatchOptions(
            mode="inotify",
            step=None,
            debounce=0.05,
            poll_interval=1.0,
            backup_poll_interval=NO_BACKUP_POLL,
            rearm_after_fork=False,
            prompt_switching=False,
        ),
    )
    caplog.set_level(logging.ERROR, logger="runsecrets.watch")
    watcher.start(on_fallback=lambda message: None)
    try:
        assert wait_for(lambda: "rearm" in target.reasons, timeout=30)
        (first / "a").write_text("x")
        assert target.changed.wait(30), "the watcher died after the failed re-read"
        assert watcher.thread_ident is not None
    finally:
        watcher.stop(join=True)
    assert target.problems == ["re-read failed (RuntimeError)"]
    assert "re-read failed (RuntimeError)" in caplog.text
    assert sentinel not in caplog.text


def test_an_unlistable_directory_keeps_its_values_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory that stops being listable (permission denied): its values stay, and the
    problem names the directory and the reason, as a ``SecretReadError`` would."""
    SecretsDir(tmp_path).write("a", "1")
    store = SecretStore(tmp_path, environ={})
    real_scandir = os.scandir

    def denied(path: object) -> object:
        if os.fspath(path) == str(tmp_path):  # type: ignore[arg-type]
            raise PermissionError(13, "Permission denied", str(tmp_path))
        return real_scandir(path)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "scandir", denied)
    assert store.reload() is None
    assert store.get("a") == "1"
    problem = store.status.problem or ""
    assert f"cannot list secrets directory {tmp_path}: permission denied" in problem
    assert store.status.counters["read_errors"] == 1
    monkeypatch.undo()
    write_rename(tmp_path / "a", "2")
    assert store.reload() is not None
    assert store.status.healthy


@pytest.mark.parametrize("fault", ["emptied", "too-large"])
def test_one_broken_secret_keeps_its_value_and_does_not_hold_back_the_others(
    tmp_path: Path, fault: str
) -> None:
    """A secret that cannot be read whole (emptied, grown past the size cap) keeps its last good
    value alone and is reported; a rotation of another secret is still published, and the
    broken one is picked up once it is whole again."""
    secrets = SecretsDir(tmp_path)
    secrets.write("a", "a1")
    secrets.write("b", "b1")
    store = SecretStore(tmp_path, environ={}, max_size=64, backup_poll_interval=NO_BACKUP_POLL)
    with store.watch():
        (tmp_path / "a").write_text("" if fault == "emptied" else "x" * 100)
        assert wait_for(lambda: "a" in (store.status.problem or ""))
        write_rename(tmp_path / "b", "b2")
        assert wait_for(lambda: store.get("b") == "b2")
        assert store.get("a") == "a1"
        assert store.status.problem is not None
        write_rename(tmp_path / "a", "a2")
        assert wait_for(lambda: store.get("a") == "a2")
        assert wait_for(lambda: store.status.problem is None)


def test_a_hold_back_is_info_when_it_starts_and_a_warning_once_it_lasts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hold-back is the normal middle of many rotations: INFO when it starts; one WARNING
    only if it outlasts two seconds (no writer takes that long), not one per retry."""
    secrets = SecretsDir(tmp_path)
    secrets.write("a", "a1")
    caplog.set_level(logging.DEBUG, logger="runsecrets.store")
    store = SecretStore(tmp_path, environ={}, backup_poll_interval=NO_BACKUP_POLL)
    with store.watch():
        (tmp_path / "a").write_text("")  # emptied, and left so
        assert wait_for(lambda: "held back" in caplog.text)
        started = [r for r in caplog.records if "held back" in r.getMessage()]
        assert started[0].levelno == logging.INFO
        assert wait_for(lambda: "still held back" in caplog.text, timeout=10)
        write_rename(tmp_path / "a", "a2")
        assert wait_for(lambda: store.get("a") == "a2")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "still held back after" in warnings[0].getMessage()
