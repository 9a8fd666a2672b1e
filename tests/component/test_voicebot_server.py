"""The AudioSocket server with a loopback fake Asterisk: pacing, DTMF, hang-up, bad bytes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import structlog
import structlog.testing

from hotline.app.settings import Settings
from hotline.pbx.settings import ServiceSettings
from tests.e2e.peers import free_tcp_port
from tests.support.bot_fakes import NOW, EnergyClassifier, NoFacts, ScriptedAsr, ToneTts, tone
from voicebot.codec import (
    AudioFrame,
    DtmfFrame,
    FrameDecoder,
    HangupFrame,
    UuidFrame,
    encode,
)
from voicebot.dialog import TRANSFERRING, DialogSettings
from voicebot.gateway import BotGateway
from voicebot.session import SessionSettings


@dataclass
class FakeAsterisk:
    """One AudioSocket connection as Asterisk makes it: UUID first, then 20 ms audio frames."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    received: list[tuple[float, object]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    speech: bytes = b""  # queued caller audio, sent 320 bytes per frame
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def connect(cls, port: int, call: uuid.UUID) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        fake = cls(reader, writer)
        writer.write(encode(UuidFrame(call)))
        fake._tasks = [asyncio.create_task(fake._read(), name="fake-ast-read"),
                       asyncio.create_task(fake._send(), name="fake-ast-send")]
        return fake

    async def _read(self) -> None:
        dec = FrameDecoder()
        loop = asyncio.get_running_loop()
        while data := await self.reader.read(4096):
            for f in dec.feed(data):
                self.received.append((loop.time(), f))
        self.closed.set()

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while not self.writer.is_closing():
            chunk, self.speech = self.speech[:320], self.speech[320:]
            self.writer.write(encode(AudioFrame(chunk.ljust(320, b"\0"))))
            n += 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))

    def audio(self) -> list[tuple[float, bytes]]:
        return [(t, f.pcm) for t, f in self.received if isinstance(f, AudioFrame)]

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


@pytest.fixture
async def gateway() -> AsyncIterator[BotGateway]:
    settings = Settings(service=ServiceSettings(audiosocket_port=free_tcp_port()))
    asr = ScriptedAsr(*["when is the next draw"] * 10)
    gw = BotGateway(settings, NoFacts(), lambda: asr, ToneTts(), lambda: NOW,
                    session_settings=SessionSettings(dialog=DialogSettings()),
                    classifier_factory=EnergyClassifier)  # the fakes make no noise of their own
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


async def test_paced_frames_and_greeting(gateway: BotGateway) -> None:
    call, result = gateway.expect()
    ast = await FakeAsterisk.connect(gateway.port, call)
    await asyncio.sleep(1.0)
    frames = ast.audio()
    await ast.close()
    assert all(len(pcm) == 320 for _, pcm in frames)
    assert 45 <= len(frames) <= 55, len(frames)  # 50 frames a second, not a burst
    assert any(any(pcm) for _, pcm in frames[:5]), "the greeting starts at once"
    gaps = [b - a for (a, _), (b, _) in zip(frames, frames[1:], strict=False)]
    assert max(gaps) < 0.08
    assert (await asyncio.wait_for(result, 2)).outcome == "hangup"


async def test_dtmf_zero_barges_in_and_transfers(gateway: BotGateway) -> None:
    call, result = gateway.expect()
    ast = await FakeAsterisk.connect(gateway.port, call)
    await asyncio.sleep(0.5)  # the greeting is playing
    loop = asyncio.get_running_loop()
    pressed = loop.time()
    ast.writer.write(encode(DtmfFrame("0")))
    await asyncio.wait_for(ast.closed.wait(), 10)
    await ast.close()
    res = await asyncio.wait_for(result, 2)
    assert res.outcome == "operator" and res.reason == "dtmf_0"
    assert res.bargein_stops and res.bargein_stops[0] <= 0.2
    assert isinstance(ast.received[-1][1], HangupFrame)  # AudioSocket() returns 0: AGI goes on
    # after the key: at most 200 ms of greeting, then only "Connecting you..." (10 ms a char)
    voiced_after = sum(1 for t, pcm in ast.audio() if t > pressed and any(pcm))
    transferring = len(TRANSFERRING) // 2
    assert transferring <= voiced_after <= transferring + 10 + 1


async def test_caller_question_gets_an_answer(gateway: BotGateway) -> None:
    call, result = gateway.expect()
    ast = await FakeAsterisk.connect(gateway.port, call)
    await asyncio.sleep(0.3)
    ast.speech = tone(800)  # barges into the greeting, then asks
    await asyncio.sleep(3.0)
    await ast.close()
    res = await asyncio.wait_for(result, 2)
    assert res.intent == "next_draw"
    assert [e.text for e in res.transcript if e.speaker == "caller"] == ["when is the next draw"]
    assert res.bargein_stops and max(res.bargein_stops) <= 0.2
    assert res.turn_latencies and res.turn_latencies[0] < 0.5


async def test_hangup_frame_ends_the_session(gateway: BotGateway) -> None:
    call, result = gateway.expect()
    ast = await FakeAsterisk.connect(gateway.port, call)
    await asyncio.sleep(0.2)
    ast.writer.write(encode(HangupFrame()))
    res = await asyncio.wait_for(result, 2)
    await ast.close()
    assert res.outcome == "hangup"
    assert not gateway.sessions


@pytest.mark.parametrize("garbage", [b"\x42\x00\x01x", b"\x10\x00\x03abc", b"\x03\x00\x01Z"])
async def test_bad_bytes_close_only_that_connection(gateway: BotGateway, garbage: bytes) -> None:
    call, result = gateway.expect()
    ast = await FakeAsterisk.connect(gateway.port, call)
    await asyncio.sleep(0.1)
    ast.writer.write(garbage)
    await asyncio.wait_for(ast.closed.wait(), 2)
    await ast.close()
    res = await asyncio.wait_for(result, 2)
    assert res.outcome == "failed" and "bad AudioSocket bytes" in res.reason
    call2, result2 = gateway.expect()  # the server still serves
    ast2 = await FakeAsterisk.connect(gateway.port, call2)
    await asyncio.sleep(0.2)
    assert ast2.audio()
    await ast2.close()
    await asyncio.wait_for(result2, 2)


async def test_unknown_uuid_is_hung_up(gateway: BotGateway) -> None:
    ast = await FakeAsterisk.connect(gateway.port, uuid.uuid4())
    await asyncio.wait_for(ast.closed.wait(), 2)
    await ast.close()
    assert [type(f) for _, f in ast.received] == [HangupFrame]


class FailingOnceAsr(ScriptedAsr):
    """The first utterance's recogniser fails at final() (as when an ASR worker process dies)."""

    def __init__(self, *texts: str) -> None:
        super().__init__(*texts)
        self.failed = False

    def recognizer(self, phrases=None):  # type: ignore[no-untyped-def]
        from voicebot.asr import AsrError

        rec = super().recognizer(phrases)
        if not self.failed:
            self.failed = True

            def fail() -> None:
                raise AsrError("the ASR worker process ended")

            rec.final = fail  # type: ignore[method-assign]
        return rec


async def test_a_recogniser_failure_loses_one_turn_not_the_call() -> None:
    settings = Settings(service=ServiceSettings(audiosocket_port=free_tcp_port()))
    asr = FailingOnceAsr(*["when is the next draw"] * 10)
    gw = BotGateway(settings, NoFacts(), lambda: asr, ToneTts(), lambda: NOW,
                    session_settings=SessionSettings(dialog=DialogSettings()),
                    classifier_factory=EnergyClassifier)  # fmt: skip
    await gw.start()
    try:
        with structlog.testing.capture_logs() as logs:
            call, result = gw.expect()
            ast = await FakeAsterisk.connect(gw.port, call)
            await asyncio.sleep(0.3)
            ast.speech = tone(800)  # heard as nothing: the recogniser failed
            await asyncio.sleep(2.0)
            ast.speech = tone(800)  # asked again: answered
            await asyncio.sleep(3.0)
            await ast.close()
            res = await asyncio.wait_for(result, 2)
    finally:
        await gw.stop()
    assert asr.failed and res.outcome == "hangup"  # the caller hung up; the bot never failed
    events = [e["event"] for e in logs]
    # handled as a turn that heard nothing (the dialog's silence handling goes on), not as a
    # frame the pipeline had to drop
    assert "bot.asr_failed" in events and "pipeline.frame_failed" not in events
    assert res.intent == "next_draw"
    assert [e.text for e in res.transcript if e.speaker == "caller"] == ["when is the next draw"]
