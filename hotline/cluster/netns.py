"""The cluster's network: a bridge on the host and one network namespace per node, joined to
it by a veth pair, with addresses from one private subnet. Made and removed with iproute2 by
`hotline cluster up|down`; both are idempotent (what exists is kept, what is missing made)."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from dataclasses import dataclass

PREFIX = r"^[a-z][a-z0-9]{0,5}$"  # interface names are at most 15 characters


class NetnsError(Exception):
    """An `ip` command failed; the message gives the command and its error."""


@dataclass(frozen=True)
class Topology:
    """Names and addresses: the bridge holds the subnet's first address (PostgreSQL and
    Kamailio listen there), node i (1-based) has address .10+i in namespace `<prefix>-n<i>`."""

    prefix: str = "hl"
    subnet: str = "10.213.0.0/24"
    nodes: int = 3

    def __post_init__(self) -> None:
        if not re.fullmatch(PREFIX, self.prefix):
            raise ValueError(f"cluster prefix {self.prefix!r}: 1-6 of a-z0-9, starting with a letter")
        net = ipaddress.IPv4Network(self.subnet)
        if not net.is_private or net.prefixlen > 26:
            raise ValueError(f"cluster subnet {self.subnet}: a private IPv4 network of /26 or wider")
        if not 1 <= self.nodes <= 9:
            raise ValueError("a cluster on one machine has 1 to 9 nodes")

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @property
    def bridge(self) -> str:
        return f"{self.prefix}-br"

    @property
    def host_address(self) -> str:
        return str(self.network[1])

    def node_names(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)]

    def netns(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    def node_address(self, node: str) -> str:
        return str(self.network[10 + int(node.removeprefix("n"))])

    def veth(self, node: str) -> tuple[str, str]:
        """(host end on the bridge, end inside the namespace)."""
        return f"{self.prefix}-{node}h", f"{self.prefix}-{node}c"


def _ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=20)
    if check and res.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)}: {res.stderr.strip()}")
    return res


def _has_link(name: str, netns: str | None = None) -> bool:
    return _ip("link", "show", "dev", name, netns=netns, check=False).returncode == 0


def _addresses(name: str, netns: str | None = None) -> set[str]:
    res = _ip("-j", "addr", "show", "dev", name, netns=netns, check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return set()
    return {a["local"] for link in json.loads(res.stdout) for a in link.get("addr_info", [])
            if a.get("family") == "inet"}


def namespaces() -> set[str]:
    res = _ip("-j", "netns", "list", check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return set()
    return {n["name"] for n in json.loads(res.stdout)}


def up(t: Topology) -> None:
    """Make what is missing of the bridge, the namespaces, the veth pairs and the addresses."""
    plen = t.network.prefixlen
    if not _has_link(t.bridge):
        _ip("link", "add", t.bridge, "type", "bridge")
    if t.host_address not in _addresses(t.bridge):
        _ip("addr", "add", f"{t.host_address}/{plen}", "dev", t.bridge)
    _ip("link", "set", t.bridge, "up")
    have = namespaces()
    for node in t.node_names():
        ns = t.netns(node)
        outer, inner = t.veth(node)
        if ns not in have:
            _ip("netns", "add", ns)
        if not _has_link(inner, ns):
            if _has_link(outer):  # half a pair left from an interrupted run
                _ip("link", "del", outer)
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", ns)
        _ip("link", "set", outer, "master", t.bridge)
        _ip("link", "set", outer, "up")
        address = t.node_address(node)
        if address not in _addresses(inner, ns):
            _ip("addr", "add", f"{address}/{plen}", "dev", inner, netns=ns)
        _ip("link", "set", inner, "up", netns=ns)
        _ip("link", "set", "lo", "up", netns=ns)  # the node's AMI, FastAGI and AudioSocket


def down(t: Topology) -> None:
    """Remove the namespaces (their veth ends go with them) and the bridge; what is already
    gone is skipped."""
    have = namespaces()
    for node in t.node_names():
        ns = t.netns(node)
        if ns in have:
            _ip("netns", "del", ns)
        outer, _ = t.veth(node)
        if _has_link(outer):  # goes with its namespace's end, maybe while we look
            _ip("link", "del", outer, check=False)
            if _has_link(outer):
                raise NetnsError(f"cannot remove {outer}")
    if _has_link(t.bridge):
        _ip("link", "del", t.bridge)


def present(t: Topology) -> dict[str, bool]:
    """What of the network exists: the bridge and each node's namespace."""
    have = namespaces()
    out = {t.bridge: _has_link(t.bridge)}
    out.update({t.netns(n): t.netns(n) in have for n in t.node_names()})
    return out
