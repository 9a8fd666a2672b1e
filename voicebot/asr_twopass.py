"""Two-pass recognition: pocketsphinx for every turn, Whisper only for the turns it is unsure of.

pocketsphinx (LM mode) streams while the caller speaks and is cheap, but mishears synthetic and
accented voices; Whisper tiny.en hears them better and costs ~80 ms of a core a turn (its
short encoder window, voicebot.asr_whisper). So
`final()` takes pocketsphinx's transcript and asks Whisper for a second opinion only when that
transcript is empty, understood as "unknown", or understood with low confidence (by the intent
parser, `voicebot.intents.understand`: the decoder's own posterior is ~1.0 on every hypothesis of
a small LM and tells nothing). Whisper's transcript wins when it is understood as a real intent;
otherwise pocketsphinx's stands. Threshold and rule were chosen on half of the generated test set
and checked on the other half (tests/bench/bench_speech.py --asr).

The second pass is bounded by a deadline (`deadline_s` after `final()` is called, i.e. after
the end of the caller's audio): it is started only if the Whisper queue's expected wait fits
in what is left of the deadline, and its result is used only if it arrives in time; otherwise
pocketsphinx's transcript stands (and the queued decode is withdrawn). `deadline_s=None`
waits for Whisper however long it takes (the old, unbounded behaviour).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from voicebot.asr import AsrEngine, AsrError, Recognizer, Transcript
from voicebot.asr_whisper import WhisperEngine, keep_window

__all__ = ["DEFAULT_DEADLINE_S", "SecondPassPolicy", "TwoPassEngine", "TwoPassRecognizer"]

DEFAULT_DEADLINE_S = 0.45  # end of audio -> transcript budget for a turn (see module doc)


@dataclass(frozen=True, slots=True)
class SecondPassPolicy:
    """When to ask the second engine, and whose transcript to keep."""

    min_confidence: float = 0.6  # understand(first).confidence below this -> second pass

    def needs_second(self, first: Transcript) -> bool:
        from voicebot.intents import UNKNOWN, understand

        if first.empty:
            return True
        heard = understand(first.text)
        return heard.intent == UNKNOWN or heard.confidence < self.min_confidence

    def combine(self, first: Transcript, second: Transcript) -> Transcript:
        from voicebot.intents import UNKNOWN, understand

        if not second.empty and understand(second.text).intent != UNKNOWN:
            return second
        return first if not first.empty else second


class TwoPassRecognizer:
    def __init__(self, first: Recognizer, engine: TwoPassEngine) -> None:
        self._first = first
        self._engine = engine
        self._audio = bytearray()
        self._closed = False
        self.used_second = False  # for measurements: did this utterance need Whisper?
        self.second_outcome = ""  # "" (not needed) | "used" | "skipped" (queue) | "late"

    def accept(self, pcm_8k: bytes) -> None:
        if self._closed:
            raise AsrError("recognizer session already finished")
        self._first.accept(pcm_8k)
        keep_window(self._audio, pcm_8k)

    def partial(self) -> str:
        return self._first.partial()

    def final(self) -> Transcript:
        if self._closed:
            raise AsrError("recognizer session already finished")
        self._closed = True
        engine = self._engine
        deadline = None if engine.deadline_s is None else engine.clock() + engine.deadline_s
        policy = engine.policy
        second_engine = engine.second
        # The streaming partial at the end of the audio is nearly always the final transcript:
        # when it already needs a second opinion, Whisper starts now, in parallel with the first
        # engine's final passes (~50 ms of pocketsphinx), instead of after them.
        early = None
        if deadline is not None and engine.early_start:
            partial = self._first.partial()
            if (policy.needs_second(Transcript(partial, 1.0, tuple(partial.split())))
                    and second_engine.expected_wait() <= engine.deadline_s):  # fmt: skip
                early = second_engine.submit(bytes(self._audio))
        first = self._first.final()
        if not policy.needs_second(first):
            if early is not None:
                early.cancel()  # still queued: withdrawn; already decoding: result ignored
                engine.count("early_wasted")
            return first
        self.used_second = True
        if deadline is None:
            self.second_outcome = "used"
            return policy.combine(first, second_engine.transcribe(bytes(self._audio)))
        if early is not None:
            future = early
            engine.count("early")
        else:
            left = deadline - engine.clock()
            if second_engine.expected_wait() > left:
                self.second_outcome = "skipped"
                engine.count("skipped")
                return first
            future = second_engine.submit(bytes(self._audio))
        try:
            second = future.result(timeout=max(0.0, deadline - engine.clock()))
        except concurrent.futures.TimeoutError:
            second = None
        except concurrent.futures.CancelledError:
            second = None
        if second is None or engine.clock() > deadline:
            future.cancel()  # still queued: free its place; already decoding: result dropped
            self.second_outcome = "late"
            engine.count("late")
            return first
        self.second_outcome = "used"
        engine.count("used")
        return policy.combine(first, second)


class TwoPassEngine:
    """`first` streams every turn (pocketsphinx LM by default); `second` is Whisper.

    `deadline_s`: seconds from `final()` (end of the caller's audio) within which the second
    pass must have answered, else the first transcript stands; None = no deadline. `clock`
    is the monotonic clock (injectable for tests). `early_start`: with a deadline, start the
    second pass on the first engine's partial transcript, before its final one."""

    name = "pocketsphinx+whisper"

    def __init__(
        self,
        first: AsrEngine | None = None,
        second: WhisperEngine | None = None,
        policy: SecondPassPolicy | None = None,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        clock: Callable[[], float] = time.monotonic,
        early_start: bool = True,
    ) -> None:
        if first is None:
            from voicebot.asr_pocketsphinx import PocketsphinxEngine

            first = PocketsphinxEngine(mode="lm")
        self.first = first
        self.second = second if second is not None else WhisperEngine()
        self.policy = policy or SecondPassPolicy()
        self.deadline_s = deadline_s
        self.clock = clock
        self.early_start = early_start
        # second passes, for measurements: used/skipped/late; early = started on the partial;
        # early_wasted = started on the partial but the final transcript did not need it
        self.outcomes = {"used": 0, "skipped": 0, "late": 0, "early": 0, "early_wasted": 0}

    def fill(self) -> int:
        """Build the first engine's pooled decoders now, where it can (see asr_procpool)."""
        fill = getattr(self.first, "fill", None)
        return int(fill()) if fill is not None else 0

    def close(self) -> None:
        """Stop both engines' workers (processes, decode pools) where they have any."""
        for engine in (self.first, self.second):
            close = getattr(engine, "close", None)
            if close is not None:
                close()

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] += 1  # a racy += only blurs a statistic

    def recognizer(self, phrases: Sequence[str] | None = None) -> Recognizer:
        """With `phrases` (a strict grammar, e.g. yes/no) the first engine alone answers:
        Whisper cannot be held to a phrase list."""
        if phrases:
            return self.first.recognizer(phrases)
        return TwoPassRecognizer(self.first.recognizer(), self)
