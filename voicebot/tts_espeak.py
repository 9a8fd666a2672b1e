"""eSpeak NG text-to-speech (default engine): robotic but tiny, instant and always installed.

Two backends over the same Debian `espeak-ng`:
- "binary" (default when the command exists): `espeak-ng --stdout` with the text on stdin (never
  on the command line), ~13 ms a sentence including process start. No shared state, so calls
  run in parallel on the event loop, and it cannot be disturbed by other espeak users in the
  process (Piper embeds its own espeak-ng).
- "pyttsx3": the in-process library through pyttsx3. Measured here, ~15% of `runAndWait` calls
  wrote an empty file (0 frames), so each call is retried; pyttsx3 keeps global driver state and
  is not thread-safe, so calls are serialised by a lock and run in a worker thread; each file
  needs its own `save_to_file` + `runAndWait` (queueing several before one writes nothing).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from voicebot.audio import read_wav, to_phone
from voicebot.tts import TtsError

__all__ = ["DEFAULT_VOICES", "EspeakTts", "espeak_phone"]

# language -> espeak-ng voice name ("en-us+f3" style variants work too)
DEFAULT_VOICES = {"en": "en-us", "ru": "ru"}

_PYTTSX3_TRIES = 4
_PYTTSX3_LOCK = threading.Lock()  # one espeak library per process: shared by all instances


class EspeakTts:
    name = "espeak"

    def __init__(
        self, rate_wpm: int = 160, backend: str = "auto", binary: str = "espeak-ng"
    ) -> None:
        if backend not in ("auto", "pyttsx3", "binary"):
            raise TtsError(f"unknown espeak backend {backend!r}")
        self.rate_wpm = rate_wpm
        self._binary = binary
        self._engine: Any = None
        if backend == "auto":
            backend = "binary" if shutil.which(binary) else "pyttsx3"
        if backend == "pyttsx3":
            try:
                import pyttsx3

                with _PYTTSX3_LOCK:
                    self._engine = pyttsx3.init("espeak")
                _silence_driver_prints()
            except Exception as exc:  # ImportError, or a driver that cannot load libespeak-ng
                raise TtsError(f"pyttsx3/espeak-ng unavailable: {exc}; install the Debian "
                               "package espeak-ng") from exc  # fmt: skip
        elif shutil.which(binary) is None:
            raise TtsError(f"the {binary!r} command is missing: install the Debian package "
                           "espeak-ng")  # fmt: skip
        self.backend = backend

    def voice_for(self, language: str, voice: str | None) -> str:
        return voice or DEFAULT_VOICES.get(language.split("-")[0].lower(), language)

    async def synthesize(self, text: str, language: str = "en", voice: str | None = None) -> bytes:
        if not text.strip():
            return b""
        name = self.voice_for(language, voice)
        if self._engine is not None:
            wav = await asyncio.to_thread(self._pyttsx3_wav, text, name)
        else:
            wav = await self._binary_wav(text, name)
        pcm, rate = read_wav(wav)
        return await asyncio.to_thread(to_phone, pcm, rate)

    def _pyttsx3_wav(self, text: str, voice: str) -> bytes:
        fd, tmp = tempfile.mkstemp(prefix="hotline-tts-", suffix=".wav")
        os.close(fd)
        try:
            for _attempt in range(_PYTTSX3_TRIES):
                with _PYTTSX3_LOCK:
                    self._engine.setProperty("voice", voice)
                    self._engine.setProperty("rate", self.rate_wpm)
                    self._engine.save_to_file(text, tmp)
                    self._engine.runAndWait()
                data = Path(tmp).read_bytes()
                if len(data) > 44:
                    break
        finally:
            Path(tmp).unlink(missing_ok=True)
        if len(data) <= 44:
            raise TtsError(f"espeak-ng produced no audio for voice {voice!r}")
        return data

    async def _binary_wav(self, text: str, voice: str) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            *_command(self._binary, voice, self.rate_wpm),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate(text.encode("utf-8"))
        return _checked_wav(proc.returncode, out, err, voice)


def _command(binary: str, voice: str, wpm: int) -> list[str]:
    """espeak-ng writing a WAV to stdout; the text goes on stdin (never read as an option)."""
    return [binary, "-v", voice, "-s", str(wpm), "--stdout"]


def _checked_wav(returncode: int | None, out: bytes, err: bytes, voice: str) -> bytes:
    if returncode != 0 or len(out) <= 44:
        raise TtsError(f"espeak-ng failed (voice {voice!r}): {err.decode(errors='replace')}")
    return _fix_stream_wav(out)


def _silence_driver_prints() -> None:
    """pyttsx3's espeak driver print()s "Audio saved to ..." per file onto the service's stdout;
    shadow `print` in that one module only."""
    import pyttsx3.drivers.espeak as driver

    driver.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]


def _fix_stream_wav(data: bytes) -> bytes:
    """espeak-ng writes WAV to a pipe with unknown (0x7fffffff) sizes: patch them in."""
    if data[:4] != b"RIFF" or data[36:40] != b"data":
        return data
    body = len(data) - 44
    return (data[:4] + (36 + body).to_bytes(4, "little") + data[8:40]
            + body.to_bytes(4, "little") + data[44:])  # fmt: skip


def espeak_phone(text: str, voice: str = "en-us", wpm: int = 160) -> bytes:
    """espeak-ng speech (the binary) as 8 kHz phone-band PCM, no padding; blocking (the same
    command as `EspeakTts`, for code outside an event loop)."""
    proc = subprocess.run(_command("espeak-ng", voice, wpm), input=text.encode("utf-8"),
                          capture_output=True, timeout=30, check=False)  # fmt: skip
    pcm, rate = read_wav(_checked_wav(proc.returncode, proc.stdout, proc.stderr, voice))
    return to_phone(pcm, rate)
