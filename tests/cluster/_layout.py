"""Names, addresses and paths of one cluster on this machine, and the host command runner.

Everything the cluster harness makes on the host is named from a :class:`Layout`: network
namespaces ``rscl1``..., their veth pairs ``rscl1-h``/``rscl1-n``, the bridge ``rsclbr0``, the
engines' sockets ``/run/rscl1.sock`` and pid files ``/run/rscl1.pid``, and one state directory
(data roots, exec roots, logs, image archives). The prefix is unique to this project, so the
clean-up of a crashed run can find its leftovers by name and nothing else on the host matches.

The default subnet, 198.18.73.0/24, is in the range reserved for benchmarking networks
(RFC 2544): Docker's default address pools (172.17.0.0/16 and up, 192.168.0.0/16, the Swarm's
10.0.0.0/8) never hand it out, so it cannot clash with the host engine's networks.
``RUNSECRETS_CLUSTER_SUBNET`` picks another one.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("runsecrets.cluster")

STATE_ROOT = Path("/var/lib/runsecrets-cluster")
DEFAULT_SUBNET = "198.18.73.0/24"


class ClusterError(AssertionError):
    """The harness could not build, use or remove the cluster; the message says what and why."""


@dataclass(frozen=True)
class Layout:
    """Where one cluster lives: its name prefix, subnet and state directory.

    Attributes:
        prefix: Start of every name (namespaces, links, sockets); letters only.
        subnet: A private /24 for the bridge (``.1``) and the nodes (``.11``, ``.12``...).
    """

    prefix: str
    subnet: ipaddress.IPv4Network

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z]{2,8}", self.prefix):
            raise ValueError(f"a layout prefix is 2 to 8 lower-case letters, not {self.prefix!r}")
        if self.subnet.prefixlen != 24:
            raise ValueError(f"the cluster subnet must be a /24, not {self.subnet}")

    @property
    def bridge(self) -> str:
        """The bridge in the root namespace that every node's veth joins."""
        return f"{self.prefix}br0"

    @property
    def bridge_address(self) -> ipaddress.IPv4Address:
        """The bridge's own address (``.1``)."""
        return self.subnet.network_address + 1

    @property
    def state_dir(self) -> Path:
        """Data roots, exec roots, logs and image archives of this layout."""
        return STATE_ROOT / self.prefix

    @property
    def forward_rule(self) -> tuple[str, ...]:
        """The iptables FORWARD rule that lets frames cross the bridge (the host's dockerd
        sets the FORWARD policy to DROP, and bridged frames pass through iptables)."""
        return ("FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT")

    def node_name(self, index: int) -> str:
        """``rscl1``, ``rscl2``...: a node's namespace, hostname and socket name."""
        return f"{self.prefix}{index}"

    def address(self, index: int) -> ipaddress.IPv4Address:
        """A node's address on the bridge (``.11``, ``.12``...)."""
        return self.subnet.network_address + 10 + index

    def is_node_name(self, name: str) -> bool:
        """Whether ``name`` is one of this layout's node names (``rscl`` + digits, exactly)."""
        return re.fullmatch(rf"{self.prefix}[0-9]+", name) is not None

    def socket(self, name: str) -> Path:
        """The engine's API socket."""
        return Path(f"/run/{name}.sock")

    def pidfile(self, name: str) -> Path:
        """The engine's pid file."""
        return Path(f"/run/{name}.pid")


#: The layouts this project's harness ever makes: the suite's, and the one its self-test
#: crashes on purpose. The clean-up of leftovers goes through all of them.
MAIN = Layout(
    "rscl", ipaddress.IPv4Network(os.environ.get("RUNSECRETS_CLUSTER_SUBNET", DEFAULT_SUBNET))
)
SELFTEST = Layout(
    "rsclx",
    ipaddress.IPv4Network(os.environ.get("RUNSECRETS_CLUSTER_SELFTEST_SUBNET", "198.18.74.0/24")),
)
LAYOUTS = (MAIN, SELFTEST)


def host_run(
    *command: str,
    timeout: float = 30,
    check: bool = True,
    input: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a host command (ip, iptables, nsenter...) with a timeout.

    Raises:
        ClusterError: it failed (with ``check``) or did not finish in ``timeout`` seconds.
    """
    log.debug("# %s", " ".join(command))
    try:
        result = subprocess.run(
            command,
            input=input.decode() if input is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise ClusterError(f"{' '.join(command)} did not finish within {timeout:.0f}s") from e
    except FileNotFoundError as e:
        raise ClusterError(f"{command[0]} is not installed (needed by the cluster suite)") from e
    if check and result.returncode != 0:
        raise ClusterError(
            f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}"
        )
    return result
