"""Phone-audio helpers: resampling, WAV, levels, band-limit, G.711 (checked against audioop)."""

import math
import warnings

import numpy as np
import pytest

from voicebot import audio

pytestmark = pytest.mark.unit


def tone(freq: float, seconds: float = 0.5, rate: int = 8000, amp: float = 0.5) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return audio.float_to_pcm(amp * np.sin(2 * np.pi * freq * t))


@pytest.mark.parametrize(
    ("src", "dst"), [(22050, 8000), (16000, 8000), (8000, 16000), (8000, 8000)]
)
def test_resample_keeps_duration(src, dst):
    pcm = tone(440, 1.0, src)
    out = audio.resample(pcm, src, dst)
    assert abs(len(out) // 2 - dst) <= 1


def test_resample_keeps_a_tone_in_band():
    out = audio.resample(tone(1000, 1.0, 22050), 22050, 8000)
    spectrum = np.abs(np.fft.rfft(audio.pcm_to_float(out)))
    assert abs(np.argmax(spectrum) * 8000 / (len(out) // 2) - 1000) < 5


def test_wav_round_trip(tmp_path):
    pcm = tone(300)
    path = audio.write_wav(tmp_path / "sub" / "x.wav", pcm)
    assert audio.read_wav(path) == (pcm, 8000)
    assert audio.read_wav(path.read_bytes()) == (pcm, 8000)
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]


def test_read_wav_rejects_garbage():
    with pytest.raises(audio.WavFormatError):
        audio.read_wav(b"not a wav file at all")


def test_levels():
    assert audio.dbfs(bytes(320)) == -math.inf
    assert audio.rms(b"") == 0.0
    square = np.full(800, 32767, dtype="<i2").tobytes()
    assert audio.dbfs(square) == pytest.approx(0.0, abs=0.01)
    assert audio.dbfs(tone(1000, amp=0.5)) == pytest.approx(-9.03, abs=0.1)
    assert audio.duration_s(bytes(16000)) == 1.0


@pytest.mark.parametrize(
    ("freq", "passes"), [(100, False), (1000, True), (3000, True), (3900, False)]
)
def test_band_limit(freq, passes):
    pcm = tone(freq, 1.0)
    loss = audio.dbfs(pcm) - audio.dbfs(audio.band_limit(pcm))
    assert (loss < 3) is passes


def test_to_phone_output_is_8k_band():
    assert len(audio.to_phone(tone(500, 1.0, 22050), 22050)) == 16000


def _audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    return audioop


ALL_SAMPLES = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))


def test_ulaw_matches_audioop():
    ref = _audioop()
    assert audio.ulaw_encode(ALL_SAMPLES) == ref.lin2ulaw(ALL_SAMPLES, 2)
    assert audio.ulaw_decode(ALL_CODES) == ref.ulaw2lin(ALL_CODES, 2)


def test_alaw_matches_audioop():
    ref = _audioop()
    assert audio.alaw_encode(ALL_SAMPLES) == ref.lin2alaw(ALL_SAMPLES, 2)
    assert audio.alaw_decode(ALL_CODES) == ref.alaw2lin(ALL_CODES, 2)
