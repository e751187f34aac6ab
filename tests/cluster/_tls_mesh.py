"""The TLS mesh on the cluster: certificates made at run time, the stack deployed from
``docker/tls-mesh/stack.yaml``, and what a user would look at in each replica.

The stack runs the secrets agent on every node and two replicas of the mesh app on the workers
(``rscl2``, ``rscl3``). The load driver is a task on the manager (``rscl1``) that mounts the
agent's volume there, so it presents the mesh's certificate too and follows its rotations the
way the replicas do (``load_driver.py`` with ``LOAD_TLS_DIR``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from .. import _pki
from ..e2e import _harness as e2e
from . import _images
from . import _scenario as sc
from ._cluster import Cluster, Task
from ._layout import ClusterError
from ._load import LoadDriver

STACK_FILE = e2e.DOCKER_DIR / "tls-mesh" / "stack.yaml"
#: The name every replica's certificate is for, and the one its peers verify.
SERVER_NAME = "mesh.internal"
PORT = 8443
#: Where the agent's volume is mounted in the app and in the load driver.
TLS_DIR = "/run/tls"
#: ``python3 -c CALL ADDRESS NAME PORT``, a certificate, its key and a CA bundle as JSON on
#: standard input: one ``GET /hello`` to a replica presenting that certificate; prints whether it
#: was answered with 200, or the error's type and OpenSSL's reason. The key stays in memory and
#: in a temporary directory removed at once (``load_cert_chain`` reads files only).
CALL = r"""
import json, os, socket, ssl, sys, tempfile
material = json.load(sys.stdin)
address, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
with tempfile.TemporaryDirectory() as directory:
    paths = {}
    for part in ("cert", "key", "ca"):
        paths[part] = os.path.join(directory, part)
        with open(os.open(paths[part], os.O_WRONLY | os.O_CREAT, 0o600), "w") as file:
            file.write(material[part])
    context = ssl.create_default_context(cafile=paths["ca"])
    context.load_cert_chain(paths["cert"], paths["key"])
try:
    with socket.create_connection((address, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=name) as sock:
            sock.sendall(b"GET /hello HTTP/1.0\r\nHost: " + name.encode() + b"\r\n\r\n")
            answer = sock.recv(64)
    print(json.dumps({"ok": answer.startswith(b"HTTP/1.0 200"), "error": None, "reason": None}))
except OSError as error:
    reason = getattr(error, "reason", None)
    print(json.dumps({"ok": False, "error": type(error).__name__, "reason": reason}))
"""
STATE = (
    "import urllib.request; "
    "print(urllib.request.urlopen('http://127.0.0.1:8080/state', timeout=5).read().decode())"
)


@dataclass(frozen=True)
class Leaf:
    """A certificate and its key as the Swarm secrets hold them (PEM), and its public facts."""

    cert_pem: bytes
    key_pem: bytes
    fingerprint: str  # SHA-256 of the DER certificate, as TLSMaterial writes it
    issuer: str

    @classmethod
    def issued_by(cls, ca: _pki.Issued) -> Leaf:
        """A fresh EC P-256 leaf for :data:`SERVER_NAME` that serves and presents
        (``serverAuth`` and ``clientAuth``), signed by ``ca``."""
        issued = _pki.make_leaf(
            ca,
            _pki.new_key("ec256"),
            names=(SERVER_NAME,),
            eku=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
            common_name=SERVER_NAME,
        )
        return cls(
            _pki.cert_pem(issued.cert),
            _pki.key_bytes(issued.key),
            fingerprint(issued.cert),
            issued.cert.issuer.rfc4514_string(),
        )


def fingerprint(cert: x509.Certificate) -> str:
    """A certificate's SHA-256 fingerprint as ``TLSMaterial.fingerprint_sha256`` writes it."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def new_ca(name: str) -> _pki.Issued:
    """A root CA with an EC P-256 key (made in the test, never written anywhere)."""
    return _pki.make_ca(_pki.new_key("ec256"), name)


@dataclass
class Mesh(sc.Deployment):
    """One deployment of ``docker/tls-mesh/stack.yaml`` and its secrets.

    Attributes:
        cluster: Where it runs.
        name: The stack's name (its services are ``NAME_secrets`` and ``NAME_app``).
        secrets: The Swarm secret of each logical name (``tls_crt``...): the versions' base.
    """

    NETWORK: ClassVar[str] = "mesh"
    VOLUMES: ClassVar[tuple[str, ...]] = ("tls",)

    @property
    def volume(self) -> str:
        """The agent's volume (one per node)."""
        return f"{self.name}_tls"

    def app_tasks(self, replicas: int = 2) -> list[Task]:
        """The app's running (healthy) tasks."""
        return self.cluster.wait_tasks(self.service("app"), replicas, timeout=120)

    def agent_tasks(self) -> list[Task]:
        """The agent's running tasks, one per node."""
        return self.cluster.wait_tasks(self.service("secrets"), len(self.cluster.engines))

    def state(self, task: Task) -> dict[str, Any]:
        """A replica's ``/state`` (certificates served and presented, the store's status,
        the calls it made and received), asked inside its task."""
        answer: dict[str, Any] = json.loads(self.cluster.exec(task, "python3", "-c", STATE))
        return answer

    def call_with(self, task: Task, address: str, leaf: Leaf, ca_pem: bytes) -> dict[str, Any]:
        """From inside ``task``, one call to the replica at ``address`` presenting ``leaf``
        (not the mesh's certificate) and trusting ``ca_pem``: ``ok``, or ``error`` and
        ``reason``."""
        material = {"cert": leaf.cert_pem.decode(), "key": leaf.key_pem.decode()}
        material["ca"] = ca_pem.decode()
        assert task.node is not None
        out = task.node.docker.out(
            "exec", "-i", task.container, "python3", "-c", CALL, address, SERVER_NAME, str(PORT),
            input=json.dumps(material).encode(), timeout=30,
        )  # fmt: skip
        answer: dict[str, Any] = json.loads(out)
        return answer

    def processes(self, task: Task) -> list[tuple[int, int, str]]:
        """The mesh app's processes in a task: (pid, start time, command line)."""
        return sc.processes(self.cluster, task, "mesh.py")

    def wait_states(
        self,
        tasks: list[Task],
        done: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = 60,
    ) -> dict[str, float]:
        """Poll every replica's state until ``done(state)`` holds for each; when each got
        there (``time.monotonic()``), by task id."""
        started = time.monotonic()
        reached: dict[str, float] = {}
        while True:
            for task in tasks:
                if task.id not in reached and done(self.state(task)):
                    reached[task.id] = time.monotonic()
            if len(reached) == len(tasks):
                return reached
            if time.monotonic() - started > timeout:
                late = [t.node_name for t in tasks if t.id not in reached]
                raise ClusterError(f"{what}: not reached after {timeout:.0f}s on {late}")
            time.sleep(0.2)

    def start_driver(self, node: str, threads: int = 4) -> LoadDriver:
        """The load driver on ``node`` (which runs an agent), sending ``POST /relay`` to the
        replicas over HTTPS with the certificate the agent delivers there."""
        return LoadDriver.start(
            self.cluster,
            node=node,
            network=self.network,
            target=self.service("app"),
            port=PORT,
            path="/relay",
            threads=threads,
            options=[
                "--mount", f"type=volume,source={self.volume},target={TLS_DIR},readonly",
                "--env", f"LOAD_TLS_DIR={TLS_DIR}",
                "--env", f"LOAD_TLS_NAME={SERVER_NAME}",
            ],
        )  # fmt: skip


def deploy(cluster: Cluster, leaf: Leaf, ca: _pki.Issued, name: str = "mesh") -> Mesh:
    """Load the image, make the three secrets, deploy the stack file as a user would
    (``docker stack deploy``)."""
    cluster.load_image(_images.TLS_MESH_IMAGE)
    values = {"tls_ca": _pki.cert_pem(ca.cert), "tls_crt": leaf.cert_pem, "tls_key": leaf.key_pem}
    made = {logical: cluster.secret(logical, value) for logical, value in values.items()}
    mesh = Mesh(cluster, f"{cluster.session}{name}", made)
    env = {
        "MESH_IMAGE": _images.TLS_MESH_IMAGE,
        "SECRET_TLS_CA": made["tls_ca"],
        "SECRET_TLS_CRT": made["tls_crt"],
        "SECRET_TLS_KEY": made["tls_key"],
    }
    mesh.deploy(STACK_FILE, env)
    return mesh
