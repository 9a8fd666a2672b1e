"""Voice activity detection: WebRTC's per-frame classifier plus a pure start/end state machine.

`FrameClassifier` says "speech or not" for one 20 ms frame; `SpeechDetector` turns that stream of
decisions into utterance events with hysteresis: speech must last `start_ms` (~60 ms) before
`SpeechStarted` (a click or a cough does not barge in), and `end_ms` (~500 ms) of silence ends it
with `SpeechEnded`. With `pause_ms` (shorter than `end_ms`), a shorter silence inside the
utterance gives `SpeechPaused` first, and speech after it `SpeechResumed`: the recogniser may end
a turn it already understands at the pause (semantic endpointing, voicebot.processors). The detector holds no I/O and no clock, so tests drive it with a fake
classifier frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "FRAME_BYTES",
    "FRAME_MS",
    "FrameClassifier",
    "SpeechDetector",
    "SpeechEnded",
    "SpeechPaused",
    "SpeechResumed",
    "SpeechStarted",
    "VadEvent",
    "WebRtcClassifier",
]

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2  # 320 bytes of s16le


class FrameClassifier(Protocol):
    def is_speech(self, frame: bytes) -> bool: ...


class WebRtcClassifier:
    """webrtcvad (package webrtcvad-wheels) on 8 kHz 20 ms frames.

    `aggressiveness` 0-3: higher rejects more noise and more quiet speech; 2 suits phone lines.
    """

    def __init__(self, aggressiveness: int = 2, sample_rate: int = SAMPLE_RATE) -> None:
        import webrtcvad

        if not 0 <= aggressiveness <= 3:
            raise ValueError("aggressiveness must be 0..3")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._rate = sample_rate
        self._frame_bytes = sample_rate * FRAME_MS // 1000 * 2

    def is_speech(self, frame: bytes) -> bool:
        if len(frame) != self._frame_bytes:
            raise ValueError(f"VAD needs {FRAME_MS} ms frames ({self._frame_bytes} bytes), "
                             f"got {len(frame)}")  # fmt: skip
        return bool(self._vad.is_speech(frame, self._rate))


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at_ms: int  # stream time of the first speech frame of the confirmed run


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    at_ms: int  # stream time just after the last speech frame
    duration_ms: int


@dataclass(frozen=True, slots=True)
class SpeechPaused:
    at_ms: int  # stream time just after the last speech frame (as SpeechEnded would say)


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    at_ms: int  # stream time of the first speech frame after a SpeechPaused


VadEvent = SpeechStarted | SpeechEnded | SpeechPaused | SpeechResumed


class SpeechDetector:
    """Speech start/end with hangover over per-frame decisions, on stream time (frames x 20 ms)."""

    def __init__(
        self,
        classifier: FrameClassifier,
        start_ms: int = 60,
        end_ms: int = 500,
        frame_ms: int = FRAME_MS,
        frame_bytes: int = FRAME_BYTES,
        pause_ms: int | None = None,
    ) -> None:
        if start_ms < frame_ms or end_ms < frame_ms:
            raise ValueError("start_ms and end_ms must be at least one frame")
        if pause_ms is not None and not frame_ms <= pause_ms < end_ms:
            raise ValueError("pause_ms must be at least one frame and shorter than end_ms")
        self.classifier = classifier
        self.frame_ms = frame_ms
        self.frame_bytes = frame_bytes
        self._start_frames = -(-start_ms // frame_ms)
        self._end_frames = -(-end_ms // frame_ms)
        self._pause_frames = -(-pause_ms // frame_ms) if pause_ms is not None else None
        self._buffer = b""
        self.reset()

    def reset(self) -> None:
        """Forget the current utterance (e.g. after the bot started speaking)."""
        self.in_speech = False
        self._run = 0  # consecutive frames against the current state
        self._run_start_ms = 0
        self._speech_start_ms = 0
        self._last_speech_end_ms = 0
        self._paused = False
        self.now_ms = getattr(self, "now_ms", 0)

    def push_decision(self, speech: bool) -> VadEvent | None:
        """Advance one frame with a given decision (the pure core)."""
        frame_start = self.now_ms
        self.now_ms += self.frame_ms
        event: VadEvent | None = None
        if not self.in_speech:
            if speech:
                if self._run == 0:
                    self._run_start_ms = frame_start
                self._run += 1
                if self._run >= self._start_frames:
                    self.in_speech = True
                    self._speech_start_ms = self._run_start_ms
                    self._last_speech_end_ms = self.now_ms
                    self._run = 0
                    event = SpeechStarted(self._speech_start_ms)
            else:
                self._run = 0
        elif speech:
            self._run = 0
            self._last_speech_end_ms = self.now_ms
            if self._paused:
                self._paused = False
                event = SpeechResumed(frame_start)
        else:
            self._run += 1
            if self._run >= self._end_frames:
                self.in_speech = False
                self._paused = False
                self._run = 0
                event = SpeechEnded(self._last_speech_end_ms,
                                    self._last_speech_end_ms - self._speech_start_ms)  # fmt: skip
            elif self._run == self._pause_frames:
                self._paused = True
                event = SpeechPaused(self._last_speech_end_ms)
        return event

    def push_frame(self, frame: bytes) -> VadEvent | None:
        return self.push_decision(self.classifier.is_speech(frame))

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Any amount of audio; whole frames are classified, the rest waits for more."""
        self._buffer += pcm
        events: list[VadEvent] = []
        usable = len(self._buffer) - len(self._buffer) % self.frame_bytes
        for i in range(0, usable, self.frame_bytes):
            event = self.push_frame(self._buffer[i : i + self.frame_bytes])
            if event is not None:
                events.append(event)
        self._buffer = self._buffer[usable:]
        return events
