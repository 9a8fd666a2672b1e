"""Speech recognition interface: one streaming session per caller utterance.

An `AsrEngine` holds the loaded model (shared, loaded once); `engine.recognizer(phrases)` opens a
`Recognizer` session for one utterance: feed it 8 kHz s16le PCM with `accept`, read `partial()`
while the caller speaks, and `final()` once VAD says the caller stopped. Sessions are blocking
(C decoders); `AsyncRecognizer` runs them on a worker thread so the event loop keeps pacing audio.
Engines live one per module (`asr_vosk`, `asr_pocketsphinx`, `asr_whisper`, `asr_twopass`) and
are built by name by `voicebot.asr_engines.make_asr`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AsrEngine",
    "AsrError",
    "AsyncRecognizer",
    "Recognizer",
    "Transcript",
]


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

    async def paused(self, partial: str) -> None:
        """Tell a recognizer that has `paused(partial)` (voicebot.asr_twopass) of a pause."""
        hook = getattr(self.recognizer, "paused", None)
        if hook is not None:
            await self._run(hook, partial)

    async def resumed(self) -> None:
        hook = getattr(self.recognizer, "resumed", None)
        if hook is not None:
            await self._run(hook)
