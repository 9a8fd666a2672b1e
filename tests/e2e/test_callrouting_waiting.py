"""Issue 11, the caller's side while waiting, on the real Asterisk: sipp callers walk a dialplan
that goes straight to the operator pool, baresip operators take (or don't take) the calls.

What a caller hears is checked through the text the service chose for each announcement,
stored per call as the event `queue.announcement` (the service whispers the rendered prompt
to the caller in Queue(): `played` says Asterisk took it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callrouting.model import Presence
from directory.tables import CallerRow, OperatorRow
from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.db.calls import CallEventRow, CallRow
from hotline.pbx.ami import AgentCalled
from hotline.pbx.asterisk import AsteriskInstance
from hotline.pbx.sipp import HangUp, Pause, place_call, sipp_available
from tests.e2e.peers import Baresip

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")

DIALPLAN = """\
version: 1
name: queue-test
timezone: Europe/Moscow
languages: [en]
voice: v
start: operator
queue:
  announce_every: {every}
  position: "You are number {{position}} in the queue."
  vip: "As a priority caller, you will be connected first."
  wait: "The expected wait is {{wait}}."
  less_than_a_minute: "less than a minute"
  one_minute: "about one minute"
  minutes: "about {{minutes}} minutes"
  wrapup: 2
{overflow}
nodes:
  operator:
    type: operator
"""
VIP = "+79990001005"  # a VIP without a personal manager: straight to the pool, priority 10
A, B, C, D = "+79990001001", "+79990001002", "+79990001003", "+79990001004"
A2, B2 = "+79990002001", "+79990002002"  # the overflow test's callers (rows of their own)


@contextlib.asynccontextmanager
async def queue_service(settings: Settings, tmp: Path, *, every: int = 5,
                        overflow: str = "") -> AsyncIterator[Service]:
    path = tmp / "queue.yaml"
    path.write_text(DIALPLAN.format(every=every, overflow=overflow))
    svc = Service(settings.model_copy(update={"dialplan": path}), with_bot=False)
    await svc.start()
    try:
        async with asyncio.timeout(10):
            while not (svc.ami.connected and svc.presence.resyncs):
                await asyncio.sleep(0.05)
        async with svc.sessionmaker() as s, s.begin():
            if await s.scalar(select(CallerRow.id).where(CallerRow.number == VIP)) is None:
                s.add(CallerRow(number=VIP, name="Vera Vip", vip=True))
        yield svc
    finally:
        await svc.stop()


@contextlib.asynccontextmanager
async def operator(svc: Service, ext: str, auto: bool = True) -> AsyncIterator[Baresip]:
    phone = Baresip(ext, f"demo-pass-{ext}", svc.settings.asterisk.sip_port, auto_answer=auto)
    await phone.start()
    try:
        await svc.presence.wait_for(ext, Presence.AVAILABLE, timeout=5)
        yield phone
    finally:
        await phone.stop()
        with contextlib.suppress(TimeoutError):
            await svc.presence.wait_for(ext, Presence.UNAVAILABLE, timeout=5)


class Callers:
    """sipp callers that stay on the line until the test is done with them; `close` ends
    their channels in Asterisk too (a killed sipp sends no BYE)."""

    def __init__(self, svc: Service, asterisk: AsteriskInstance):
        self.svc, self.asterisk = svc, asterisk
        self.tasks: dict[str, asyncio.Task[Any]] = {}

    def call(self, number: str, seconds: int = 150) -> None:
        self.tasks[number] = asyncio.create_task(place_call(
            target=f"127.0.0.1:{self.svc.settings.asterisk.sip_port}", caller_id=number,
            steps=[Pause(seconds * 1000), HangUp()], timeout=seconds + 30))

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await asyncio.to_thread(self.asterisk.rx, "channel request hangup all")
        async with asyncio.timeout(10):
            while "0 active channels" not in await asyncio.to_thread(
                    self.asterisk.rx, "core show channels count"):
                await asyncio.sleep(0.2)


async def call_row(svc: Service, number: str) -> CallRow | None:
    async with svc.sessionmaker() as s:
        return await s.scalar(select(CallRow).where(CallRow.caller_id_raw == number)
                              .order_by(CallRow.id.desc()).limit(1))


async def announcements(svc: Service, number: str) -> list[dict[str, Any]]:
    row = await call_row(svc, number)
    if row is None:
        return []
    async with svc.sessionmaker() as s:
        events = (await s.scalars(select(CallEventRow).where(
            CallEventRow.call_id == row.id, CallEventRow.kind == "queue.announcement")
            .order_by(CallEventRow.id))).all()
    return [e.data for e in events]


async def next_announcement(svc: Service, number: str, after: int = 0,
                            timeout: float = 30) -> dict[str, Any]:
    """The caller's first announcement with index >= `after` (0 = the one on entering)."""
    async with asyncio.timeout(timeout):
        while True:
            seen = await announcements(svc, number)
            if len(seen) > after:
                return seen[after]
            await asyncio.sleep(0.2)


async def answered_by(svc: Service, number: str, timeout: float = 30) -> int | None:
    async with asyncio.timeout(timeout):
        while True:
            row = await call_row(svc, number)
            if row is not None and row.answered_at is not None:
                return row.answered_by_id
            await asyncio.sleep(0.2)


async def op_id(svc: Service, ext: str) -> int:
    async with svc.sessionmaker() as s:
        oid = await s.scalar(select(OperatorRow.id).where(OperatorRow.extension == ext))
    assert oid is not None
    return oid


async def until(predicate: Callable[[], Any], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.2)


async def console_shows(asterisk: AsteriskInstance, text: str, timeout: float = 10) -> None:
    """Asterisk's console log (verbose 3) gets `text` (it is written as things happen)."""
    async with asyncio.timeout(timeout):
        while text not in asterisk.log_file.read_text(errors="replace"):
            await asyncio.sleep(0.2)


def expect(data: dict[str, Any], position: int) -> None:
    assert data["position"] == position, data
    assert data["text"].startswith(f"You are number {position} in the queue. The expected wait is "), data
    assert data["known"] and data["played"], data


async def test_waiting_callers_hear_place_and_wait_first_is_answered_vip_goes_first(
    asterisk: AsteriskInstance, e2e_settings: Settings, tmp_path: Path
) -> None:
    """Must-shows 1 and 3: places 1, 2, 3 with an estimate; the first is answered when the
    operator frees up and the others then hear 1 and 2; a VIP joining later goes first."""
    async with queue_service(e2e_settings, tmp_path) as svc, operator(svc, "1001") as op:
        callers = Callers(svc, asterisk)
        try:
            callers.call(A)  # the only operator takes A: from now on everybody waits
            assert await answered_by(svc, A) == await op_id(svc, "1001")
            await svc.presence.wait_for("1001", Presence.IN_USE, timeout=10)
            firsts = {}
            for position, number in enumerate((B, C, D), start=1):
                callers.call(number)
                firsts[number] = await next_announcement(svc, number)
                expect(firsts[number], position)
            # Asterisk's side: music on hold for the waiting caller, the whisper on her channel
            b_channel = (await call_row(svc, B)).channel  # type: ignore[union-attr]
            await console_shows(asterisk, f"Started music on hold, class 'default', on channel '{b_channel}'")
            await console_shows(asterisk, f"Spying on channel {b_channel}")
            # the estimate follows the place: nobody free, one operator busy, no history yet
            minutes = [firsts[n]["minutes"] for n in (B, C, D)]
            assert minutes == sorted(minutes) and minutes[0] < minutes[2], minutes

            counts = {n: len(await announcements(svc, n)) for n in (C, D)}
            await op.hangup()  # A's call ends: after the wrap-up the queue rings 1001 for B
            assert await answered_by(svc, B) == await op_id(svc, "1001")
            assert (await call_row(svc, C)).answered_at is None  # type: ignore[union-attr]
            assert (await call_row(svc, D)).answered_at is None  # type: ignore[union-attr]
            # the next announcement after B was answered: C is first, D second
            async def moved_up() -> bool:
                c = (await announcements(svc, C))[counts[C]:]
                d = (await announcements(svc, D))[counts[D]:]
                return any(x["position"] == 1 for x in c) and any(x["position"] == 2 for x in d)
            await until(moved_up)
            c_next = [x for x in (await announcements(svc, C))[counts[C]:] if x["position"] == 1][0]
            d_next = [x for x in (await announcements(svc, D))[counts[D]:] if x["position"] == 2][0]
            expect(c_next, 1)
            expect(d_next, 2)
            assert not any(x["position"] > 1 for x in (await announcements(svc, C))[counts[C]:]
                           if x["n"] > c_next["n"])

            callers.call(VIP)  # joins after C and D
            vip_first = await next_announcement(svc, VIP)
            assert vip_first["vip"] and vip_first["position"] == 1, vip_first
            assert vip_first["text"].startswith(
                "As a priority caller, you will be connected first. You are number 1 in the queue."
            ), vip_first
            await op.hangup()  # B's call ends: the VIP is answered before C and D
            assert await answered_by(svc, VIP) == await op_id(svc, "1001")
            assert (await call_row(svc, C)).answered_at is None  # type: ignore[union-attr]
            assert (await call_row(svc, D)).answered_at is None  # type: ignore[union-attr]
        finally:
            await callers.close()


async def test_overflow_rings_the_team_lead_after_the_configured_wait(
    asterisk: AsteriskInstance, e2e_settings: Settings, tmp_path: Path
) -> None:
    """Must-show 4: the team lead takes no pool calls until a caller has waited `after` s."""
    overflow = "  overflow: {after: 8, ring: team_leads}"
    async with queue_service(e2e_settings, tmp_path, every=30, overflow=overflow) as svc, \
            operator(svc, "1001") as _op, operator(svc, "1005", auto=False) as lead:
        rings: list[AgentCalled] = []
        unsub = svc.ami.subscribe(AgentCalled, rings.append)
        callers = Callers(svc, asterisk)
        try:
            callers.call(A2)
            assert await answered_by(svc, A2) == await op_id(svc, "1001")
            callers.call(B2)
            first = await next_announcement(svc, B2)
            expect(first, 1)
            # the lead is idle and registered, yet the pool did not ring her for B's first seconds
            assert svc.presence.get("1005") is Presence.AVAILABLE
            assert not [r for r in rings if "1005" in r.interface]
            await lead.wait_for_line(r"(?i)incoming call", timeout=30)
            b_row = await call_row(svc, B2)
            assert b_row is not None and b_row.answered_at is None
            lead_rings = [r for r in rings if "1005" in r.interface]
            assert lead_rings and lead_rings[0].uniqueid == b_row.uniqueid, rings
        finally:
            unsub()
            await callers.close()
