"""One bot call: the processor pipeline behind an AudioSocket connection.

    AudioIn -> VAD -> barge-in -> ASR -> dialog -> TTS -> paced output -> socket

The transport (voicebot.server) feeds caller audio and keys in, calls `tick(now)` on the 20 ms
grid (`next_due`) and sends what the sink emits; when the dialog has ended and its last sentence
has played, `finished` is set and the transport hangs the socket up. `result` says what the bot
learned (for routing and the call record).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from lottery.answers import LotteryFacts
from lottery.questions import QUESTIONS
from voicebot import dialog as dlg
from voicebot.asr import AsrEngine
from voicebot.frames import AudioIn, Dtmf
from voicebot.intents import sure
from voicebot.pipeline import OutputPacer, PacedOutput, Pipeline
from voicebot.processors import (
    AsrProcessor,
    CallMetrics,
    DialogProcessor,
    PhraseTts,
    SocketSink,
    TimedBargeIn,
    TtsProcessor,
    VadProcessor,
)
from voicebot.vad import FrameClassifier, WebRtcClassifier

log = structlog.get_logger("voicebot.session")

__all__ = ["BotResult", "BotSession", "SessionSettings", "static_phrases"]


@dataclass(frozen=True, slots=True)
class SessionSettings:
    dialog: dlg.DialogSettings = field(default_factory=dlg.DialogSettings)
    vad_aggressiveness: int = 2
    vad_start_ms: int = 60
    vad_end_ms: int = 300  # silence that ends the caller's turn (latency vs. splitting pauses)
    # a shorter silence that ends a turn the bot already understands for sure (semantic
    # endpointing, voicebot.processors.AsrProcessor; None: always wait vad_end_ms)
    vad_pause_ms: int | None = 160
    max_call_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class BotResult:
    """What the bot call came to. `outcome`: "done", "operator", "hangup" or "failed"."""

    outcome: str
    reason: str
    intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    transcript: tuple[dlg.TranscriptEntry, ...] = ()
    turn_latencies: tuple[float, ...] = ()
    bargein_stops: tuple[float, ...] = ()
    turn_stages: tuple[dict[str, float], ...] = ()

    def transcript_json(self) -> list[dict[str, str]]:
        """As stored with the call; "intent" on tagged entries (see dlg.TranscriptEntry)."""
        return [{"at": e.at.isoformat(), "speaker": e.speaker, "text": e.text,
                 **({"intent": e.intent} if e.intent else {})}
                for e in self.transcript]  # fmt: skip


def static_phrases() -> list[str]:
    """Everything the dialog says verbatim: rendered once at start-up."""
    return [*dlg.GREETING, dlg.HELP, dlg.OFFER_OPERATOR, dlg.REPROMPT, dlg.ANYTHING_ELSE,
            dlg.WHAT_ELSE, dlg.GOODBYE, dlg.TRANSFERRING, dlg.KEY_TICKET,
            "Sorry, I cannot look that up right now.",
            *(s for pair in itertools.permutations(QUESTIONS, 2)
              for s in dlg.clarifying_question(pair))]  # fmt: skip


class BotSession:
    def __init__(
        self,
        *,
        asr: AsrEngine,
        tts: PhraseTts,
        facts: LotteryFacts,
        clock: Callable[[], datetime],
        settings: SessionSettings | None = None,
        classifier: FrameClassifier | None = None,
        now: Callable[[], float] | None = None,
        name: str = "bot",
        asr_executor: concurrent.futures.Executor | None = None,
        dialog: dlg.Conversation | None = None,
    ) -> None:
        """`dialog`: what the bot talks about (default: the lottery `Dialog`; the post-call
        rating passes a `voicebot.rating.RatingDialog`); its `phrases`, if any, limit the ASR."""
        self.settings = s = settings or SessionSettings()
        self.name = name
        self.clock = clock
        self._now = now or asyncio.get_running_loop().time
        self.metrics = CallMetrics(clock=self._now)
        self.finished = asyncio.Event()
        self.dialog: dlg.Conversation = dialog if dialog is not None else dlg.Dialog(s.dialog)
        self._ending: dlg.Transfer | dlg.EndCall | None = None
        self._send: Callable[[bytes], Any] = lambda pcm: None
        self.vad = VadProcessor(classifier or WebRtcClassifier(s.vad_aggressiveness),
                                start_ms=s.vad_start_ms, end_ms=s.vad_end_ms,
                                pause_ms=s.vad_pause_ms)  # fmt: skip
        self.bargein = TimedBargeIn(self.metrics)
        self.asr = AsrProcessor(asr, metrics=self.metrics, executor=asr_executor,
                                phrases=getattr(self.dialog, "phrases", None),
                                ends_turn=sure if s.vad_pause_ms is not None else None)
        self.tts = TtsProcessor(tts, self.metrics)
        self.paced = PacedOutput(OutputPacer())
        self.sink = SocketSink(lambda pcm: self._send(pcm), self.metrics, self._now)
        self.brain = DialogProcessor(
            self.dialog, facts, clock, metrics=self.metrics,
            output_busy=self._output_busy,
            on_finish=self._on_finish,
        )  # fmt: skip
        self.pipeline = Pipeline([self.vad, self.bargein, self.asr, self.brain, self.tts,
                                  self.paced, self.sink])  # fmt: skip
        self._started = False
        self._closed = False
        self._hung_up = False
        self._error: str | None = None

    def _output_busy(self) -> bool:
        return not self.tts.idle or self.paced.queued > 0 or self.paced.pacer.speaking

    # --- transport side -----------------------------------------------------------------------

    async def start(self, send: Callable[[bytes], Any]) -> None:
        self._send = send
        await self.pipeline.start()
        self._started = True
        await self.brain.begin()

    async def audio(self, pcm: bytes, at: float | None = None) -> None:
        await self.pipeline.push(AudioIn(pcm, self._now() if at is None else at))

    async def dtmf(self, digit: str, at: float | None = None) -> None:
        await self.pipeline.push(Dtmf(digit, self._now() if at is None else at))

    @property
    def next_due(self) -> float | None:
        return self.paced.pacer.next_due

    async def tick(self, now: float) -> None:
        await self.paced.tick(now)

    async def close(self, reason: str = "hangup", error: str | None = None) -> BotResult:
        """Stop the pipeline (idempotent); `reason` "hangup" means the caller went away."""
        if not self._closed:
            self._closed = True
            if self._ending is None:
                self._hung_up = reason == "hangup"
                self._error = error
                self.dialog.hangup(self.clock())
            if self._started:
                await self.pipeline.stop()
        return self.result

    # --- outcome ------------------------------------------------------------------------------

    def _on_finish(self, ending: dlg.Transfer | dlg.EndCall) -> None:
        self._ending = ending
        self.finished.set()

    @property
    def result(self) -> BotResult:
        m = self.metrics
        common = dict(transcript=tuple(self.dialog.transcript), turn_latencies=tuple(m.turns),
                      bargein_stops=tuple(m.bargeins), turn_stages=tuple(m.stages))  # fmt: skip
        ending = self._ending
        if isinstance(ending, dlg.Transfer):
            c = ending.context
            return BotResult("operator", c.reason, c.intent, dict(c.slots), **common)  # type: ignore[arg-type]
        if isinstance(ending, dlg.EndCall):
            return BotResult("done", ending.reason, self.dialog.last_intent,
                             dict(self.dialog.last_slots), **common)  # type: ignore[arg-type]
        outcome = "hangup" if self._hung_up else "failed"
        return BotResult(outcome, self._error or outcome, self.dialog.last_intent,
                         dict(self.dialog.last_slots), **common)  # type: ignore[arg-type]
