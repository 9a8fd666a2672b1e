"""Fakes for bot tests: scripted ASR, tone TTS, energy VAD, fixed facts."""

from __future__ import annotations

import math
import struct
from collections import deque
from datetime import UTC, datetime

from lottery.answers import Facts, Lookup
from voicebot.asr import Transcript

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def tone(ms: int, amp: int = 4000) -> bytes:
    n = 8 * ms
    return b"".join(struct.pack("<h", int(amp * math.sin(2 * math.pi * 440 * i / 8000)))
                    for i in range(n))


class EnergyClassifier:
    def is_speech(self, frame: bytes) -> bool:
        return any(frame)


class ScriptedRecognizer:
    def __init__(self, text: str) -> None:
        self.text = text

    def accept(self, pcm: bytes) -> None:
        pass

    def partial(self) -> str:
        return ""

    def final(self) -> Transcript:
        return Transcript(self.text, 0.9, tuple(self.text.split()))


class ScriptedAsr:
    name = "scripted"

    def __init__(self, *texts: str) -> None:
        self.texts = deque(texts)

    def recognizer(self, phrases=None):  # type: ignore[no-untyped-def]
        return ScriptedRecognizer(self.texts.popleft() if self.texts else "")


class ToneTts:
    """10 ms of tone per character: long sentences take long to say."""

    name = "tone"

    def __init__(self) -> None:
        self.spoken: list[str] = []

    async def synthesize(self, text: str, language: str = "en", voice: str | None = None) -> bytes:
        self.spoken.append(text)
        return tone(10 * len(text))


class NoFacts:
    async def fetch(self, lookup: Lookup) -> Facts:
        return Facts()
