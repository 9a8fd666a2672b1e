"""AsrProcessor between two captures: semantic endpointing at a short pause."""

import asyncio

import pytest

from voicebot.asr import Transcript as AsrTranscript
from voicebot.frames import (
    AudioIn,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    Transcript,
)
from voicebot.intents import sure
from voicebot.pipeline import Capture, Pipeline
from voicebot.processors import AsrProcessor

pytestmark = pytest.mark.unit

SPEECH = b"\1\0" * 1600  # 200 ms


class WordsRecognizer:
    """Each accepted chunk of speech adds the next word of the script."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.heard: list[str] = []

    def accept(self, pcm: bytes) -> None:
        if any(pcm) and self.words:
            self.heard.append(self.words.pop(0))

    def partial(self) -> str:
        return " ".join(self.heard)

    def final(self) -> AsrTranscript:
        return AsrTranscript(self.partial(), 0.9, tuple(self.heard))


class WordsAsr:
    name = "words"

    def __init__(self, *scripts: str) -> None:
        self.scripts = [s.split() for s in scripts]

    def recognizer(self, phrases=None):  # type: ignore[no-untyped-def]
        return WordsRecognizer(self.scripts.pop(0) if self.scripts else [])


async def feed(asr: AsrProcessor, frames: list) -> list:
    head, tail = Capture("head"), Capture("tail")
    async with Pipeline([head, asr, tail]) as p:
        for f in frames:
            await p.push(f)
            await p.settle()
        await asyncio.sleep(0)
        await p.settle()
    return [f for f in tail.frames if isinstance(f, Transcript | SpeechStarted)]


def utterance(words: int, pause_at: float) -> list:
    return [SpeechStarted(0.0), *(AudioIn(SPEECH, 0.1 * i) for i in range(words)),
            SpeechPaused(pause_at), AudioIn(bytes(3200), pause_at + 0.1)]  # fmt: skip


async def test_a_sure_request_ends_at_the_pause():
    asr = AsrProcessor(WordsAsr("when is the next draw"), batch_bytes=3200, ends_turn=sure)
    got = await feed(asr, [*utterance(5, 1.0), SpeechStopped(1.0)])
    assert got == [SpeechStarted(0.0), Transcript("when is the next draw", True, 1.0)]
    assert asr.early_ends == 1


async def test_an_unsure_sentence_waits_for_the_end_of_speech():
    asr = AsrProcessor(WordsAsr("what were the winning numbers for"), ends_turn=sure)
    got = await feed(asr, [*utterance(6, 1.0), SpeechStopped(1.3)])
    assert got == [SpeechStarted(0.0), Transcript("what were the winning numbers for", True, 1.3)]
    assert asr.early_ends == 0


async def test_without_ends_turn_the_pause_changes_nothing():
    asr = AsrProcessor(WordsAsr("when is the next draw"))
    got = await feed(asr, [*utterance(5, 1.0), SpeechStopped(1.3)])
    assert got == [SpeechStarted(0.0), Transcript("when is the next draw", True, 1.3)]


async def test_speaking_on_after_an_early_end_is_a_new_utterance():
    asr = AsrProcessor(WordsAsr("when is the next draw", "russian lotto"), ends_turn=sure)
    frames = [*utterance(5, 1.0), SpeechResumed(1.2), AudioIn(SPEECH, 1.2),
              AudioIn(SPEECH, 1.4), SpeechStopped(1.6)]  # fmt: skip
    got = await feed(asr, frames)
    assert got == [SpeechStarted(0.0), Transcript("when is the next draw", True, 1.0),
                   SpeechStarted(1.2), Transcript("russian lotto", True, 1.6)]  # fmt: skip


def test_sure_is_narrow():
    assert sure("when is the next draw") and sure("talk to an operator")
    for text in ("", "yes", "i want to check my ticket", "check my ticket one two three",
                 "what were the winning numbers on the", "the next draw results",
                 "the winning numbers on march three", "um"):
        assert not sure(text), text
