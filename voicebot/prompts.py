"""Prompt cache: text -> 8 kHz WAV file that Asterisk can `Playback()`.

Files are named by a hash of (engine, voice, language, text), so the same phrase is synthesised
once, a changed text or voice gets a new file, and a file is never half-written (temp + rename).
Asterisk takes the path without its extension: `Playback(/var/lib/hotline/prompts/ab12...)`.

Bounded: a caller's ticket number makes a text of its own ("checking ticket 123456"), so the
files that are not pinned (`pin`: the dialplan's fixed texts, rendered before it serves) are
kept least recently used first, within `max_files` and `max_bytes` on disk, and the index in
memory holds no more than those files. A file some call is playing (`hold`/`release`, or
`playing`) is never evicted: eviction skips it and tries again when it is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from voicebot.audio import PHONE_RATE, write_wav
from voicebot.tts import TtsEngine

__all__ = ["PromptCache", "PrerenderProgress", "playback_target", "prompt_key"]


def prompt_key(engine: str, voice: str | None, language: str, text: str) -> str:
    """Stable file stem for one rendering (whitespace-normalised text)."""
    canonical = json.dumps([engine, voice or "", language, " ".join(text.split())],
                           ensure_ascii=False)  # fmt: skip
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def playback_target(path: Path) -> str:
    """The argument for Asterisk's Playback(): the file path without `.wav`."""
    return str(path.with_suffix(""))


@dataclass(frozen=True, slots=True)
class PrerenderProgress:
    done: int
    total: int
    text: str
    path: Path
    cached: bool  # already on disk, nothing synthesised


log = structlog.get_logger("voicebot.prompts")

DEFAULT_MAX_FILES = 2000  # prompts that are not pinned (~40 KB each at 8 kHz)
DEFAULT_MAX_BYTES = 100 * 1024 * 1024


class PromptCache:
    def __init__(self, tts: TtsEngine, directory: str | Path, *,
                 max_files: int = DEFAULT_MAX_FILES, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_files < 1 or max_bytes < 1:
            raise ValueError("the prompt cache needs room for at least one file")
        self.tts = tts
        self.directory = Path(directory)
        self.max_files = max_files
        self.max_bytes = max_bytes
        self._inflight: dict[str, asyncio.Future[Path]] = {}
        self._lru: OrderedDict[str, int] = OrderedDict()  # stem -> size, oldest use first
        self._bytes = 0
        self._pinned: set[str] = set()
        self._held: dict[str, int] = {}  # stem -> calls playing it
        self._scanned = False

    def path_for(self, text: str, language: str = "en", voice: str | None = None) -> Path:
        return self.directory / f"{prompt_key(self.tts.name, voice, language, text)}.wav"

    def is_cached(self, text: str, language: str = "en", voice: str | None = None) -> bool:
        return self.path_for(text, language, voice).is_file()

    # --- the bound ---------------------------------------------------------------------------

    @property
    def files(self) -> int:
        """Files in the bounded part (not pinned) that the cache knows of."""
        return len(self._lru)

    @property
    def bytes(self) -> int:
        return self._bytes

    def _scan(self) -> None:
        """Once: take in what an earlier run left (oldest first), then keep to the bound."""
        if self._scanned:
            return
        self._scanned = True
        try:
            found = [(p.stat().st_mtime, p.stem, p.stat().st_size) for p in self.directory.glob("*.wav")]
        except OSError:
            found = []
        for _mtime, stem, size in sorted(found):
            if stem not in self._pinned:
                self._lru[stem] = size
                self._bytes += size
        self._evict()

    def _touch(self, path: Path) -> None:
        stem = path.stem
        if stem in self._pinned:
            return
        if stem in self._lru:
            self._lru.move_to_end(stem)
            return
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        self._lru[stem] = size
        self._bytes += size
        self._evict()

    def _evict(self) -> None:
        """Drop least recently used files until within the bound; held files stay."""
        if len(self._lru) <= self.max_files and self._bytes <= self.max_bytes:
            return
        for stem in list(self._lru):
            if len(self._lru) <= self.max_files and self._bytes <= self.max_bytes:
                break
            if stem in self._held or stem in self._inflight:
                continue
            size = self._lru.pop(stem)
            self._bytes -= size
            with contextlib.suppress(FileNotFoundError):
                (self.directory / f"{stem}.wav").unlink()

    def pin(self, path: Path) -> None:
        """Keep this file whatever the bound (a dialplan's fixed texts)."""
        stem = path.stem
        self._pinned.add(stem)
        size = self._lru.pop(stem, None)
        if size is not None:
            self._bytes -= size

    def hold(self, path: Path) -> None:
        """A call is about to play `path`: it is not evicted until `release`."""
        self._held[path.stem] = self._held.get(path.stem, 0) + 1

    def release(self, path: Path) -> None:
        n = self._held.get(path.stem, 0) - 1
        if n > 0:
            self._held[path.stem] = n
        else:
            self._held.pop(path.stem, None)
            self._evict()

    @contextlib.asynccontextmanager
    async def playing(self, text: str, language: str = "en",
                      voice: str | None = None) -> AsyncIterator[Path]:
        """The rendered file, held for as long as the `async with` block plays it."""
        path = await self.render(text, language, voice, hold=True)
        try:
            yield path
        finally:
            self.release(path)

    # --- rendering ---------------------------------------------------------------------------

    async def render(self, text: str, language: str = "en", voice: str | None = None, *,
                     hold: bool = False) -> Path:
        """Return the WAV path for `text`, synthesising it only if it is not on disk yet.

        Concurrent calls for the same text share one synthesis. `hold`: held (see `hold`)
        before anything else can evict it; the caller releases it.
        """
        self._scan()
        path = self.path_for(text, language, voice)
        if path.is_file():
            if hold:
                self.hold(path)
            self._touch(path)
            return path
        key = path.stem
        pending = self._inflight.get(key)
        if pending is not None:
            await asyncio.shield(pending)
            return await self.render(text, language, voice, hold=hold)
        future: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            pcm = await self.tts.synthesize(text, language, voice)
            await asyncio.to_thread(write_wav, path, pcm, PHONE_RATE)
            future.set_result(path)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            del self._inflight[key]
        if hold:
            self.hold(path)
        self._touch(path)
        return path

    async def prerender(
        self,
        texts: Iterable[str],
        progress_cb: Callable[[PrerenderProgress], None] | None = None,
        language: str = "en",
        voice: str | None = None,
    ) -> list[Path]:
        """Render static phrases one after another (startup / `make prompts`), reporting each."""
        unique = list(dict.fromkeys(t for t in texts if t.strip()))
        paths: list[Path] = []
        for done, text in enumerate(unique, start=1):
            cached = self.is_cached(text, language, voice)
            path = await self.render(text, language, voice)
            paths.append(path)
            if progress_cb is not None:
                progress_cb(PrerenderProgress(done, len(unique), text, path, cached))
        return paths
