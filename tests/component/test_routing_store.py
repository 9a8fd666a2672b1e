"""Routing's store (migration 0003, directory/caller/history loading) on a migrated SQLite
database with the demo directory (the screen-pop and calls in progress: test_backoffice_live)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect

from callrouting.model import Role
from callrouting.store import RoutingStore
from directory.file import load_directory_file
from hotline.app.demo import seed_if_empty
from hotline.db import migrate
from hotline.db.base import make_engine, make_sessionmaker
from tests.support.databases import DbBackend

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path, db_backend: DbBackend) -> AsyncIterator:  # type: ignore[type-arg]
    async with db_backend.migrated(tmp_path) as url:
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


async def test_downgrade_and_upgrade_again(tmp_path: Path, db_backend: DbBackend) -> None:
    async with db_backend.empty(tmp_path, "d") as url:
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


async def test_queue_join_and_wait_go_on_the_call_row(db) -> None:  # type: ignore[no-untyped-def]
    """Written behind the call on the one write path: the first join stays, the wait is the
    latest total (the executor adds the queue steps up)."""
    from datetime import timedelta

    from hotline.db.calls import CallRow, CallStore

    _, sm = db
    calls = CallStore(sm)
    store = RoutingStore(sm, writes=calls.writes)
    ref = calls.open_call(uniqueid="q-1", linkedid=None, channel="PJSIP/x-1", caller_id_raw="+7999",
                          caller_number="+7999", caller=None, started_at=NOW)
    store.queue_joined(ref, NOW + timedelta(seconds=3))  # the call's row may still be queued
    store.queue_waited(ref, 10_000)
    store.queue_joined(ref, NOW + timedelta(seconds=20))  # the queue step came again
    await store.queue_waited(ref, 16_400)
    async with sm() as s:
        row = await s.get(CallRow, await ref)
    assert row is not None
    assert row.queue_joined_at.replace(tzinfo=UTC) == NOW + timedelta(seconds=3)
    assert row.queue_wait_ms == 16_400
    await calls.writes.close()
