"""The host side of the cluster's network: a bridge, one namespace per node, the FORWARD rule.

Each node is a network namespace (``ip netns add rscl1``) joined to the bridge ``rsclbr0`` in
the root namespace by a veth pair: ``rscl1-h`` on the bridge, ``rscl1-n`` inside with the node's
address. Nothing is routed out of the subnet: the engines talk to each other (Swarm's 2377,
7946 and VXLAN's 4789) and to nothing else.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from ._layout import ClusterError, Layout, host_run, log

NETNS_DIR = Path("/run/netns")


def netns_path(name: str) -> Path:
    """The namespace's file, which ``nsenter --net=`` takes."""
    return NETNS_DIR / name


def check_subnet_free(layout: Layout) -> None:
    """Refuse a subnet that an address or route of the root namespace already uses.

    Raises:
        ClusterError: naming the interface or route that overlaps.
    """
    routes = json.loads(host_run("ip", "-j", "-4", "route", "show", "table", "all").stdout)
    for route in routes:
        destination = route.get("dst", "")
        if destination in ("", "default") or route.get("dev") == layout.bridge:
            continue
        try:
            network = ipaddress.IPv4Network(destination, strict=False)
        except ValueError:
            continue
        if network.prefixlen > 0 and network.overlaps(layout.subnet):
            raise ClusterError(
                f"the cluster subnet {layout.subnet} overlaps {destination} on "
                f"{route.get('dev', '?')}; set RUNSECRETS_CLUSTER_SUBNET to a free /24"
            )


def create_bridge(layout: Layout) -> None:
    """The bridge with its address, up, and the FORWARD rule that lets frames cross it."""
    bridge = layout.bridge
    host_run("ip", "link", "add", bridge, "type", "bridge")
    host_run("ip", "addr", "add", f"{layout.bridge_address}/24", "dev", bridge)
    host_run("ip", "link", "set", bridge, "up")
    host_run("iptables", "-w", "10", "-I", *layout.forward_rule)


def create_namespace(layout: Layout, name: str, address: ipaddress.IPv4Address) -> None:
    """A node's namespace, its veth pair into the bridge, its address, and loopback up."""
    outside, inside = f"{name}-h", f"{name}-n"
    host_run("ip", "netns", "add", name)
    host_run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
    host_run("ip", "link", "set", outside, "master", layout.bridge, "up")
    host_run("ip", "link", "set", inside, "netns", name)
    host_run("ip", "-n", name, "addr", "add", f"{address}/24", "dev", inside)
    host_run("ip", "-n", name, "link", "set", inside, "up")
    host_run("ip", "-n", name, "link", "set", "lo", "up")


def set_connected(name: str, connected: bool) -> None:
    """Cut a node off the bridge (its veth down) or connect it again: a network partition."""
    host_run("ip", "link", "set", f"{name}-h", "up" if connected else "down")


def ports_in_use(name: str, ports: tuple[int, ...]) -> list[str]:
    """Lines of ``ss`` for sockets bound to any of ``ports`` inside the node's namespace."""
    out = host_run(
        "nsenter", f"--net={netns_path(name)}", "ss", "-Htulnp", timeout=15
    ).stdout.splitlines()
    taken = []
    for line in out:
        fields = line.split()
        local = fields[4] if len(fields) > 4 else ""
        port = local.rpartition(":")[2]
        if port.isdigit() and int(port) in ports:
            taken.append(" ".join(fields))
    return taken


def namespaces(layout: Layout) -> list[str]:
    """This layout's namespaces that exist now."""
    out = host_run("ip", "netns", "list", check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [name for name in names if layout.is_node_name(name)]


def links(layout: Layout) -> list[str]:
    """This layout's links in the root namespace: the bridge and the nodes' outer veths."""
    out = json.loads(host_run("ip", "-j", "link", "show").stdout or "[]")
    found = []
    for link in out:
        name = link.get("ifname", "")
        if name == layout.bridge or (
            name.endswith("-h") and layout.is_node_name(name.removesuffix("-h"))
        ):
            found.append(name)
    return found


def forward_rules(layout: Layout) -> int:
    """How many copies of the layout's FORWARD rule are installed."""
    out = host_run("iptables", "-w", "10", "-S", "FORWARD", check=False).stdout
    wanted = f"-A FORWARD -i {layout.bridge} -o {layout.bridge} -j ACCEPT"
    return sum(1 for line in out.splitlines() if line.strip() == wanted)


def remove(layout: Layout) -> None:
    """Remove the layout's namespaces, links and FORWARD rules (whatever of them exists)."""
    for name in namespaces(layout):
        host_run("ip", "netns", "delete", name, check=False)
    for name in links(layout):
        host_run("ip", "link", "delete", name, check=False)
    for _ in range(forward_rules(layout)):
        host_run("iptables", "-w", "10", "-D", *layout.forward_rule, check=False)
    log.debug("network of %s removed", layout.prefix)


def leftovers(layout: Layout) -> list[str]:
    """What of the layout's network is still there, as readable descriptions."""
    found = [f"network namespace {name}" for name in namespaces(layout)]
    found += [f"link {name}" for name in links(layout)]
    if forward_rules(layout):
        found.append(f"iptables rule {' '.join(layout.forward_rule)}")
    return found
