"""Issue 5 must-shows on the real Asterisk: the routing chain with real SIP operators.

Each test runs the service with a FastAGI handler that routes every call at once
(`RoutingCallFlow`), short ring times (a few seconds instead of 15-20), baresip operators
that answer, don't answer, or are busy in another call, and sipp callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from callrouting.model import Presence
from callrouting.policy import CallContext
from callrouting.router import CallRouter, RoutingCallFlow
from callrouting.rules import RingSettings, RoutingConfig
from callrouting.tables import CallAttemptRow, CallReviewRow
from directory.tables import OperatorRow
from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.db.calls import CallRow
from hotline.pbx.console import run_command
from hotline.pbx.sipp import HangUp, Pause, place_call
from tests.e2e.peers import Baresip
from tests.support.databases import on_both_databases

MARIA, IVAN, ELENA, DMITRY = "+79161234567", "+79162345678", "+79163456789", "+79164567890"
RING = 4  # seconds per ring step in these tests


def short_config(ring: int = RING) -> RoutingConfig:
    return RoutingConfig(
        defaults=RingSettings(
            manager_ring_seconds=ring, backups_ring_seconds=ring, team_lead_ring_seconds=ring,
        )
    )


@dataclass
class Routing:
    service: Service
    router: CallRouter
    flow: RoutingCallFlow


@contextlib.asynccontextmanager
async def routing_service(
    settings: Settings, config: RoutingConfig, topic: str | None = None
) -> AsyncIterator[Routing]:
    flow_ref: list[RoutingCallFlow] = []

    async def handler(chan):  # type: ignore[no-untyped-def]
        await flow_ref[0](chan)

    svc = Service(settings, handler=handler)
    router = CallRouter(svc.sessionmaker, config, lambda: svc.presence, ami=lambda: svc.ami,
                        country=settings.country)
    flow = RoutingCallFlow(svc.store, router, country=settings.country,
                           context_for=lambda _c: CallContext(topic=topic))
    flow_ref.append(flow)
    await svc.start()
    try:
        async with asyncio.timeout(10):
            while not (svc.ami.connected and svc.presence.resyncs):
                await asyncio.sleep(0.05)
        yield Routing(svc, router, flow)
    finally:
        await svc.stop()


@pytest.fixture
async def routing(asterisk, e2e_settings: Settings) -> AsyncIterator[Routing]:  # type: ignore[no-untyped-def]
    async with routing_service(e2e_settings, short_config(), topic="ticket check") as r:
        yield r


@contextlib.asynccontextmanager
async def phones(
    svc: Service, specs: Sequence[tuple[str, bool]], answer_delay_ms: int = 0
) -> AsyncIterator[dict[str, Baresip]]:
    """Registered baresip operators: (extension, auto_answer)."""
    port = svc.settings.asterisk.sip_port
    started = {
        ext: Baresip(ext, f"demo-pass-{ext}", port, auto_answer=auto, answer_delay_ms=answer_delay_ms)
        for ext, auto in specs
    }
    try:
        await asyncio.gather(*(p.start() for p in started.values()))
        for ext in started:
            await svc.presence.wait_for(ext, Presence.AVAILABLE, timeout=5)
        yield started
    finally:
        await asyncio.gather(*(p.stop() for p in started.values()))
        for ext in started:
            with contextlib.suppress(TimeoutError):
                await svc.presence.wait_for(ext, Presence.UNAVAILABLE, timeout=5)


async def call(sip_port: int, caller_id: str, talk_ms: int, timeout: float = 60):  # type: ignore[no-untyped-def]
    return await place_call(target=f"127.0.0.1:{sip_port}", caller_id=caller_id,
                            steps=[Pause(talk_ms), HangUp()], timeout=timeout)


async def answer_when_ringing(phone: Baresip, delay: float = 0.3, timeout: float = 20) -> str:
    """Answer the next incoming call by hand; returns baresip's "Incoming call" line."""
    line = await phone.wait_for_line(r"(?i)incoming call", timeout=timeout)
    await asyncio.sleep(delay)
    await phone.answer()
    return line


async def last_call(svc: Service, raw: str, finished: bool = True) -> CallRow:
    """The caller's latest call row; with `finished`, once the session has stored its end."""
    async with asyncio.timeout(10):
        while True:
            async with svc.sessionmaker() as s:
                row = await s.scalar(select(CallRow).where(CallRow.caller_id_raw == raw)
                                     .order_by(CallRow.id.desc()).limit(1))
            if row is not None and (row.ended_at is not None or not finished):
                return row
            await asyncio.sleep(0.1)


async def wait_for_attempt(svc: Service, raw: str, reason: str, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while True:
            async with svc.sessionmaker() as s:
                found = await s.scalar(
                    select(CallAttemptRow.id).join(CallRow, CallRow.id == CallAttemptRow.call_id)
                    .where(CallRow.caller_id_raw == raw, CallRow.ended_at.is_(None),
                           CallAttemptRow.reason == reason))
            if found:
                return
            await asyncio.sleep(0.2)


async def review_of(svc: Service, call_id: int) -> CallReviewRow | None:
    async with svc.sessionmaker() as s:
        return await s.scalar(select(CallReviewRow).where(CallReviewRow.call_id == call_id))


async def attempts_of(svc: Service, call_id: int, timeout: float = 10) -> list[CallAttemptRow]:
    """The call's attempts once each has its outcome (or as they are after `timeout` s).

    Attempts are written behind the call (one write path), and the last step's outcome is
    submitted when Dial() returns in the FastAGI session, which can be a moment after the
    caller's hang-up has already closed the call's row."""
    atts: list[CallAttemptRow] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                await svc.store.writes.flush()
                async with svc.sessionmaker() as s:
                    atts = list((await s.scalars(
                        select(CallAttemptRow).where(CallAttemptRow.call_id == call_id)
                        .order_by(CallAttemptRow.id))).all())
                if atts and all(a.outcome is not None for a in atts):
                    break
                await asyncio.sleep(0.1)
    return atts


async def op_id(svc: Service, ext: str) -> int:
    async with svc.sessionmaker() as s:
        oid = await s.scalar(select(OperatorRow.id).where(OperatorRow.extension == ext))
    assert oid is not None
    return oid


@on_both_databases
async def test_manager_answers_and_sees_context(routing: Routing) -> None:
    """Must-show 1: known caller, manager free and answering; caller name carries context."""
    svc = routing.service
    async with phones(svc, [("1001", False)]) as ph:  # manual: baresip shows the caller
        answering = asyncio.create_task(answer_when_ringing(ph["1001"]))
        res = await call(svc.settings.asterisk.sip_port, MARIA, talk_ms=6000)
        line = await answering
        assert res.ok, res.stderr + res.messages[-2000:]
    assert re.search(r'Incoming call from: "?VIP Maria Ivanova - ticket check"? sip:', line), line
    row = await last_call(svc, MARIA)
    assert row.answered_by_id == await op_id(svc, "1001")
    assert row.answered_at is not None and row.outcome == "answered"
    atts = await attempts_of(svc, row.id)
    assert [(a.reason, a.targets, a.outcome) for a in atts] == [
        ("personal_manager", ["1001"], "answered")
    ]
    assert atts[0].answered_by_id == row.answered_by_id and atts[0].duration is not None
    assert await review_of(svc, row.id) is None


async def test_manager_busy_backups_ring_together_first_answer_wins(routing: Routing) -> None:
    """Must-show 2: manager in another call -> backups at once, together; first wins."""
    svc = routing.service
    async with phones(svc, [("1002", True), ("1001", False), ("1003", False)]) as ph:
        # the CLI, as root on the control socket: the service's AMI user may not originate
        await run_command(svc.asterisk.control_socket, "channel originate PJSIP/1002 application Wait 40")
        await svc.presence.wait_for("1002", Presence.IN_USE, timeout=5)
        answering = asyncio.create_task(answer_when_ringing(ph["1001"], delay=1.0))
        placing = asyncio.create_task(call(svc.settings.asterisk.sip_port, IVAN, talk_ms=7000))
        await answering
        await svc.presence.wait_for("1001", Presence.IN_USE, timeout=5)
        # the other backup stops ringing as soon as 1001 answered
        await svc.presence.wait_for("1003", Presence.AVAILABLE, timeout=2)
        assert svc.presence.get("1001") is Presence.IN_USE
        res = await placing
        assert res.ok, res.stderr + res.messages[-2000:]
        assert any("closed" in ln.lower() or "terminated" in ln.lower() for ln in ph["1003"].lines)
    row = await last_call(svc, IVAN)
    result = routing.router.last_result
    assert result is not None and result.plan.steps[0].reason == "backups"
    first = result.timings[0]
    assert sorted(first.ring_started) == ["1001", "1003"], first
    starts = sorted(first.ring_started.values())
    assert starts[-1] - starts[0] <= 0.3, first.ring_started  # simultaneously
    assert starts[0] - first.decided_at <= 0.3, first  # no wait for the busy manager
    atts = await attempts_of(svc, row.id)
    assert [(a.reason, sorted(a.targets), a.outcome) for a in atts] == [
        ("backups", ["1001", "1003"], "answered")
    ]
    assert row.answered_by_id == atts[0].answered_by_id == await op_id(svc, "1001")


@on_both_databases
async def test_nobody_in_circle_answers_team_lead_answers_and_call_flagged(routing: Routing) -> None:
    """Must-show 3: manager and backups ring out; the team lead answers; QA review flag."""
    svc = routing.service
    specs = [("1004", False), ("1002", False), ("1003", False), ("1005", True)]
    async with phones(svc, specs):
        res = await call(svc.settings.asterisk.sip_port, DMITRY, talk_ms=3 * RING * 1000 + 4000)
        assert res.ok, res.stderr + res.messages[-2000:]
    row = await last_call(svc, DMITRY)
    atts = await attempts_of(svc, row.id)
    assert [(a.reason, sorted(a.targets), a.outcome) for a in atts] == [
        ("personal_manager", ["1004"], "no_answer"),
        ("backups", ["1002", "1003", "1004"], "no_answer"),  # the manager keeps ringing
        ("team_lead", ["1005"], "answered"),
    ]
    for a in atts[:2]:
        assert a.duration is not None and RING - 0.5 <= a.duration <= RING + 1.5, a.duration
    assert row.answered_by_id == await op_id(svc, "1005")
    review = await review_of(svc, row.id)
    assert review is not None and review.reason == "no_answer" and review.status == "open"


async def test_nobody_answers_pool_and_vip_first_in_pool(routing: Routing) -> None:
    """Must-show 4: the chain rings out -> pool queue; a VIP who joins later goes first."""
    svc = routing.service
    port = svc.settings.asterisk.sip_port
    specs = [("1004", False), ("1002", False), ("1003", False), ("1005", False)]
    async with phones(svc, specs):
        dmitry = asyncio.create_task(call(port, DMITRY, talk_ms=45000, timeout=80))
        await wait_for_attempt(svc, DMITRY, "pool", timeout=3 * RING + 8)
    # Dmitry waits in the pool; everyone in Maria's circle is offline now
    await asyncio.sleep(1.0)
    maria = asyncio.create_task(call(port, MARIA, talk_ms=8000))
    await wait_for_attempt(svc, MARIA, "pool", timeout=10)
    async with phones(svc, [("1007", True)]):
        res = await maria
        assert res.ok, res.stderr + res.messages[-2000:]
        m = await last_call(svc, MARIA)
        d = await last_call(svc, DMITRY, finished=False)
        assert m.answered_by_id == await op_id(svc, "1007")
        assert d.answered_at is None or d.answered_at > m.answered_at  # VIP first
        async with asyncio.timeout(15):  # then the pool takes Dmitry too
            while (d := await last_call(svc, DMITRY, finished=False)).answered_at is None:
                await asyncio.sleep(0.2)
        assert d.answered_by_id == await op_id(svc, "1007")
        res = await dmitry
        assert res.ok, res.stderr + res.messages[-2000:]
    d = await last_call(svc, DMITRY)
    atts = await attempts_of(svc, d.id)
    assert [(a.reason, a.outcome) for a in atts] == [
        ("personal_manager", "no_answer"), ("backups", "no_answer"), ("team_lead", "no_answer"),
        ("pool", "answered"),
    ]
    assert atts[-1].targets == ["hotline-pool"]
    assert (await review_of(svc, d.id)) is not None  # it reached the team lead
    m_atts = await attempts_of(svc, m.id)
    assert [(a.reason, a.outcome) for a in m_atts] == [("pool", "answered")]
    review = await review_of(svc, m.id)  # VIP's circle all offline: still goes to QA
    assert review is not None and review.reason == "manager_unavailable"


async def test_no_personal_manager_last_manager_rings_first(routing: Routing) -> None:
    """Must-show 5: a caller with no personal manager goes to the one who answered last."""
    svc = routing.service
    async with phones(svc, [("1003", True), ("1001", True)]):
        res = await call(svc.settings.asterisk.sip_port, ELENA, talk_ms=4000)
        assert res.ok, res.stderr + res.messages[-2000:]
    row = await last_call(svc, ELENA)
    atts = await attempts_of(svc, row.id)
    assert [(a.reason, a.targets, a.outcome) for a in atts] == [
        ("last_manager", ["1003"], "answered")
    ]
    assert row.answered_by_id == await op_id(svc, "1003")


@pytest.mark.parametrize("caller_id", ["+15550001111", "anonymous"])
async def test_unknown_and_anonymous_callers_go_to_pool(routing: Routing, caller_id: str) -> None:
    """Must-show 6: unknown or hidden caller IDs: the operator pool, no error."""
    svc = routing.service
    async with phones(svc, [("1006", True)]) as ph:
        res = await call(svc.settings.asterisk.sip_port, caller_id, talk_ms=4000)
        assert res.ok, res.stderr + res.messages[-2000:]
        assert any("Call established" in ln for ln in ph["1006"].lines)
    row = await last_call(svc, caller_id)
    assert row.caller_ref_id is None and row.outcome == "answered"
    atts = await attempts_of(svc, row.id)
    assert [(a.reason, a.outcome) for a in atts] == [("pool", "answered")]
    assert row.answered_by_id == await op_id(svc, "1006")


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True, scope="module")
async def test_an_over_long_caller_id_still_reaches_the_pool_and_is_stored(routing: Routing) -> None:
    """A 250-digit caller ID on PostgreSQL (which refuses a value longer than its column):
    the call reaches a human and its row is stored. Asterisk passes on the first 79 characters
    of the number (AST_MAX_EXTENSION); longer values straight into the store are
    tests/component/test_db_fields.py's."""
    svc = routing.service
    raw = "7" * 250
    async with phones(svc, [("1006", True)]) as ph:
        res = await call(svc.settings.asterisk.sip_port, raw, talk_ms=4000)
        assert res.ok, res.stderr + res.messages[-2000:]
        assert any("Call established" in ln for ln in ph["1006"].lines)
    async with asyncio.timeout(10):
        while True:
            async with svc.sessionmaker() as s:
                row = await s.scalar(select(CallRow).where(CallRow.caller_number.is_(None))
                                     .order_by(CallRow.id.desc()).limit(1))
            if row is not None and row.ended_at is not None:
                break
            await asyncio.sleep(0.1)
    assert row.caller_id_raw is not None and len(row.caller_id_raw) >= 79
    assert raw.startswith(row.caller_id_raw)
    assert row.outcome == "answered" and row.answered_by_id == await op_id(svc, "1006")
    atts = await attempts_of(svc, row.id)
    assert [(a.reason, a.outcome) for a in atts] == [("pool", "answered")]
