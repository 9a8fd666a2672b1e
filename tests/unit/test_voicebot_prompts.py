"""The prompt cache stays within its bound however many distinct texts callers make, and never
removes a file a call is playing or a dialplan's fixed prompt."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from voicebot.audio import read_wav
from voicebot.prompts import PromptCache


class CountingTts:
    """10 ms of a constant sample per character: real WAVs whose size follows the text."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    async def synthesize(self, text: str, language: str = "en", voice: str | None = None) -> bytes:
        self.calls += 1
        return b"\x10\x00" * (80 * len(text))


def wavs(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.wav"))


async def test_ten_thousand_ticket_numbers_keep_the_cache_within_its_bound(tmp_path: Path) -> None:
    max_files, max_bytes = 200, 6 * 1024 * 1024
    cache = PromptCache(CountingTts(), tmp_path, max_files=max_files, max_bytes=max_bytes)
    fixed = [await cache.render(t) for t in ("Welcome to the hotline.", "Enter your ticket number.")]
    for path in fixed:
        cache.pin(path)
    biggest = 0
    for n in range(10_000):
        ticket = f"{100000 + n * 7919 % 9000000:07d}"
        async with cache.playing(f"One moment, checking ticket {ticket}.") as path:
            assert path.is_file()  # what the call plays is there while it plays
        assert cache.files <= max_files and cache.bytes <= max_bytes
        if n % 250 == 0:
            biggest = max(biggest, len(wavs(tmp_path)))
    assert biggest <= max_files + len(fixed)
    on_disk = wavs(tmp_path)
    assert len(on_disk) == max_files + len(fixed)
    assert sum(p.stat().st_size for p in on_disk) <= max_bytes + sum(p.stat().st_size for p in fixed)
    assert all(p.is_file() for p in fixed)  # pinned: never evicted
    assert cache.bytes == sum(p.stat().st_size for p in on_disk if p not in fixed)
    # the most recent ones are the ones kept
    last = cache.path_for(f"One moment, checking ticket {100000 + 9999 * 7919 % 9000000:07d}.")
    assert last in on_disk


async def test_the_byte_bound_holds_when_files_are_large(tmp_path: Path) -> None:
    cache = PromptCache(CountingTts(), tmp_path, max_files=1000, max_bytes=64 * 1024)
    for n in range(300):
        await cache.render(f"{n:04d} " + "long " * 20)
    assert cache.bytes <= 64 * 1024
    assert sum(p.stat().st_size for p in wavs(tmp_path)) == cache.bytes
    assert 0 < cache.files < 300


async def test_a_file_being_played_is_not_evicted_until_released(tmp_path: Path) -> None:
    cache = PromptCache(CountingTts(), tmp_path, max_files=3)
    async with cache.playing("ticket 0000001") as playing:
        for n in range(2, 50):
            await cache.render(f"ticket {n:07d}")
            assert playing.is_file()
            read_wav(playing)  # whole
            assert cache.files == min(n, 3)  # others go to keep the bound
    assert playing.is_file() and cache.files == 3 and len(wavs(tmp_path)) == 3
    await cache.render("ticket 0000050")  # released, it is the least recently used now
    assert not playing.is_file() and cache.files == 3 and len(wavs(tmp_path)) == 3


async def test_two_calls_playing_one_file_keep_it_until_both_end(tmp_path: Path) -> None:
    cache = PromptCache(CountingTts(), tmp_path, max_files=1)
    first = cache.playing("ticket 42")
    path = await first.__aenter__()
    async with cache.playing("ticket 42") as same:
        assert same == path
        await cache.render("ticket 43")
    assert path.is_file()  # the first call still plays it
    await first.__aexit__(None, None, None)
    await cache.render("ticket 44")
    assert not path.is_file() and cache.files == 1


async def test_a_restart_takes_in_what_is_on_disk_and_trims_it(tmp_path: Path) -> None:
    tts = CountingTts()
    big = PromptCache(tts, tmp_path, max_files=100)
    for n in range(50):
        await big.render(f"ticket {n}")
    again = PromptCache(tts, tmp_path, max_files=10)
    path = await again.render("ticket 49")  # on disk: not synthesised again
    assert tts.calls == 50 and path.is_file()
    assert again.files == 10 and len(wavs(tmp_path)) == 10


async def test_concurrent_calls_share_a_synthesis_and_hold_it(tmp_path: Path) -> None:
    tts = CountingTts()
    cache = PromptCache(tts, tmp_path, max_files=1)

    async def call() -> bool:
        async with cache.playing("ticket 7") as path:
            await asyncio.sleep(0)
            await cache.render(f"other {id(path)}")
            return path.is_file()

    assert all(await asyncio.gather(*(call() for _ in range(5))))
    assert cache.files == 1


def test_the_bound_must_leave_room() -> None:
    with pytest.raises(ValueError, match="at least one file"):
        PromptCache(CountingTts(), "/nonexistent", max_files=0)
