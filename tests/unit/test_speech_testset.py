"""The broad held-out speech set (tests/support/speech_testset.py): its phrasings stay out of
everything the recogniser's LM and the intent model are built from, every voice meets every line
condition, and the line conditions do what they say (G.711 round trips, noise at an SNR)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.support.speech_testset import BROAD, BROAD_VOICES, CONDITIONS, HELD_OUT, line
from voicebot.intent_model import training_sentences
from voicebot.intents import normalize, sample_sentences

pytestmark = pytest.mark.unit


def test_broad_phrasings_are_held_out_of_the_lm_and_the_model():
    built_from = {normalize(s) for s, _ in training_sentences(sample_sentences())}
    built_from |= {normalize(s) for texts in sample_sentences().values() for s in texts}
    broad = [t for texts in BROAD.values() for t in texts]
    assert not [t for t in broad if normalize(t) in built_from]
    assert not set(broad) & {t for texts in HELD_OUT.values() for t in texts}
    assert len(broad) == len(set(broad)) >= 36


def test_every_voice_meets_every_condition():
    rows = sum(len(t) for t in BROAD.values())
    for j in range(len(BROAD_VOICES)):
        assert {CONDITIONS[(i + j) % len(CONDITIONS)] for i in range(rows)} == set(CONDITIONS)


def _tone(seconds: float = 1.0) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    return (8000 * np.sin(2 * math.pi * 440 * t)).astype("<i2").tobytes()


def _db(signal: np.ndarray, noise: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(signal**2)) / float(np.mean(noise**2)))


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_g711_round_trip_keeps_the_speech(codec):
    clean = _tone()
    out = line(clean, codec)
    assert len(out) == len(clean) and out != clean
    x = np.frombuffer(clean, "<i2").astype(float)
    y = np.frombuffer(out, "<i2").astype(float)
    assert _db(x, y - x) > 30  # G.711's quantisation noise is ~38 dB below a loud tone


@pytest.mark.parametrize("snr", [25, 15, 10])
def test_noise_is_added_at_the_snr(snr):
    clean = _tone()
    x = np.frombuffer(clean, "<i2").astype(float)
    y = np.frombuffer(line(clean, f"pcm+snr{snr}", seed=3), "<i2").astype(float)
    # band-limiting the white noise to the phone band leaves ~0.8 of its power: a little above
    assert snr - 0.5 < _db(x, y - x) < snr + 3
    assert line(clean, f"pcm+snr{snr}", seed=3) == line(clean, f"pcm+snr{snr}", seed=3)
