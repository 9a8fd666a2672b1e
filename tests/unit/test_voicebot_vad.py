"""SpeechDetector state over a fake per-frame classifier (20 ms frames)."""

import pytest

from voicebot.vad import (
    FRAME_BYTES,
    SpeechDetector,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
)

pytestmark = pytest.mark.unit


class Script:
    """Fake classifier: a frame whose first byte is 1 is speech."""

    def is_speech(self, frame: bytes) -> bool:
        return frame[0] == 1


def frames(pattern: str) -> bytes:
    """'S' = a speech frame, '.' = a silent one."""
    return b"".join(bytes([1 if c == "S" else 0]) * FRAME_BYTES for c in pattern)


def run(pattern: str, **kw) -> list:
    return SpeechDetector(Script(), **kw).feed(frames(pattern))


def test_speech_confirmed_after_start_window():
    assert run("..SSS") == [SpeechStarted(40)]


@pytest.mark.parametrize("blip", ["S", "SS", "S.S.S.S"])
def test_short_blips_do_not_start(blip):
    assert run(f"..{blip}....") == []


def test_end_after_hangover_reports_last_speech_frame():
    events = run("SSSSS" + "." * 25, end_ms=500)
    assert events == [SpeechStarted(0), SpeechEnded(100, 100)]


def test_pause_shorter_than_hangover_keeps_utterance():
    events = run("SSSS" + "." * 20 + "SSSS" + "." * 25, end_ms=500)
    assert events == [SpeechStarted(0), SpeechEnded(560, 560)]


def test_silence_one_frame_short_of_hangover_does_not_end():
    assert run("SSS" + "." * 24, end_ms=500) == [SpeechStarted(0)]


def test_second_utterance_after_end():
    events = run("SSS" + "." * 25 + "SSS" + "." * 25)
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded, SpeechStarted, SpeechEnded]
    assert events[2].at_ms == 28 * 20


def test_partial_frames_wait_for_more_audio():
    det = SpeechDetector(Script())
    data = frames("SSS")
    assert det.feed(data[:500]) == []
    assert det.feed(data[500:]) == [SpeechStarted(0)]


def test_push_decision_is_the_pure_core():
    det = SpeechDetector(Script(), start_ms=20, end_ms=20)
    assert det.push_decision(True) == SpeechStarted(0)
    assert det.in_speech
    assert det.push_decision(False) == SpeechEnded(20, 20)


def test_reset_drops_current_utterance_but_keeps_time():
    det = SpeechDetector(Script())
    det.feed(frames("SSSS"))
    det.reset()
    assert not det.in_speech
    assert det.feed(frames("SSS")) == [SpeechStarted(80)]


def test_rejects_windows_shorter_than_a_frame():
    with pytest.raises(ValueError):
        SpeechDetector(Script(), start_ms=10)


def test_pause_then_end_with_pause_ms():
    events = run("SSSS" + "." * 20, end_ms=300, pause_ms=160)
    assert events == [SpeechStarted(0), SpeechPaused(80), SpeechEnded(80, 80)]


def test_pause_then_resume_is_one_utterance():
    events = run("SSSS" + "." * 10 + "SSSS" + "." * 20, end_ms=300, pause_ms=160)
    assert events == [SpeechStarted(0), SpeechPaused(80), SpeechResumed(280), SpeechPaused(360),
                      SpeechEnded(360, 360)]  # fmt: skip


def test_no_pause_events_without_pause_ms_or_for_short_gaps():
    assert run("SSSS" + "." * 20, end_ms=300) == [SpeechStarted(0), SpeechEnded(80, 80)]
    events = run("SSSS" + "..." + "SSSS" + "." * 20, end_ms=300, pause_ms=160)
    assert [type(e) for e in events] == [SpeechStarted, SpeechPaused, SpeechEnded]


def test_pause_must_be_shorter_than_end():
    with pytest.raises(ValueError):
        SpeechDetector(Script(), end_ms=300, pause_ms=300)
