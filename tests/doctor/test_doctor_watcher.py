"""The doctor's inotify checks: limits and use read from a ``/proc`` prepared by the test (and
the real one for the counting), an unreadable ``/proc`` said, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runsecrets.cli import main
from runsecrets.doctor import Finding
from runsecrets.doctor._context import Context
from runsecrets.doctor._watcher import check_watcher, count_use
from runsecrets.reload.watch.inotify_ctypes import Inotify

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX only")


def _fake_proc(root: Path, *, watches: int, instances: int, used: list[int]) -> Path:
    """A ``/proc`` with the limits and one process holding an inotify instance per number in
    ``used`` (that many watches each), plus a descriptor that is not inotify."""
    limits = root / "sys" / "fs" / "inotify"
    limits.mkdir(parents=True)
    (limits / "max_user_watches").write_text(f"{watches}\n")
    (limits / "max_user_instances").write_text(f"{instances}\n")
    (root / "self").mkdir()
    process = root / "4242"
    (process / "fd").mkdir(parents=True)
    (process / "fdinfo").mkdir()
    (process / "fd" / "1").symlink_to("/dev/null")
    for fd, count in enumerate(used, start=3):
        (process / "fd" / str(fd)).symlink_to("anon_inode:inotify")
        lines = [f"inotify wd:{n} ino:1 sdev:2 mask:3 ignored_mask:0" for n in range(count)]
        (process / "fdinfo" / str(fd)).write_text("pos:\t0\nflags:\t02004000\n" + "\n".join(lines))
    return root


def _check(proc: Path, dirs: list[Path]) -> list[Finding]:
    context = Context(dirs=[str(d) for d in dirs], environ={}, proc_root=str(proc))
    return list(check_watcher(context))


def test_enough_watches_and_instances(tmp_path: Path) -> None:
    """With room left, nothing is reported."""
    proc = _fake_proc(tmp_path / "proc", watches=100, instances=8, used=[5])
    assert _check(proc, [tmp_path]) == []


def test_too_few_watches_and_no_instance_left(tmp_path: Path) -> None:
    """One watch left for two directories, and every instance taken: both are warnings that
    say the store will poll, with the figures counted."""
    proc = _fake_proc(tmp_path / "proc", watches=5, instances=2, used=[2, 2])
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    findings = _check(proc, [one, two])
    assert [(f.code, f.severity, f.subject) for f in findings] == [
        ("inotify_watches_low", "warning", "fs.inotify.max_user_watches"),
        ("inotify_instances_low", "warning", "fs.inotify.max_user_instances"),
    ]
    assert "1 watch(es) left of 5 (4 in use by 1 visible process(es)" in findings[0].message
    assert "watches 2 directories" in findings[0].message
    assert "falls back to polling" in findings[1].message


def test_no_inotify_in_the_kernel(tmp_path: Path) -> None:
    """A /proc without sys/fs/inotify means no inotify at all."""
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (finding,) = _check(proc, [tmp_path])
    assert finding.code == "inotify_unavailable"


@pytest.mark.parametrize("content", ["lots\n", ""])
def test_limits_that_are_not_numbers(tmp_path: Path, content: str) -> None:
    """A limit file that does not hold a number says what could not be checked."""
    proc = _fake_proc(tmp_path / "proc", watches=1, instances=1, used=[])
    (proc / "sys" / "fs" / "inotify" / "max_user_watches").write_text(content)
    (finding,) = _check(proc, [tmp_path])
    assert finding.code == "not_checked"
    assert "ValueError" in finding.message


def test_unreadable_proc_through_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A /proc that is not there: the mount and inotify checks each say they could not run;
    the other checks still run; warnings only, exit 1, no traceback."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "db_password").write_text("x")
    code = main(["doctor", "--dir", str(secrets), "--proc-root", str(tmp_path / "no-proc")])
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.out.splitlines()
    assert [line.split(": ")[1] for line in lines] == ["not_checked", "not_checked"]
    assert "cannot read the mount table" in lines[0]
    assert "cannot read the inotify limits" in lines[1]
    assert captured.err == ""


def test_counting_sees_this_process_instances_and_watches(tmp_path: Path) -> None:
    """On the real /proc, an inotify instance with two watches made here is counted (a /proc
    holding only this process, so that other processes coming and going do not count)."""
    only_us = tmp_path / "proc"
    only_us.mkdir()
    (only_us / str(os.getpid())).symlink_to(f"/proc/{os.getpid()}")
    before = count_use(str(only_us), os.geteuid())
    inotify = Inotify()
    try:
        inotify.add(str(tmp_path))
        (tmp_path / "sub").mkdir()
        inotify.add(str(tmp_path / "sub"))
        after = count_use(str(only_us), os.geteuid())
    finally:
        inotify.close()
    assert after.processes == 1
    assert (after.instances - before.instances, after.watches - before.watches) == (1, 2)
    assert count_use(str(only_us), os.geteuid() + 1).processes == 0
