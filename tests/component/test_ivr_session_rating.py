"""The IVR session asks for the rating, records the conversation and stores both: a scripted
AGI channel (no Asterisk) over a migrated SQLite database with the demo directory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callrouting.store import RoutingStore
from directory.tables import OperatorRow
from hotline.db.calls import CallEventRow, CallRow, CallStore
from hotline.pbx.agi import AgiHangup
from ivr.check import parse_dialplan
from ivr.machine import ResolvedPrompt, Transfer, TransferResult
from ivr.session import CallContext, IvrCallFlow
from recordings.models import RatingRow, RecordingRow
from recordings.settings import RecordingSettings
from tests.support.databases import DbBackend, Seed
from tests.support.qa_env import write_wav
from tests.support.seeded_db import copy_of, make_seeded

pytestmark = pytest.mark.component

SEEDED_AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CALLER = "89161234567"  # Maria Ivanova, manager 1001 (team Hotline)

PLAN = """\
version: 1
name: rating-session
timezone: Europe/Moscow
languages: [en]
voice: amy
start: op
operator_node: op
rating:
  ask: "Rate us from 1 to 5."
  retry: "Press one key from 1 to 5."
  thanks: "Thank you."
nodes:
  op:
    type: operator
    record: {record}
"""


@pytest.fixture(scope="module")
def seeded(db_backend: DbBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    with make_seeded(db_backend, tmp_path_factory, "rating_session", SEEDED_AT) as seed:
        yield seed


@pytest.fixture
async def sm(db_backend: DbBackend, seeded: Seed, tmp_path: Path):  # type: ignore[no-untyped-def]
    async with copy_of(db_backend, seeded, tmp_path) as sessionmaker:
        yield sessionmaker


class ScriptedChannel:
    """Enough of `hotline.pbx.agi.AgiChannel` for the session: GET DATA replies come from a list
    ("-1" = the caller hangs up); MixMonitor writes a WAV as Asterisk would."""

    def __init__(self, replies: list[str], recordings: Path, inside: str):
        self.replies = list(replies)
        self.recordings, self.inside = recordings, inside
        self.env = {"agi_callerid": CALLER, "agi_uniqueid": "u-1", "agi_channel": "PJSIP/c-1"}
        self.uniqueid = "u-1"
        self.hung_up = False
        self.log: list[str] = []

    async def answer(self) -> None:
        self.log.append("ANSWER")

    async def stream_file(self, name: str, escape: str = "") -> str | None:
        self.log.append(f"STREAM {name}")
        return None

    async def command_line(self, cmd: str, timeout: float | None = 60) -> str:
        if self.hung_up:
            raise AgiHangup("channel hung up")
        self.log.append(cmd)
        reply = self.replies.pop(0)
        if reply == "-1":
            self.hung_up = True
            return "200 result=-1"
        return f"200 result={reply}" if reply else "200 result= (timeout)"

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> object:
        if self.hung_up:
            raise AgiHangup("channel hung up")
        self.log.append(f"EXEC {app} {args}".strip())
        if app == "MixMonitor":
            file = args.split(",")[0]
            assert file.startswith(self.inside + "/")
            write_wav(self.recordings / file[len(self.inside) + 1:], seconds=2.0)
        return None

    async def set_variable(self, name: str, value: str) -> None:
        self.log.append(f"SET {name}={value}")

    async def get_variable(self, name: str) -> str | None:
        return None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        return None

    async def hangup(self) -> None:
        self.log.append("HANGUP")
        self.hung_up = True


class Prompts:
    async def target(self, prompt: ResolvedPrompt) -> str:
        return f"tts/{prompt.text}"

    @contextlib.asynccontextmanager
    async def playing(self, prompt: ResolvedPrompt) -> AsyncIterator[str]:
        yield await self.target(prompt)


async def manager_id(sm: Any) -> tuple[int, int]:
    async with sm() as s:
        op = await s.scalar(select(OperatorRow).where(OperatorRow.extension == "1001"))
    assert op is not None and op.team_id is not None
    return op.id, op.team_id


async def run_call(sm: Any, tmp_path: Path, replies: list[str], *, record: bool = True,
                   answered: bool = True, caller_leaves_in_talk: bool = False,
                   ) -> tuple[ScriptedChannel, CallRow, RatingRow | None, list[RecordingRow]]:
    dp, problems = parse_dialplan(PLAN.format(record=str(record).lower()), "r.yaml")
    assert dp is not None, problems
    rec_dir = tmp_path / "rec"
    settings = RecordingSettings(dir=rec_dir, asterisk_dir="/var/spool/asterisk/recordings")
    chan = ScriptedChannel(replies, rec_dir, settings.asterisk_dir or "")
    op_id, _ = await manager_id(sm)
    calls = CallStore(sm)
    routing = RoutingStore(sm, writes=calls.writes)  # one write path, as in the service

    async def transfer(ch: Any, effect: Transfer, ctx: CallContext) -> TransferResult:
        ch.log.append("DIAL")
        if not answered:
            return TransferResult("failed")
        await routing.mark_answered(ctx.call_id, op_id, datetime.now(UTC))
        if caller_leaves_in_talk:
            ch.hung_up = True  # Dial returned -1: the caller hung up on the operator
        return TransferResult("answered")

    flow = IvrCallFlow(calls, lambda: dp, Prompts(), None,  # type: ignore[arg-type]
                       transfer=transfer, recordings=settings)
    await flow(chan)  # type: ignore[arg-type]
    async with sm() as s:
        call = await s.scalar(select(CallRow).where(CallRow.uniqueid == "u-1"))
        assert call is not None
        rating = await s.scalar(select(RatingRow).where(RatingRow.call_id == call.id))
        recs = list((await s.scalars(select(RecordingRow).where(RecordingRow.call_id == call.id))).all())
    return chan, call, rating, recs


async def test_rated_call_links_operator_team_and_recording(sm: Any, tmp_path: Path) -> None:
    chan, call, rating, recs = await run_call(sm, tmp_path, ["4"])
    op_id, team_id = await manager_id(sm)
    (rec,) = recs
    assert rating is not None and (rating.score, rating.status, rating.via) == (4, "rated", "key")
    assert (rating.operator_id, rating.team_id, rating.recording_id) == (op_id, team_id, rec.id)
    assert rec.enabled and rec.node == "op" and rec.size and rec.duration == 2.0
    assert f"call-{call.id}-" in (rec.path or "")
    assert call.outcome == "transferred" and call.answered_by_id == op_id
    mix = next(i for i, c in enumerate(chan.log) if c.startswith("EXEC MixMonitor"))
    assert chan.log[mix].endswith(",b")  # bridged audio only: from the operator's answer
    assert chan.log[mix + 1] == "DIAL" and chan.log[mix + 2] == "EXEC StopMixMonitor"
    assert chan.log[mix + 3].startswith('GET DATA "tts/Rate us from 1 to 5." 5000 1')
    assert chan.log[-3:] == ["STREAM tts/Thank you.", "SET HOTLINE_DONE=1", "HANGUP"]
    steps = [(p["node"], p["detail"]) for p in call.path]
    assert steps[-2:] == [("(transfer answered)", ""), ("(rating)", "rated 4")]


async def test_invalid_then_valid_key(sm: Any, tmp_path: Path) -> None:
    chan, _, rating, _ = await run_call(sm, tmp_path, ["9", "2"])
    assert rating is not None and rating.score == 2
    asks = [c for c in chan.log if c.startswith("GET DATA")]
    assert asks[1].startswith('GET DATA "tts/Press one key from 1 to 5."')


async def test_no_input_twice_is_no_rating(sm: Any, tmp_path: Path) -> None:
    chan, call, rating, recs = await run_call(sm, tmp_path, ["", ""])
    assert rating is not None and (rating.score, rating.status) == (None, "no_rating")
    assert rating.operator_id is not None and rating.recording_id == recs[0].id
    assert "STREAM tts/Thank you." in chan.log and call.outcome == "transferred"


@pytest.mark.parametrize("in_talk", [False, True])
async def test_caller_hangs_up_is_no_rating_not_lost(sm: Any, tmp_path: Path, in_talk: bool) -> None:
    chan, call, rating, recs = await run_call(sm, tmp_path, ["-1"], caller_leaves_in_talk=in_talk)
    assert rating is not None and (rating.score, rating.status) == (None, "no_rating")
    assert rating.recording_id == recs[0].id and recs[0].size  # finished after the hang-up
    assert call.outcome == "transferred" and call.ended_at is not None
    assert ("EXEC StopMixMonitor" in chan.log) is not in_talk
    async with sm() as s:
        ev = await s.scalar(select(CallEventRow).where(CallEventRow.call_id == call.id,
                                                       CallEventRow.kind == "rating"))
    assert ev is not None and ev.data["reason"] == "caller_hangup"


async def test_record_false_is_visible_and_rating_still_stored(sm: Any, tmp_path: Path) -> None:
    chan, _, rating, recs = await run_call(sm, tmp_path, ["5"], record=False)
    (rec,) = recs
    assert not rec.enabled and rec.path is None and rec.disabled_reason == "dialplan node op has record: false"
    assert not any(c.startswith("EXEC MixMonitor") or c == "EXEC StopMixMonitor" for c in chan.log)
    assert rating is not None and rating.score == 5 and rating.recording_id == rec.id


async def test_unanswered_transfer_is_not_rated(sm: Any, tmp_path: Path) -> None:
    _, call, rating, recs = await run_call(sm, tmp_path, [], answered=False)
    assert rating is None and call.outcome == "transfer_failed"
    assert recs[0].enabled  # MixMonitor ran (option b wrote nothing useful); row finished

