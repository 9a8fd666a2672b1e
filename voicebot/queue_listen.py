"""Hearing a caller who waits in the pool queue (docs/decisions/0008, addendum).

The caller stays in Queue(): a spy Local channel (`hotline.pbx.whisper.Whisperer.spy`:
ChanSpy `qoES`, only what the caller says, not their music or the whispers) runs
AudioSocket to the bot gateway's server with a uuid this module expects.  A *listener
session* is the bot pipeline's front half - VAD and ASR, no TTS, no dialog - and each final
transcript becomes one of the offer's words (`voicebot.queue_words`), which `listen` yields
to `callrouting.callback_offer.QueueOffer` (the `callrouting.events.QueueListener` port).

At most `max_listeners` callers are heard at once (one spy channel and one ASR stream each);
a caller beyond that gets no words and still has the keys.  Closing the iterator ends the
session: the gateway's server sends AudioSocket's hangup, which ends the spy channel.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog

from voicebot.asr import AsrEngine
from voicebot.frames import AudioIn, Frame, Transcript
from voicebot.pipeline import Direction, Pipeline, Processor
from voicebot.processors import AsrProcessor, VadProcessor
from voicebot.queue_words import PHRASES, queue_word
from voicebot.vad import FrameClassifier, WebRtcClassifier

log = structlog.get_logger("voicebot.queue_listen")

MAX_LISTENERS = 20  # callers heard at once (each: a spy channel and an ASR stream)
CONNECT_S = 10.0  # the spy's AudioSocket connects within this after the originate

Spy = Callable[[str, str], Awaitable[bool]]  # (caller channel, listener uuid) -> started


class _Words(Processor):
    def __init__(self, on_text: Callable[[str], None]) -> None:
        super().__init__("queue-words")
        self.on_text = on_text

    async def process(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, Transcript) and frame.final:
            self.on_text(frame.text)


class ListenSession:
    """An AudioSocket session (`voicebot.server.SocketSession`) that only listens."""

    def __init__(self, asr: AsrEngine, on_text: Callable[[str], None], *,
                 executor: concurrent.futures.Executor | None = None,
                 classifier: FrameClassifier | None = None, vad_end_ms: int = 400) -> None:
        self.finished = asyncio.Event()  # set: the server hangs the spy channel up
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()
        self.pipeline = Pipeline([
            VadProcessor(classifier or WebRtcClassifier(2), start_ms=60, end_ms=vad_end_ms),
            AsrProcessor(asr, executor=executor, phrases=PHRASES),
            _Words(on_text),
        ])
        self._loop_time = asyncio.get_running_loop().time
        self._started = False

    async def start(self, send: Callable[[bytes], Any]) -> None:
        await self.pipeline.start()
        self._started = True
        self.connected.set()

    async def audio(self, pcm: bytes, at: float | None = None) -> None:
        await self.pipeline.push(AudioIn(pcm, self._loop_time() if at is None else at))

    async def dtmf(self, digit: str, at: float | None = None) -> None:
        return None  # the caller's keys reach the offer over AMI already

    @property
    def next_due(self) -> float | None:
        return None

    async def tick(self, now: float) -> None:
        return None

    async def close(self, reason: str = "hangup", error: str | None = None) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.finished.set()
            if self._started:
                await self.pipeline.stop()


class QueueListening:
    """The gateway side of `callrouting.events.QueueListener`."""

    def __init__(self, register: Callable[[uuid.UUID, ListenSession | None], None],
                 asr: Callable[[], AsrEngine | None], spy: Spy, *,
                 executor: Callable[[], concurrent.futures.Executor | None] = lambda: None,
                 max_listeners: int = MAX_LISTENERS) -> None:
        self._register, self._asr, self._spy, self._executor = register, asr, spy, executor
        self.max_listeners = max_listeners
        self.active: dict[uuid.UUID, str] = {}  # listener uuid -> caller channel
        self.refused = 0  # callers not heard because every listener was taken

    async def listen(self, channel: str) -> AsyncIterator[str]:
        asr = self._asr()
        if asr is None:
            return
        if len(self.active) >= self.max_listeners:
            self.refused += 1
            log.info("queue_listen.full", channel=channel, listeners=len(self.active))
            return
        call = uuid.uuid4()
        words: asyncio.Queue[str] = asyncio.Queue(maxsize=16)

        def heard(text: str) -> None:
            word = queue_word(text)
            log.info("queue_listen.heard", channel=channel, text=text[:80], word=word)
            if word is not None and not words.full():
                words.put_nowait(word)

        session = ListenSession(asr, heard, executor=self._executor())
        self.active[call] = channel
        self._register(call, session)
        try:
            if not await self._spy(channel, str(call)):
                log.warning("queue_listen.spy_failed", channel=channel)
                return
            log.info("queue_listen.started", channel=channel, listener=str(call))
            while True:
                yield await words.get()
        finally:
            self.active.pop(call, None)
            self._register(call, None)
            await session.close("finished")
