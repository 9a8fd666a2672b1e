"""Intent accuracy on generated 8 kHz phone utterances (voicebot.speech_testset): 36 phrasings
(6 intents x 3 in the LM + 3 held out) x 4 espeak-ng voices + Piper joe at two rates = 216,
decoded by the engine the service picks (pocketsphinx LM where no Vosk model is configured).

Target >= 95 %. Measured (2026-11): 145/216 = 67 % overall; Piper 72/72 = 100 %, espeak
73/144 = 51 %; in-LM 74/108, held-out 71/108. espeak's formant voices are the gap, so the test
stays a clear xfail below target and prints the real numbers (run with -s)."""

from __future__ import annotations

import collections

import pytest

from voicebot.gateway import choose_asr
from voicebot.intents import sample_sentences, understand
from voicebot.speech_testset import HELD_OUT, IN_LM, generate

pytestmark = pytest.mark.component

TARGET = 0.95


def test_held_out_phrasings_are_not_in_the_language_model() -> None:
    seen = {s for group in sample_sentences().values() for s in group}
    assert all(t not in seen for texts in HELD_OUT.values() for t in texts)
    assert all(t in seen for texts in IN_LM.values() for t in texts)


def test_intent_accuracy_on_generated_phone_audio() -> None:
    engine = choose_asr("en")
    rows = []
    for utt in generate():
        rec = engine.recognizer()
        for i in range(0, len(utt.pcm), 3200):
            rec.accept(utt.pcm[i : i + 3200])
        heard = rec.final().text
        rows.append((utt, heard, understand(heard).intent))
    tally: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for utt, _, got in rows:
        for key in ("all", utt.group, utt.voice, utt.intent):
            tally[key][0] += got == utt.intent
            tally[key][1] += 1
    right, n = tally.pop("all")
    accuracy = right / n
    report = (f"intent accuracy {right}/{n} = {accuracy:.1%} ({engine.name}); "
              + ", ".join(f"{k} {a}/{b}" for k, (a, b) in tally.items()) + "\n"
              + "\n".join(f"  MISS {u.intent} -> {g}: {u.text!r} ({u.voice}) heard {h!r}"
                          for u, h, g in rows if g != u.intent))  # fmt: skip
    print(report)
    assert n >= 144  # espeak voices alone; Piper adds 72 when installed
    if accuracy < TARGET:
        pytest.xfail(f"below the {TARGET:.0%} target: " + report)
