"""One ``dockerd`` per node, inside the node's network namespace, and the removal of its traces.

Each engine is started as::

    nsenter --net=/run/netns/rscl1 unshare --uts -- sh -c 'hostname "$0" && exec "$@"' rscl1 \\
        dockerd --data-root D --exec-root E -H unix:///run/rscl1.sock --pidfile /run/rscl1.pid \\
        --bridge=none --iptables=false --ip6tables=false --config-file C

``nsenter --net``, not ``ip netns exec``: the latter remounts ``/sys`` and hides the cgroup
mounts ("Devices cgroup isn't mounted"). ``unshare --uts`` gives each node its own hostname, so
``docker node ls`` and placement constraints (``node.hostname==rscl2``) tell the nodes apart.
Every program in that chain replaces itself with the next, so the process started here *is* the
engine (its pid is the one in the pid file). The engine's own ``--config-file`` keeps the host's
``/etc/docker/daemon.json`` out of it, and ``--cgroup-parent`` puts its containers' processes in
cgroups named after the node.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..e2e import _harness as e2e
from ._layout import ClusterError, Layout, log
from ._network import netns_path


@dataclass
class Engine:
    """A node's ``dockerd``: its paths, its process, a docker client bound to its socket.

    Attributes:
        layout: The cluster layout the node belongs to.
        name: The node's name (namespace, hostname, socket).
        docker: The docker command wrapper for this engine (``-H unix:///run/<name>.sock``).
    """

    layout: Layout
    name: str
    docker: e2e.Docker
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def index(self) -> int:
        """The node's number (``rscl2`` is 2), which also gives its address."""
        return int(self.name.removeprefix(self.layout.prefix))

    @property
    def root(self) -> Path:
        """The node's directory: data root, exec root, config, log."""
        return self.layout.state_dir / self.name

    @property
    def log_path(self) -> Path:
        """The engine's log (kept across restarts)."""
        return self.root / "dockerd.log"

    @property
    def host(self) -> str:
        """The engine's address for ``docker -H`` and ``DOCKER_HOST``."""
        return f"unix://{self.layout.socket(self.name)}"

    def command(self) -> list[str]:
        """The command line that starts the engine (see the module docstring)."""
        return [
            "nsenter",
            f"--net={netns_path(self.name)}",
            "unshare",
            "--uts",
            "--",
            "sh",
            "-c",
            'hostname "$0" && exec "$@"',
            self.name,
            shutil.which("dockerd") or "/usr/sbin/dockerd",
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "-H",
            self.host,
            "--pidfile",
            str(self.layout.pidfile(self.name)),
            "--config-file",
            str(self.root / "daemon.json"),
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            # The node's containers in cgroups of its own (``/sys/fs/cgroup/*/rscl1/``), not
            # beside the host engine's under ``docker/``: a crashed run's container processes
            # are then found, and removed, by their cgroup.
            f"--cgroup-parent=/{self.name}",
        ]

    def start(self, *, timeout: float = 60, command: Sequence[str] | None = None) -> float:
        """Start the engine and wait until it answers; return the seconds it took.

        Args:
            timeout: Seconds to wait for an answer.
            command: Another command line (the harness's own tests start one that never
                answers).

        Raises:
            ClusterError: the engine exited or did not answer in time (it is then stopped);
                the message ends with its log.
        """
        if self.running():
            raise ClusterError(f"the engine of {self.name} is already running")
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "daemon.json"
        if not config.exists():
            config.write_text(json.dumps({}))
        started = time.monotonic()
        with self.log_path.open("ab") as handle:
            self.process = subprocess.Popen(
                list(command or self.command()),
                stdout=handle,
                stderr=handle,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = started + timeout
        while not self.answers():
            if self.process.poll() is not None:
                raise ClusterError(
                    f"the engine of {self.name} exited with status {self.process.returncode} "
                    f"before answering on {self.host}; its log ends with:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ClusterError(
                    f"the engine of {self.name} did not answer on {self.host} within "
                    f"{timeout:.0f}s (stopped); its log ends with:\n{self.log_tail()}"
                )
            time.sleep(0.2)
        return time.monotonic() - started

    def answers(self) -> bool:
        """Whether the engine responds on its socket."""
        if not self.layout.socket(self.name).exists():
            return False
        try:
            result = self.docker.run(
                "version", "--format", "{{.Server.Version}}", check=False, timeout=10
            )
        except subprocess.TimeoutExpired:
            return False
        return result.returncode == 0

    def running(self) -> bool:
        """Whether the process this harness started is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 40) -> None:
        """Stop the engine (TERM, then KILL after ``timeout`` seconds) and wait for it.

        ``dockerd`` stops its containers first (each within its stop grace period), so a
        stopped engine leaves no task process behind.
        """
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("the engine of %s ignored TERM for %.0fs; killing it", self.name, timeout)
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, size: int = 2500) -> str:
        """The end of the engine's log."""
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return "(no log)"


# --- the traces of engines, found by path ---------------------------------------------------


def _processes_under(root: Path) -> list[int]:
    """Pids of processes whose command line names a path under ``root`` (engines, their
    containerd and shims): all started by this harness, since the path is its own."""
    needle = str(root).encode() + b"/"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def stop_processes(layout: Layout, timeout: float = 40) -> list[int]:
    """Stop every process of the layout's engines (TERM, then KILL); return the pids seen.

    Engines first (each stops its own containers), then whatever remains (a shim whose engine
    was killed).
    """
    pids = _processes_under(layout.state_dir)
    engines = [pid for pid in pids if _is_dockerd(pid)]
    for group in (engines, None):
        targets = _processes_under(layout.state_dir) if group is None else group
        for pid in targets:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(_alive(pid) for pid in targets) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in targets:
            _signal(pid, signal.SIGKILL)
    return pids


def _is_dockerd(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd"
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroups(layout: Layout) -> list[Path]:
    """The layout's nodes' cgroup directories, one per hierarchy (``/sys/fs/cgroup/*/rscl1``)."""
    found = []
    for hierarchy in sorted(CGROUP_ROOT.iterdir()) if CGROUP_ROOT.is_dir() else ():
        try:
            children = list(hierarchy.iterdir())
        except OSError:
            continue
        found += [c for c in children if c.is_dir() and layout.is_node_name(c.name)]
    return found


def _cgroup_pids(directory: Path) -> list[int]:
    pids = []
    for procs in directory.rglob("cgroup.procs"):
        try:
            pids += [int(line) for line in procs.read_text().split()]
        except (OSError, ValueError):
            continue
    return pids


def remove_cgroups(layout: Layout, timeout: float = 10) -> None:
    """Kill what still runs in the nodes' cgroups (a crashed run's tasks), then remove them."""
    directories = cgroups(layout)
    pids = sorted({pid for d in directories for pid in _cgroup_pids(d)})
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for directory in directories:
        for child in sorted(
            (p for p in directory.rglob("*") if p.is_dir()),
            key=lambda p: len(p.parts),
            reverse=True,
        ):
            _rmdir(child)
        _rmdir(directory)


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError as e:
        log.debug("cannot remove %s: %s", path, e.strerror)


def mount_points() -> list[str]:
    """Every mount point of this mount namespace (``/proc/self/mountinfo``: unlike
    ``os.path.ismount``, this also sees a directory bind-mounted onto itself)."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4].replace("\\040", " ") for line in lines]


def is_mount_point(path: Path) -> bool:
    """Whether ``path`` is a mount point."""
    return str(path) in mount_points()


def mounts_under(root: Path) -> list[str]:
    """Mount points under ``root`` (overlay layers, secrets' tmpfs, namespaces' nsfs...)."""
    prefix = str(root) + "/"
    return [point for point in mount_points() if point.startswith(prefix) or point == str(root)]


def unmount_under(root: Path) -> None:
    """Unmount everything under ``root``, deepest first (lazily when busy)."""
    for point in sorted(set(mounts_under(root)), key=lambda p: p.count("/"), reverse=True):
        result = subprocess.run(["umount", point], capture_output=True, check=False, timeout=30)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False, timeout=30)


def remove_files(layout: Layout) -> None:
    """Remove the layout's sockets, pid files and state directory."""
    for path in Path("/run").glob(f"{layout.prefix}*"):
        if path.suffix in (".sock", ".pid") and layout.is_node_name(path.stem):
            path.unlink(missing_ok=True)
    shutil.rmtree(layout.state_dir, ignore_errors=True)


def leftovers(layout: Layout) -> list[str]:
    """What of the layout's engines is still there, as readable descriptions."""
    found = [f"process {pid} ({_comm(pid)})" for pid in _processes_under(layout.state_dir)]
    found += [f"mount {point}" for point in mounts_under(layout.state_dir)]
    found += [f"cgroup {path}" for path in cgroups(layout)]
    found += [
        f"file {path}"
        for path in Path("/run").glob(f"{layout.prefix}*")
        if path.suffix in (".sock", ".pid") and layout.is_node_name(path.stem)
    ]
    if layout.state_dir.exists():
        found.append(f"directory {layout.state_dir}")
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "gone"
