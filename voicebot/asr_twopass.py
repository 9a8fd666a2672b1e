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

The second pass is scheduled, not dropped for being busy. Each turn that needs it gets a wait
budget from how little the first pass understood: a turn it did not understand at all (empty, or
"unknown") is URGENT and waits up to `patient_s` after the first pass answered (2.5 s: the alternative is "Sorry, I did not
understand" and the caller saying it again, ~5 s; 1.5 s lost 22 of 106 second passes with the
machine's load average at ~13); a turn it understood with low confidence is
UNSURE and waits up to `deadline_s` (then pocketsphinx's transcript, a plausible answer, stands).
Whisper's decodes wait in a bounded priority queue (voicebot.asr_queue): URGENT before UNSURE
before a SPECULATIVE early start, first come first served within one; a pass whose expected
finish does not fit its budget is not started ("skipped"), one the full queue refuses is "shed",
one that arrives after its budget is "late" (withdrawn if still queued). Under load decodes take
longer but still fit the URGENT budget, so accuracy does not fall with the machine's load (tests/
bench/bench_speech.py, `make bench`: idle and with both cores busy in one run).
`deadline_s=None` waits for Whisper however long it takes (no budgets).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from voicebot.asr import AsrEngine, AsrError, Recognizer, Transcript
from voicebot.asr_queue import DecodeShed
from voicebot.asr_whisper import SPECULATIVE, UNSURE, URGENT, WhisperEngine, keep_window

__all__ = ["DEFAULT_DEADLINE_S", "DEFAULT_PATIENT_S", "SecondPassPolicy", "TwoPassEngine",
           "TwoPassRecognizer"]  # fmt: skip

DEFAULT_DEADLINE_S = 0.45  # end of audio -> transcript budget of an UNSURE turn (module doc)
DEFAULT_PATIENT_S = 2.5  # ... of an URGENT turn (the first pass understood nothing)


@dataclass(frozen=True, slots=True)
class SecondPassPolicy:
    """When to ask the second engine, and whose transcript to keep."""

    min_confidence: float = 0.6  # understand(first).confidence below this -> second pass

    def tier(self, first: Transcript) -> int | None:
        """URGENT (nothing understood), UNSURE (low confidence) or None (the first will do)."""
        from voicebot.intents import UNKNOWN, understand

        if first.empty:
            return URGENT
        heard = understand(first.text)
        if heard.intent == UNKNOWN or heard.by == "model":  # nothing the patterns know
            return URGENT
        return UNSURE if heard.confidence < self.min_confidence else None

    def needs_second(self, first: Transcript) -> bool:
        return self.tier(first) is not None

    def combine(self, first: Transcript, second: Transcript) -> Transcript:
        """Whisper's transcript when it is understood; else the first, unless the first was
        understood only by the intent model's guess (pocketsphinx's LM hears lottery words in
        unrelated speech: "can i buy a car" -> "talk"), then Whisper's "unknown" stands."""
        from voicebot.intents import UNKNOWN, understand

        if not second.empty:
            if understand(second.text).intent != UNKNOWN:
                return second
            if not first.empty and understand(first.text).by == "model":
                return second
        return first if not first.empty else second


class TwoPassRecognizer:
    def __init__(self, first: Recognizer, engine: TwoPassEngine) -> None:
        self._first = first
        self._engine = engine
        self._audio = bytearray()
        self._closed = False
        # for measurements: did this utterance need Whisper, how urgently, and what became of it
        self.used_second = False
        self.tier: int | None = None
        self.first_text = ""
        self.second_outcome = ""  # "" (not needed) | "used" | "skipped" | "shed" | "late"
        self._at_pause: concurrent.futures.Future[Transcript] | None = None

    def paused(self, partial: str) -> None:
        """The caller paused (a short silence, voicebot.vad `pause_ms`): when the partial
        transcript already needs a second opinion, Whisper starts now on the audio so far
        (SPECULATIVE), so its decode overlaps the rest of the end-of-speech wait. If the caller
        only paused and speaks on, `resumed()` withdraws it; else `final()` takes it (the audio
        after the pause is silence, by the VAD's word)."""
        engine = self._engine
        self.resumed()
        if self._closed or engine.deadline_s is None or not engine.early_start:
            return
        guess = engine.policy.tier(Transcript(partial, 1.0, tuple(partial.split())))
        if guess is None or engine.second.expected_wait(SPECULATIVE) > engine.budget(guess):
            return
        self._at_pause = engine.second.submit(bytes(self._audio), priority=SPECULATIVE)
        engine.count("at_pause")

    def resumed(self) -> None:
        """Speech after `paused()`: the decode started there is out of date."""
        early, self._at_pause = self._at_pause, None
        if early is not None:
            early.cancel()

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
        began = engine.clock()
        policy = engine.policy
        second_engine = engine.second
        audio = bytes(self._audio)
        # The streaming partial at the end of the audio is nearly always the final transcript:
        # when it already needs a second opinion, Whisper starts now (SPECULATIVE, raised to the
        # turn's priority below), in parallel with the first engine's final passes (~50 ms of
        # pocketsphinx), instead of after them.
        early, self._at_pause = self._at_pause, None
        if early is None and engine.deadline_s is not None and engine.early_start:
            partial = self._first.partial()
            guess = policy.tier(Transcript(partial, 1.0, tuple(partial.split())))
            if guess is not None and second_engine.expected_wait(SPECULATIVE) <= engine.budget(guess):
                early = second_engine.submit(audio, priority=SPECULATIVE)
        first = self._first.final()
        self.first_text = first.text
        tier = policy.tier(first)
        if tier is None:
            if early is not None:
                early.cancel()  # still queued: withdrawn; already decoding: result ignored
                engine.count("early_wasted")
            return first
        self.used_second = True
        self.tier = tier
        if engine.deadline_s is None:
            self.second_outcome = "used"
            return policy.combine(first, second_engine.submit(audio, priority=tier).result())
        # an URGENT turn's budget runs from the first pass's answer (on a starved machine the
        # first pass alone can use up any budget counted from the end of the audio); an
        # UNSURE turn's from the end of the audio (its fallback is a plausible answer)
        deadline = (engine.clock() if tier == URGENT else began) + engine.budget(tier)
        if early is not None:
            future = early
            prioritise = getattr(future, "prioritise", None)
            if prioritise is not None:
                prioritise(tier)
            engine.count("early")
        else:
            if second_engine.expected_wait(tier) > deadline - engine.clock():
                return self._fallback(first, "skipped")
            future = second_engine.submit(audio, priority=tier)
        try:
            second = future.result(timeout=max(0.0, deadline - engine.clock()))
        except DecodeShed:
            return self._fallback(first, "shed")
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            second = None
        if second is None or engine.clock() > deadline:
            future.cancel()  # still queued: free its place; already decoding: result dropped
            return self._fallback(first, "late")
        self.second_outcome = "used"
        engine.count("used")
        return policy.combine(first, second)

    def _fallback(self, first: Transcript, outcome: str) -> Transcript:
        self.second_outcome = outcome
        self._engine.count(outcome)
        return first


class TwoPassEngine:
    """`first` streams every turn (pocketsphinx LM by default); `second` is Whisper.

    `deadline_s` / `patient_s`: seconds from `final()` (end of the caller's audio) within which
    the second pass of an UNSURE / URGENT turn must have answered, else the first transcript
    stands; `deadline_s=None`: no budgets, always wait. `clock`
    is the monotonic clock (injectable for tests). `early_start`: with a deadline, start the
    second pass on the first engine's partial transcript, before its final one."""

    name = "pocketsphinx+whisper"

    def __init__(
        self,
        first: AsrEngine | None = None,
        second: WhisperEngine | None = None,
        policy: SecondPassPolicy | None = None,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        patient_s: float = DEFAULT_PATIENT_S,
        clock: Callable[[], float] = time.monotonic,
        early_start: bool = True,
    ) -> None:
        if first is None:
            from voicebot.asr_pocketsphinx import PocketsphinxEngine

            first = PocketsphinxEngine(mode="lm")
        from voicebot.intents import warm_up

        warm_up()  # the policy's intent model, trained now rather than inside a turn's budget
        self.first = first
        self.second = second if second is not None else WhisperEngine()
        self.policy = policy or SecondPassPolicy()
        self.deadline_s = deadline_s
        self.patient_s = patient_s
        self.clock = clock
        self.early_start = early_start
        # second passes, for measurements: used/skipped/shed/late; early = started on the
        # partial; early_wasted = started on the partial but the final transcript did not need it;
        # partial; at_pause = of which started at a pause inside the utterance (paused())
        self.outcomes = {"used": 0, "skipped": 0, "shed": 0, "late": 0, "early": 0,
                         "early_wasted": 0, "at_pause": 0}  # fmt: skip

    def budget(self, tier: int) -> float:
        """Seconds a turn of this tier may wait for the second pass (from `final()`)."""
        if self.deadline_s is None:
            return float("inf")
        return max(self.deadline_s, self.patient_s) if tier == URGENT else self.deadline_s

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
