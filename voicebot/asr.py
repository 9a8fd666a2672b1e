"""Speech recognition interface: one streaming session per caller utterance.

An `AsrEngine` holds the loaded model (shared, loaded once); `engine.recognizer(phrases)` opens a
`Recognizer` session for one utterance: feed it 8 kHz s16le PCM with `accept`, read `partial()`
while the caller speaks, and `final()` once VAD says the caller stopped. Sessions are blocking
(C decoders); `AsyncRecognizer` runs them on a worker thread so the event loop keeps pacing audio.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ASR_ENGINES",
    "AsrEngine",
    "AsrError",
    "AsyncRecognizer",
    "Recognizer",
    "Transcript",
    "make_asr",
]

ASR_ENGINES = ("vosk", "pocketsphinx", "whisper", "twopass")


class AsrError(RuntimeError):
    """An engine or model could not be set up (the message says what to fix)."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the caller said: lowercase words, and the engine's confidence in [0, 1]."""

    text: str
    confidence: float = 0.0
    words: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.text


@runtime_checkable
class Recognizer(Protocol):
    """One utterance. Blocking; call through `AsyncRecognizer` from async code."""

    def accept(self, pcm_8k: bytes) -> None: ...

    def partial(self) -> str: ...

    def final(self) -> Transcript:
        """End the utterance and return the result; the session is then closed."""
        ...


@runtime_checkable
class AsrEngine(Protocol):
    name: str

    def recognizer(self, phrases: Sequence[str] | None = None) -> Recognizer:
        """Open a session; `phrases` restricts recognition to them where the engine can."""
        ...


class AsyncRecognizer:
    """Runs a blocking `Recognizer` off the event loop, keeping calls in order.

    Calls go to `executor` (default: the loop's default executor) one at a time per session,
    so audio chunks are decoded in the order they arrived.
    """

    def __init__(
        self, recognizer: Recognizer, executor: concurrent.futures.Executor | None = None
    ) -> None:
        self.recognizer = recognizer
        self._executor = executor
        self._lock = asyncio.Lock()

    async def _run(self, fn: Any, *args: Any) -> Any:
        async with self._lock:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, fn, *args)

    async def accept(self, pcm_8k: bytes) -> None:
        await self._run(self.recognizer.accept, pcm_8k)

    async def partial(self) -> str:
        result: str = await self._run(self.recognizer.partial)
        return result

    async def final(self) -> Transcript:
        result: Transcript = await self._run(self.recognizer.final)
        return result


def make_asr(name: str, **options: Any) -> AsrEngine:
    """Build an engine by name ("vosk" needs `model_dir=`); options go to its constructor
    ("twopass": `deadline_s=` and dicts `whisper=` / `pocketsphinx=` for the two engines)."""
    if name == "vosk":
        from voicebot.asr_vosk import VoskEngine

        return VoskEngine(**options)
    if name == "pocketsphinx":
        from voicebot.asr_pocketsphinx import PocketsphinxEngine

        return PocketsphinxEngine(**options)
    if name == "whisper":  # options: model_dir, mode ("thread" | "process"), workers, ...
        from voicebot.asr_whisper import WhisperEngine

        return WhisperEngine(**options)
    if name == "twopass":  # options: deadline_s, whisper={...}, pocketsphinx={...}
        from voicebot.asr_pocketsphinx import PocketsphinxEngine
        from voicebot.asr_twopass import TwoPassEngine
        from voicebot.asr_whisper import WhisperEngine

        first = PocketsphinxEngine(**{"mode": "lm", **options.pop("pocketsphinx", {})})
        second = WhisperEngine(**options.pop("whisper", {}))
        return TwoPassEngine(first, second, **options)
    raise AsrError(f"unknown ASR engine {name!r}; choose one of {', '.join(ASR_ENGINES)}")
