"""Two-pass recognition with fake engines: when Whisper is asked, and whose transcript wins."""

from __future__ import annotations

import pytest

from voicebot.asr import AsrError, Transcript
from voicebot.asr_twopass import SecondPassPolicy, TwoPassEngine
from voicebot.asr_whisper import _clean

pytestmark = pytest.mark.unit


class FakeSession:
    def __init__(self, text: str) -> None:
        self.text, self.audio = text, b""

    def accept(self, pcm_8k: bytes) -> None:
        self.audio += pcm_8k

    def partial(self) -> str:
        return self.text[:3]

    def final(self) -> Transcript:
        return Transcript(self.text, 1.0, tuple(self.text.split()))


class FakeFirst:
    name = "fake"

    def __init__(self, text: str) -> None:
        self.text, self.phrases = text, None

    def recognizer(self, phrases=None):
        self.phrases = phrases
        return FakeSession(self.text)


class FakeWhisper:
    def __init__(self, text: str) -> None:
        self.text, self.calls = text, []

    def transcribe(self, pcm_8k: bytes, prompt: str | None = None) -> Transcript:
        self.calls.append(pcm_8k)
        return Transcript(self.text, 0.8, tuple(self.text.split()))


def run(first: str, second: str, phrases=None) -> tuple[str, FakeWhisper, object]:
    whisper = FakeWhisper(second)
    engine = TwoPassEngine(FakeFirst(first), whisper)  # type: ignore[arg-type]
    rec = engine.recognizer(phrases)
    rec.accept(b"\x01\x00" * 800)
    rec.accept(b"\x02\x00" * 800)
    return rec.final().text, whisper, rec


@pytest.mark.parametrize(("first", "second", "heard", "asked"), [
    ("when is the next draw", "when is the next draw", "when is the next draw", False),
    ("i want to talk to an operator", "x", "i want to talk to an operator", False),
    ("", "did i win", "did i win", True),  # nothing heard
    ("what is the draw", "what time is the draw", "what time is the draw", True),  # unknown
    ("the the the", "blah blah", "the the the", True),  # neither understood: keep the first
    ("", "", "", True),
])  # fmt: skip
def test_second_pass_only_when_unsure(first, second, heard, asked):
    text, whisper, rec = run(first, second)
    assert text == heard
    assert bool(whisper.calls) is asked and rec.used_second is asked
    if asked:
        assert whisper.calls == [b"\x01\x00" * 800 + b"\x02\x00" * 800]  # the whole utterance


def test_phrase_sessions_stay_with_the_strict_first_engine():
    text, whisper, _ = run("yes", "no", phrases=["yes", "no"])
    assert text == "yes" and not whisper.calls


def test_session_is_closed_after_final():
    _, _, rec = run("did i win", "")
    with pytest.raises(AsrError):
        rec.final()
    with pytest.raises(AsrError):
        rec.accept(b"\x00\x00")


def test_policy_threshold():
    unsure = Transcript("how do i get my")  # claim_winnings, confidence 0.64
    assert SecondPassPolicy(min_confidence=0.7).needs_second(unsure)
    assert not SecondPassPolicy(min_confidence=0.6).needs_second(unsure)
    assert SecondPassPolicy(min_confidence=0.0).needs_second(Transcript("what is the draw"))


def test_whisper_text_is_cleaned_to_lowercase_words():
    assert _clean(" When is the next Russian Lotto draw?") == "when is the next russian lotto draw"
    assert _clean("Ticket 4-8-3, 6/45 costs 2.50!") == "ticket 4-8-3 6/45 costs 2.50"
    assert _clean("I'm done.") == "i'm done"
