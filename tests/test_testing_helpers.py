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
