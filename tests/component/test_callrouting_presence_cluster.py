"""The cluster-wide presence bus (callrouting.presence_cluster) against a real PostgreSQL:
claims in the tables, changes by LISTEN/NOTIFY between two (or three) buses on one database,
as two nodes would run them. Propagation time is measured and printed (decision 0010)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from callrouting.model import Presence
from callrouting.presence_cluster import ClusterPresence, PgPresenceBus, asyncpg_dsn
from hotline.cluster.postgres import LOCATION_SCHEMA, location_sql
from tests.support.databases import DbBackend
from tests.support.postgres import PostgresServer

HEARTBEAT, TTL = 0.2, 0.8  # short, so that lapses are quick to see


class Local:
    """A node's own presence, as its tracker would give it."""

    def __init__(self, **states: Presence) -> None:
        self.states = {"1001": Presence.AVAILABLE, "1002": Presence.AVAILABLE, **states}
        self.stale = False

    def snapshot(self) -> dict[str, Presence]:
        return dict(self.states)


@pytest.fixture
async def url(pg_server: PostgresServer, tmp_path: Path) -> AsyncIterator[str]:
    async with DbBackend("postgresql", pg_server).migrated(tmp_path, "presence") as u:
        yield u


@asynccontextmanager
async def bus(url: str, node: str, local: Local) -> AsyncIterator[PgPresenceBus]:
    b = PgPresenceBus(url, node, local.snapshot, lambda: local.stale,
                      heartbeat=HEARTBEAT, ttl=TTL)
    await b.start()
    try:
        await b.wait_connected(10)
        yield b
    finally:
        await b.stop()


async def until(cond, timeout: float = 5.0) -> float:  # noqa: ASYNC109
    """Seconds until `cond()` holds (TimeoutError otherwise), polled every ms."""
    start = time.monotonic()
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.001)
    return time.monotonic() - start


async def test_a_call_on_one_node_is_busy_on_the_other_and_ends_there_too(url: str) -> None:
    l1, l2 = Local(), Local()
    async with bus(url, "n1", l1) as b1, bus(url, "n2", l2) as b2:
        view2 = ClusterPresence(lambda: l2, b2)
        assert view2.snapshot() == {"1001": Presence.AVAILABLE, "1002": Presence.AVAILABLE}
        l1.states["1001"] = Presence.RINGING
        b1.local_changed()
        await until(lambda: view2.get("1001") is Presence.RINGING)
        l1.states["1001"] = Presence.IN_USE
        b1.local_changed()
        await until(lambda: view2.get("1001") is Presence.IN_USE)
        assert view2.get("1002") is Presence.AVAILABLE
        # the claim is a row: what a node starting now reads
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await conn.fetch("SELECT node, extension, state FROM presence_claims")
        finally:
            await conn.close()
        assert [tuple(r) for r in rows] == [("n1", "1001", "in_use")]
        l1.states["1001"] = Presence.AVAILABLE
        b1.local_changed()
        await until(lambda: view2.get("1001") is Presence.AVAILABLE)
        # node 2's own call is node 2's business: it does not read its own claims back
        l2.states["1002"] = Presence.IN_USE
        b2.local_changed()
        await until(lambda: b1.remote() == {"1002": Presence.IN_USE})
        assert b2.remote() == {}


async def test_a_node_starting_late_reads_the_claims_already_made(url: str) -> None:
    l1 = Local(**{"1001": Presence.IN_USE})
    async with bus(url, "n1", l1) as b1:
        await until(lambda: b1.published_at is not None)
        async with bus(url, "n2", Local()) as b2:
            assert b2.remote() == {"1001": Presence.IN_USE}  # loaded on connect, no message needed


async def test_a_node_that_dies_leaves_nobody_busy_after_its_lease(url: str) -> None:
    l1 = Local(**{"1001": Presence.IN_USE})
    b1 = PgPresenceBus(url, "n1", l1.snapshot, lambda: l1.stale, heartbeat=HEARTBEAT, ttl=TTL)
    await b1.start()
    try:
        async with bus(url, "n2", Local()) as b2:
            await until(lambda: b2.remote() == {"1001": Presence.IN_USE})
            # n1 dies: no goodbye, no more renewals (its task and connection just stop)
            assert b1._task is not None
            b1._task.cancel()
            await asyncio.gather(b1._task, return_exceptions=True)
            b1._task = None
            died = time.monotonic()
            await until(lambda: b2.remote() == {}, timeout=TTL * 3)
            lapsed = time.monotonic() - died
            assert lapsed <= TTL + 0.3, lapsed
            print(f"a dead node's claims lapsed after {lapsed:.2f} s (ttl {TTL} s)")
            # and a node starting now ignores the rows it left
            async with bus(url, "n3", Local()) as b3:
                assert b3.remote() == {}
    finally:
        await b1.stop()  # nothing left to stop: its task is gone


async def test_stale_local_presence_stops_the_lease_and_a_clean_stop_drops_at_once(url: str) -> None:
    l1 = Local(**{"1001": Presence.IN_USE})
    async with bus(url, "n2", Local()) as b2:
        async with bus(url, "n1", l1) as b1:
            await until(lambda: b2.remote() == {"1001": Presence.IN_USE})
            l1.stale = True  # n1's AMI is away: what its Asterisk does is unknown
            b1.local_changed()
            await until(lambda: b2.remote() == {}, timeout=TTL * 3)
            l1.stale = False  # back (resynced): its claims count again, at once
            b1.local_changed()
            await until(lambda: b2.remote() == {"1001": Presence.IN_USE})
        # n1 stopped cleanly: its claims went with it, no lease wait
        assert await until(lambda: b2.remote() == {}, timeout=TTL / 2) < TTL / 2


async def test_a_node_restarting_replaces_what_it_claimed_before(url: str) -> None:
    l1 = Local(**{"1001": Presence.IN_USE})
    async with bus(url, "n2", Local()) as b2:
        async with bus(url, "n1", l1):
            await until(lambda: b2.remote() == {"1001": Presence.IN_USE})
        l1.states = {"1001": Presence.AVAILABLE, "1002": Presence.RINGING}
        async with bus(url, "n1", l1):
            await until(lambda: b2.remote() == {"1002": Presence.RINGING})


async def test_propagation_time_between_two_nodes(url: str) -> None:
    """Operator answers on n1 -> n2's view says in use: p50/p95 over 40 changes."""
    l1, l2 = Local(), Local()
    async with bus(url, "n1", l1) as b1, bus(url, "n2", l2) as b2:
        view2 = ClusterPresence(lambda: l2, b2)
        times = []
        for i in range(40):
            want = Presence.IN_USE if i % 2 == 0 else Presence.AVAILABLE
            l1.states["1001"] = want
            b1.local_changed()
            times.append(await until(lambda want=want: view2.get("1001") is want))
        times.sort()
        p50, p95 = statistics.median(times), times[int(0.95 * (len(times) - 1))]
        print(f"presence propagation n1 -> n2 (PostgreSQL NOTIFY): p50 {p50 * 1000:.1f} ms, "
              f"p95 {p95 * 1000:.1f} ms over {len(times)} changes")
        assert p95 <= 0.2, times


@pytest.mark.skipif(not LOCATION_SCHEMA.exists(), reason="kamailio-postgres-modules not installed")
async def test_registrations_at_the_proxy_reach_every_node(url: str) -> None:
    """Kamailio's usrloc (db_mode 1) writes `location`; the trigger `hotline cluster up`
    puts on it NOTIFYs each change: an operator not registered is unavailable on every
    node, registered is available, gone is unavailable again (and busy beats it all)."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(location_sql(owner="hotline", writer=None))
        l1, l2 = Local(), Local()
        async with bus(url, "n1", l1) as b1, bus(url, "n2", l2) as b2:
            view = ClusterPresence(lambda: l2, b2)
            assert b2.registered == set()
            assert view.snapshot() == {"1001": Presence.UNAVAILABLE, "1002": Presence.UNAVAILABLE}
            start = time.monotonic()
            await conn.execute("INSERT INTO location (ruid, username, contact, expires) VALUES "
                               "('r1', '1001', 'sip:1001@10.0.0.5:5070', now() + interval '1 hour')")
            await until(lambda: view.get("1001") is Presence.AVAILABLE)
            print(f"a registration reached the node's view after "
                  f"{(time.monotonic() - start) * 1000:.1f} ms")
            assert view.get("1002") is Presence.UNAVAILABLE
            await conn.execute("UPDATE location SET cseq = cseq + 1 WHERE ruid = 'r1'")  # re-REGISTER
            l1.states["1002"] = Presence.IN_USE  # 1002 on a call of n1 (its phone is known there)
            b1.local_changed()
            await until(lambda: view.get("1002") is Presence.IN_USE)
            assert view.get("1001") is Presence.AVAILABLE
            await conn.execute("DELETE FROM location WHERE username = '1001'")  # expired or left
            await until(lambda: view.get("1001") is Presence.UNAVAILABLE)
            async with bus(url, "n3", Local()) as b3:  # a node starting reads who is registered
                assert b3.registered == set()
    finally:
        await conn.close()
