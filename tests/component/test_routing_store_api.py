"""Routing's store (migration 0003, directory/caller/history loading) and the screen-pop API,
on a migrated SQLite database with the demo directory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import inspect

from callrouting.api import build_router
from callrouting.model import Presence, Role
from callrouting.presence import PresenceTracker
from callrouting.store import RoutingStore
from directory.file import load_directory_file
from directory.lookup import find_caller
from hotline.app.demo import seed_if_empty
from hotline.db import migrate
from hotline.db.base import make_engine, make_sessionmaker
from hotline.db.calls import CallStore

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator:  # type: ignore[type-arg]
    url = f"sqlite+aiosqlite:///{tmp_path}/t.db"
    await migrate.upgrade(url)
    engine = make_engine(url)
    sm = make_sessionmaker(engine)
    await seed_if_empty(sm, load_directory_file(ROOT / "config" / "directory.yaml"), NOW)
    try:
        yield engine, sm
    finally:
        await engine.dispose()


async def test_migration_creates_tables_with_qa_columns(db) -> None:  # type: ignore[no-untyped-def]
    engine, _ = db
    async with engine.connect() as conn:
        cols = await conn.run_sync(
            lambda c: {t: {col["name"] for col in inspect(c).get_columns(t)}
                       for t in ("call_attempts", "call_reviews")})
    assert cols["call_attempts"] >= {"id", "call_id", "step_index", "reason", "targets",
                                     "started_at", "ended_at", "duration", "outcome",
                                     "answered_by_id"}
    assert cols["call_reviews"] >= {"id", "call_id", "reason", "flagged_at", "status",
                                    "reviewer", "notes", "reviewed_at"}


async def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/d.db"
    await migrate.upgrade(url, "0003")
    await asyncio.to_thread(_downgrade, url)  # env.py runs its own event loop
    await migrate.upgrade(url, "0003")


def _downgrade(url: str) -> None:
    from alembic import command

    command.downgrade(migrate.alembic_config(url), "0002")


async def test_directory_caller_and_history(db) -> None:  # type: ignore[no-untyped-def]
    _, sm = db
    store = RoutingStore(sm)
    d = await store.load_directory()
    anna = d.by_extension("1001")
    assert anna is not None and anna.role is Role.MANAGER
    assert [d.operators[i].extension for i in anna.backup_ids] == ["1002", "1003"]
    hotline = d.teams[anna.team_id]  # type: ignore[index]
    assert d.operators[hotline.lead_id].extension == "1005"  # type: ignore[index]
    maria = await store.find_caller("8 (916) 123-45-67")  # national form, normalised
    assert maria is not None and maria.vip and maria.personal_manager_id == anna.id
    assert await store.find_caller("anonymous") is None
    elena = await store.find_caller("+79163456789")
    assert elena is not None and elena.personal_manager_id is None
    hist = await store.history(elena)
    assert hist.last_manager_id == d.by_extension("1003").id  # type: ignore[union-attr]
    assert (await store.history(None, "+15550001111")).last_manager_id is None


async def test_screen_pop_and_wallboard(db) -> None:  # type: ignore[no-untyped-def]
    _, sm = db
    store = RoutingStore(sm)
    calls = CallStore(sm)
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
    app = FastAPI()
    app.include_router(build_router(sm, lambda: tracker, clock=lambda: NOW + timedelta(minutes=1)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
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
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ctx = (await c.get(f"/api/routing/calls/{cid}/context")).json()
    assert [p["answered_by"]["extension"] for p in ctx["past_calls"]] == ["1003"]
