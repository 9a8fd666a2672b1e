"""Phone-audio helpers: resampling, WAV I/O, levels, band-limiting, G.711.

Everything the bot exchanges with Asterisk is 8 kHz signed 16-bit little-endian mono PCM
("slin"); engines run at 16 or 22.05 kHz, so conversions happen at the engine edges. numpy/scipy
replace the deprecated `audioop`.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import wave
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.signal import butter, resample_poly, sosfilt

__all__ = [
    "PHONE_RATE",
    "SAMPLE_WIDTH",
    "WavFormatError",
    "alaw_decode",
    "alaw_encode",
    "band_limit",
    "dbfs",
    "duration_s",
    "float_to_pcm",
    "pcm_to_float",
    "read_wav",
    "resample",
    "rms",
    "to_phone",
    "ulaw_decode",
    "ulaw_encode",
    "wav_bytes",
    "write_wav",
]

PHONE_RATE = 8000
SAMPLE_WIDTH = 2  # bytes, s16le


class WavFormatError(ValueError):
    """A WAV file is not 16-bit PCM (or is unreadable)."""


def pcm_to_float(pcm: bytes) -> np.ndarray:
    """s16le bytes -> float32 samples in [-1, 1)."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm(samples: np.ndarray) -> bytes:
    """Float samples -> s16le bytes, clipped rather than wrapped."""
    clipped = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767)
    return clipped.astype("<i2").tobytes()


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample s16le mono PCM with a polyphase filter (anti-aliased)."""
    if from_rate == to_rate or not pcm:
        return pcm
    ratio = Fraction(to_rate, from_rate)
    out = resample_poly(pcm_to_float(pcm), ratio.numerator, ratio.denominator)
    return float_to_pcm(out)


def duration_s(pcm: bytes, rate: int = PHONE_RATE) -> float:
    return len(pcm) / (SAMPLE_WIDTH * rate)


def rms(pcm: bytes) -> float:
    """Root-mean-square level in [0, 1] (full scale = 1)."""
    if len(pcm) < SAMPLE_WIDTH:
        return 0.0
    x = pcm_to_float(pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH]).astype(np.float64)
    return float(np.sqrt(np.mean(x * x)))


def dbfs(pcm: bytes) -> float:
    """Level in dBFS; silence is -inf. A full-scale square wave reads 0 dBFS."""
    level = rms(pcm)
    return 20.0 * math.log10(level) if level > 0 else -math.inf


@lru_cache(maxsize=8)
def _band_sos(rate: int, low: float, high: float) -> np.ndarray:
    high = min(high, rate / 2 * 0.95)
    return butter(4, [low, high], btype="bandpass", fs=rate, output="sos")


def band_limit(
    pcm: bytes, rate: int = PHONE_RATE, low: float = 300.0, high: float = 3400.0
) -> bytes:
    """Telephone band-pass (300-3400 Hz by default), 4th-order Butterworth."""
    if not pcm:
        return pcm
    return float_to_pcm(sosfilt(_band_sos(rate, low, high), pcm_to_float(pcm)))


def to_phone(pcm: bytes, rate: int) -> bytes:
    """Any-rate engine output -> 8 kHz phone-band PCM."""
    return band_limit(resample(pcm, rate, PHONE_RATE), PHONE_RATE)


# --- WAV ----------------------------------------------------------------------------------------


def read_wav(source: str | os.PathLike[str] | bytes) -> tuple[bytes, int]:
    """Read a 16-bit PCM WAV (path or bytes) -> (mono s16le pcm, rate). Stereo is averaged."""
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
        with handle, wave.open(handle, "rb") as w:
            if w.getsampwidth() != SAMPLE_WIDTH or w.getcomptype() != "NONE":
                raise WavFormatError(f"need 16-bit PCM WAV, got width={w.getsampwidth()} "
                                     f"compression={w.getcomptype()}")  # fmt: skip
            rate, channels = w.getframerate(), w.getnchannels()
            data = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise WavFormatError(f"unreadable WAV: {exc}") from exc
    if channels > 1:
        frames = np.frombuffer(data, dtype="<i2").reshape(-1, channels).astype(np.int32)
        data = frames.mean(axis=1).astype("<i2").tobytes()
    return data, rate


def wav_bytes(pcm: bytes, rate: int = PHONE_RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def write_wav(path: str | os.PathLike[str], pcm: bytes, rate: int = PHONE_RATE) -> Path:
    """Write mono 16-bit WAV atomically (temp file in the same directory, then rename).

    Mode 0644 (mkstemp makes 0600): Asterisk plays prompts as its own user."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(wav_bytes(pcm, rate))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# --- G.711 (mu-law / A-law), vectorised ----------------------------------------------------------

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159


def ulaw_encode(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 2  # 14-bit, as G.711 specifies
    mask = np.where(x < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(x), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.maximum(np.floor(np.log2(mag)).astype(np.int32) - 5, 0)
    uval = np.where(seg > 7, 0x7F, (np.minimum(seg, 7) << 4) | ((mag >> (seg + 1)) & 0x0F))
    return ((uval ^ mask) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> bytes:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    mag = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return np.where(sign != 0, -mag, mag).astype("<i2").tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 3  # 13-bit
    sign = np.where(x >= 0, 0x80, 0)
    mag = np.minimum(np.where(x < 0, -x - 1, x), 0x0FFF)
    exponent = np.where(mag >= 32, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 4, 0)
    mantissa = np.where(exponent == 0, mag >> 1, mag >> exponent) & 0x0F
    return ((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> bytes:
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    sign, exponent, mantissa = a & 0x80, (a >> 4) & 0x07, a & 0x0F
    mag = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    return np.where(sign != 0, mag, -mag).astype("<i2").tobytes()
