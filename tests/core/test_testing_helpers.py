"""``runsecrets.testing`` writers reproduce the producers' layouts that the reader must handle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runsecrets import Secrets
from runsecrets.testing import SecretsDir, kubernetes_swap, write_in_place, write_rename


def test_kubernetes_swap_builds_the_kubelet_layout(tmp_path: Path) -> None:
    """Keys are links through ``..data`` to one timestamped directory; nothing else is visible."""
    kubernetes_swap(tmp_path, {"username": "admin", "password": "one"})
    assert os.readlink(tmp_path / "password") == "..data/password"
    target = os.readlink(tmp_path / "..data")
    assert target.startswith("..")
    assert sorted(os.listdir(tmp_path / target)) == ["password", "username"]
    assert Secrets(tmp_path, environ={}).get("password") == "one"


def test_kubernetes_swap_replaces_the_set_and_removes_the_old_directory(tmp_path: Path) -> None:
    """A second swap points ``..data`` at a new directory, drops removed keys, deletes the old."""
    kubernetes_swap(tmp_path, {"a": "1", "b": "2"})
    first = os.readlink(tmp_path / "..data")
    kubernetes_swap(tmp_path, {"a": "3"})
    second = os.readlink(tmp_path / "..data")
    assert first != second
    assert not (tmp_path / first).exists()
    assert not (tmp_path / "b").is_symlink()
    assert not (tmp_path / "..data_tmp").exists()
    assert Secrets(tmp_path, environ={}).names() == ["a"]
    assert Secrets(tmp_path, environ={}).get("a") == "3"


def test_write_rename_changes_the_inode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """A rename writer gives the path a new inode and cleans up its temporary file."""
    path = tmp_path / "s"
    write_rename(path, "one")
    inode = path.stat().st_ino
    write_rename(path, b"two")
    assert path.stat().st_ino != inode
    assert path.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["s"]


def test_write_in_place_keeps_the_inode(tmp_path: Path) -> None:
    """An in-place writer truncates and rewrites the same inode, as a bind mount shows it."""
    path = tmp_path / "s"
    path.write_text("old value")
    inode = path.stat().st_ino
    write_in_place(path, "new", pause=0.001, chunk=1)
    assert path.stat().st_ino == inode
    assert path.read_text() == "new"


@pytest.mark.parametrize("kubernetes", [False, True])
def test_secrets_dir_writes_and_removes(tmp_path: Path, kubernetes: bool) -> None:
    """``SecretsDir`` writes, rewrites and removes secrets in both layouts."""
    directory = SecretsDir(tmp_path / "d", kubernetes=kubernetes)
    directory.write("a", "1")
    directory.write("b", "2", style="in_place")
    directory.write("a", "3")
    directory.remove("b")
    secrets = Secrets(directory, environ={})
    assert secrets.names() == ["a"]
    assert secrets.get("a") == "3"


def test_secrets_dir_rejects_unknown_style(tmp_path: Path) -> None:
    """A typo in the writer style is an error, not a silent default."""
    with pytest.raises(ValueError, match="unknown writer style"):
        SecretsDir(tmp_path).write("a", "1", style="copy")


def test_load_counts_failures_by_type_and_reports_percentiles(sentinel: str) -> None:
    """Load runs the operation from several threads, keeps each latency and counts failures
    by their type only (the message, which might quote a value, is never kept)."""
    import itertools
    import time

    from runsecrets.testing import Load

    counter = itertools.count()

    def operation() -> None:
        if next(counter) % 5 == 0:
            raise ConnectionError(f"refused with {sentinel}")
        time.sleep(0.001)

    with Load(operation, threads=3, max_seconds=5) as load:
        start = load.mark()
        time.sleep(0.2)
    assert load.operations > 10
    assert load.failures
    assert {kind for _, kind in load.failures} == {"ConnectionError"}
    assert sentinel not in repr(load.failures)
    assert 0.0009 < load.percentile(50, start) <= load.percentile(100, start)
    with pytest.raises(ValueError, match="no call ran"):
        load.percentile(99, start=time.monotonic() + 10)
    with pytest.raises(ValueError, match="threads"):
        Load(operation, threads=0)


def test_rotate_password_runs_both_steps_in_the_order_asked(tmp_path: Path) -> None:
    """server_first calls the server before the file is written, file_first the reverse."""
    from runsecrets.testing import SecretsDir, rotate_password

    d = SecretsDir(tmp_path)
    d.write("db_password", "old")
    for order, seen_in_file in (("server_first", "old"), ("file_first", "new")):
        d.write("db_password", "old")
        seen: list[str] = []
        rotate_password(
            d,
            "new",
            set_on_server=lambda p, seen=seen: seen.append((tmp_path / "db_password").read_text()),
            order=order,
            gap=0.0,
        )
        assert seen == [seen_in_file]
        assert (tmp_path / "db_password").read_text() == "new"
    with pytest.raises(ValueError, match="order"):
        rotate_password(d, "x", set_on_server=print, order="sideways")


def test_switch_user_writes_the_user_before_its_password(tmp_path: Path) -> None:
    """switch_user prepares the standby user, writes both secrets (user first), then retires
    the previous user after the grace period."""
    from runsecrets.testing import SecretsDir, switch_user

    d = SecretsDir(tmp_path)
    d.write_all({"db_user": "blue", "db_password": "a", "other": "kept"})
    calls: list[object] = []
    switch_user(
        d,
        "green",
        "b",
        prepare=lambda u, p: calls.append(("prepare", u, p)),
        retire=lambda: calls.append("retire"),
        grace=0.0,
    )
    assert calls == [("prepare", "green", "b"), "retire"]
    assert list(d.current) == ["db_user", "db_password", "other"]
    assert (tmp_path / "db_user").read_text() == "green"
    assert (tmp_path / "other").read_text() == "kept"
