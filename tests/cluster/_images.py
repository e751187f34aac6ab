"""Images for the cluster: built once on the host engine, saved, loaded into every node.

No node can pull (there is no registry, and the nodes have no route out), so each image is
built with ``docker/build-images.sh`` (and, on demand, ``docker/mariadb/``) on the host's
engine, written once with ``docker save`` into the cluster's state directory and loaded into
each node with ``docker load``. The host engine is the one that answers, else one the
single-node harness starts where that is invited (CI); a dockerd started here is stopped at the
end of the session. Builds hold the end-to-end suite's lock (``/tmp/runsecrets-e2e.lock``), so
runs from other worktrees do not retag the images halfway.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..e2e import _harness as e2e
from ._layout import ClusterError, log

E2E_LOCK = Path("/tmp/runsecrets-e2e.lock")
MARIADB_IMAGE = "runsecrets-mariadb:cluster"
MARIADB_DIR = e2e.DOCKER_DIR / "mariadb"
#: Seed 002's app: Flask, SQLAlchemy, PyMySQL, gunicorn, the example app, the secrets agent.
SEED002_IMAGE = "runsecrets-seed002:cluster"
SEED002_BUILD = e2e.DOCKER_DIR / "seed002" / "build.sh"
#: The TLS mesh: the mesh app (``docker/tls-mesh/mesh.py``) and the secrets agent.
TLS_MESH_IMAGE = "runsecrets-tls-mesh:cluster"
TLS_MESH_BUILD = e2e.DOCKER_DIR / "tls-mesh" / "build.sh"


@contextlib.contextmanager
def file_lock(path: Path, what: str, timeout: float) -> Iterator[float]:
    """Hold an exclusive ``flock`` on ``path`` (waiting at most ``timeout`` seconds); yield
    the seconds spent waiting for it.

    Raises:
        ClusterError: the lock was not free in time (someone else's run holds it).
    """
    if held_by_an_ancestor(path):
        # `flock /tmp/runsecrets-e2e.lock make test` holds it for this very run: waiting for
        # it would wait for ourselves until the timeout.
        log.info("%s is held by a process this run descends from: not waiting for it", path)
        yield 0.0
        return
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"{what}: {path} stayed locked for {timeout:.0f}s (another run holds "
                        "it); try again when it is done"
                    ) from None
                time.sleep(0.5)
        try:
            yield timeout - (deadline - time.monotonic())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def held_by_an_ancestor(path: Path) -> bool:
    """Whether a process this one descends from holds a ``flock`` on ``path`` (``/proc/locks``
    names the holder's pid and the file's device and inode)."""
    try:
        info = path.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return False
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    holders = set()
    for line in table.splitlines():
        fields = line.split()
        if "->" not in fields and len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
            holders.add(fields[4])
    pid = os.getppid()
    while pid > 1:
        if str(pid) in holders:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


class HostImages:
    """The host engine and the archives of the images built on it.

    Attributes:
        directory: Where the archives are written (inside the cluster's state directory).
    """

    def __init__(self, directory: Path, lock_timeout: float = 900) -> None:
        self.directory = directory
        self.lock_timeout = lock_timeout
        self._engine: e2e.Engine | None = None
        self.archives: dict[str, Path] = {}
        self.seconds: dict[str, float] = {}
        # An archive of the app image made by an outer session (the harness's own nested
        # sessions), loaded instead of building again; not this session's to remove.
        prebuilt = os.environ.get("RUNSECRETS_CLUSTER_APP_ARCHIVE")
        self._borrowed = {e2e.APP_IMAGE: Path(prebuilt)} if prebuilt else {}
        self.archives.update(self._borrowed)

    @property
    def docker(self) -> e2e.Docker:
        """The host engine's docker wrapper (found or started on first use)."""
        if self._engine is None:
            try:
                self._engine = e2e.start_engine()
            except e2e.EngineUnavailable as e:
                raise ClusterError(f"no host engine to build the images on: {e}") from e
        return self._engine.docker

    def app(self) -> Path:
        """The app image (``docker/build-images.sh``), saved; built once per session."""
        if e2e.APP_IMAGE not in self.archives:
            with self._build_lock() as waited:
                self.seconds["wait for the image lock"] = waited
                started = time.monotonic()
                e2e.build_images(self.docker)
                self.seconds["build app"] = time.monotonic() - started
                self._save(e2e.APP_IMAGE)
        return self.archives[e2e.APP_IMAGE]

    def mariadb(self) -> Path:
        """The MariaDB image (``docker/mariadb/``, Debian's ``mariadb-server``), saved.

        apt needs the Debian mirror, so this build (alone) has the host's network; its apt
        layer depends on the base image only and comes from the build cache after the first
        time.
        """
        if MARIADB_IMAGE not in self.archives:
            self.app()
            with self._build_lock():
                started = time.monotonic()
                self._build_mariadb()
                self.seconds["build mariadb"] = time.monotonic() - started
                self._save(MARIADB_IMAGE)
        return self.archives[MARIADB_IMAGE]

    def seed002(self) -> Path:
        """Seed 002's app image (``docker/seed002/build.sh``, offline), saved."""
        return self._built_by(SEED002_BUILD, SEED002_IMAGE, "build seed002")

    def tls_mesh(self) -> Path:
        """The TLS mesh's image (``docker/tls-mesh/build.sh``, offline), saved."""
        return self._built_by(TLS_MESH_BUILD, TLS_MESH_IMAGE, "build tls-mesh")

    def _built_by(self, script: Path, image: str, what: str) -> Path:
        """An image a ``docker/*/build.sh`` script builds on top of the app image, saved."""
        if image not in self.archives:
            self.app()
            with self._build_lock():
                started = time.monotonic()
                env = {
                    **os.environ,
                    "DOCKER": self.docker.cli,
                    "APP_IMAGE": e2e.APP_IMAGE,
                    "RUNSECRETS_BASE_IMAGE": e2e.BASE_IMAGE,
                }
                result = subprocess.run(
                    [str(script), image], capture_output=True, env=env, timeout=900, check=False
                )
                if result.returncode != 0:
                    tail = result.stderr.decode(errors="replace")[-3000:]
                    raise ClusterError(f"{script} failed:\n{tail}")
                self.seconds[what] = time.monotonic() - started
                self._save(image)
        return self.archives[image]

    def archive(self, image: str) -> Path:
        """The saved archive of ``image`` (built first if need be): the app image unless it is
        the MariaDB, the seed 002 or the TLS mesh's image."""
        builders = {
            MARIADB_IMAGE: self.mariadb,
            SEED002_IMAGE: self.seed002,
            TLS_MESH_IMAGE: self.tls_mesh,
        }
        return builders.get(image, self.app)()

    def _build_lock(self) -> contextlib.AbstractContextManager[float]:
        return file_lock(E2E_LOCK, "building images on the host engine", self.lock_timeout)

    def _build_mariadb(self) -> None:
        docker = self.docker
        previous = docker.out("image", "inspect", "--format", "{{.Id}}", MARIADB_IMAGE, check=False)
        docker.run(
            "build",
            "--quiet",
            "--network",
            "host",
            "--build-arg",
            f"BASE_IMAGE={e2e.BASE_IMAGE}",
            "--build-arg",
            f"APP_IMAGE={e2e.APP_IMAGE}",
            "--label",
            "org.runsecrets.image=mariadb",
            "-t",
            MARIADB_IMAGE,
            str(MARIADB_DIR),
            env={"DOCKER_BUILDKIT": "1"},
            timeout=900,
        )
        current = docker.out("image", "inspect", "--format", "{{.Id}}", MARIADB_IMAGE)
        if previous.startswith("sha256:") and previous != current:
            docker.run("image", "rm", previous, check=False)  # the old build, now untagged

    def _save(self, image: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        archive = self.directory / f"{image.replace(':', '_').replace('/', '_')}.tar"
        started = time.monotonic()
        self.docker.run("save", "--output", str(archive), image, timeout=300)
        self.seconds[f"save {image}"] = time.monotonic() - started
        self.archives[image] = archive

    def close(self) -> None:
        """Stop the host dockerd if this session started it; remove the archives."""
        if self._engine is not None and self._engine.dockerd is not None:
            e2e.stop_engine(self._engine)
            if self._engine.dockerd_log is not None:
                self._engine.dockerd_log.unlink(missing_ok=True)
        for image, archive in self.archives.items():
            if image not in self._borrowed:
                archive.unlink(missing_ok=True)
        self.archives.clear()


def load(archive: Path, engines: Sequence[e2e.Docker], timeout: float = 300) -> float:
    """``docker load`` one archive into every engine at once; return the seconds.

    Raises:
        ClusterError: a load failed or did not finish in time, naming the engine.
    """
    started = time.monotonic()
    loads = []
    for docker in engines:
        command = [docker.cli, "-H", str(docker.host), "load", "--quiet", "--input", str(archive)]
        loads.append(
            (docker, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        )
    failures = []
    for docker, process in loads:
        try:
            _, stderr = process.communicate(timeout=max(1.0, started + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            failures.append(f"{docker.host}: did not finish within {timeout:.0f}s")
            continue
        if process.returncode != 0:
            failures.append(f"{docker.host}: {stderr.decode(errors='replace').strip()}")
    if failures:
        raise ClusterError(f"loading {archive.name} failed on: {'; '.join(failures)}")
    seconds = time.monotonic() - started
    log.info("loaded %s into %d engines in %.1fs", archive.name, len(engines), seconds)
    return seconds


def missing_on(image: str, engines: Sequence[tuple[str, e2e.Docker]]) -> list[str]:
    """Names of the engines that do not have ``image``."""
    return [
        name
        for name, docker in engines
        if docker.run("image", "inspect", "--format", "{{.Id}}", image, check=False).returncode
    ]


def default_lock_timeout() -> float:
    """Seconds to wait for the image-build lock (``RUNSECRETS_CLUSTER_LOCK_TIMEOUT``)."""
    return float(os.environ.get("RUNSECRETS_CLUSTER_LOCK_TIMEOUT", "900"))
