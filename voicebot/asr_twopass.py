"""Two-pass recognition: pocketsphinx for every turn, Whisper only for the turns it is unsure of.

pocketsphinx (LM mode) streams while the caller speaks and is cheap, but mishears synthetic and
accented voices; Whisper tiny.en hears them better and costs ~0.3 s of both cores a turn. So
`final()` takes pocketsphinx's transcript and asks Whisper for a second opinion only when that
transcript is empty, understood as "unknown", or understood with low confidence (by the intent
parser, `voicebot.intents.understand`: the decoder's own posterior is ~1.0 on every hypothesis of
a small LM and tells nothing). Whisper's transcript wins when it is understood as a real intent;
otherwise pocketsphinx's stands. Threshold and rule were chosen on half of the generated test set
and checked on the other half (tests/bench/bench_speech.py --asr).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from voicebot.asr import AsrEngine, AsrError, Recognizer, Transcript
from voicebot.asr_whisper import WhisperEngine

__all__ = ["SecondPassPolicy", "TwoPassEngine", "TwoPassRecognizer"]

_MAX_BYTES = 30 * 8000 * 2


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

    def accept(self, pcm_8k: bytes) -> None:
        if self._closed:
            raise AsrError("recognizer session already finished")
        self._first.accept(pcm_8k)
        self._audio += pcm_8k
        if len(self._audio) > _MAX_BYTES:
            del self._audio[: len(self._audio) - _MAX_BYTES]

    def partial(self) -> str:
        return self._first.partial()

    def final(self) -> Transcript:
        if self._closed:
            raise AsrError("recognizer session already finished")
        self._closed = True
        first = self._first.final()
        policy = self._engine.policy
        if not policy.needs_second(first):
            return first
        self.used_second = True
        second = self._engine.second.transcribe(bytes(self._audio))
        return policy.combine(first, second)


class TwoPassEngine:
    """`first` streams every turn (pocketsphinx LM by default); `second` is Whisper."""

    name = "pocketsphinx+whisper"

    def __init__(
        self,
        first: AsrEngine | None = None,
        second: WhisperEngine | None = None,
        policy: SecondPassPolicy | None = None,
    ) -> None:
        if first is None:
            from voicebot.asr_pocketsphinx import PocketsphinxEngine

            first = PocketsphinxEngine(mode="lm")
        self.first = first
        self.second = second if second is not None else WhisperEngine()
        self.policy = policy or SecondPassPolicy()

    def recognizer(self, phrases: Sequence[str] | None = None) -> Recognizer:
        """With `phrases` (a strict grammar, e.g. yes/no) the first engine alone answers:
        Whisper cannot be held to a phrase list."""
        if phrases:
            return self.first.recognizer(phrases)
        return TwoPassRecognizer(self.first.recognizer(), self)
