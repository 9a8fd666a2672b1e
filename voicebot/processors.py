"""The bot call's processors: VAD -> (barge-in) -> ASR -> dialog -> TTS -> paced output -> sink.

Each one is small and testable alone (a processor between two `Capture`s). Times (`at`) are
seconds on the session's monotonic clock (the event loop's); the dialog gets wall-clock datetimes
from its own injected clock.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from lottery.answers import LotteryFacts
from voicebot import dialog as dlg
from voicebot.asr import AsrEngine, AsrError, AsyncRecognizer
from voicebot.asr import Transcript as AsrTranscript
from voicebot.frames import (
    AudioIn,
    AudioOut,
    BotStoppedSpeaking,
    ControlFrame,
    Dtmf,
    Frame,
    Interrupt,
    Say,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    Transcript,
)
from voicebot.pipeline import BargeIn, Direction, Processor
from voicebot.tts import TtsEngine, TtsError
from voicebot.vad import FRAME_MS, FrameClassifier, SpeechDetector
from voicebot.vad import SpeechEnded as VadEnded
from voicebot.vad import SpeechPaused as VadPaused
from voicebot.vad import SpeechResumed as VadResumed
from voicebot.vad import SpeechStarted as VadStarted

log = structlog.get_logger("voicebot.session")

__all__ = [
    "AsrProcessor",
    "CallMetrics",
    "DialogProcessor",
    "PhraseTts",
    "SayDone",
    "SocketSink",
    "TimedBargeIn",
    "TtsProcessor",
    "VadProcessor",
]


@dataclass(frozen=True, slots=True)
class SayDone(ControlFrame):
    """TTS finished one sentence (sent upstream so the dialog knows when its turn is over)."""

    text: str = ""


@dataclass
class CallMetrics:
    """Latencies seen on one call (seconds): caller stops -> first bot audio; barge-in stop.

    Each completed turn also leaves its stage times in `stages` (seconds after the end of the
    caller's speech: "asr" recognition done, "say" first sentence handed to TTS, "tts" its
    audio ready, "sent" its first frame sent), to show where a slow turn spent its time."""

    turns: list[float] = field(default_factory=list)
    bargeins: list[float] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)
    turn_from: float | None = None
    bargein_from: float | None = None
    clock: Callable[[], float] = time.monotonic
    asr_timing: tuple[float, float] = (0.0, 0.0)  # last utterance: (queued, final decode) s
    _marks: dict[str, float] = field(default_factory=dict)

    def mark(self, stage: str) -> None:
        """Note when the current turn reached `stage` (the first time only)."""
        if self.turn_from is not None:
            self._marks.setdefault(stage, self.clock() - self.turn_from)

    def turn_done(self, now: float) -> None:
        if self.turn_from is None:
            return
        took = now - self.turn_from
        self.turns.append(took)
        self.stages.append({**self._marks, "sent": took})
        self.turn_from = None
        self._marks = {}

    def turn_started(self, speech_end: float, recognised_at: float) -> None:
        self.turn_from = speech_end
        queued, decode = self.asr_timing
        self._marks = {"asr_queued": queued, "asr_final": decode,
                       "asr": recognised_at - speech_end}


# --- VAD ----------------------------------------------------------------------------------------


class VadProcessor(Processor):
    """Caller audio in; `SpeechStarted` (control), the speech audio (with pre-roll), then
    `SpeechStopped`. Silence is not forwarded, so ASR only sees utterances. With `pause_ms`,
    `SpeechPaused` / `SpeechResumed` mark a shorter silence inside the utterance, in order with
    its audio (the ASR may end an understood turn there)."""

    def __init__(self, classifier: FrameClassifier, start_ms: int = 60, end_ms: int = 300,
                 preroll_ms: int = 240, name: str | None = None,
                 pause_ms: int | None = None) -> None:  # fmt: skip
        super().__init__(name)
        self.detector = SpeechDetector(classifier, start_ms=start_ms, end_ms=end_ms,
                                       pause_ms=pause_ms)  # fmt: skip
        self._preroll: deque[bytes] = deque(maxlen=max(1, preroll_ms // FRAME_MS))
        self._pending = b""

    async def process(self, frame: Frame, direction: Direction) -> None:
        if not (isinstance(frame, AudioIn) and direction is Direction.DOWN):
            await self.push(frame, direction)
            return
        self._pending += frame.pcm
        size = self.detector.frame_bytes
        while len(self._pending) >= size:
            chunk, self._pending = self._pending[:size], self._pending[size:]
            await self._frame(chunk, frame.at)

    async def _frame(self, chunk: bytes, at: float) -> None:
        event = self.detector.push_frame(chunk)
        lag = lambda ms: (self.detector.now_ms - ms) / 1000  # noqa: E731  stream ms -> seconds ago
        if event is not None:
            log.debug("bot.vad", kind=type(event).__name__, at_ms=event.at_ms)
        if isinstance(event, VadStarted):
            await self.push(SpeechStarted(at - lag(event.at_ms) + FRAME_MS / 1000))
            for old in self._preroll:
                await self.push(AudioIn(old, at))
            self._preroll.clear()
            await self.push(AudioIn(chunk, at))
        elif isinstance(event, VadEnded):
            await self.push(SpeechStopped(at - lag(event.at_ms) + FRAME_MS / 1000))
        elif isinstance(event, VadPaused):
            await self.push(AudioIn(chunk, at))
            await self.push(SpeechPaused(at - lag(event.at_ms) + FRAME_MS / 1000))
        elif isinstance(event, VadResumed):
            await self.push(SpeechResumed(at - lag(event.at_ms) + FRAME_MS / 1000))
            await self.push(AudioIn(chunk, at))
        elif self.detector.in_speech:
            await self.push(AudioIn(chunk, at))
        else:
            self._preroll.append(chunk)


# --- ASR ----------------------------------------------------------------------------------------


_DUMP_DIR = os.environ.get("HOTLINE_BOT_DUMP_DIR")  # debugging: keep what ASR heard as WAVs


def _dump(chunks: list[bytes]) -> None:
    from voicebot.audio import write_wav

    path = Path(_DUMP_DIR or ".") / f"utt-{time.time():.3f}.wav"
    write_wav(path, b"".join(chunks), 8000)


class _Begin(Frame):
    pass


class _Deaf:
    """Stands in for a recogniser the engine could not open: hears nothing, so the dialog
    treats the turn as silence (re-prompt, then the operator) instead of the call failing."""

    def accept(self, pcm_8k: bytes) -> None:
        pass

    def partial(self) -> str:
        return ""

    def final(self) -> AsrTranscript:
        return AsrTranscript("")


class AsrProcessor(Processor):
    """One recognizer session per utterance; decoding runs on worker threads in ~100 ms batches.

    Semantic endpointing: with `ends_turn` (text -> bool), at a `SpeechPaused` the streaming
    partial transcript is checked, and when it already says something the bot understands
    for sure, the turn ends there instead of after the VAD's full end-of-speech silence (the
    largest avoidable part of a turn, ~0.3 s: docs/decisions/0009). The rest of that
    utterance's silence is dropped; if the caller speaks on (`SpeechResumed`), that is a new
    utterance (`SpeechStarted` downstream, a new recognizer session). Otherwise the recognizer
    hears of the pause (`paused`), and the two-pass engine starts Whisper there."""

    def __init__(self, engine: AsrEngine, batch_bytes: int = 3200,
                 metrics: CallMetrics | None = None,
                 executor: concurrent.futures.Executor | None = None,
                 name: str | None = None,
                 phrases: Sequence[str] | None = None,
                 ends_turn: Callable[[str], bool] | None = None) -> None:  # fmt: skip
        super().__init__(name)
        self.ends_turn = ends_turn if not phrases else None
        self._ended_early = False  # this VAD utterance's turn already ended at a pause
        self.early_ends = 0
        self.engine = engine
        self.phrases = tuple(phrases) if phrases else None  # limit recognition to these
        self.executor = executor
        self.metrics = metrics or CallMetrics()
        self.batch_bytes = batch_bytes
        self._rec: AsyncRecognizer | None = None
        self._buf = b""
        self._dump: list[bytes] = []

    async def process(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.UP:
            await self.push(frame, direction)
        elif isinstance(frame, SpeechStarted):
            self._queue.put_nowait((_Begin(), Direction.DOWN))  # open the session in order
            await self.push(frame, direction)
        elif isinstance(frame, _Begin):
            self._ended_early = False
            await self._open()
        elif isinstance(frame, SpeechPaused):
            await self._maybe_end_early(frame.at)
        elif isinstance(frame, SpeechResumed):
            if self._ended_early:  # the caller speaks on: a new utterance
                self._ended_early = False
                await self.push(SpeechStarted(frame.at))
                await self._open()
            elif self._rec is not None and self.ends_turn is not None:
                await self._rec.resumed()
        elif isinstance(frame, AudioIn):
            if self._ended_early:  # the silence after a turn ended at its pause
                return
            if self._rec is None:
                await self._open()
            self._buf += frame.pcm
            if len(self._buf) >= self.batch_bytes and self._rec is not None:
                chunk, self._buf = self._buf, b""
                if _DUMP_DIR:
                    self._dump.append(chunk)
                try:
                    await self._rec.accept(chunk)
                except AsrError as exc:  # reported once more, as nothing heard, at final()
                    log.warning("bot.asr_failed", error=str(exc))
        elif isinstance(frame, SpeechStopped):
            self._ended_early = False
            rec, self._rec = self._rec, None
            if rec is None:
                return
            await self._finish(rec, frame.at)
        else:
            await self.push(frame, direction)

    async def _maybe_end_early(self, at: float) -> None:
        rec = self._rec
        if self.ends_turn is None or rec is None:
            return
        chunk, self._buf = self._buf, b""
        try:
            if chunk:
                if _DUMP_DIR:
                    self._dump.append(chunk)
                await rec.accept(chunk)
            partial = await rec.partial()
        except AsrError as exc:
            log.warning("bot.asr_failed", error=str(exc))
            return
        if partial and self.ends_turn(partial):
            self._rec = None
            self._ended_early = True
            self.early_ends += 1
            await self._finish(rec, at)
        else:  # a second pass may start on the audio so far (voicebot.asr_twopass)
            await rec.paused(partial)

    async def _finish(self, rec: AsyncRecognizer, at: float) -> None:
        """The utterance's last audio and its final transcript, pushed as `Transcript`."""
        chunk, self._buf = self._buf, b""
        clock = self.metrics.clock
        began = clock()
        try:
            if chunk:
                await rec.accept(chunk)
            result = await rec.final()
        except AsrError as exc:  # e.g. an ASR worker process died: this turn is lost,
            log.warning("bot.asr_failed", error=str(exc))  # the call goes on (re-prompt)
            result = AsrTranscript("")
        self.metrics.asr_timing = (began - at, clock() - began)
        if _DUMP_DIR:
            self._dump.append(chunk)
            _dump(self._dump)
        self._dump = []
        await self.push(Transcript(result.text, True, at))

    async def _open(self) -> None:
        self._buf = b""
        loop = asyncio.get_running_loop()
        try:
            rec = await loop.run_in_executor(self.executor, self.engine.recognizer, self.phrases)
        except AsrError as exc:
            log.warning("bot.asr_failed", error=str(exc))
            rec = _Deaf()
        self._rec = AsyncRecognizer(rec, self.executor)

    async def on_interrupt(self) -> None:
        # the interrupt came with new speech; a half-fed session from before is abandoned
        # (pocketsphinx returns its decoder to the pool when the session is collected)
        pass

    async def stop(self) -> None:
        await super().stop()
        rec, self._rec = self._rec, None
        if rec is not None:
            with contextlib.suppress(Exception):
                await rec.final()


# --- dialog -------------------------------------------------------------------------------------


class DialogProcessor(Processor):
    """Adapter around the pure `Dialog`: frames in, effects carried out, timers scheduled."""

    def __init__(
        self,
        dialog: dlg.Conversation,
        facts: LotteryFacts,
        clock: Callable[[], datetime],
        *,
        output_busy: Callable[[], bool],
        on_finish: Callable[[dlg.Transfer | dlg.EndCall], None],
        metrics: CallMetrics | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.dialog = dialog
        self.facts = facts
        self.clock = clock
        self.output_busy = output_busy
        self.on_finish = on_finish
        self.metrics = metrics or CallMetrics()
        self.ending: dlg.Transfer | dlg.EndCall | None = None
        self._timer: asyncio.Task[None] | None = None
        self._lookups: set[asyncio.Task[None]] = set()
        self._finished = False

    async def begin(self) -> None:
        await self._apply(self.dialog.start(self.clock()))

    async def process(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.UP:
            if isinstance(frame, BotStoppedSpeaking | SayDone):
                await self._maybe_turn_over(interrupted=getattr(frame, "interrupted", False))
            await self.push(frame, direction)
            return
        if isinstance(frame, SpeechStarted):
            self.dialog.speech_started(self.clock())
            self._reschedule()
        elif isinstance(frame, Dtmf):
            await self._apply(self.dialog.dtmf(frame.digit, self.clock()))
        elif isinstance(frame, Transcript):
            log.info("bot.heard", text=frame.text)
            if frame.text:
                self.metrics.turn_started(frame.at, self.metrics.clock())
                await self._apply(self.dialog.utterance(frame.text, self.clock()))
            else:  # noise or nothing recognisable: not a turn; the caller's turn goes on
                self.dialog.turn_finished(self.clock())
                self._reschedule()
            return
        await self.push(frame, direction)

    async def _maybe_turn_over(self, interrupted: bool) -> None:
        if self.output_busy():
            return
        if self.ending is not None:
            self._finish()
        elif not interrupted:
            self.dialog.turn_finished(self.clock())
            self._reschedule()

    async def _apply(self, effects: Iterable[dlg.Effect]) -> None:
        for effect in effects:
            if isinstance(effect, dlg.Say):
                self.metrics.mark("say")
                for sentence in effect.sentences:
                    await self.push(Say(sentence))
            elif isinstance(effect, dlg.AskLookup):
                task = asyncio.create_task(self._lookup(effect), name="bot-lookup")
                self._lookups.add(task)
                task.add_done_callback(self._lookups.discard)
            elif isinstance(effect, dlg.Transfer | dlg.EndCall):
                self.ending = effect
        self._reschedule()
        if self.ending is not None and not self.output_busy():
            self._finish()

    async def _lookup(self, effect: dlg.AskLookup) -> None:
        try:
            facts = await self.facts.fetch(effect.lookup)
        except Exception:
            log.exception("bot.lookup_failed", intent=effect.lookup.intent)
            await self._apply(self.dialog.lookup_failed(effect.request_id, self.clock()))
        else:
            await self._apply(self.dialog.lookup_done(effect.request_id, facts, self.clock()))

    def _reschedule(self) -> None:
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        self._timer = None
        deadline = self.dialog.next_deadline
        if deadline is not None:
            self._timer = asyncio.create_task(self._wake(deadline), name="bot-dialog-timer")

    async def _wake(self, deadline: datetime) -> None:
        delay = (deadline - self.clock()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        await self._apply(self.dialog.tick(max(deadline, self.clock())))

    def _finish(self) -> None:
        if not self._finished and self.ending is not None:
            self._finished = True
            self.on_finish(self.ending)

    async def stop(self) -> None:
        await super().stop()
        tasks = [t for t in (self._timer, *self._lookups) if t is not None]
        self._timer = None
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- TTS ----------------------------------------------------------------------------------------


class PhraseTts:
    """A TTS engine with a phrase cache: static phrases rendered once at start-up, recent
    dynamic sentences kept (LRU). Concurrent requests for one text share one synthesis."""

    def __init__(self, engine: TtsEngine, language: str = "en", voice: str | None = None,
                 max_dynamic: int = 256) -> None:  # fmt: skip
        self.engine = engine
        self.language = language
        self.voice = voice
        self.max_dynamic = max_dynamic
        self._static: dict[str, bytes] = {}
        self._dynamic: OrderedDict[str, bytes] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[bytes]] = {}

    @property
    def name(self) -> str:
        return self.engine.name

    async def prerender(self, texts: Iterable[str]) -> None:
        for text in dict.fromkeys(texts):
            self._static[text] = await self.engine.synthesize(text, self.language, self.voice)

    def cached(self, text: str) -> bytes | None:
        return self._static.get(text) or self._dynamic.get(text)

    async def speak(self, text: str) -> bytes:
        hit = self.cached(text)
        if hit is not None:
            return hit
        pending = self._inflight.get(text)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[text] = fut
        try:
            pcm = await self.engine.synthesize(text, self.language, self.voice)
            fut.set_result(pcm)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()
            raise
        finally:
            del self._inflight[text]
        self._dynamic[text] = pcm
        while len(self._dynamic) > self.max_dynamic:
            self._dynamic.popitem(last=False)
        return pcm


class TtsProcessor(Processor):
    """`Say` (one sentence) -> `AudioOut`; sentences are synthesised one by one, so the first
    plays while the next is rendered. An interrupt cancels the synthesis in progress."""

    def __init__(self, tts: PhraseTts, metrics: CallMetrics | None = None,
                 name: str | None = None) -> None:  # fmt: skip
        super().__init__(name)
        self.tts = tts
        self.metrics = metrics or CallMetrics()
        self.busy = False

    @property
    def idle(self) -> bool:
        return not self.busy and self.queued == 0

    async def process(self, frame: Frame, direction: Direction) -> None:
        if not (isinstance(frame, Say) and direction is Direction.DOWN):
            await self.push(frame, direction)
            return
        self.busy = True
        try:
            pcm = await self.tts.speak(frame.text)
        except TtsError as exc:
            log.warning("bot.tts_failed", text=frame.text, error=str(exc))
            pcm = b""
        finally:
            self.busy = False
        if pcm:
            self.metrics.mark("tts")
            await self.push(AudioOut(pcm))
        await self.push(SayDone(frame.text), Direction.UP)

    async def on_interrupt(self) -> None:
        self.busy = False


# --- barge-in ---------------------------------------------------------------------------------


class TimedBargeIn(BargeIn):
    """`BargeIn` that notes when the caller's speech (or key) began, to time the stop."""

    def __init__(self, metrics: CallMetrics, name: str | None = None) -> None:
        super().__init__(name)
        self.metrics = metrics

    async def process(self, frame: Frame, direction: Direction) -> None:
        if direction is Direction.DOWN and isinstance(frame, SpeechStarted | Dtmf) \
                and self.bot_speaking:
            self.metrics.bargein_from = frame.at
        await super().process(frame, direction)


# --- sink ---------------------------------------------------------------------------------------


class SocketSink(Processor):
    """Last processor: paced 20 ms frames go to the transport (`send`); measures latencies."""

    def __init__(self, send: Callable[[bytes], Any], metrics: CallMetrics,
                 now: Callable[[], float], name: str | None = None) -> None:  # fmt: skip
        super().__init__(name)
        self.send = send
        self.metrics = metrics
        self.now = now
        self.frames_sent = 0
        self.audio_frames_sent = 0

    async def queue_frame(self, frame: Frame, direction: Direction = Direction.DOWN) -> None:
        await self.process(frame, direction)  # no queue: the pacer's timing is the send timing

    async def process(self, frame: Frame, direction: Direction) -> None:
        if isinstance(frame, Interrupt):  # the pacer upstream has just dropped the bot's audio
            if self.metrics.bargein_from is not None:
                self.metrics.bargeins.append(max(0.0, self.now() - self.metrics.bargein_from))
                self.metrics.bargein_from = None
            return
        if not isinstance(frame, AudioOut):
            return
        now = self.now()
        voiced = any(frame.pcm)
        m = self.metrics
        if voiced:
            m.turn_done(now)
        self.frames_sent += 1
        self.audio_frames_sent += voiced
        result = self.send(frame.pcm)
        if isinstance(result, Awaitable):
            await result
