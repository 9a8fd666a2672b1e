"""The rating asked by the voice bot: `BotGateway.ask_rating` over a loopback AudioSocket (a fake
Asterisk), and the IVR session using it (scripted AGI channel, SQLite), with fake ASR/TTS/VAD."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callrouting.store import RoutingStore
from hotline.app.settings import Settings
from hotline.db.calls import CallEventRow, CallRow, CallStore
from hotline.pbx.agi import AgiHangup
from hotline.pbx.settings import ServiceSettings
from ivr.check import parse_dialplan
from ivr.machine import Transfer, TransferResult
from ivr.session import CallContext, IvrCallFlow
from recordings.models import RatingRow
from tests.component import test_ivr_session_rating as rating_session
from tests.component.test_ivr_session_rating import PLAN, Prompts, ScriptedChannel, manager_id
from tests.component.test_voicebot_server import FakeAsterisk
from tests.e2e.peers import free_tcp_port
from tests.support.bot_fakes import NOW, EnergyClassifier, NoFacts, ScriptedAsr, ToneTts, tone
from voicebot.codec import DtmfFrame, encode
from voicebot.gateway import BotGateway, BotUnavailable
from voicebot.rating import RATING_PHRASES, RatingAnswer

pytestmark = pytest.mark.component

seeded = rating_session.seeded  # the migrated, seeded database fixtures
sm = rating_session.sm

ASK, RETRY = "Rate us from 1 to 5.", "Press one key from 1 to 5."
Caller = Callable[[FakeAsterisk], Awaitable[None]]  # what the caller does on the socket


class PhrasesAsr(ScriptedAsr):
    """Scripted ASR that remembers the phrases each recognizer was limited to."""

    def __init__(self, *texts: str) -> None:
        super().__init__(*texts)
        self.phrases: list[tuple[str, ...] | None] = []

    def recognizer(self, phrases=None):  # type: ignore[no-untyped-def]
        self.phrases.append(tuple(phrases) if phrases else None)
        return super().recognizer(phrases)


@pytest.fixture
async def asr() -> PhrasesAsr:
    return PhrasesAsr()


@pytest.fixture
async def gateway(asr: PhrasesAsr) -> AsyncIterator[BotGateway]:
    settings = Settings(service=ServiceSettings(audiosocket_port=free_tcp_port()))
    gw = BotGateway(settings, NoFacts(), lambda: asr, ToneTts(), lambda: datetime.now(UTC),
                    classifier_factory=EnergyClassifier)  # fmt: skip
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


class SocketChannel:
    """Enough of an AGI channel for the gateway: `EXEC AudioSocket` connects a fake Asterisk,
    lets `caller` act on it, and returns when the bot hangs the socket up."""

    def __init__(self, caller: Caller, hang_up: bool = False) -> None:
        self.caller, self.hang_up = caller, hang_up
        self.uniqueid = "u-1"
        self.hung_up = False
        self.log: list[str] = []

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> object:
        self.log.append(f"EXEC {app} {args}")
        assert app == "AudioSocket"
        call, hostport = args.split(",")
        ast = await FakeAsterisk.connect(int(hostport.rsplit(":", 1)[1]), uuid.UUID(call))
        try:
            await self.caller(ast)
            if self.hang_up:
                self.hung_up = True
                raise AgiHangup("caller hung up")
            await asyncio.wait_for(ast.closed.wait(), 15)
        finally:
            await ast.close()
        return None

    async def set_variable(self, name: str, value: str) -> None:
        self.log.append(f"SET {name}={value}")


def says(text: str, after: float = 0.2) -> Caller:
    async def act(ast: FakeAsterisk) -> None:
        await asyncio.sleep(after)
        ast.speech = tone(500)  # the scripted ASR hears `text` in it
    return act


def presses(digit: str, after: float = 0.2) -> Caller:
    async def act(ast: FakeAsterisk) -> None:
        await asyncio.sleep(after)
        ast.writer.write(encode(DtmfFrame(digit)))
    return act


async def silent(ast: FakeAsterisk) -> None:
    return None


async def test_spoken_five_is_five_by_speech(gateway: BotGateway, asr: PhrasesAsr) -> None:
    asr.texts.append("five")
    chan = SocketChannel(says("five"))
    answer = await gateway.ask_rating(chan, [ASK, RETRY], {}, timeout=2)  # type: ignore[arg-type]
    assert answer == RatingAnswer(5, "speech", "five", 1, "rated")
    assert asr.phrases == [RATING_PHRASES]  # the recognizer was limited to the scores
    assert gateway.tts.engine.spoken[-1:] == [ASK]  # type: ignore[attr-defined]
    assert not gateway.sessions and not gateway._expected


async def test_key_four_is_four_by_key(gateway: BotGateway) -> None:
    answer = await gateway.ask_rating(SocketChannel(presses("4")), [ASK, RETRY],  # type: ignore[arg-type]
                                      timeout=2)  # fmt: skip
    assert answer == RatingAnswer(4, "key", "4", 1, "rated")


async def test_silence_twice_is_no_rating(gateway: BotGateway) -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    answer = await gateway.ask_rating(SocketChannel(silent), [ASK, RETRY],  # type: ignore[arg-type]
                                      timeout=0.4)  # fmt: skip
    assert answer == RatingAnswer(None, None, "", 2, "no_input")
    # both prompts (10 ms a character) and two 0.4 s waits
    assert 0.8 + (len(ASK) + len(RETRY)) * 0.01 <= loop.time() - t0 < 5
    spoken = gateway.tts.engine.spoken  # type: ignore[attr-defined]
    assert spoken[-2:] == [ASK, RETRY]


async def test_unknown_words_then_a_key(gateway: BotGateway, asr: PhrasesAsr) -> None:
    asr.texts.append("hello")

    async def act(ast: FakeAsterisk) -> None:
        await says("hello")(ast)
        await asyncio.sleep(1.5)  # heard, retry asked
        ast.writer.write(encode(DtmfFrame("2")))

    answer = await gateway.ask_rating(SocketChannel(act), [ASK, RETRY], timeout=3)  # type: ignore[arg-type]
    assert answer == RatingAnswer(2, "key", "2", 2, "rated")


async def test_caller_hangs_up_during_the_rating(gateway: BotGateway) -> None:
    with pytest.raises(AgiHangup):
        await gateway.ask_rating(SocketChannel(silent, hang_up=True), [ASK], timeout=2)  # type: ignore[arg-type]


async def test_no_socket_connection_is_unavailable(gateway: BotGateway) -> None:
    class NoSocket:
        uniqueid, hung_up = "u-1", False

        async def exec(self, app: str, args: str = "", timeout: float | None = None) -> object:
            return None  # AudioSocket() failed at once: nobody connected

    with pytest.raises(BotUnavailable):
        await gateway.ask_rating(NoSocket(), [ASK], timeout=1)  # type: ignore[arg-type]


# --- the IVR session --------------------------------------------------------------------------


class RatingChannel(ScriptedChannel):
    """The scripted AGI channel of test_rating_session, with AudioSocket through `caller`."""

    def __init__(self, caller: Caller | None, replies: list[str], tmp: Path) -> None:
        super().__init__(replies, tmp, "/rec")
        self.socket = SocketChannel(caller or silent)

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> object:
        if app == "AudioSocket":
            self.log.append("EXEC AudioSocket")
            return await self.socket.exec(app, args, timeout)
        return await super().exec(app, args, timeout)


async def rated_call(sm: Any, tmp_path: Path, bot: Any, caller: Caller | None,
                     replies: list[str] | None = None, language_plan: str = PLAN,
                     ) -> tuple[RatingChannel, CallRow, RatingRow | None, list[CallEventRow]]:
    dp, problems = parse_dialplan(language_plan.format(record="false"), "r.yaml")
    assert dp is not None, problems
    chan = RatingChannel(caller, list(replies or []), tmp_path)
    op_id, _ = await manager_id(sm)
    calls = CallStore(sm)
    routing = RoutingStore(sm, writes=calls.writes)  # one write path, as in the service

    async def transfer(ch: Any, effect: Transfer, ctx: CallContext) -> TransferResult:
        await routing.mark_answered(ctx.call_id, op_id, NOW)
        return TransferResult("answered")

    flow = IvrCallFlow(calls, lambda: dp, Prompts(), None, bot=bot,  # type: ignore[arg-type]
                       transfer=transfer)  # fmt: skip
    await flow(chan)  # type: ignore[arg-type]
    async with sm() as s:
        call = await s.scalar(select(CallRow).where(CallRow.uniqueid == "u-1"))
        assert call is not None
        rating = await s.scalar(select(RatingRow).where(RatingRow.call_id == call.id))
        events = list((await s.scalars(select(CallEventRow).where(
            CallEventRow.call_id == call.id))).all())  # fmt: skip
    return chan, call, rating, events


async def test_ivr_rating_by_speech(sm: Any, tmp_path: Path, gateway: BotGateway,
                                   asr: PhrasesAsr) -> None:  # fmt: skip
    asr.texts.append("five")
    chan, call, rating, events = await rated_call(sm, tmp_path, gateway, says("five"))
    assert rating is not None and (rating.score, rating.status, rating.via) == (5, "rated", "speech")
    assert not any(c.startswith("GET DATA") for c in chan.log)  # asked over AudioSocket
    assert chan.log[-3:] == ["STREAM tts/Thank you.", "SET HOTLINE_DONE=1", "HANGUP"]
    assert call.path[-1]["detail"] == "rated 5 by speech ('five')"
    (ev,) = [e for e in events if e.kind == "ivr.rating_by_bot"]
    assert ev.data == {"score": 5, "via": "speech", "heard": "five", "attempts": 1,
                       "reason": "rated"}  # fmt: skip
    assert call.outcome == "transferred"


async def test_ivr_rating_by_key_over_the_bot(sm: Any, tmp_path: Path, gateway: BotGateway) -> None:
    chan, call, rating, _ = await rated_call(sm, tmp_path, gateway, presses("4"))
    assert rating is not None and (rating.score, rating.via) == (4, "key")
    assert call.path[-1]["detail"] == "rated 4"  # as by GET DATA


async def test_ivr_silence_twice_over_the_bot(sm: Any, tmp_path: Path) -> None:
    settings = Settings(service=ServiceSettings(audiosocket_port=free_tcp_port()))
    gw = BotGateway(settings, NoFacts(), ScriptedAsr, ToneTts(), lambda: datetime.now(UTC),
                    classifier_factory=EnergyClassifier)  # fmt: skip
    await gw.start()
    try:
        plan = PLAN.replace('  thanks: "Thank you."\n', '  thanks: "Thank you."\n  timeout: 1\n')
        chan, call, rating, _ = await rated_call(sm, tmp_path, gw, silent, language_plan=plan)
    finally:
        await gw.stop()
    assert rating is not None and (rating.score, rating.status) == (None, "no_rating")
    assert [c for c in chan.log if c.startswith("EXEC AudioSocket")] == ["EXEC AudioSocket"]
    assert call.path[-1]["detail"] == "no input, not rated"


class BrokenBot:
    """Has `ask_rating`, but its session never runs: the IVR asks by keys instead."""

    def __init__(self, speaks: bool = True) -> None:
        self._speaks = speaks
        self.asked = 0

    def speaks(self, language: str) -> bool:
        return self._speaks

    async def ask_rating(self, *args: Any, **kwargs: Any) -> RatingAnswer:
        self.asked += 1
        raise BotUnavailable("no AudioSocket connection")

    async def __call__(self, *args: Any) -> Any:
        raise AssertionError("no bot node in this dialplan")


@pytest.mark.parametrize("speaks", [True, False])
async def test_without_a_working_bot_the_rating_is_by_keys(sm: Any, tmp_path: Path,
                                                           speaks: bool) -> None:  # fmt: skip
    bot = BrokenBot(speaks)
    chan, call, rating, _ = await rated_call(sm, tmp_path, bot, None, replies=["3"])
    assert bot.asked == (1 if speaks else 0)
    assert any(c.startswith('GET DATA "tts/Rate us from 1 to 5."') for c in chan.log)
    assert rating is not None and rating.score == 3 and call.path[-1]["detail"] == "rated 3"


# --- the IVR's bot node ----------------------------------------------------------------------

BOT_PLAN = """\
version: 1
name: bot-session
timezone: Europe/Moscow
languages: [en]
voice: amy
start: assistant
operator_node: op
rating:
  ask: "Rate us from 1 to 5."
  retry: "Press one key from 1 to 5."
  thanks: "Thank you."
nodes:
  assistant:
    type: bot
    topic: general
    next: bye
  op:
    type: operator
  bye:
    type: hangup
"""


async def test_ivr_bot_node_stores_what_the_bot_learned(sm: Any, tmp_path: Path, gateway: BotGateway,
                                                       asr: PhrasesAsr) -> None:  # fmt: skip
    """The IVR hands the gateway its CallContext: intent, transcript and the bot's outcome are
    stored with the call (`make call` after hours once ended in ivr.bot_failed here)."""
    asr.texts.append("when is the next draw")
    calls = CallStore(sm)
    gateway.store = calls  # the service gives the bot the call store (one write path)
    dp, problems = parse_dialplan(BOT_PLAN, "b.yaml")
    assert dp is not None, problems

    async def asks_then_hangs_up(ast: FakeAsterisk) -> None:
        await says("when is the next draw")(ast)
        await asyncio.sleep(3.0)  # the bot answers

    chan = RatingChannel(asks_then_hangs_up, [], tmp_path)
    chan.socket.hang_up = True
    flow = IvrCallFlow(calls, lambda: dp, Prompts(), None, bot=gateway)  # type: ignore[arg-type]
    await flow(chan)  # type: ignore[arg-type]
    async with sm() as s:
        call = await s.scalar(select(CallRow).where(CallRow.uniqueid == "u-1"))
    assert call is not None
    assert [p.get("detail") for p in call.path if p["node"] == "assistant"] == [""]  # no "bot failed"
    assert call.outcome == "caller_hung_up"
    assert call.intent == "next_draw"
    assert [e["text"] for e in call.bot_transcript or [] if e["speaker"] == "caller"] == [
        "when is the next draw"]
    assert call.context is not None and call.context["bot"]["outcome"] == "hangup"
    assert call.context["bot"]["intent"] == "next_draw"
