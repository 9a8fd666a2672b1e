"""Settings of the voice bot (`bot:` in the service settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    """The voice bot's speech engines."""

    language: str = Field("en", pattern=r"^[a-z]{2}$")
    # auto: Vosk when vosk_model_dir is set (checked at start), else the best packaged engines:
    # pocketsphinx, then Whisper tiny.en on the turns it is unsure of, when installed (97.2 %
    # intents on the generated test set vs 66.7 % for pocketsphinx alone); twopass: the same,
    # but refuse to start without Whisper; pocketsphinx: never Whisper
    asr_engine: Literal["auto", "vosk", "pocketsphinx", "twopass"] = "auto"
    vosk_model_dir: Path | None = None
    tts: Literal["espeak", "piper"] = "espeak"
    voice: str | None = None


