"""Prompt cache, async recognizer wrapper, engine factories and model checks, with fakes."""

import asyncio
import threading

import pytest

from voicebot.asr import AsrError, AsyncRecognizer, Recognizer, Transcript
from voicebot.asr_engines import make_asr
from voicebot.asr_vosk import check_model_dir
from voicebot.audio import read_wav
from voicebot.prompts import PromptCache, playback_target, prompt_key
from voicebot.tts import TtsEngine, TtsError, split_sentences
from voicebot.tts_engines import make_tts

pytestmark = pytest.mark.unit


class FakeTts:
    name = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        self.fail = fail

    async def synthesize(self, text, language="en", voice=None):
        self.calls.append((text, language, voice))
        await asyncio.sleep(0.01)
        if self.fail:
            raise TtsError("boom")
        return bytes(160) * len(text)


def test_fake_satisfies_protocol():
    assert isinstance(FakeTts(), TtsEngine)


def test_prompt_key_depends_on_every_part_and_ignores_spacing():
    base = prompt_key("espeak", "en-us", "en", "Hello there")
    assert base == prompt_key("espeak", "en-us", "en", "  Hello   there ")
    others = {prompt_key("piper", "en-us", "en", "Hello there"),
              prompt_key("espeak", "en-gb", "en", "Hello there"),
              prompt_key("espeak", "en-us", "ru", "Hello there"),
              prompt_key("espeak", "en-us", "en", "Hello there!")}  # fmt: skip
    assert base not in others and len(others) == 4


async def test_render_writes_8k_wav_once(tmp_path):
    tts = FakeTts()
    cache = PromptCache(tts, tmp_path)
    first = await cache.render("Welcome", "en", "en-us")
    again = await cache.render("Welcome", "en", "en-us")
    assert first == again and first.suffix == ".wav"
    assert len(tts.calls) == 1
    pcm, rate = read_wav(first)
    assert rate == 8000 and len(pcm) == 160 * 7
    assert playback_target(first) == str(first)[:-4]
    # a second cache on the same directory (service restart) reuses the file
    tts2 = FakeTts()
    assert await PromptCache(tts2, tmp_path).render("Welcome", "en", "en-us") == first
    assert tts2.calls == []


async def test_concurrent_renders_share_one_synthesis(tmp_path):
    tts = FakeTts()
    cache = PromptCache(tts, tmp_path)
    paths = await asyncio.gather(*(cache.render("Same text") for _ in range(5)))
    assert len(set(paths)) == 1 and len(tts.calls) == 1


async def test_failed_render_leaves_nothing(tmp_path):
    cache = PromptCache(FakeTts(fail=True), tmp_path)
    with pytest.raises(TtsError):
        await cache.render("Oops")
    assert list(tmp_path.iterdir()) == []


async def test_prerender_reports_progress_and_skips_cached(tmp_path):
    tts = FakeTts()
    cache = PromptCache(tts, tmp_path)
    await cache.render("One")
    seen = []
    paths = await cache.prerender(["One", "Two", "Two", " ", "Three"], seen.append)
    assert [(p.done, p.total, p.text, p.cached) for p in seen] == [
        (1, 3, "One", True),
        (2, 3, "Two", False),
        (3, 3, "Three", False),
    ]
    assert len(paths) == 3 and all(p.is_file() for p in paths)
    assert [c[0] for c in tts.calls] == ["One", "Two", "Three"]


def test_split_sentences():
    assert split_sentences("Hello. The draw is at 8 p.m. today! Anything else?  ") == [
        "Hello.",
        "The draw is at 8 p.m.",
        "today!",
        "Anything else?",
    ]
    assert split_sentences("  ") == []


class FakeRecognizer:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.threads: set[int] = set()

    def accept(self, pcm_8k: bytes) -> None:
        self.threads.add(threading.get_ident())
        self.chunks.append(pcm_8k)

    def partial(self) -> str:
        return f"{len(self.chunks)} chunks"

    def final(self) -> Transcript:
        return Transcript("done", 0.9, ("done",))


async def test_async_recognizer_keeps_order_off_the_loop():
    fake = FakeRecognizer()
    assert isinstance(fake, Recognizer)
    rec = AsyncRecognizer(fake)
    await asyncio.gather(*(rec.accept(bytes([i])) for i in range(20)))
    assert fake.chunks == [bytes([i]) for i in range(20)]
    assert threading.get_ident() not in fake.threads
    assert await rec.partial() == "20 chunks"
    assert await rec.final() == Transcript("done", 0.9, ("done",))


def test_transcript_empty():
    assert Transcript("").empty and not Transcript("hi").empty


def test_unknown_engines_are_named_errors():
    with pytest.raises(TtsError, match="espeak"):
        make_tts("festival")
    with pytest.raises(AsrError, match="vosk"):
        make_asr("kaldi-server")


def test_vosk_model_dir_checks(tmp_path):
    with pytest.raises(AsrError, match="does not exist"):
        check_model_dir(tmp_path / "nope")
    (tmp_path / "am").mkdir()
    (tmp_path / "am" / "final.mdl").write_bytes(b"x")
    with pytest.raises(AsrError, match="missing conf/model.conf, graph"):
        check_model_dir(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "model.conf").write_text("")
    (tmp_path / "graph").mkdir()
    assert check_model_dir(tmp_path) == tmp_path
