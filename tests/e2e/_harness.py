"""The end-to-end harness: find or start a Docker engine, build the images, clean up.

Everything the suite creates carries the label ``org.runsecrets.e2e=<session id>`` and a name
starting with the session id, so the final clean-up removes exactly what this run made (and a
crashed run's leftovers can be found by label). The Swarm and the ``docker_gwbridge`` network are
removed only when this run created them; a ``dockerd`` is stopped only when this run started it.

Installing packages and starting ``dockerd`` happen only where that is invited: ``CI`` set or
``RUNSECRETS_E2E_INSTALL=1``, and running as root. Elsewhere a missing engine skips the suite,
unless ``RUNSECRETS_E2E_REQUIRED=1`` (CI) turns that into a failure.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets as _random
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger("runsecrets.e2e")

ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = ROOT / "docker"
LABEL = "org.runsecrets.e2e"
APP_IMAGE = "runsecrets-app:e2e"
BASE_IMAGE = os.environ.get("RUNSECRETS_BASE_IMAGE", "runsecrets-base:bookworm")
SWARM_INIT = ("--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")


class EngineUnavailable(Exception):
    """No Docker engine answers and none could (or may) be started."""


def required() -> bool:
    """Whether a missing engine is a failure rather than a skip (CI sets this)."""
    return os.environ.get("RUNSECRETS_E2E_REQUIRED") == "1"


def install_allowed() -> bool:
    """Whether the harness may install packages and start daemons on this machine."""
    invited = bool(os.environ.get("CI")) or os.environ.get("RUNSECRETS_E2E_INSTALL") == "1"
    return invited and os.geteuid() == 0


def docker_cli() -> str | None:
    """The docker client to use.

    Debian's ``/usr/bin/docker`` (20.10) comes first: it runs BuildKit build secrets without a
    ``# syntax=`` line, while a newer client elsewhere on ``PATH`` may want buildx.
    """
    chosen = os.environ.get("RUNSECRETS_DOCKER")
    if chosen:
        return chosen
    if os.access("/usr/bin/docker", os.X_OK):
        return "/usr/bin/docker"
    return shutil.which("docker")


class CommandError(AssertionError):
    """A docker command failed; the message holds its arguments and standard error only."""


@dataclass
class Docker:
    """A thin wrapper around the docker command line for one test session.

    Attributes:
        cli: Path of the docker client.
        session: The session id: a prefix for names and the value of the session label.
        host: The engine's address (``-H``), when not the client's default (the cluster
            suite's engines each have their own socket).
    """

    cli: str
    session: str = field(default_factory=lambda: f"rse2e{_random.token_hex(3)}")
    host: str | None = None
    _count: Iterator[int] = field(default_factory=itertools.count, repr=False)

    @property
    def label(self) -> str:
        """``key=value`` of the session label."""
        return f"{LABEL}={self.session}"

    def name(self, base: str) -> str:
        """A resource name unique to this session (and to this call): ``<session>-<n>-<base>``."""
        return f"{self.session}-{next(self._count)}-{base}"

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        check: bool = True,
        timeout: float = 180,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``docker ARGS``; raise :class:`CommandError` on failure when ``check``.

        Secret values are passed on standard input, never as arguments, so the logged command
        and any error text are safe to show.
        """
        command = [self.cli, *(("-H", self.host) if self.host else ()), *args]
        log.debug("$ %s", " ".join(arg if len(arg) < 80 else "<script>" for arg in command))
        merged = {**os.environ, **(env or {})}
        result = subprocess.run(
            command, input=input, capture_output=True, timeout=timeout, env=merged, check=False
        )
        if check and result.returncode != 0:
            stderr = result.stderr.decode(errors="replace").strip()
            raise CommandError(f"docker {' '.join(args)} exited {result.returncode}: {stderr}")
        return result

    def out(self, *args: str, **kwargs: object) -> str:
        """Run a docker command and return its standard output as stripped text."""
        return self.run(*args, **kwargs).stdout.decode().strip()  # type: ignore[arg-type]

    def probe(self, container: str, *args: str) -> dict[str, str | None]:
        """Run :data:`PROBE` in a running container and return its digests."""
        parsed: dict[str, str | None] = json.loads(
            self.out("exec", container, "python3", "-c", PROBE, *args)
        )
        return parsed

    def answers(self) -> bool:
        """Whether the engine responds."""
        try:
            return (
                self.run(
                    "info", "--format", "{{.ServerVersion}}", check=False, timeout=20
                ).returncode
                == 0
            )
        except (OSError, subprocess.TimeoutExpired):
            return False

    def inspect(self, *args: str) -> list[dict[str, object]]:
        """``docker [KIND] inspect`` as parsed JSON."""
        parsed: list[dict[str, object]] = json.loads(self.out(*args))
        return parsed

    def swarm_state(self) -> str:
        """``active``, ``inactive``, ...: this node's Swarm state."""
        return self.out("info", "--format", "{{.Swarm.LocalNodeState}}")

    def wait_for(self, what: str, predicate: object, timeout: float = 90) -> None:
        """Poll ``predicate()`` until it is true, or fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():  # type: ignore[operator]
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.25)


@dataclass
class Engine:
    """A usable engine, and what this session changed that it must undo."""

    docker: Docker
    dockerd: subprocess.Popen[bytes] | None = None
    dockerd_log: Path | None = None
    created_swarm: bool = False
    had_gwbridge: bool = True


def _apt_install(packages: Sequence[str]) -> None:
    """Install Debian packages (only called when installing is allowed)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log.info("installing %s", " ".join(packages))
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        env=env,
        capture_output=True,
    )


def _missing_tools() -> list[str]:
    """Debian packages that would provide the missing tools."""
    missing = []
    if not (shutil.which("dockerd") and os.access("/usr/bin/docker", os.X_OK)):
        missing.append("docker.io")
    if not shutil.which("debootstrap") and not Path("/usr/sbin/debootstrap").exists():
        missing.append("debootstrap")
    return missing


def _start_dockerd() -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``dockerd`` in the background, logging to a temporary file."""
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    handle, name = tempfile.mkstemp(prefix="runsecrets-dockerd-", suffix=".log")
    log.info("starting %s (log: %s)", dockerd, name)
    extra = shlex.split(os.environ.get("RUNSECRETS_DOCKERD_ARGS", ""))
    process = subprocess.Popen(
        [dockerd, *extra],
        stdout=handle,
        stderr=handle,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(handle)
    return process, Path(name)


def start_engine() -> Engine:
    """An engine that answers: the running one, else (where allowed) one installed and started.

    Raises:
        EngineUnavailable: when none answers and none may or could be started.
    """
    cli = docker_cli()
    if cli is not None:
        docker = Docker(cli)
        if docker.answers():
            return Engine(docker)
    if not install_allowed():
        raise EngineUnavailable(
            "no Docker engine answers; set RUNSECRETS_E2E_INSTALL=1 (as root) to let the harness "
            "install docker.io and start dockerd"
        )
    missing = _missing_tools()
    if missing:
        _apt_install(missing)
    docker = Docker(docker_cli() or "/usr/bin/docker")
    if docker.answers():
        return Engine(docker)
    process, log_path = _start_dockerd()
    engine = Engine(docker, dockerd=process, dockerd_log=log_path)
    deadline = time.monotonic() + 60
    while not docker.answers():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_engine(engine)
            tail = log_path.read_text(errors="replace")[-2000:]
            raise EngineUnavailable(f"dockerd did not start; its log ends with:\n{tail}")
        time.sleep(0.5)
    return engine


def ensure_debootstrap() -> None:
    """Make debootstrap available when the base image must be built (install where allowed)."""
    if os.geteuid() != 0:
        raise EngineUnavailable(
            f"the base image {BASE_IMAGE} is missing and building it (debootstrap) needs root; "
            "run docker/build-base-image.sh as root once"
        )
    if shutil.which("debootstrap") or Path("/usr/sbin/debootstrap").exists():
        return
    if not install_allowed():
        raise EngineUnavailable(
            "debootstrap is needed to build the base image; install it, or set "
            "RUNSECRETS_E2E_INSTALL=1 (as root)"
        )
    _apt_install(["debootstrap"])


def base_image_current(docker: Docker) -> bool:
    """Whether the base image exists (build-base-image.sh then checks its recipe in ms)."""
    return docker.run("image", "inspect", BASE_IMAGE, check=False).returncode == 0


def build_images(docker: Docker) -> float:
    """Build the base image (cached), the wheelhouse and the app image; return the seconds."""
    started = time.monotonic()
    if not base_image_current(docker):
        ensure_debootstrap()
    env = {**os.environ, "DOCKER": docker.cli, "RUNSECRETS_BASE_IMAGE": BASE_IMAGE}
    script = DOCKER_DIR / "build-images.sh"
    result = subprocess.run(
        [str(script), APP_IMAGE], capture_output=True, env=env, timeout=900, check=False
    )
    if result.returncode != 0:
        raise CommandError(f"{script} failed:\n{result.stderr.decode(errors='replace')[-3000:]}")
    return time.monotonic() - started


def init_swarm(engine: Engine) -> None:
    """Make this node a single-node Swarm manager unless it already is one."""
    docker = engine.docker
    state = docker.swarm_state()
    if state == "active":
        # Services of the suite use local images only: on a multi-node Swarm (someone's real
        # cluster) tasks would land on other nodes. Never run there.
        nodes = docker.out("info", "--format", "{{.Swarm.Nodes}} {{.Swarm.ControlAvailable}}")
        count, manager = nodes.split()
        if count != "1" or manager != "true":
            raise EngineUnavailable(
                f"this engine is part of a Swarm with {count} nodes (manager: {manager}); the "
                "suite only runs on a single-node Swarm it may use"
            )
        return
    networks = docker.out("network", "ls", "--format", "{{.Name}}").split()
    engine.had_gwbridge = "docker_gwbridge" in networks
    docker.run("swarm", "init", *SWARM_INIT)
    engine.created_swarm = True


def _ids(docker: Docker, *args: str) -> list[str]:
    return docker.out(*args, check=False).split()


def cleanup(engine: Engine) -> list[str]:
    """Remove everything this session made, then undo the session's engine changes.

    Objects are found by the session label and by the session's name prefix (a stack deployed
    from a file labels its objects with the stack's name only).

    Returns:
        Descriptions of what could not be removed (empty when all went).
    """
    docker = engine.docker
    problems: list[str] = []
    swarm = docker.swarm_state() == "active"
    if swarm:
        services = _session_ids(docker, "service")
        if services:
            docker.run("service", "rm", *services, check=False)
    _remove_containers(docker)
    kinds = ["secret", "network", "volume"] if swarm else ["network", "volume"]
    for kind in kinds:
        _retry(
            problems,
            kind,
            lambda kind=kind: _session_ids(docker, kind),  # type: ignore[misc]
            lambda ids, kind=kind: docker.run(kind, "rm", *ids, check=False),  # type: ignore[misc]
        )
    images = _session_ids(docker, "image")
    if images:
        docker.run("image", "rm", "-f", *images, check=False)
    if engine.created_swarm:
        docker.run("swarm", "leave", "--force", check=False)
        if not engine.had_gwbridge:
            docker.run("network", "rm", "docker_gwbridge", check=False)
    if engine.dockerd is not None:
        stop_engine(engine)
        if engine.dockerd_log is not None:
            engine.dockerd_log.unlink(missing_ok=True)
    return problems


def _session_ids(docker: Docker, kind: str) -> list[str]:
    """Ids of the session's objects of one kind, by label and (except images) by name."""
    listing = [kind, "ls", "-q"]
    ids = dict.fromkeys(
        docker.out(*listing, "--filter", f"label={docker.label}", check=False).split()
    )
    if kind != "image":
        ids.update(
            dict.fromkeys(
                docker.out(*listing, "--filter", f"name={docker.session}-", check=False).split()
            )
        )
    return list(ids)


def _remove_containers(docker: Docker) -> None:
    # A stack's task containers carry no session label: they are found by the name prefix.
    ids = set(_ids(docker, "ps", "-aq", "--filter", f"label={docker.label}"))
    ids.update(_ids(docker, "ps", "-aq", "--filter", f"name={docker.session}-"))
    if ids:
        docker.run("rm", "-f", "-v", *ids, check=False)


def _retry(problems: list[str], what: str, list_ids: object, remove: object) -> None:
    """Removal retried for a while: a secret or network stays in use until tasks are gone."""
    deadline = time.monotonic() + 30
    while True:
        ids = list_ids()  # type: ignore[operator]
        if not ids:
            return
        remove(ids)  # type: ignore[operator]
        if time.monotonic() > deadline:
            problems.append(f"{what}: {' '.join(list_ids())}")  # type: ignore[operator]
            return
        time.sleep(0.5)


def stop_engine(engine: Engine) -> None:
    """Stop the ``dockerd`` this session started (by its own process id)."""
    process = engine.dockerd
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def stream_contains(stream: IO[bytes], needle: bytes, chunk: int = 1 << 20) -> bool:
    """Whether ``needle`` occurs in ``stream``, read in chunks that overlap by its length."""
    tail = b""
    while True:
        block = stream.read(chunk)
        if not block:
            return False
        window = tail + block
        if needle in window:
            return True
        tail = window[-(len(needle) - 1) :] if len(needle) > 1 else b""


def saved_image_contains(docker: Docker, image: str, needle: bytes, workdir: Path) -> bool:
    """Whether ``needle`` occurs anywhere in ``docker save IMAGE``: configs, manifests, layers.

    The engine writes layers as plain tars inside the saved tar, where each file's bytes are
    contiguous: one streaming scan of the whole output sees every file of every layer. A layer
    that is compressed is decompressed and scanned too.
    """
    import gzip
    import tarfile

    archive = workdir / "saved.tar"
    docker.run("save", "--output", str(archive), image, timeout=300)
    try:
        with archive.open("rb") as raw:
            if stream_contains(raw, needle):
                return True
        with tarfile.open(archive) as outer:
            for member in outer.getmembers():
                extracted = outer.extractfile(member) if member.isfile() else None
                if extracted is None or extracted.read(2) != b"\x1f\x8b":
                    continue
                extracted.seek(0)
                with gzip.open(extracted) as layer:
                    if stream_contains(layer, needle):
                        return True
        return False
    finally:
        archive.unlink(missing_ok=True)


#: Run inside a container as ``python3 -c PROBE ARG...``: prints a JSON object mapping each
#: ARG (a file path, or ``env:NAME`` for PID 1's environment) to the SHA-256 of its bytes, or to
#: the error's name. Tests compare digests of their random sentinels, so no value is printed.
PROBE = r"""
import hashlib, json, sys
raw = open("/proc/1/environ", "rb").read().split(b"\0")
env = dict(item.split(b"=", 1) for item in raw if b"=" in item)
out = {}
for arg in sys.argv[1:]:
    if arg.startswith("env:"):
        value = env.get(arg[4:].encode())
    else:
        try:
            value = open(arg, "rb").read()
        except OSError as error:
            out[arg] = type(error).__name__
            continue
    out[arg] = None if value is None else hashlib.sha256(value).hexdigest()
print(json.dumps(out))
"""


def digest(value: str | bytes) -> str:
    """The SHA-256 hex digest the probe reports for ``value``."""
    import hashlib

    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


@dataclass
class Swarm:
    """Helpers for Swarm objects made by one session.

    Attributes:
        docker: The session's docker wrapper.
        network: An internal overlay network: the Swarm stand-in for ``--network none`` (the
            engine refuses ``none`` for services; an internal network has no route out).
    """

    docker: Docker
    network: str

    def secret(self, base: str, value: bytes, *labels: str) -> str:
        """Create a Swarm secret from ``value`` (given on stdin); return its full name."""
        name = self.docker.name(base)
        self.named_secret(name, value, *labels)
        return name

    def named_secret(self, name: str, value: bytes, *labels: str) -> str:
        """Create a secret called exactly ``name`` (it must start with the session id, for the
        clean-up); ``labels`` are ``key=value``. Returns its id."""
        assert name.startswith(self.docker.session), name
        extra = [arg for label in labels for arg in ("--label", label)]
        return self.docker.out(
            "secret", "create", "--label", self.docker.label, *extra, name, "-", input=value
        )

    def references(self, service: str) -> dict[str, tuple[str, str, str, int]]:
        """The service's secret references: target -> (secret name, uid, gid, integer mode)."""
        (spec,) = self.docker.inspect("service", "inspect", service)
        refs = spec["Spec"]["TaskTemplate"]["ContainerSpec"].get("Secrets") or []  # type: ignore[index]
        return {
            r["File"]["Name"]: (
                r["SecretName"],
                r["File"]["UID"],
                r["File"]["GID"],
                r["File"]["Mode"],
            )
            for r in refs
        }

    def secret_names(self, prefix: str) -> list[str]:
        """The sorted names of the secrets whose names start with ``prefix``."""
        names = self.docker.out(
            "secret", "ls", "--format", "{{.Name}}", "--filter", f"name={prefix}"
        )
        return sorted(name for name in names.split() if name.startswith(prefix))

    def service(
        self,
        base: str,
        *args: str,
        image: str = APP_IMAGE,
        command: Sequence[str] = (),
        update_monitor: str | None = "1s",
    ) -> str:
        """Create a one-replica service on the internal network; return its name (not waited).

        ``update_monitor=None`` leaves out the update settings (the engine refuses them for
        jobs, ``--mode replicated-job``)."""
        name = self.docker.name(base)
        monitor = ("--update-monitor", update_monitor) if update_monitor else ()
        self.docker.run(
            "service",
            "create",
            "--detach",
            "--quiet",
            "--name",
            name,
            "--label",
            self.docker.label,
            "--container-label",
            self.docker.label,
            "--network",
            self.network,
            "--stop-grace-period",
            "2s",
            # Swarm watches a new task for 5s by default before calling an update done; 1s
            # keeps the suite fast (a test that needs longer passes its own value after this).
            *monitor,
            *args,
            image,
            *command,
        )
        return name

    def running_tasks(self, service: str) -> list[dict[str, object]]:
        """The service's tasks that should be running, as ``docker inspect`` JSON."""
        ids = self.docker.out(
            "service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", service
        ).split()
        return self.docker.inspect("inspect", *ids) if ids else []

    def wait_containers(
        self, service: str, *, replicas: int = 1, secret: str | None = None, timeout: float = 90
    ) -> list[str]:
        """Wait until ``replicas`` tasks run (each referencing ``secret`` when given).

        Returns:
            The running tasks' container ids.
        """
        found: list[str] = []

        def ready() -> bool:
            tasks = self.running_tasks(service)
            found.clear()
            for task in tasks:
                status = task["Status"]
                assert isinstance(status, dict)
                if status.get("State") == "failed":
                    raise AssertionError(f"a task of {service} failed: {status.get('Err')}")
                if status.get("State") != "running":
                    return False
                if secret is not None and secret not in task_secret_names(task):
                    return False
                found.append(status["ContainerStatus"]["ContainerID"])
            return len(found) == replicas

        self.docker.wait_for(f"{replicas} running task(s) of {service}", ready, timeout)
        return list(found)

    def exec_probe(self, container: str, *args: str) -> dict[str, str | None]:
        """Run :data:`PROBE` in ``container`` and return its digests."""
        return self.docker.probe(container, *args)


def task_secret_names(task: dict[str, object]) -> list[str]:
    """The secret names a task (or a service spec's task template) references."""
    spec = task["Spec"]
    assert isinstance(spec, dict)
    template = spec.get("TaskTemplate", spec)
    secrets = template.get("ContainerSpec", {}).get("Secrets") or []
    return [ref["SecretName"] for ref in secrets]


def leaked_any(value: str, *texts: str | bytes) -> bool:
    """Whether ``value`` appears in any of ``texts``."""
    raw = value.encode()
    return any(raw in t if isinstance(t, bytes) else value in t for t in texts)
