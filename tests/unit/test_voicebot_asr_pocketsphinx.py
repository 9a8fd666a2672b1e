"""Pocketsphinx helpers: ARPA language model, JSGF grammar, pronunciations, text normalisation."""

import math
from collections import defaultdict

import pytest

from voicebot.asr_pocketsphinx import (
    build_arpa,
    build_jsgf,
    espeak_to_arpabet,
    normalize_sentence,
)

pytestmark = pytest.mark.unit

SENTENCES = [
    "when is the next draw", "when is the next russian lotto draw", "did i win",
    "i want to check my ticket", "check my ticket please", "what were the winning numbers",
    "operator", "i want to talk to an operator",
]  # fmt: skip


def parse_arpa(text: str):
    """ARPA text -> ({ngram: log10 p}, {ngram: log10 bow}, declared counts)."""
    probs, bows, declared = {}, {}, {}
    section = 0
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("ngram "):
            n, count = line[6:].split("=")
            declared[int(n)] = int(count)
        elif line.endswith("-grams:"):
            section = int(line[1])
        elif section and line and not line.startswith("\\"):
            parts = line.split("\t")
            gram = tuple(parts[1].split())
            probs[gram] = float(parts[0])
            if len(parts) > 2:
                bows[gram] = float(parts[2])
    return probs, bows, declared


def backoff_prob(gram, probs, bows):
    if gram in probs:
        return 10 ** probs[gram]
    if len(gram) == 1:
        return 0.0
    return 10 ** bows.get(gram[:-1], 0.0) * backoff_prob(gram[1:], probs, bows)


def test_arpa_header_matches_sections_and_has_sentence_marks():
    probs, _, declared = parse_arpa(build_arpa(SENTENCES))
    counts = defaultdict(int)
    for gram in probs:
        counts[len(gram)] += 1
    assert dict(counts) == declared
    assert ("<s>",) in probs and ("</s>",) in probs
    assert probs[("<s>",)] == -99.0


@pytest.mark.parametrize("order", [1, 2, 3])
def test_every_history_is_a_probability_distribution(order):
    probs, bows, _ = parse_arpa(build_arpa(SENTENCES, order=order, extra_words=["jackpot"]))
    vocab = [g for g in probs if len(g) == 1 and g != ("<s>",)]
    histories = {g for g in probs if len(g) < order and g != ("</s>",)} | {()}
    for hist in histories:
        total = sum(backoff_prob(hist[-(order - 1):] + w if order > 1 else w, probs, bows)
                    for w in vocab)  # fmt: skip
        assert total == pytest.approx(1.0, abs=2e-3), hist


def test_unseen_continuations_keep_probability():
    probs, bows, _ = parse_arpa(build_arpa(SENTENCES))
    # never seen: "talk to my ticket", but backs off to a positive probability
    assert backoff_prob(("to", "my", "ticket"), probs, bows) > 0
    seen = backoff_prob(("the", "next", "draw"), probs, bows)
    assert seen > backoff_prob(("the", "next", "operator"), probs, bows)


def test_extra_words_enter_the_vocabulary_only():
    probs, _, _ = parse_arpa(build_arpa(["did i win"], extra_words=["jackpot"]))
    assert ("jackpot",) in probs
    assert not any("jackpot" in g for g in probs if len(g) > 1)
    assert math.isfinite(probs[("jackpot",)])


def test_arpa_rejects_empty_and_bad_parameters():
    with pytest.raises(ValueError):
        build_arpa([])
    with pytest.raises(ValueError):
        build_arpa(SENTENCES, discount=1.0)


def test_numbers_are_spoken_words():
    assert normalize_sentence("Ticket 483920, Six-of-45!") == [
        "ticket",
        "four",
        "eight",
        "three",
        "nine",
        "two",
        "zero",
        "six",
        "of",
        "forty",
        "five",
    ]


def test_jsgf_is_a_deduplicated_alternation():
    text = build_jsgf(["Did I win", "did i win", "operator"])
    assert text.startswith("#JSGF V1.0;")
    assert "public <utterance> = did i win | operator;" in text
    with pytest.raises(ValueError):
        build_jsgf(["", "!!"])


@pytest.mark.parametrize(
    ("espeak", "arpabet"),
    [("r'u:b@Lz", "R UW B AH L Z"), ("l'0t#oU", "L AA T OW"), ("dZ'akp0t", "JH AE K P AA T"),
     ("n'O:t", "N AO T"), ("f'o@t#i", "F AO R T IY")],
)  # fmt: skip
def test_espeak_phonemes_to_arpabet(espeak, arpabet):
    assert espeak_to_arpabet(espeak) == arpabet
