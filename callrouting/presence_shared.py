"""Cluster-wide presence, the pure part: what the other nodes claim about operators' phones.

Each node sees only its own Asterisk (`callrouting.presence`): an operator talking on a call
that node 1 carries is busy on node 1 and looks idle on node 2. So every node publishes its
*claims* (the operators its Asterisk has ringing or in a call) under a *lease* (renewed every
heartbeat, valid for `ttl` seconds), and every node merges the other nodes' live claims into
what its router sees. A node that dies stops renewing: its claims lapse after `ttl` by
themselves, with no one having to notice the death. docs/decisions/0010.

`ClaimsBook` keeps the other nodes' claims and leases (times are the reader's own monotonic
clock: a lease carries "valid for N s", never a wall-clock time, so node clocks may differ).
`desired_claims` and `claim_diff` tell a node what to publish; `merge` combines local and
remote presence. The transport (PostgreSQL LISTEN/NOTIFY) is `callrouting.presence_cluster`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field

from callrouting.model import Presence

CLAIMED = frozenset({Presence.IN_USE, Presence.RINGING})  # what a node publishes
_RANK = {Presence.IN_USE: 2, Presence.RINGING: 1}


def desired_claims(local: Mapping[str, Presence]) -> dict[str, Presence]:
    """The claims a node should have published, from its own Asterisk's presence."""
    return {ext: p for ext, p in local.items() if p in CLAIMED}


def claim_diff(published: Mapping[str, Presence],
               desired: Mapping[str, Presence]) -> dict[str, Presence | None]:
    """What to send so that `published` becomes `desired`: {ext: new state, or None = dropped}."""
    diff: dict[str, Presence | None] = {e: p for e, p in desired.items() if published.get(e) != p}
    diff.update({e: None for e in published if e not in desired})
    return diff


def stronger(a: Presence, b: Presence | None) -> Presence:
    """In a call beats ringing beats whatever the local Asterisk says."""
    if b is None or _RANK.get(b, 0) <= _RANK.get(a, 0):
        return a
    return b


def merge(local: Mapping[str, Presence], remote: Mapping[str, Presence],
          registered: Set[str] | None = None) -> dict[str, Presence]:
    """Local presence with the other nodes' claims on top: busy anywhere is busy here.

    `registered`: the extensions registered at the cluster's proxy, if known; an operator
    who is not is unavailable (a node's Asterisk reaches every operator through the proxy,
    so it sees them all as reachable), unless a call says otherwise."""
    out = {}
    for ext, p in local.items():
        if registered is not None and ext not in registered and p is Presence.AVAILABLE:
            p = Presence.UNAVAILABLE
        out[ext] = stronger(p, remote.get(ext))
    return out


@dataclass
class _NodeClaims:
    deadline: float  # the lease runs out (reader's monotonic clock)
    claims: dict[str, Presence] = field(default_factory=dict)


class ClaimsBook:
    """The other nodes' live claims. `now` is the reader's monotonic time, passed in."""

    def __init__(self, node: str) -> None:
        self.node = node  # our own node: its messages are ignored (we know better)
        self._nodes: dict[str, _NodeClaims] = {}

    def update(self, node: str, changes: Mapping[str, Presence | None], ttl: float, now: float,
               *, full: bool = False) -> bool:
        """A node's message: its claim changes (or all of them, `full`) and a lease of `ttl` s.

        Returns False when the changes cannot be applied because what they change is not known
        here (the node was unknown or its lease had run out, and this is not a full set): the
        caller then reloads that node's claims from the store.
        """
        if node == self.node:
            return True
        entry = self._nodes.get(node)
        known = entry is not None and entry.deadline > now
        if full or entry is None or not known:
            if not full and not known:
                self._nodes.pop(node, None)
                return False
            entry = self._nodes[node] = _NodeClaims(now + ttl)
        entry.deadline = now + ttl
        for ext, state in changes.items():
            if state is None:
                entry.claims.pop(ext, None)
            else:
                entry.claims[ext] = state
        return True

    def load(self, rows: Iterable[tuple[str, str, Presence, float]], now: float,
             *, nodes: Iterable[str] | None = None) -> None:
        """Replace what is known (of `nodes`, or of all) by rows (node, ext, state, seconds left)."""
        rows = list(rows)
        if nodes is None:
            self._nodes.clear()
        else:
            for n in nodes:
                self._nodes.pop(n, None)
        for node, ext, state, left in rows:
            if node == self.node or left <= 0:
                continue
            entry = self._nodes.setdefault(node, _NodeClaims(now + left))
            entry.deadline = min(entry.deadline, now + left)
            entry.claims[ext] = state

    def drop(self, node: str) -> None:
        self._nodes.pop(node, None)

    def live_nodes(self, now: float) -> list[str]:
        return sorted(n for n, e in self._nodes.items() if e.deadline > now)

    def remote(self, now: float) -> dict[str, Presence]:
        """{extension: the strongest live claim of any other node}; lapsed leases count not."""
        out: dict[str, Presence] = {}
        for entry in self._nodes.values():
            if entry.deadline <= now:
                continue
            for ext, state in entry.claims.items():
                out[ext] = stronger(out.get(ext, state), state)
        return out

    def prune(self, now: float) -> list[str]:
        """Forget nodes whose lease ran out; returns them."""
        gone = [n for n, e in self._nodes.items() if e.deadline <= now]
        for n in gone:
            del self._nodes[n]
        return gone
