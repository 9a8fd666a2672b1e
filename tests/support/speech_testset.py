"""A generated test set of phone-quality caller questions, for intent accuracy.

Every utterance is synthesised at run time (espeak-ng voices and, when installed, the Piper joe
voice at two speaking rates), resampled to 8 kHz and band-limited to 300-3400 Hz like a phone
line, with a little silence around it. Phrasings come in two groups per intent:
- "in_lm": sentences the ASR language model was built from (`intents.sample_sentences()`);
- "held_out": paraphrases absent from it, to show what an unseen wording costs.

    for utt in generate():            # Utterance(intent, text, group, voice, pcm)
        ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from voicebot.tts_espeak import espeak_phone

__all__ = ["ESPEAK_VOICES", "HELD_OUT", "IN_LM", "PIPER_SCALES", "Utterance", "generate"]

# sentences also in voicebot.intents.sample_sentences() (the LM saw them)
IN_LM: dict[str, list[str]] = {
    "check_ticket": ["i want to check my ticket", "is my ticket a winner", "did i win"],
    "next_draw": ["when is the next draw", "when is the next russian lotto draw",
                  "what time is the draw"],
    "winning_numbers": ["what were the winning numbers", "which numbers came up",
                        "what are the winning numbers for the russian lotto"],
    "claim_winnings": ["how do i claim my prize", "where can i collect my winnings",
                       "how do i get my money"],
    "operator": ["i want to talk to an operator", "can i speak to a person", "give me a human"],
    "unknown": ["what is the weather like", "can i buy a car", "tell me a joke"],
}  # fmt: skip

# paraphrases absent from sample_sentences() (checked by tests/component/test_speech_intent_accuracy.py)
HELD_OUT: dict[str, list[str]] = {
    "check_ticket": ["can you check my lottery ticket please", "did my ticket win anything",
                     "i would like to check my ticket"],
    "next_draw": ["when is the next draw please", "when is the russian lotto draw",
                  "what time does the next draw start"],
    "winning_numbers": ["tell me the winning numbers please", "what numbers were drawn yesterday",
                        "what were the results of the last draw"],
    "claim_winnings": ["how do i claim my winnings", "where do i collect my prize",
                       "how can i get my prize money"],
    "operator": ["i want to speak to an operator", "transfer me to an agent",
                 "let me talk to a real person"],
    "unknown": ["i would like to order a pizza", "my car is broken", "play some music"],
}  # fmt: skip

ESPEAK_VOICES: list[tuple[str, int]] = [("en-us", 160), ("en-gb", 150), ("en-us+f3", 170),
                                        ("en-us+m3", 145)]  # fmt: skip
PIPER_SCALES: list[float] = [1.0, 1.25]

LEAD = bytes(2400)  # 150 ms of silence before the speech
TAIL = bytes(4800)  # 300 ms after (VAD hangover)


@dataclass(frozen=True, slots=True)
class Utterance:
    intent: str
    text: str
    group: str  # "in_lm" | "held_out"
    voice: str
    pcm: bytes  # 8 kHz s16le, phone band


def _piper_voices(scales: Sequence[float]) -> list[tuple[str, object]]:
    try:
        from voicebot.tts_piper import PiperTts

        return [(f"piper-joe-x{s:g}", PiperTts(length_scale=s)) for s in scales]
    except Exception:  # piper-tts or the joe voice not installed: espeak voices only
        return []


def phrases(groups: Sequence[str] = ("in_lm", "held_out")) -> Iterator[tuple[str, str, str]]:
    """(intent, text, group) for every phrasing in the chosen groups."""
    for group, table in (("in_lm", IN_LM), ("held_out", HELD_OUT)):
        if group in groups:
            for intent, texts in table.items():
                for text in texts:
                    yield intent, text, group


def generate(
    espeak_voices: Sequence[tuple[str, int]] = ESPEAK_VOICES,
    piper_scales: Sequence[float] = PIPER_SCALES,
    groups: Sequence[str] = ("in_lm", "held_out"),
) -> Iterator[Utterance]:
    """Every phrasing in every voice (Piper voices are skipped when Piper is not installed)."""
    piper = _piper_voices(piper_scales)
    for intent, text, group in phrases(groups):
        for voice, wpm in espeak_voices:
            pcm = espeak_phone(text, voice, wpm)
            yield Utterance(intent, text, group, f"espeak-{voice}", LEAD + pcm + TAIL)
        for name, tts in piper:
            pcm = tts._synthesize(text, None)  # type: ignore[attr-defined]
            yield Utterance(intent, text, group, name, LEAD + pcm + TAIL)
