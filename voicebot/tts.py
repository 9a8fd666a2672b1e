"""Text-to-speech interface: every engine returns 8 kHz s16le mono PCM, ready for the phone.

Engines live one per module (`tts_espeak`, `tts_piper`) and are built by `voicebot.tts_engines.make_tts`, so the
optional, GPL-licensed Piper is imported only when it is asked for.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

__all__ = ["TtsEngine", "TtsError", "split_sentences"]


class TtsError(RuntimeError):
    """An engine could not be set up or could not speak the text."""


@runtime_checkable
class TtsEngine(Protocol):
    """Speaks text. `voice=None` picks the engine's default voice for `language`."""

    name: str

    async def synthesize(self, text: str, language: str = "en", voice: str | None = None) -> bytes:
        """Return 8 kHz signed 16-bit little-endian mono PCM."""
        ...


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


def split_sentences(text: str) -> list[str]:
    """Split on sentence punctuation so playback can start after the first sentence."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]
