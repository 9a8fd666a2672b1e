"""backoffice/live.py: the wallboard, the calls in progress and the screen-pop, one
implementation behind /api/wallboard, /api/routing/calls/active, /api/me/screenpop and
/api/routing/calls/{id}/context, through the service's app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from backoffice.auth import create_user
from backoffice.live import IN_PROGRESS_WINDOW
from backoffice.models import Role
from callrouting.model import Presence
from callrouting.presence import PresenceTracker
from callrouting.store import RoutingStore
from callrouting.tables import CallAttemptRow
from directory.file import load_directory_file
from directory.lookup import find_caller
from hotline.app.demo import seed_if_empty
from hotline.clock import utcnow
from hotline.db.base import make_engine, make_sessionmaker
from hotline.db.calls import CallRow, CallStore
from recordings.settings import RecordingSettings
from tests.support.databases import DbBackend
from tests.support.qa_env import QaTestEnv, build_app, login

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
call_attempts = CallAttemptRow.__table__


async def test_wallboard_and_screenpop(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    async with env.sm() as s, s.begin():
        live = CallRow(uniqueid="live-1", started_at=utcnow() - timedelta(seconds=40), path=[],
                       caller_number="+79001112233", caller_name="Maria Ivanova",
                       caller_ref_id=env.seeded.callers["ivanova"], intent="ticket_check")
        s.add(live)
        await s.flush()
        await s.execute(call_attempts.insert().values(
            call_id=live.id, step_index=0, reason="personal_manager", targets=["2001"],
            started_at=utcnow(), outcome=None))
    h = await login(client, "qa")
    w = (await client.get("/api/wallboard", headers=h)).json()
    pres = {o["extension"]: o["presence"] for o in w["operators"]}
    assert pres["2001"] == "available" and pres["2002"] == "in_use" and pres["2003"] == "unavailable"
    assert [c["state"] for c in w["calls"]] == ["ringing"] and w["calls"][0]["vip"]
    # the routing view of the calls in progress is the wallboard's list
    active = (await client.get("/api/routing/calls/active", headers=h)).json()
    assert [{**c, "waiting_seconds": 0} for c in active] == [{**c, "waiting_seconds": 0} for c in w["calls"]]
    oh = await login(client, "operator")  # Anna, whose phone rings
    pop = (await client.get("/api/me/screenpop", headers=oh)).json()
    assert pop["call_id"] == live.id and pop["vip"] and pop["caller_name"] == "Maria Ivanova"
    assert pop["previous_calls"] == 2 and pop["last_rating"] == 5
    # the operator's screen-pop is the call's screen-pop
    ctx = (await client.get(f"/api/routing/calls/{live.id}/context", headers=h)).json()
    assert ctx == pop


async def test_one_in_progress_window(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    """A call row never closed drops off every live view once it is older than the window."""
    now = utcnow()
    ids = {}
    async with env.sm() as s, s.begin():
        for name, age in (("inside", IN_PROGRESS_WINDOW - timedelta(minutes=1)),
                          ("outside", IN_PROGRESS_WINDOW + timedelta(minutes=1))):
            row = CallRow(uniqueid=f"open-{name}", started_at=now - age, path=[],
                          caller_number="+79004445566", answered_by_id=env.seeded.operators["anna"])
            s.add(row)
            await s.flush()
            ids[name] = row.id
    h = await login(client, "qa")
    w = (await client.get("/api/wallboard", headers=h)).json()
    active = (await client.get("/api/routing/calls/active", headers=h)).json()
    assert [c["call_id"] for c in w["calls"]] == [c["call_id"] for c in active] == [ids["inside"]]
    assert w["calls"][0]["state"] == "talking" and w["calls"][0]["answered_by"]["name"] == "Anna Orlova"
    pop = (await client.get("/api/me/screenpop", headers=await login(client, "operator"))).json()
    assert pop["call_id"] == ids["inside"]  # Anna's: the one outside the window is not hers now


@pytest.fixture
async def demo(tmp_path: Path, db_backend: DbBackend) -> AsyncIterator[Any]:
    """A migrated database with the demo directory and a qa user."""
    async with db_backend.migrated(tmp_path) as url:
        engine = make_engine(url)
        sm = make_sessionmaker(engine)
        await seed_if_empty(sm, load_directory_file(ROOT / "config" / "directory.yaml"), NOW)
        await create_user(sm, "qa", "qa-pass-0123456789", Role.QA)
        try:
            yield sm
        finally:
            await engine.dispose()


async def test_calls_in_progress_and_call_context_as_routing_sees_them(demo: Any, tmp_path: Path) -> None:
    sm = demo
    calls = CallStore(sm)
    store = RoutingStore(sm, writes=calls.writes)  # one write path, as in the service
    d = await store.load_directory()
    maria = await find_caller(sm, "+79161234567")
    call_id = await calls.start_call(uniqueid="u-1", linkedid="u-1", channel="PJSIP/x",
                                     caller_id_raw="89161234567", caller_number="+79161234567",
                                     caller=maria, started_at=NOW)
    await calls.update(call_id, intent="check_ticket",
                       bot_transcript=[{"who": "caller", "text": "check my ticket"}])
    anna, boris = d.by_extension("1001"), d.by_extension("1002")
    assert anna and boris
    a1 = await store.add_attempt(call_id, step_index=0, reason="personal_manager",
                                 targets=["1001"], started_at=NOW)
    await store.finish_attempt(a1, started_at=NOW, ended_at=NOW + timedelta(seconds=15),
                               outcome="no_answer", answered_by_id=None)
    await store.add_attempt(call_id, step_index=1, reason="backups", targets=["1002", "1003"],
                            started_at=NOW + timedelta(seconds=15))
    assert await store.flag_review(call_id, "no_answer", NOW)
    assert not await store.flag_review(call_id, "manager_busy", NOW)  # one review per call

    tracker = PresenceTracker(["1001", "1002"])
    settings = RecordingSettings(dir=tmp_path / "recordings").resolved(tmp_path)
    app, _, _ = await build_app(sm, tmp_path, settings, clock=lambda: NOW + timedelta(minutes=1),
                                presence=tracker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        c.headers.update(await login(c, "qa", "qa-pass-0123456789"))
        active = (await c.get("/api/routing/calls/active")).json()
        assert [(a["call_id"], a["state"], a["ringing"], a["vip"]) for a in active] == [
            (call_id, "ringing", ["1002", "1003"], True)
        ]
        await store.mark_answered(call_id, boris.id, NOW + timedelta(seconds=20))
        active = (await c.get("/api/routing/calls/active")).json()
        assert active[0]["state"] == "talking" and active[0]["answered_by"]["extension"] == "1002"
        assert active[0]["answered_by_presence"] == str(Presence.UNAVAILABLE)

        ctx = (await c.get(f"/api/routing/calls/{call_id}/context")).json()
        assert ctx["caller"]["name"] == "Maria Ivanova" and ctx["vip"] is True
        assert ctx["caller"]["personal_manager"]["extension"] == "1001"
        assert ctx["intent"] == "check_ticket"
        assert ctx["bot_transcript"][0]["text"] == "check my ticket"
        assert [(a["reason"], a["outcome"]) for a in ctx["attempts"]] == [
            ("personal_manager", "no_answer"), ("backups", None)]
        assert ctx["attempts"][0]["duration"] == 15.0
        assert ctx["review"]["reason"] == "no_answer" and ctx["review"]["status"] == "open"
        assert ctx["answered_by"]["extension"] == "1002"

        missing = await c.get("/api/routing/calls/999999/context")
        assert missing.status_code == 404
        assert missing.json()["error_id"] == "call_not_found"

        # Elena's screen-pop lists her past call (from the demo directory) with who answered
        elena = await find_caller(sm, "+79163456789")
        cid = await calls.start_call(uniqueid="u-2", linkedid=None, channel=None,
                                     caller_id_raw="+79163456789", caller_number="+79163456789",
                                     caller=elena, started_at=NOW)
        ctx = (await c.get(f"/api/routing/calls/{cid}/context")).json()
    assert [p["answered_by"]["extension"] for p in ctx["past_calls"]] == ["1003"]
