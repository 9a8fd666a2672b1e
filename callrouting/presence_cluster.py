"""Cluster-wide presence over PostgreSQL: claims in a table, changes by LISTEN/NOTIFY.

`PgPresenceBus` runs on every node of a cluster (`cluster.enabled` with a PostgreSQL
database). Over one asyncpg connection of its own it

- publishes this node's claims (operators its Asterisk has ringing or in use,
  `presence_shared.desired_claims`) into `presence_claims`, renews the node's lease in
  `presence_leases` every `heartbeat` s, and sends each change with `pg_notify` in the same
  transaction (so a reader never gets a message about a row not yet committed);
- listens on the channel and feeds the other nodes' messages into a `ClaimsBook`;
- (re)loads every live claim from the tables when it (re)connects, and one node's claims when
  a message from a node it had no live lease of arrives.

While this node's AMI is stale (its presence is unknown) it neither publishes nor renews: its
old claims lapse after `ttl` s on the other nodes, like those of a node that died.
`ClusterPresence` is what routing and the wallboard read: local presence merged with the
other nodes' live claims. docs/decisions/0010.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
import structlog
from sqlalchemy.engine import make_url

from callrouting.model import Presence
from callrouting.presence_shared import ClaimsBook, claim_diff, desired_claims, merge

log = structlog.get_logger("callrouting.presence_cluster")

CHANNEL = "hotline_presence"
# Kamailio's registrations (usrloc db_mode 1, table `location`, made by `hotline cluster up`
# with a trigger that NOTIFYs the extension of every row changed: hotline.cluster.postgres)
REGISTRATIONS_CHANNEL = "hotline_registrations"
MAX_PAYLOAD = 7000  # pg_notify takes < 8000 bytes: a bigger full set says "reload" instead

LocalPresence = Callable[[], Mapping[str, Presence]]
Stale = Callable[[], bool]


def asyncpg_dsn(url: str) -> str:
    """`postgresql+asyncpg://u:p@h:5432/db?host=/sock` -> the same for asyncpg itself."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


_LOAD = """
SELECT c.node, c.extension, c.state, extract(epoch FROM l.expires_at - now())::float8
FROM presence_claims c JOIN presence_leases l ON l.node = c.node
WHERE l.expires_at > now() AND c.node <> $1
"""
_LOAD_NODE = _LOAD + " AND c.node = $2"


class PgPresenceBus:
    def __init__(self, url: str, node: str, local: LocalPresence, stale: Stale, *,
                 heartbeat: float = 1.0, ttl: float = 4.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.dsn = asyncpg_dsn(url)
        self.node = node
        self.local, self.stale = local, stale
        self.heartbeat, self.ttl = heartbeat, ttl
        self.clock = clock
        self.book = ClaimsBook(node)
        self._published: dict[str, Presence] | None = None  # None: publish the full set next
        self._dirty = asyncio.Event()
        self._reload: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = False
        self._up = asyncio.Event()  # set while connected
        self.registered: set[str] | None = None  # None: not known (no `location` table)
        self._reg_reload: set[str] = set()
        self.published_at: float | None = None  # the last commit (for tests and the bench)
        self.received: int = 0

    # ---- inputs

    def local_changed(self, *_args: Any) -> None:
        """Something changed in this node's presence (a tracker subscriber: quick, sync)."""
        self._dirty.set()

    def remote(self) -> dict[str, Presence]:
        return self.book.remote(self.clock())

    # ---- lifecycle

    async def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="presence-bus")

    async def stop(self) -> None:
        """A clean stop: our claims go at once (a goodbye with a lease of 0), not after `ttl`."""
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            self._dirty.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), 3)
            except Exception:  # no goodbye in time (database away): the lease runs out instead
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.connected = False

    async def wait_connected(self, timeout: float = 10) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            await self._up.wait()

    # ---- the loop

    async def _run(self) -> None:
        backoff = 0.5
        while not self._closing:
            try:
                conn = await asyncpg.connect(self.dsn, timeout=10)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("presence_bus.connect_failed", error=str(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            try:
                await conn.add_listener(CHANNEL, self._on_notify)
                rows = await conn.fetch(_LOAD, self.node)
                self.book.load(self._rows(rows), self.clock())
                if await conn.fetchval("SELECT to_regclass('location') IS NOT NULL"):
                    await conn.add_listener(REGISTRATIONS_CHANNEL, self._on_registration)
                    self.registered = {r[0] for r in await conn.fetch(
                        "SELECT DISTINCT username FROM location")}
                self._published = None  # replace whatever a previous run of ours left
                self.connected = True
                self._up.set()
                backoff = 0.5
                log.info("presence_bus.connected", node=self.node, claims_loaded=len(rows))
                await self._serve(conn)
                return  # stopped
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("presence_bus.lost", error=str(exc),
                            hint="other nodes' claims lapse by their leases; reconnecting")
            except Exception:  # a bug must not end cluster presence for good
                log.exception("presence_bus.failed", hint="reconnecting")
            finally:
                self.connected = False
                self.registered = None  # unknown until reconnected: the local view decides
                self._up.clear()
                with contextlib.suppress(Exception):
                    conn.terminate()
            if not self._closing:
                await asyncio.sleep(backoff)

    async def _serve(self, conn: Any) -> None:
        next_beat = 0.0
        while True:
            if conn.is_closed():
                raise asyncpg.InterfaceError("connection closed")
            now = self.clock()
            timeout = max(0.0, next_beat - now)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._dirty.wait()
            self._dirty.clear()
            if self._closing:
                await self._send(conn, {}, full=True, lease=0.0)
                return
            for ext in sorted(self._reg_reload):
                self._reg_reload.discard(ext)
                there = await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM location WHERE username = $1)", ext)
                if self.registered is not None:
                    (self.registered.add if there else self.registered.discard)(ext)
            for node in sorted(self._reload):
                self._reload.discard(node)
                rows = await conn.fetch(_LOAD_NODE, self.node, node)
                self.book.load(self._rows(rows), self.clock(), nodes=[node])
            self.book.prune(self.clock())
            if self.stale():  # our presence is unknown: no claims, no lease (they lapse)
                self._published = None  # back: the full set, not a diff on what lapsed
                next_beat = self.clock() + self.heartbeat
                continue
            desired = desired_claims(self.local())
            if self._published is None:
                await self._send(conn, desired, full=True)
            elif diff := claim_diff(self._published, desired):
                await self._send(conn, diff)
            elif self.clock() >= next_beat:
                await self._send(conn, {})  # the heartbeat: the lease only
            else:
                continue
            self._published = desired
            next_beat = self.clock() + self.heartbeat  # every message renews the lease

    async def _send(self, conn: Any, changes: Mapping[str, Presence | None], *, full: bool = False,
                    lease: float | None = None) -> None:
        ttl = self.ttl if lease is None else lease
        msg: dict[str, Any] = {"n": self.node, "ttl": ttl,
                               "c": {e: (str(p) if p is not None else None) for e, p in changes.items()}}
        if full:
            msg["full"] = True
        payload = json.dumps(msg, separators=(",", ":"))
        if len(payload) > MAX_PAYLOAD:
            payload = json.dumps({"n": self.node, "ttl": ttl, "reload": True})
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO presence_leases (node, expires_at) VALUES ($1, now() + make_interval(secs => $2)) "
                "ON CONFLICT (node) DO UPDATE SET expires_at = excluded.expires_at", self.node, ttl)
            if full:
                await conn.execute("DELETE FROM presence_claims WHERE node = $1", self.node)
            sets = [(self.node, e, str(p)) for e, p in changes.items() if p is not None]
            drops = [e for e, p in changes.items() if p is None]
            if sets:
                await conn.executemany(
                    "INSERT INTO presence_claims (node, extension, state, updated_at) "
                    "VALUES ($1, $2, $3, now()) ON CONFLICT (node, extension) "
                    "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at", sets)
            if drops and not full:
                await conn.execute("DELETE FROM presence_claims WHERE node = $1 "
                                   "AND extension = ANY($2::text[])", self.node, drops)
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
        self.published_at = self.clock()

    # ---- the listener (called by asyncpg in the loop)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            msg = json.loads(payload)
            node, ttl = str(msg["n"]), float(msg["ttl"])
            changes = {str(e): (Presence(s) if s is not None else None)
                       for e, s in dict(msg.get("c") or {}).items()}
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("presence_bus.bad_message", error=str(exc), payload=payload[:200])
            return
        if node == self.node:
            return
        self.received += 1
        now = self.clock()
        if ttl <= 0:
            self.book.drop(node)
            return
        if msg.get("reload") or not self.book.update(node, changes, ttl, now,
                                                      full=bool(msg.get("full"))):
            self._reload.add(node)
            self._dirty.set()

    def _on_registration(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._reg_reload.add(payload)
        self._dirty.set()

    @staticmethod
    def _rows(rows: Any) -> list[tuple[str, str, Presence, float]]:
        out = []
        for r in rows:
            with contextlib.suppress(ValueError):
                out.append((r[0], r[1], Presence(r[2]), float(r[3])))
        return out


class ClusterPresence:
    """What routing reads on a cluster node: this node's presence tracker (taken through
    `local`: the service swaps trackers when the directory changes) with the other nodes'
    live claims on top."""

    def __init__(self, local: Callable[[], Any], bus: PgPresenceBus) -> None:
        self._local, self.bus = local, bus

    @property
    def stale(self) -> bool:
        return bool(self._local().stale)

    def snapshot(self) -> dict[str, Presence]:
        return merge(self._local().snapshot(), self.bus.remote(), self.bus.registered)

    def get(self, extension: str) -> Presence:
        return self.snapshot().get(extension, Presence.UNAVAILABLE)
