"""Builds a speech recogniser by name; each engine's module is imported only when asked for."""

from __future__ import annotations

from typing import Any

from voicebot.asr import AsrEngine, AsrError

__all__ = ["ASR_ENGINES", "make_asr"]

ASR_ENGINES = ("vosk", "pocketsphinx", "whisper", "twopass")


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
