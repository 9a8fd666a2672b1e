"""Builds a TTS engine by name; Piper (optional, GPL) is imported only when asked for."""

from __future__ import annotations

from typing import Any

from voicebot.tts import TtsEngine, TtsError

__all__ = ["TTS_ENGINES", "make_tts"]

TTS_ENGINES = ("espeak", "piper")


def make_tts(name: str = "espeak", **options: Any) -> TtsEngine:
    """Build a TTS engine by name ("espeak" or "piper"); options go to its constructor."""
    if name == "espeak":
        from voicebot.tts_espeak import EspeakTts

        return EspeakTts(**options)
    if name == "piper":
        from voicebot.tts_piper import PiperTts

        return PiperTts(**options)
    raise TtsError(f"unknown TTS engine {name!r}; choose one of {', '.join(TTS_ENGINES)}")
