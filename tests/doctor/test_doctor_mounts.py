"""The doctor's mount checks on real mounts: a tmpfs mounted for the test, a disk directory,
single-file bind mounts, Swarm's and Kubernetes' shapes. Needs root (``mount``); every mount
is undone in teardown."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runsecrets.doctor import diagnose

pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounting needs root"
)


class Mounts:
    """Mounts made by one test, undone in reverse order."""

    def __init__(self) -> None:
        self.points: list[Path] = []

    def _mount(self, *args: str) -> None:
        result = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.skip(f"mount {' '.join(args)} failed: {result.stderr.strip()}")

    def tmpfs(self, point: Path) -> Path:
        """A fresh tmpfs at ``point`` (made if missing)."""
        point.mkdir(parents=True, exist_ok=True)
        self._mount("-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(point))
        self.points.append(point)
        return point

    def bind(self, source: Path, target: Path, *, read_only: bool = False) -> None:
        """Bind ``source`` (a file or a directory) onto ``target``."""
        if not target.exists():
            target.mkdir() if source.is_dir() else target.touch()
        self._mount("--bind", str(source), str(target))
        self.points.append(target)
        if read_only:
            self._mount("-o", "remount,bind,ro", str(target))

    def close(self) -> None:
        for point in reversed(self.points):
            done = subprocess.run(["umount", str(point)], capture_output=True, check=False)
            if done.returncode != 0:
                subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
        self.points.clear()


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    """Make mounts; all are unmounted after the test."""
    made = Mounts()
    try:
        yield made
    finally:
        made.close()


def _mount_findings(*dirs: Path, environ: dict[str, str] | None = None) -> list[tuple[str, str]]:
    findings = diagnose([str(d) for d in dirs], environ=environ or {})
    return [
        (f.code, f.subject)
        for f in findings
        if f.code in ("not_memory_backed", "never_updates", "not_checked")
    ]


def test_tmpfs_is_fine_and_a_disk_directory_is_not(tmp_path: Path, mounts: Mounts) -> None:
    """Secrets on a tmpfs mounted for the purpose pass; the same on the disk are reported."""
    memory = mounts.tmpfs(tmp_path / "memory")
    (memory / "db_password").write_text("x")
    disk = tmp_path / "disk"
    disk.mkdir()
    (disk / "db_password").write_text("x")
    (disk / "api_key").write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _mount_findings(memory, disk, empty) == [("not_memory_backed", str(disk))]
    (finding,) = (f for f in diagnose([str(disk)], environ={}) if f.code == "not_memory_backed")
    assert "2 of its 2 secret(s) are stored on" in finding.message
    assert finding.severity == "warning"


def test_single_file_bind_mounts_never_update(tmp_path: Path, mounts: Mounts) -> None:
    """A disk file bound onto a name in a tmpfs directory (what Compose does), and a file bound
    onto itself, cannot see a rotation by rename; the disk one is also not memory-backed."""
    directory = mounts.tmpfs(tmp_path / "secrets")
    (directory / "fine").write_text("x")
    host_file = tmp_path / "host_password.txt"
    host_file.write_text("x")
    mounts.bind(host_file, directory / "db_password", read_only=True)
    onto_itself = tmp_path / "self"
    onto_itself.mkdir()
    (onto_itself / "token").write_text("x")
    mounts.bind(onto_itself / "token", onto_itself / "token")
    found = _mount_findings(directory, onto_itself)
    assert found == [
        ("never_updates", str(directory / "db_password")),
        ("never_updates", str(onto_itself / "token")),
        ("not_memory_backed", str(directory)),
        ("not_memory_backed", str(onto_itself)),
    ]
    (message,) = (
        f.message for f in diagnose([str(directory)], environ={}) if f.code == "not_memory_backed"
    )
    assert message.startswith("1 of its 2 secret(s)")


def test_a_file_variable_target_on_a_bind_mount(tmp_path: Path, mounts: Mounts) -> None:
    """A ``_FILE`` target is judged by its own mount, outside the directories."""
    host_file = tmp_path / "host_key"
    host_file.write_text("x")
    target = mounts.tmpfs(tmp_path / "etc") / "api_key"
    mounts.bind(host_file, target)
    found = _mount_findings(environ={"API_KEY_FILE": str(target)})
    assert found == [("never_updates", str(target)), ("not_memory_backed", str(target))]


def test_swarms_own_secret_mounts_are_not_reported(tmp_path: Path, mounts: Mounts) -> None:
    """Swarm binds each secret from a read-only tmpfs, named by its id, into a directory on the
    container's disk: by design (a rotation replaces the task), so nothing is said."""
    store = mounts.tmpfs(tmp_path / "swarm-store")
    secret_id = "m21tnpz184118f35ikod34w7a"
    (store / secret_id).write_text("x")
    run_secrets = tmp_path / "run-secrets"
    run_secrets.mkdir()
    mounts.bind(store / secret_id, run_secrets / "db_password", read_only=True)
    assert _mount_findings(run_secrets) == []


def _kubernetes_volume(volume: Path) -> Path:
    """The kubelet's layout: ``..<timestamp>/key``, ``..data`` and ``key -> ..data/key``."""
    version = volume / "..2026_11_22_10_00_00.000000001"
    version.mkdir()
    (version / "tls.crt").write_text("x")
    (volume / "..data").symlink_to(version.name)
    (volume / "tls.crt").symlink_to("..data/tls.crt")
    return version


def test_kubernetes_volume_is_fine_and_a_subpath_is_not(tmp_path: Path, mounts: Mounts) -> None:
    """A whole secret volume follows its swaps; a subPath mount of a key, or of a directory
    inside the volume, pins the version that was current at start."""
    volume = mounts.tmpfs(tmp_path / "volume")
    version = _kubernetes_volume(volume)
    assert _mount_findings(volume) == []
    app = mounts.tmpfs(tmp_path / "app")
    # What the kubelet binds for subPath: the key's link resolved.
    mounts.bind(version / "tls.crt", app / "tls.crt", read_only=True)
    pinned_dir = tmp_path / "pinned"
    mounts.bind(version, pinned_dir)
    found = diagnose([str(app), str(pinned_dir)], environ={})
    never = {f.subject: f.message for f in found if f.code == "never_updates"}
    assert set(never) == {str(app / "tls.crt"), str(pinned_dir)}
    assert all("Kubernetes subPath mount" in message for message in never.values())
    assert not [f for f in found if f.code == "not_memory_backed"]


def test_a_path_with_spaces_is_found_in_the_mount_table(tmp_path: Path, mounts: Mounts) -> None:
    """The kernel escapes the space of the mount point; the doctor still finds the mount."""
    directory = mounts.tmpfs(tmp_path / "my secrets\tdir")
    (directory / "db_password").write_text("x")
    host_file = tmp_path / "host file"
    host_file.write_text("x")
    mounts.bind(host_file, directory / "api_key")
    assert _mount_findings(directory) == [
        ("never_updates", str(directory / "api_key")),
        ("not_memory_backed", str(directory)),
    ]
