"""Frames: every message inside the bot pipeline is one small dataclass.

Two kinds: `DataFrame`s travel in order through each processor's queue (audio, transcripts,
text to say); `ControlFrame`s overtake queued data and are handled at once. `Interrupt` is the
control frame for barge-in: each processor that sees it drops its queued data and cancels work in
progress, then passes it on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voicebot.intents import Understanding

__all__ = [
    "AudioIn",
    "AudioOut",
    "BotStartedSpeaking",
    "BotStoppedSpeaking",
    "ControlFrame",
    "DataFrame",
    "Dtmf",
    "EndOfCall",
    "Frame",
    "IntentFrame",
    "Interrupt",
    "Say",
    "SpeechPaused",
    "SpeechResumed",
    "SpeechStarted",
    "SpeechStopped",
    "Transcript",
]


@dataclass(frozen=True, slots=True)
class Frame:
    pass


@dataclass(frozen=True, slots=True)
class DataFrame(Frame):
    pass


@dataclass(frozen=True, slots=True)
class ControlFrame(Frame):
    pass


@dataclass(frozen=True, slots=True)
class AudioIn(DataFrame):
    """Caller audio: 8 kHz signed 16-bit little-endian PCM."""

    pcm: bytes
    at: float = 0.0  # seconds on the call's clock


@dataclass(frozen=True, slots=True)
class AudioOut(DataFrame):
    """Bot audio on its way to the caller (any length before pacing, 320 bytes after)."""

    pcm: bytes


@dataclass(frozen=True, slots=True)
class SpeechStarted(ControlFrame):
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class SpeechStopped(DataFrame):
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class SpeechPaused(DataFrame):
    """A short silence inside an utterance (`at`: its speech end); the turn may end here."""

    at: float = 0.0


@dataclass(frozen=True, slots=True)
class SpeechResumed(DataFrame):
    """Speech again after a `SpeechPaused`, in the same VAD utterance."""

    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Transcript(DataFrame):
    text: str
    final: bool = True
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class IntentFrame(DataFrame):
    text: str
    understanding: Understanding


@dataclass(frozen=True, slots=True)
class Say(DataFrame):
    """One sentence for TTS."""

    text: str


@dataclass(frozen=True, slots=True)
class Dtmf(ControlFrame):
    digit: str
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Interrupt(ControlFrame):
    reason: str = "barge-in"


@dataclass(frozen=True, slots=True)
class BotStartedSpeaking(ControlFrame):
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class BotStoppedSpeaking(ControlFrame):
    at: float = 0.0
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class EndOfCall(ControlFrame):
    reason: str = "hangup"
    details: dict[str, object] = field(default_factory=dict, hash=False, compare=False)
