"""hotline.db.fields: what a caller or Asterisk sends is stored even when it is longer than its
column (PostgreSQL refuses a too-long VARCHAR where SQLite stores anything), and no call is lost
for it. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callrouting.store import RoutingStore
from hotline.db.calls import CallEventRow, CallRow, CallStore
from ivr.check import parse_dialplan
from ivr.machine import Transfer, TransferResult
from ivr.model import NAME_MAX, NODE_ID_MAX, VERSION_MAX
from ivr.registry import DialplanRegistry
from ivr.session import CallContext, IvrCallFlow
from ivr.store import DialplanVersionStore
from recordings.models import RatingRow, RecordingRow
from recordings.settings import RecordingSettings
from tests.component.test_ivr_session_rating import PLAN, Prompts, ScriptedChannel, manager_id
from tests.support.databases import DbBackend, Seed
from tests.support.seeded_db import copy_of, make_seeded

pytestmark = pytest.mark.component

SEEDED_AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# a SIP From user part of 300 characters, some of them two bytes in UTF-8
LONG_CALLER_ID = '"Ёжик ' + "в тумане " * 30 + '" <' + "7" * 120 + ">"
# Asterisk's unique ids may be 150 characters (AST_MAX_UNIQUEID) with a long systemname
LONG_UNIQUEID = "hotline-" + "x" * 120 + "-1733000000.1"
LONG_CHANNEL = "PJSIP/" + "trunk-" * 50 + "00000001"


@pytest.fixture(scope="module")
def seeded(db_backend: DbBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    with make_seeded(db_backend, tmp_path_factory, "fields", SEEDED_AT) as seed:
        yield seed


@pytest.fixture
async def sm(db_backend: DbBackend, seeded: Seed, tmp_path: Path):  # type: ignore[no-untyped-def]
    async with copy_of(db_backend, seeded, tmp_path) as sessionmaker:
        yield sessionmaker


def _limit(column: Any) -> int:
    return int(column.type.length)


async def test_a_call_with_over_long_caller_values_is_stored_clipped(sm: Any) -> None:
    store = CallStore(sm)
    call_id = await store.start_call(
        uniqueid=LONG_UNIQUEID, linkedid=LONG_UNIQUEID, channel=LONG_CHANNEL,
        caller_id_raw=LONG_CALLER_ID, caller_number=None, caller=None, started_at=SEEDED_AT,
    )
    await store.finish_call(call_id, "caller_hung_up", [{"node": "start", "digits": "1" * 500}])
    row = await store.get_by_uniqueid(LONG_UNIQUEID)  # found by its whole unique id
    assert row is not None and row.id == call_id and row.outcome == "caller_hung_up"
    assert row.linkedid == LONG_UNIQUEID
    limit = _limit(CallRow.__table__.c.caller_id_raw)
    assert len(LONG_CALLER_ID) > limit and row.caller_id_raw == LONG_CALLER_ID[:limit]
    limit = _limit(CallRow.__table__.c.channel)
    assert len(LONG_CHANNEL) > limit and row.channel == LONG_CHANNEL[:limit]
    assert row.path == [{"node": "start", "digits": "1" * 500}]
    async with sm() as s:
        started = await s.scalar(select(CallEventRow).where(
            CallEventRow.call_id == call_id, CallEventRow.kind == "call_started"))
    assert started is not None and started.data["caller_id"] == LONG_CALLER_ID  # JSON: whole


async def test_the_ivr_serves_and_stores_a_caller_with_an_over_long_caller_id(
        sm: Any, tmp_path: Path) -> None:
    dp, problems = parse_dialplan(PLAN.format(record="true"), "r.yaml")
    assert dp is not None, problems
    rec_dir = tmp_path / "rec"
    settings = RecordingSettings(dir=rec_dir, asterisk_dir="/var/spool/asterisk/recordings")
    chan = ScriptedChannel(["4"], rec_dir, settings.asterisk_dir or "")
    chan.env.update(agi_callerid=LONG_CALLER_ID, agi_uniqueid=LONG_UNIQUEID,
                    agi_linkedid=LONG_UNIQUEID, agi_channel=LONG_CHANNEL)
    chan.uniqueid = LONG_UNIQUEID
    op_id, _ = await manager_id(sm)
    calls = CallStore(sm)
    routing = RoutingStore(sm, writes=calls.writes)  # one write path, as in the service

    async def transfer(ch: Any, effect: Transfer, ctx: CallContext) -> TransferResult:
        await routing.mark_answered(ctx.call_id, op_id, datetime.now(UTC))
        return TransferResult("answered")

    flow = IvrCallFlow(calls, lambda: dp, Prompts(), None,  # type: ignore[arg-type]
                       transfer=transfer, recordings=settings)
    await flow(chan)  # type: ignore[arg-type]
    await calls.writes.flush()  # the rating and recording rows are written behind the call
    async with sm() as s:
        call = await s.scalar(select(CallRow).where(CallRow.uniqueid == LONG_UNIQUEID))
        assert call is not None
        rating = await s.scalar(select(RatingRow).where(RatingRow.call_id == call.id))
        recs = (await s.scalars(select(RecordingRow).where(RecordingRow.call_id == call.id))).all()
    assert call.outcome is not None and call.ended_at is not None and call.answered_by_id == op_id
    assert call.caller_id_raw is not None and LONG_CALLER_ID.startswith(call.caller_id_raw)
    assert rating is not None and rating.score == 4 and len(recs) == 1


LONGEST = """\
version: "{version}"
name: {name}
timezone: Europe/Moscow
languages: [en]
voice: amy
start: {node}
operator_node: {node}
rating:
  ask: "Rate us from 1 to 5."
  retry: "Press one key from 1 to 5."
  thanks: "Thank you."
nodes:
  {node}:
    type: operator
    record: false
"""


def longest_dialplan(**over: int) -> str:
    sizes = {"version": VERSION_MAX, "name": NAME_MAX, "node": NODE_ID_MAX} | over
    return LONGEST.format(version="9" * sizes["version"], name="n" * sizes["name"],
                          node="o" * sizes["node"])


@pytest.mark.parametrize("field", ["version", "name", "node"])
def test_a_dialplan_over_the_stored_lengths_is_refused_with_its_line(field: str) -> None:
    limit = {"version": VERSION_MAX, "name": NAME_MAX, "node": NODE_ID_MAX}[field]
    dp, problems = parse_dialplan(longest_dialplan(**{field: limit + 1}), "long.yaml")
    assert dp is None
    assert any(p.startswith("long.yaml:") and f"at most {limit} characters" in p
               for p in map(str, problems)), problems


async def test_the_longest_dialplan_the_model_allows_is_stored_with_its_calls(
        sm: Any, tmp_path: Path) -> None:
    """Name, version and node ids at their limits: the registry stores the version, a call
    stores the version id, and the recording row (off: its reason names the node) fits."""
    file = tmp_path / "long.yaml"
    file.write_text(longest_dialplan())
    registry = DialplanRegistry(file, DialplanVersionStore(sm))
    await registry.load_file()
    dp = registry.active
    assert dp is not None and registry.active_version is not None
    rec_dir = tmp_path / "rec"
    settings = RecordingSettings(dir=rec_dir, asterisk_dir="/var/spool/asterisk/recordings")
    chan = ScriptedChannel(["5"], rec_dir, settings.asterisk_dir or "")
    op_id, _ = await manager_id(sm)
    calls = CallStore(sm)
    routing = RoutingStore(sm, writes=calls.writes)  # one write path, as in the service

    async def transfer(ch: Any, effect: Transfer, ctx: CallContext) -> TransferResult:
        await routing.mark_answered(ctx.call_id, op_id, datetime.now(UTC))
        return TransferResult("answered")

    flow = IvrCallFlow(calls, registry, Prompts(), None,  # type: ignore[arg-type]
                       transfer=transfer, recordings=settings)
    await flow(chan)  # type: ignore[arg-type]
    await flow.store.writes.flush()  # the rating and recording rows are written behind the call
    async with sm() as s:
        call = await s.scalar(select(CallRow).where(CallRow.uniqueid == chan.uniqueid))
        assert call is not None
        recs = (await s.scalars(select(RecordingRow).where(RecordingRow.call_id == call.id))).all()
        rating = await s.scalar(select(RatingRow).where(RatingRow.call_id == call.id))
    assert call.dialplan_version == dp.version_id and len(dp.version_id) > 80
    assert [(r.enabled, r.node) for r in recs] == [(False, "o" * NODE_ID_MAX)]
    assert rating is not None and rating.score == 5
