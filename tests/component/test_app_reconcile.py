"""The reconciler against a real database (SQLite and PostgreSQL) and a CDR file as Asterisk's
cdr_custom writes it: what it closes, what it records, what it leaves alone; through the write
queue (as the service runs it) or on its own; and a write the queue gives up on leaves the
call for the next pass. The e2e side (kill -9, a frozen service) is tests/e2e/test_app_restarts.py
and test_agi_hardening.py."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callrouting.tables import CallAttemptRow
from directory.tables import OperatorRow
from hotline.app.reconcile import Reconciler
from hotline.db.base import make_engine, make_sessionmaker
from hotline.db.calls import CallEventRow, CallRow
from hotline.db.writes import WriteQueue
from hotline.pbx.cdr import FALLBACK, FIELDS, SERVICE, CdrLog
from tests.support.databases import DbBackend

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
async def sm(tmp_path: Path, db_backend: DbBackend) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with db_backend.migrated(tmp_path) as url:
        engine = make_engine(url)
        try:
            yield make_sessionmaker(engine)
        finally:
            await engine.dispose()


def cdr(uniqueid: str, *, dst: str = "", src: str = "+79161234567", start: datetime,
        answer: datetime | None = None, end: datetime, disposition: str = "ANSWERED",
        lastapp: str = "Dial", hotline: str = SERVICE) -> list[str]:
    def t(x: datetime | None) -> str:
        return f"{x.timestamp():.6f}" if x else "0"

    billsec = int((end - answer).total_seconds()) if answer else 0
    row = {"uniqueid": uniqueid, "linkedid": uniqueid, "channel": "PJSIP/trunk-0001",
           "dstchannel": dst, "src": src, "clid": f'"" <{src}>', "dcontext": "hotline",
           "lastapp": lastapp, "start": t(start), "answer": t(answer), "end": t(end),
           "disposition": disposition, "billsec": str(billsec), "hotline": hotline}
    return [row[f] for f in FIELDS]


async def scenario(sm: async_sessionmaker[AsyncSession], cdr_file: Path) -> dict[str, int]:
    """An operator, three open call rows (one served to an operator, one still up, one with no
    CDR for long) with an open attempt, and a call only Asterisk's fallback saw."""
    t0 = NOW - timedelta(minutes=20)
    async with sm() as s, s.begin():
        op = OperatorRow(name="Anna Petrova", extension="1001", sip_password="x" * 16)
        s.add(op)
        await s.flush()
        rows = {u: CallRow(uniqueid=u, started_at=t0, path=[{"node": "main_menu"}])
                for u in ("served.1", "live.2", "lost.3")}
        s.add_all(rows.values())
        await s.flush()
        s.add(CallAttemptRow(call_id=rows["served.1"].id, step_index=0, reason="personal_manager",
                             targets=["1001"], started_at=t0 + timedelta(seconds=30)))
        ids = {u: r.id for u, r in rows.items()} | {"operator": op.id}
    with cdr_file.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cdr("served.1", dst="PJSIP/1001-00000001", start=t0,
                       answer=t0 + timedelta(seconds=35), end=t0 + timedelta(seconds=95)))
        w.writerow(cdr("fallback.4", dst="PJSIP/1001-00000002", src="+79990001122",
                       start=t0 + timedelta(minutes=1), answer=t0 + timedelta(minutes=1, seconds=9),
                       end=t0 + timedelta(minutes=2), lastapp="Queue", hotline=FALLBACK))
    return ids


async def live() -> set[str]:
    return {"live.2"}


@pytest.mark.parametrize("queued", [True, False], ids=["write-queue", "own-transactions"])
async def test_a_pass_closes_records_and_leaves_live_calls_alone(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path, queued: bool,
) -> None:
    ids = await scenario(sm, tmp_path / "Master.csv")
    writes = WriteQueue(sm) if queued else None
    rec = Reconciler(sm, CdrLog(tmp_path / "Master.csv"), live, clock=lambda: NOW, writes=writes)
    report = await rec.run_once()
    assert report.closed == {"transferred": 1, "ended_unknown": 1}
    assert report.fallback_recorded == 1 and report.skipped_live == 1
    async with sm() as s:
        served = await s.get(CallRow, ids["served.1"])
        assert served is not None and served.outcome == "transferred"
        assert served.answered_by_id == ids["operator"] and served.ended_at is not None
        assert served.path[-1]["node"] == "(reconciled)" and "Anna Petrova" in served.path[-1]["detail"]
        attempt = await s.scalar(select(CallAttemptRow).where(CallAttemptRow.call_id == served.id))
        assert attempt is not None and attempt.outcome == "answered"
        assert attempt.answered_by_id == ids["operator"]
        still = await s.get(CallRow, ids["live.2"])
        assert still is not None and still.ended_at is None and still.outcome is None
        lost = await s.get(CallRow, ids["lost.3"])
        assert lost is not None and lost.outcome == "ended_unknown"
        fb = await s.scalar(select(CallRow).where(CallRow.uniqueid == "fallback.4"))
        assert fb is not None and fb.outcome == "fallback_answered"
        assert fb.caller_number == "+79990001122" and fb.answered_by_id == ids["operator"]
        kinds = (await s.scalars(select(CallEventRow.kind).where(CallEventRow.call_id == fb.id)
                                 .order_by(CallEventRow.id))).all()
        assert list(kinds) == ["call_started", "call_ended"]
    # a second pass finds nothing more to do (and records the fallback call only once)
    again = await rec.run_once()
    assert again.closed == {} and again.fallback_recorded == 0
    if writes is not None:
        assert writes.stats.lost == 0 and writes.stats.committed >= 4


async def test_a_write_the_queue_gives_up_on_leaves_the_call_for_the_next_pass(
    sm: async_sessionmaker[AsyncSession], tmp_path: Path,
) -> None:
    ids = await scenario(sm, tmp_path / "Master.csv")
    full = WriteQueue(sm, max_depth=0)  # refuses every write (as a queue that is full)
    rec = Reconciler(sm, CdrLog(tmp_path / "Master.csv"), live, clock=lambda: NOW, writes=full)
    first = await rec.run_once()
    assert first.closed == {} and first.fallback_recorded == 0 and full.stats.lost >= 3
    async with sm() as s:
        served = await s.get(CallRow, ids["served.1"])
        assert served is not None and served.ended_at is None
        assert await s.scalar(select(CallRow).where(CallRow.uniqueid == "fallback.4")) is None
    # the CDRs were read once (the file is not read again): the reconciler kept them, and the
    # next pass, with the database taking writes again, closes and records what it could not
    assert {"served.1", "fallback.4"} <= set(rec.groups)
    rec.writes = WriteQueue(sm)
    second = await rec.run_once()
    assert second.closed == {"transferred": 1, "ended_unknown": 1} and second.fallback_recorded == 1
