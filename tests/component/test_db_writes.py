"""hotline.db.writes on a real migrated database: order, retries while another process holds
the write lock, permanent errors logged with their data, long caller IDs, a full queue."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import event, exc, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db import migrate
from hotline.db.base import make_engine, make_sessionmaker
from hotline.db.calls import CallEventRow, CallRow, CallStore
from hotline.db.writes import WriteLost, WriteQueue, transient
from tests.support.dblock import locked_database

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/writes.db"


@pytest.fixture
async def sm(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await migrate.upgrade(db_url)
    engine = make_engine(db_url)
    if db_url.startswith("sqlite"):
        @event.listens_for(engine.sync_engine, "connect")
        def _short_busy(dbapi_conn: Any, _record: Any) -> None:
            # SQLite's own wait (5 s in the service) cut short, so the queue's retries run
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=100")
            cur.close()
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def _call(store: CallStore, n: int, **kw: Any) -> Any:
    return store.open_call(uniqueid=f"u-{n}", linkedid=None, channel=f"PJSIP/c-{n}",
                           caller_id_raw=kw.get("raw", f"+7916000{n:04d}"),
                           caller_number=kw.get("number", f"+7916000{n:04d}"), caller=None,
                           started_at=NOW)


async def _events(sm: async_sessionmaker[AsyncSession], uniqueid: str) -> list[str]:
    async with sm() as s:
        cid = await s.scalar(select(CallRow.id).where(CallRow.uniqueid == uniqueid))
        return list((await s.scalars(select(CallEventRow.kind).where(CallEventRow.call_id == cid)
                                     .order_by(CallEventRow.id))).all())


async def test_writes_of_calls_land_in_order_with_the_rows_they_refer_to(
        sm: async_sessionmaker[AsyncSession]) -> None:
    store = CallStore(sm)
    refs = []
    for n in range(30):  # nothing is awaited: the call flow never waits for the database
        ref = _call(store, n)
        for k in range(3):
            store.event(ref, f"step{k}")
        store.update(ref, intent="check_ticket")
        store.finish_call(ref, "completed", [{"node": "bye"}])
        refs.append(ref)
    assert all(r.id is None for r in refs)  # still queued
    await store.writes.flush()
    assert [await r for r in refs] == sorted(r.id for r in refs)
    for n in (0, 29):
        assert await _events(sm, f"u-{n}") == ["call_started", "step0", "step1", "step2",
                                               "call_ended"]
    async with sm() as s:
        rows = (await s.scalars(select(CallRow).order_by(CallRow.id))).all()
    assert [(r.outcome, r.intent, r.path) for r in rows] == \
        [("completed", "check_ticket", [{"node": "bye"}])] * 30
    assert store.writes.stats.committed == 30 * 6 and store.writes.stats.lost == 0
    assert store.writes.stats.transactions < 30 * 6  # batched


async def test_writes_wait_out_a_locked_database_and_all_arrive(
        sm: async_sessionmaker[AsyncSession], db_url: str) -> None:
    store = CallStore(sm)
    async with locked_database(db_url):
        ref = _call(store, 1)
        store.event(ref, "ivr.answered")
        done = store.finish_call(ref, "completed", [])
        async with asyncio.timeout(30):
            while store.writes.stats.retries < 3:  # SQLITE_BUSY, rolled back, retried
                await asyncio.sleep(0.05)
        assert not done.done() and ref.id is None
        async with sm() as s:  # readers go on meanwhile (WAL)
            assert await s.scalar(select(CallRow.id).where(CallRow.uniqueid == "u-1")) is None
    await done
    assert await _events(sm, "u-1") == ["call_started", "ivr.answered", "call_ended"]
    assert store.writes.stats.lost == 0
    assert set(store.writes.stats.failures) == {"SQLITE_BUSY"}
    await store.writes.flush()


async def test_a_write_that_can_never_succeed_is_logged_with_its_data_not_retried(
        sm: async_sessionmaker[AsyncSession]) -> None:
    store = CallStore(sm)
    await store.start_call(uniqueid="dup", linkedid=None, channel=None, caller_id_raw="1",
                           caller_number=None, caller=None, started_at=NOW)
    before = _call(store, 1)
    with structlog.testing.capture_logs() as logs:
        bad = store.open_call(uniqueid="dup", linkedid=None, channel="PJSIP/again",
                              caller_id_raw="+79160000099", caller_number=None, caller=None,
                              started_at=NOW)  # the unique uniqueid: a constraint violation
        after = _call(store, 2)
        store.event(after, "still_stored")
        await store.writes.flush()
    assert before.id is not None and after.id is not None and bad.id is None
    with pytest.raises(WriteLost):
        await bad
    lost = [e for e in logs if e["event"] == "db.write_lost"]
    assert len(lost) == 1 and lost[0]["log_level"] == "error"
    assert lost[0]["what"] == "call_started" and lost[0]["data"]["channel"] == "PJSIP/again"
    assert "IntegrityError" in lost[0]["error"]
    assert store.writes.stats.retries == 0 and store.writes.stats.lost == 1
    assert await _events(sm, "u-2") == ["call_started", "still_stored"]


async def test_a_caller_id_longer_than_its_column_keeps_the_call(
        sm: async_sessionmaker[AsyncSession]) -> None:
    """PostgreSQL refuses a value longer than VARCHAR(n) (SQLite would store it): the write
    path cuts a stored-for-reading text to its column (the caller ID) and refuses a lookup key
    that does not fit (a caller number longer than E.164 allows is no number): the call's row
    and events are stored."""
    store = CallStore(sm)
    raw = "9" * 300
    ref = _call(store, 1, raw=raw, number="+" + "7" * 40)
    store.event(ref, "ivr.answered")
    await store.finish_call(ref, "completed", [])
    async with sm() as s:
        row = await s.scalar(select(CallRow).where(CallRow.uniqueid == "u-1"))
        started = await s.scalar(select(CallEventRow.data).where(
            CallEventRow.call_id == ref.id, CallEventRow.kind == "call_started"))
    assert row is not None and row.outcome == "completed"
    assert row.caller_id_raw == raw[:200] and row.caller_number is None
    # the event keeps the whole caller ID (JSON), with the length the column cut it from
    assert started == {"caller_id": raw, "known": False, "caller_id_truncated_from": 300}


async def test_a_full_queue_refuses_with_an_error_and_a_large_one_warns(
        sm: async_sessionmaker[AsyncSession], db_url: str) -> None:
    writes = WriteQueue(sm, warn_depth=3, max_depth=5)
    store = CallStore(sm, writes)
    with structlog.testing.capture_logs() as logs:
        async with locked_database(db_url):
            refs = [_call(store, n) for n in range(7)]
            refused = refs[5:]
            assert all(r.stored is not None and r.stored.done() for r in refused)
        await writes.flush()
    assert [e["depth"] for e in logs if e["event"] == "db.write_backlog"] == [3]
    assert [e["data"]["uniqueid"] for e in logs if e["event"] == "db.write_refused"] == ["u-5", "u-6"]
    assert [r.id is not None for r in refs] == [True] * 5 + [False] * 2


def test_transient_errors_are_told_by_the_drivers_codes() -> None:
    conn = sqlite3.connect(":memory:")
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = 5  # type: ignore[attr-defined]
    assert transient(exc.OperationalError("INSERT", {}, busy)) == "SQLITE_BUSY"
    try:
        conn.execute("SELECT * FROM nowhere")
    except sqlite3.OperationalError as e:  # a real one: no such table, a bug
        assert transient(exc.OperationalError("SELECT", {}, e)) is None
    try:
        conn.execute("CREATE TABLE t (x UNIQUE)")
        conn.execute("INSERT INTO t VALUES (1), (1)")
    except sqlite3.IntegrityError as e:
        assert transient(exc.IntegrityError("INSERT", {}, e)) is None

    class PgError(Exception):  # what SQLAlchemy's asyncpg adapter raises: sqlstate set
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = self.pgcode = sqlstate

    assert transient(exc.OperationalError("UPDATE", {}, PgError("40001"))) == "SQLSTATE 40001"
    assert transient(exc.OperationalError("UPDATE", {}, PgError("08006"))) == "SQLSTATE 08006"
    assert transient(exc.IntegrityError("INSERT", {}, PgError("23505"))) is None
    assert transient(exc.DataError("INSERT", {}, PgError("22001"))) is None  # value too long
    lost = exc.DBAPIError("SELECT", {}, ConnectionResetError(), connection_invalidated=True)
    assert transient(lost) == "connection lost"
    assert transient(ConnectionRefusedError()) == "ConnectionRefusedError"
    assert transient(ValueError("a bug")) is None


class CommitAnswerLost(WriteQueue):
    """The first transaction commits, then the connection drops before its answer arrives (as
    a network cut right after COMMIT): the queue sees a lost connection and runs the batch again."""

    cut = True

    async def _transaction(self, entries: Any) -> Any:
        out = await super()._transaction(entries)
        if self.cut:
            self.cut = False
            raise exc.OperationalError("COMMIT", {}, ConnectionResetError("reset after commit"))
        return out


async def test_a_commit_whose_answer_was_lost_stores_the_call_once(
        sm: async_sessionmaker[AsyncSession]) -> None:
    writes = CommitAnswerLost(sm, first_delay=0.01)
    store = CallStore(sm, writes)
    ref = _call(store, 1)
    store.event(ref, "ivr.answered")
    await store.finish_call(ref, "completed", [])
    await writes.flush()
    assert writes.stats.retries == 1 and writes.stats.lost == 0
    async with sm() as s:
        rows = (await s.scalars(select(CallRow).where(CallRow.uniqueid == "u-1"))).all()
    assert len(rows) == 1 and rows[0].outcome == "completed" and ref.id == rows[0].id
    assert (await _events(sm, "u-1"))[-1] == "call_ended"
