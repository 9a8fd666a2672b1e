"""Prompt cache: text -> 8 kHz WAV file that Asterisk can `Playback()`.

Files are named by a hash of (engine, voice, language, text), so the same phrase is synthesised
once, a changed text or voice gets a new file, and a file is never half-written (temp + rename).
Asterisk takes the path without its extension: `Playback(/var/lib/hotline/prompts/ab12...)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

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


class PromptCache:
    def __init__(self, tts: TtsEngine, directory: str | Path) -> None:
        self.tts = tts
        self.directory = Path(directory)
        self._inflight: dict[str, asyncio.Future[Path]] = {}

    def path_for(self, text: str, language: str = "en", voice: str | None = None) -> Path:
        return self.directory / f"{prompt_key(self.tts.name, voice, language, text)}.wav"

    def is_cached(self, text: str, language: str = "en", voice: str | None = None) -> bool:
        return self.path_for(text, language, voice).is_file()

    async def render(self, text: str, language: str = "en", voice: str | None = None) -> Path:
        """Return the WAV path for `text`, synthesising it only if it is not on disk yet.

        Concurrent calls for the same text share one synthesis.
        """
        path = self.path_for(text, language, voice)
        if path.is_file():
            return path
        key = path.stem
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
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
