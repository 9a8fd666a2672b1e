"""hotline.db.migrate: the migrations go up, down to nothing and up again, on SQLite and on
PostgreSQL, and end at the schema the owner modules declare."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from hotline.app import tables
from hotline.db import migrate
from hotline.db.base import make_engine
from tests.support.databases import DbBackend

pytestmark = pytest.mark.component

OWNED = {"calls", "call_events", "operators", "teams", "callers", "operator_backups", "games",
         "draws", "tickets", "prize_claim_rules", "dialplan_versions", "call_attempts",
         "call_reviews", "users", "auth_sessions", "recordings", "ratings"}


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(migrate.alembic_config(url), revision)


async def _schema(url: str) -> tuple[set[str], list[object]]:
    """The tables there are, and how they differ from the owner modules' metadata."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), tables.metadata))
    finally:
        await engine.dispose()
    return names, diff


async def test_upgrade_downgrade_to_base_and_upgrade_again(tmp_path: Path, db_backend: DbBackend) -> None:
    async with db_backend.empty(tmp_path, "updown") as url:
        await migrate.upgrade(url)
        names, diff = await _schema(url)
        assert OWNED <= names and diff == []

        await asyncio.to_thread(_downgrade, url, "base")  # env.py runs its own event loop
        names, _ = await _schema(url)
        assert names & OWNED == set()

        await migrate.upgrade(url)
        names, diff = await _schema(url)
        assert OWNED <= names and diff == []


async def test_teams_lead_id_references_operators(tmp_path: Path, db_backend: DbBackend) -> None:
    async with db_backend.empty(tmp_path, "leadfk") as url:
        await migrate.upgrade(url)
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                keys = await conn.run_sync(lambda c: inspect(c).get_foreign_keys("teams"))
        finally:
            await engine.dispose()
    assert [(k["constrained_columns"], k["referred_table"], k["options"].get("ondelete")) for k in keys] \
        == [(["lead_id"], "operators", "SET NULL")]


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True, scope="module")
async def test_a_dangling_team_lead_is_cleared_when_the_key_is_added(
        tmp_path: Path, db_backend: DbBackend) -> None:
    """Before 0006, PostgreSQL had no key on teams.lead_id (SQLite had it from 0001): a lead
    who does not exist is cleared, a real one kept, and then the key refuses a missing lead."""
    async with db_backend.empty(tmp_path, "dangling") as url:
        await migrate.upgrade(url, "0005")
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(
                    "INSERT INTO operators (id, name, extension, sip_password, role, active) "
                    "VALUES (1, 'Anna', '2001', 'x', 'operator', true)"))
                await conn.execute(text(
                    "INSERT INTO teams (id, name, lead_id) VALUES (1, 'Ghosts', 999), (2, 'Real', 1)"))
            await migrate.upgrade(url)
            async with engine.connect() as conn:
                leads = dict((await conn.execute(text("SELECT id, lead_id FROM teams"))).all())
                assert leads == {1: None, 2: 1}
                with pytest.raises(IntegrityError, match="foreign key"):
                    await conn.execute(text("UPDATE teams SET lead_id = 999 WHERE id = 2"))
        finally:
            await engine.dispose()


async def test_widening_calls_keeps_every_row_of_the_tables_that_refer_to_calls(
        tmp_path: Path, db_backend: DbBackend) -> None:
    """0007 rebuilds `calls` on SQLite (batch mode); the tables that refer to it (ON DELETE
    CASCADE) keep their rows, and the wider columns take Asterisk's longest ids."""
    async with db_backend.empty(tmp_path, "widen") as url:
        await migrate.upgrade(url, "0006")
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(
                    "INSERT INTO calls (id, uniqueid, started_at, path) VALUES (1, 'u-1', :at, '[]')"),
                    {"at": datetime(2026, 11, 2, 9, 0, tzinfo=UTC)})
                await conn.execute(text(
                    "INSERT INTO call_events (call_id, at, kind, data) VALUES (1, :at, 'call_started', '{}')"),
                    {"at": datetime(2026, 11, 2, 9, 0, tzinfo=UTC)})
            await migrate.upgrade(url)
            long_id = "x" * 150
            async with engine.begin() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM call_events"))).scalar() == 1
                await conn.execute(text("UPDATE calls SET uniqueid = :u, linkedid = :u WHERE id = 1"),
                                   {"u": long_id})
            await asyncio.to_thread(_downgrade, url, "0006")
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT uniqueid FROM calls"))).scalar() == long_id[:64]
                assert (await conn.execute(text("SELECT count(*) FROM call_events"))).scalar() == 1
        finally:
            await engine.dispose()
