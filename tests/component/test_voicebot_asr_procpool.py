"""pocketsphinx sessions in worker processes (voicebot.asr_procpool), for real: decoding,
placement, errors, a worker that dies. (What the workers buy, decoding outside the service's
GIL, is measured by `make bench`, bench_bot, not asserted on timings here.)"""

from __future__ import annotations

import os
import signal

import pytest

from voicebot.asr import AsrError
from voicebot.tts_espeak import espeak_phone
from voicebot.vad import FRAME_BYTES

pytestmark = pytest.mark.component

pytest.importorskip("pocketsphinx")


@pytest.fixture(scope="module")
def engine():
    from voicebot.asr_procpool import ProcessAsrEngine

    eng = ProcessAsrEngine("pocketsphinx", workers=2, mode="lm")
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def operator_speech() -> bytes:
    return bytes(2400) + espeak_phone("I want to talk to an operator", "en-us", 150) + bytes(4800)


def _feed(rec, pcm: bytes) -> None:
    for i in range(0, len(pcm), FRAME_BYTES):
        rec.accept(pcm[i : i + FRAME_BYTES])


def test_sessions_decode_in_the_workers(engine, operator_speech):
    assert len(set(engine.worker_pids())) == 2 and os.getpid() not in engine.worker_pids()
    rec = engine.recognizer()
    _feed(rec, operator_speech)
    partial = rec.partial()  # answered after all the audio sent before it
    result = rec.final()
    assert "operator" in result.words and partial.split()[-1:] == result.text.split()[-1:]
    with pytest.raises(AsrError):
        rec.final()


def test_open_sessions_are_spread_over_the_workers(engine, operator_speech):
    a, b = engine.recognizer(), engine.recognizer()
    assert a._worker is not b._worker  # type: ignore[attr-defined]
    for rec in (a, b):
        _feed(rec, operator_speech)
    assert all("operator" in rec.final().words for rec in (a, b))


def test_a_session_error_is_that_sessions_asr_error(engine, operator_speech):
    bad = engine.recognizer(["zzqx notaword"])  # no pronunciation: the grammar is rejected
    bad.accept(bytes(1600))
    with pytest.raises(AsrError, match="grammar"):
        bad.final()
    good = engine.recognizer()
    _feed(good, operator_speech)
    assert "operator" in good.final().words


def test_a_dead_worker_fails_its_sessions_and_is_replaced(operator_speech):
    from voicebot.asr_procpool import ProcessAsrEngine

    eng = ProcessAsrEngine("pocketsphinx", workers=1, mode="lm")
    try:
        rec = eng.recognizer()
        rec.accept(operator_speech[:3200])
        os.kill(eng.worker_pids()[0], signal.SIGKILL)
        with pytest.raises(AsrError, match="ended"):
            _feed(rec, operator_speech)
            rec.final()
        dead = eng.worker_pids()[0]
        again = eng.recognizer()  # a fresh worker
        assert eng.worker_pids()[0] != dead
        _feed(again, operator_speech)
        assert "operator" in again.final().words
    finally:
        eng.close()


def test_ctrl_c_leaves_the_workers_to_the_service(operator_speech):
    """Ctrl-C sends SIGINT to the whole foreground group, workers included: a session in flight
    still gets its transcript, and the workers end when the service closes the engine."""
    from voicebot.asr_procpool import ProcessAsrEngine

    eng = ProcessAsrEngine("pocketsphinx", workers=1, mode="lm")
    try:
        rec = eng.recognizer()
        rec.accept(operator_speech[:3200])
        (pid,) = eng.worker_pids()
        os.kill(pid, signal.SIGINT)
        _feed(rec, operator_speech[3200:])
        assert "operator" in rec.final().words
        assert eng.worker_pids() == [pid] and eng._pool[0].process.is_alive()
        process = eng._pool[0].process
    finally:
        eng.close()
    assert process.exitcode == 0  # stopped by its "stop" message, not by the signal


def test_a_worker_that_cannot_build_its_engine_is_a_clear_error():
    from voicebot.asr_procpool import ProcessAsrEngine

    with pytest.raises(AsrError, match="unknown pocketsphinx mode"):
        ProcessAsrEngine("pocketsphinx", workers=1, mode="telepathy")


def test_fill_builds_every_workers_decoder_pool():
    from voicebot.asr_procpool import ProcessAsrEngine

    eng = ProcessAsrEngine("pocketsphinx", workers=2, mode="lm", pool_size=3)
    try:
        assert eng.fill() == 6  # 3 pooled decoders in each worker
        assert eng.fill() == 6  # already full: nothing more is built
    finally:
        eng.close()
