"""Issue 10 on the real Asterisk: the database (PostgreSQL) down for at least 10 s during calls.

The session's PostgreSQL is stopped (fast shutdown: every session cut, new connections
refused) before Maria Ivanova (VIP, personal manager 1001) dials in, and three unknown callers
dial in while it is down. The caller lookup answers from memory (directory.lookup), routing
from the directory it read last (callrouting.store), so Maria is greeted by name and routed to
her manager, whose baresip phone answers; nothing of any call can be written meanwhile. Then
the server comes back: every call has its row, outcome and path, her answered attempt is
stored, and the write queue lost nothing (its writes were retried across the outage).
tests/e2e/test_db_locked.py is the same with SQLite's write lock held.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from callrouting.tables import CallAttemptRow
from directory.tables import OperatorRow
from hotline.app.service import Service
from hotline.pbx.sipp import HangUp, Pause, place_call, sipp_available
from tests.e2e.peers import Baresip
from tests.e2e.test_db_locked import MANAGER, MARIA, event_kinds, manager, rows, until_transfer
from tests.support.postgres import PostgresServer
from tests.support.stored import ended_call

pytestmark = [
    pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed"),
    pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True, scope="module"),
]

UNKNOWN = [f"+7916555100{i}" for i in range(3)]
DOWN_S = 10.0  # at least this long
__all__ = ["manager"]  # the fixture, shared with test_db_locked


@pytest.fixture
async def outage(pg_server: PostgresServer) -> AsyncIterator[PostgresServer]:
    try:
        yield pg_server
    finally:
        await asyncio.to_thread(pg_server.up)  # whatever happened: the next tests have it


async def test_calls_are_routed_while_the_database_is_down_and_every_row_arrives(
        service: Service, manager: Baresip, outage: PostgresServer) -> None:
    assert service.settings.database_url.startswith("postgresql")
    target = f"127.0.0.1:{service.settings.asterisk.sip_port}"
    before = {c: len(await rows(service, c)) for c in [MARIA, *UNKNOWN]}
    async with service.sessionmaker() as s:
        op_id = await s.scalar(select(OperatorRow.id).where(OperatorRow.extension == MANAGER))
    # with the database away her last language cannot be read: she may be asked it again,
    # with its retries (up to ~30 s more than the menus' own prompts and timeouts)
    transfer_at = await until_transfer(service) + 30.0
    writes = service.store.writes
    writes.stats.reset()

    await asyncio.to_thread(outage.down)
    down_at = time.monotonic()
    talk_s = 4.0
    maria = asyncio.create_task(place_call(
        target=target, caller_id=MARIA, timeout=transfer_at + 60, wait_for_bye_ms=5000,
        steps=[Pause(int((transfer_at + talk_s + 4.0) * 1000)), HangUp()]))
    unknown = [asyncio.create_task(place_call(
        target=target, caller_id=c, timeout=60, wait_for_bye_ms=5000,
        steps=[Pause(6000), HangUp()])) for c in UNKNOWN]
    await manager.wait_for_line(r"(?i)call established", timeout=transfer_at + 30)  # routed
    results = await asyncio.gather(*unknown)
    assert all(r.ok for r in results), [r.stderr[-500:] for r in results if not r.ok]
    assert writes.stats.committed == 0 and writes.depth > 0  # nothing could be written
    await asyncio.sleep(max(0.0, DOWN_S - (time.monotonic() - down_at)))
    down_s = time.monotonic() - down_at
    await asyncio.to_thread(outage.up)
    result = await maria
    assert result.ok, result.stderr[-2000:] + result.messages[-3000:]
    async with asyncio.timeout(60):  # the queue's retry delay grows to 2 s: a few seconds more
        for c in (MARIA, *UNKNOWN):  # the call's end is written behind the caller's hang-up
            await ended_call(service.sessionmaker, c, timeout=60)
        await writes.flush()

    print(f"database down {down_s:.1f} s; writes committed {writes.stats.committed}, "
          f"retried {writes.stats.retries} times, lost {writes.stats.lost}")
    assert writes.stats.lost == 0 and writes.stats.retries > 0

    (call,) = (await rows(service, MARIA))[before[MARIA]:]
    assert call.caller_ref_id is not None and call.caller_name == "Maria Ivanova"  # from memory
    assert call.outcome == "transferred" and call.ended_at is not None
    assert call.answered_by_id == op_id and call.answered_at is not None
    kinds = await event_kinds(service, call.id)
    assert kinds[:2] == ["call_started", "ivr.answered"] and kinds[-1] == "call_ended"
    async with service.sessionmaker() as s:
        attempts = (await s.scalars(select(CallAttemptRow).where(
            CallAttemptRow.call_id == call.id))).all()
    assert [(a.reason, a.outcome, a.answered_by_id) for a in attempts][-1] == (
        "personal_manager", "answered", op_id)

    for c in UNKNOWN:
        (row,) = (await rows(service, c))[before[c]:]
        assert row.outcome == "caller_hung_up" and row.ended_at is not None
        assert row.path and row.path[0]["node"] != "(service error)"  # the IVR served them
        assert await event_kinds(service, row.id) == ["call_started", "ivr.answered", "call_ended"]
