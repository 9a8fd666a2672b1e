"""Issue 10 on the real Asterisk: the database locked by another process during calls.

A child process holds SQLite's write lock (`BEGIN EXCLUSIVE` on the service's database file,
`tests.support.dblock`) for at least 10 s, while:
- Maria Ivanova (VIP, personal manager 1001) is in the IVR's last menus and is routed to her
  manager, whose baresip phone answers; she talks, then hangs up;
- three unknown callers dial in after the lock is taken (so even their call rows can only be
  queued), listen to the IVR and hang up.
The lock is released only once Maria is talking to 1001 and the three have hung up. Then
every call has its row, outcome, path and events, the attempt and who answered are stored,
and the write queue lost nothing. The recording could not get its row stored before
MixMonitor, so the call was not recorded and its row says why.
"""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from callrouting.model import Presence
from callrouting.tables import CallAttemptRow
from directory.tables import OperatorRow
from hotline.app.service import Service
from hotline.db.calls import CallEventRow, CallRow
from hotline.pbx.sipp import HangUp, Pause, place_call, sipp_available
from ivr.session import CachedPrompts
from recordings.models import RecordingRow
from tests.e2e.peers import Baresip
from tests.support.dblock import locked_database
from tests.support.stored import ended_call

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")

MARIA = "+79161234567"  # VIP, personal manager 1001
MANAGER = "1001"
UNKNOWN = [f"+7916555000{i}" for i in range(3)]
LOCK_S = 10.0  # at least this long


@pytest.fixture
async def manager(service: Service) -> AsyncIterator[Baresip]:
    if service.ivr.recordings is None:  # as in test_rating_call: recordings on
        service.ivr.recordings = service.recordings
    phone = Baresip(MANAGER, f"demo-pass-{MANAGER}", service.settings.asterisk.sip_port)
    try:
        await phone.start()
        await service.presence.wait_for(MANAGER, Presence.AVAILABLE, timeout=10)
        yield phone
    finally:
        await phone.stop()


async def _seconds(service: Service, text: str) -> float:
    prompts = service.ivr.prompts
    assert isinstance(prompts, CachedPrompts)
    with wave.open(str(await prompts.render(text, "en", None))) as w:
        return w.getnframes() / w.getframerate()


async def until_transfer(service: Service) -> float:
    """Seconds from the answer until the IVR transfers Maria (silent at both menus)."""
    dp = service.ivr.current_dialplan()
    g, lang, vip = dp.greeting, dp.nodes["choose_language"], dp.nodes["vip_menu"]
    assert g is not None and g.known is not None
    total = await _seconds(service, g.known[0].say["en"].replace("{caller_name}", "Maria Ivanova"))  # type: ignore[index,union-attr]
    total += await _seconds(service, g.rating_notice[0].say["en"])  # type: ignore[index]
    total += sum([await _seconds(service, i.say["en"]) for i in lang.prompt]) + lang.timeout  # type: ignore[union-attr,index]
    total += await _seconds(service, vip.prompt[0].say["en"]) + vip.timeout  # type: ignore[union-attr,index]
    return total


async def rows(service: Service, caller_id: str) -> list[CallRow]:
    async with service.sessionmaker() as s:
        return list((await s.scalars(select(CallRow).where(CallRow.caller_id_raw == caller_id)
                                     .order_by(CallRow.id))).all())


async def event_kinds(service: Service, call_id: int) -> list[str]:
    async with service.sessionmaker() as s:
        return list((await s.scalars(select(CallEventRow.kind).where(
            CallEventRow.call_id == call_id).order_by(CallEventRow.id))).all())


async def test_calls_are_routed_while_the_database_is_locked_and_every_row_arrives(
        service: Service, manager: Baresip) -> None:
    target = f"127.0.0.1:{service.settings.asterisk.sip_port}"
    before = {c: len(await rows(service, c)) for c in [MARIA, *UNKNOWN]}
    transfer_at = await until_transfer(service)
    talk_s = 4.0
    maria = asyncio.create_task(place_call(
        target=target, caller_id=MARIA, timeout=transfer_at + 60, wait_for_bye_ms=5000,
        steps=[Pause(int((transfer_at + talk_s + 4.0) * 1000)), HangUp()]))
    await asyncio.sleep(max(0.0, transfer_at - 6.0))  # the lock covers her last menu on
    writes = service.store.writes
    writes.stats.reset()

    async with locked_database(service.settings.database_url):
        locked_at = time.monotonic()
        unknown = [asyncio.create_task(place_call(
            target=target, caller_id=c, timeout=60, wait_for_bye_ms=5000,
            steps=[Pause(6000), HangUp()])) for c in UNKNOWN]
        await manager.wait_for_line(r"(?i)call established", timeout=60)  # routed: 1001 talks
        results = await asyncio.gather(*unknown)
        assert all(r.ok for r in results), [r.stderr[-500:] for r in results if not r.ok]
        async with asyncio.timeout(30):  # SQLite gave up waiting (busy timeout): retried
            while writes.stats.retries == 0:
                await asyncio.sleep(0.1)
        # still locked: nothing of the three could be written, nothing was committed
        for c in UNKNOWN:
            assert len(await rows(service, c)) == before[c]
        assert writes.depth > 0 and writes.stats.committed == 0
        await asyncio.sleep(max(0.0, LOCK_S - (time.monotonic() - locked_at)))
        held_s = time.monotonic() - locked_at
    result = await maria
    assert result.ok, result.stderr[-2000:] + result.messages[-3000:]
    for c in (MARIA, *UNKNOWN):  # the call's end is written behind the caller's hang-up
        await ended_call(service.sessionmaker, c, timeout=30)
    await writes.flush()

    print(f"lock held {held_s:.1f} s; writes committed {writes.stats.committed}, "
          f"retried {writes.stats.retries} times, lost {writes.stats.lost}")
    assert writes.stats.lost == 0
    async with service.sessionmaker() as s:
        op_id = await s.scalar(select(OperatorRow.id).where(OperatorRow.extension == MANAGER))

    (call,) = (await rows(service, MARIA))[before[MARIA]:]
    assert call.outcome == "transferred" and call.ended_at is not None
    assert call.answered_by_id == op_id and call.answered_at is not None
    assert ("(transfer answered)", "") in [(p["node"], p["detail"]) for p in call.path]
    kinds = await event_kinds(service, call.id)
    assert kinds[:2] == ["call_started", "ivr.answered"] and kinds[-1] == "call_ended"
    assert {"ivr.transfer", "ivr.transfer_result", "recording_started",
            "recording_disabled"} <= set(kinds)
    async with service.sessionmaker() as s:
        attempts = (await s.scalars(select(CallAttemptRow).where(
            CallAttemptRow.call_id == call.id))).all()
        (rec,) = (await s.scalars(select(RecordingRow).where(RecordingRow.call_id == call.id))).all()
    assert [(a.outcome, a.answered_by_id) for a in attempts][-1] == ("answered", op_id)
    assert not rec.enabled and rec.path is None  # no file the database does not know
    assert rec.disabled_reason == "the database did not store the recording's row in time"

    for c in UNKNOWN:
        (row,) = (await rows(service, c))[before[c]:]
        assert row.outcome == "caller_hung_up" and row.ended_at is not None
        assert row.path and row.path[0]["node"] != "(service error)"  # the IVR served them
        assert await event_kinds(service, row.id) == ["call_started", "ivr.answered", "call_ended"]
