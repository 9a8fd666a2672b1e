"""PocketSphinx recognition: English out of the box (the model ships in the PyPI wheel).

The bundled en-us acoustic model is 16 kHz, so phone audio is upsampled 8 -> 16 kHz first.
Free-text decoding with the bundled general LM is poor on phone audio; two domain modes work:
- "lm" (default): a small trigram model built here from in-domain sentences (ARPA, absolute
  discounting with back-off). It accepts paraphrases and word orders a grammar would reject.
- "grammar": a JSGF alternation of exact phrases; strictest and fastest.
Words missing from CMUdict (game names, "roubles") get pronunciations from espeak-ng's phonemes.
Decoders take ~0.4 s to build, so they are pooled and reused across utterances.

A decoder adapts its feature normalisation (cepstral mean, noise estimate) to the audio it has
heard, and the model's defaults are far from 8 kHz phone speech upsampled to 16 kHz: a fresh
decoder understood 44 % of the generated test set, a decoder that had heard one utterance
before 65-68 %. So every new decoder first hears one short phone-band phrase (`PRIME_TEXT`,
synthesised once per engine with espeak-ng); under load, when the pool runs dry and decoders
are created mid-call, callers no longer get the cold ones.
"""

from __future__ import annotations

import hashlib
import math
import os
import queue
import re
import shutil
import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from voicebot.asr import AsrError, Transcript
from voicebot.audio import resample

__all__ = [
    "PocketsphinxEngine",
    "PocketsphinxRecognizer",
    "build_arpa",
    "build_jsgf",
    "espeak_to_arpabet",
    "normalize_sentence",
    "pronounce",
]

MODEL_RATE = 16000
DEFAULT_SEARCH = "_default"
MODES = ("lm", "grammar", "free")
PRIME_TEXT = "Hello, this is the lottery hotline assistant."

# --- text -> tokens -----------------------------------------------------------------------------

_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _spell_number(token: str) -> list[str]:
    if len(token) <= 2:
        try:
            from voicebot.numbers import number_to_words

            return number_to_words(int(token)).replace("-", " ").split()
        except ImportError:
            pass
    return [_DIGITS[int(d)] for d in token]  # ticket numbers are read digit by digit


def normalize_sentence(text: str) -> list[str]:
    """Lowercase words as a recogniser vocabulary sees them; digits become spoken words."""
    out: list[str] = []
    for token in re.findall(r"[a-z0-9']+", text.lower().replace("-", " ")):
        out.extend(_spell_number(token) if token.isdigit() else [token])
    return out


# --- language model (ARPA) ----------------------------------------------------------------------


def build_arpa(
    sentences: Iterable[str], order: int = 3, discount: float = 0.5, extra_words: Iterable[str] = ()
) -> str:
    """Back-off n-gram model in ARPA format from in-domain sentences.

    Absolute discounting: every seen n-gram gives up `discount` counts, and the freed mass goes
    to the lower order via back-off weights, so unseen word sequences stay possible. Unigrams are
    add-0.1 smoothed over the vocabulary (sentences + `extra_words`).
    """
    if order < 1 or not 0 < discount < 1:
        raise ValueError("order >= 1 and 0 < discount < 1")
    counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(order + 1)]
    for sentence in sentences:
        words = normalize_sentence(sentence)
        if not words:
            continue
        toks = ["<s>", *words, "</s>"]
        for n in range(1, order + 1):
            for i in range(len(toks) - n + 1):
                gram = tuple(toks[i : i + n])
                if n == 1 and gram == ("<s>",):
                    continue
                counts[n][gram] += 1
    if not counts[1]:
        raise ValueError("no sentences to build a language model from")
    for word in extra_words:
        for w in normalize_sentence(word):
            counts[1].setdefault((w,), 0)

    k = 0.1
    total = sum(counts[1].values()) + k * len(counts[1])
    prob: dict[int, dict[tuple[str, ...], float]] = {
        1: {g: (c + k) / total for g, c in counts[1].items()}
    }
    followers: dict[int, dict[tuple[str, ...], list[tuple[str, ...]]]] = {}
    for n in range(2, order + 1):
        hist_total: Counter[tuple[str, ...]] = Counter()
        by_hist: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
        for gram, c in counts[n].items():
            hist_total[gram[:-1]] += c
            by_hist[gram[:-1]].append(gram)
        prob[n] = {g: (c - discount) / hist_total[g[:-1]] for g, c in counts[n].items()}
        followers[n] = by_hist

    bow: dict[tuple[str, ...], float] = {}

    def p(gram: tuple[str, ...]) -> float:
        n = len(gram)
        if gram in prob.get(n, {}):
            return prob[n][gram]
        if n == 1:
            return 0.0
        return bow.get(gram[:-1], 1.0) * p(gram[1:])

    for n in range(1, order):
        for hist, grams in followers[n + 1].items():
            left = 1.0 - sum(prob[n + 1][g] for g in grams)
            lower = 1.0 - sum(p(g[1:]) for g in grams)
            bow[hist] = left / max(lower, 1e-9)

    def log10(x: float) -> float:
        return math.log10(x) if x > 0 else -99.0

    lines = ["\\data\\"]
    sizes = {1: len(prob[1]) + 1, **{n: len(prob[n]) for n in range(2, order + 1)}}
    lines += [f"ngram {n}={sizes[n]}" for n in range(1, order + 1)]
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        entries = sorted(prob[n].items())
        if n == 1:
            entries = [(("<s>",), 0.0), *entries]
        for gram, value in entries:
            row = f"{log10(value):.4f}\t{' '.join(gram)}"
            if n < order:
                row += f"\t{log10(bow.get(gram, 1.0)):.4f}"
            lines.append(row)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def _alternatives(phrases: Iterable[str]) -> frozenset[str]:
    return frozenset(" ".join(normalize_sentence(p)) for p in phrases) - {""}


def build_jsgf(phrases: Iterable[str], name: str = "hotline") -> str:
    """A JSGF grammar accepting exactly one of the phrases."""
    alternatives = sorted(_alternatives(phrases))
    if not alternatives:
        raise ValueError("grammar needs at least one phrase")
    body = " | ".join(alternatives)
    return f"#JSGF V1.0;\ngrammar {name};\npublic <utterance> = {body};\n"


# --- pronunciations -----------------------------------------------------------------------------

# espeak-ng `-x` (ASCII) phonemes for English -> CMU ARPAbet; longest match first
_ESPEAK_PHONES = {
    "aI@": "AY ER", "aU@": "AW ER", "i@3": "IY ER",
    "A@": "AA R", "O@": "AO R", "o@": "AO R", "e@": "EH R", "i@": "IY ER", "I@": "IH R",
    "U@": "UH R", "u@": "UW ER", "3:": "ER", "A:": "AA", "O:": "AO", "i:": "IY", "u:": "UW",
    "aI": "AY", "aU": "AW", "eI": "EY", "oU": "OW", "OI": "OY", "@L": "AH L", "@2": "AH",
    "@5": "AH", "a#": "AH", "I#": "IH", "I2": "IH", "t#": "T", "d#": "D", "n-": "N", "l-": "L",
    "tS": "CH", "dZ": "JH", "aa": "AE",
    "a": "AE", "A": "AA", "0": "AA", "V": "AH", "@": "AH", "3": "ER", "E": "EH", "e": "EH",
    "I": "IH", "i": "IY", "O": "AO", "o": "OW", "U": "UH", "u": "UW",
    "b": "B", "d": "D", "D": "DH", "f": "F", "g": "G", "h": "HH", "j": "Y", "k": "K", "l": "L",
    "m": "M", "n": "N", "N": "NG", "p": "P", "r": "R", "s": "S", "S": "SH", "t": "T", "T": "TH",
    "v": "V", "w": "W", "z": "Z", "Z": "ZH", "x": "K", "C": "K",
}  # fmt: skip
_ESPEAK_KEYS = sorted(_ESPEAK_PHONES, key=len, reverse=True)


def espeak_to_arpabet(phonemes: str) -> str:
    """Map espeak-ng `-x` output (e.g. "r'u:b@Lz") to ARPAbet ("R UW B AH L Z")."""
    out: list[str] = []
    i = 0
    while i < len(phonemes):
        for key in _ESPEAK_KEYS:
            if phonemes.startswith(key, i):
                out.append(_ESPEAK_PHONES[key])
                i += len(key)
                break
        else:
            i += 1  # stress marks, syllable and pause symbols
    return " ".join(out)


def pronounce(words: Iterable[str], espeak: str = "espeak-ng") -> dict[str, str]:
    """Pronunciations from espeak-ng for words CMUdict lacks (one process for all words)."""
    wanted = sorted(set(words))
    if not wanted or shutil.which(espeak) is None:
        return {}
    proc = subprocess.run([espeak, "-q", "-x", "-v", "en-us"], input="\n".join(wanted) + "\n",
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    if len(lines) != len(wanted):  # espeak joined lines: fall back to one call a word
        lines = [subprocess.run([espeak, "-q", "-x", "-v", "en-us", w], capture_output=True,
                                text=True, timeout=10, check=False).stdout.strip()
                 for w in wanted]  # fmt: skip
    return {w: espeak_to_arpabet(ph) for w, ph in zip(wanted, lines, strict=True)
            if espeak_to_arpabet(ph)}  # fmt: skip


def _load_cmudict(path: Path, words: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            head, _, phones = line.partition(" ")
            base = head.split("(", 1)[0]
            if base in words:
                found[base].append(phones.split("#", 1)[0].strip())
    return found


# --- engine ---------------------------------------------------------------------------------------


def _model_paths() -> tuple[Path, Path]:
    try:
        import pocketsphinx
    except ImportError as exc:
        raise AsrError("the ASR engine 'pocketsphinx' needs the package pocketsphinx") from exc
    root = Path(pocketsphinx.get_model_path()) / "en-us"
    return root / "en-us", root / "cmudict-en-us.dict"


def default_sentences() -> list[str]:
    """In-domain sentences from the intent module, flattened."""
    from voicebot.intents import sample_sentences

    return [s for group in sample_sentences().values() for s in group]


def default_vocabulary() -> list[str]:
    from voicebot.intents import vocabulary

    return vocabulary()


class PocketsphinxRecognizer:
    def __init__(
        self, engine: PocketsphinxEngine, decoder: Any, search: str, allowed: frozenset[str] | None
    ) -> None:
        self._engine = engine
        self._allowed = allowed
        self._decoder = decoder
        if decoder.current_search() != search:
            decoder.activate_search(search)
        decoder.start_utt()
        self._closed = False

    def accept(self, pcm_8k: bytes) -> None:
        if self._closed:
            raise AsrError("recognizer session already finished")
        if pcm_8k:
            self._decoder.process_raw(resample(pcm_8k, 8000, MODEL_RATE), False, False)

    def partial(self) -> str:
        hyp = self._decoder.hyp()
        return _clean(hyp.hypstr)[0] if hyp is not None else ""

    def final(self) -> Transcript:
        if self._closed:
            raise AsrError("recognizer session already finished")
        self._closed = True
        try:
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
            text, tokens = _clean(hyp.hypstr if hyp is not None else "")
            if self._allowed is not None and text not in self._allowed:
                text, tokens = "", ()  # a grammar's partial path is no match: say nothing
            confidence = 0.0
            if tokens:
                # posterior of the best path (log base from the decoder's logmath)
                prob = self._decoder.get_logmath().exp(hyp.prob) if hyp.prob else 0.0
                confidence = round(min(1.0, max(0.0, prob)), 3)
        finally:
            self._engine._release(self._decoder)
        return Transcript(text, confidence, tokens)

    def __del__(self) -> None:  # an abandoned session must not leak its pooled decoder
        if not getattr(self, "_closed", True):
            self._closed = True
            try:
                self._decoder.end_utt()
            finally:
                self._engine._release(self._decoder)


def _clean(text: str) -> tuple[str, tuple[str, ...]]:
    tokens = tuple(re.sub(r"\(\d+\)$", "", t) for t in text.split() if not t.startswith(("<", "[")))
    return " ".join(tokens), tokens


class PocketsphinxEngine:
    """`mode` is "lm" (n-gram from `sentences`), "grammar" (JSGF of `sentences`) or "free";
    `prime`: new decoders hear PRIME_TEXT first (see the module doc)."""

    name = "pocketsphinx"

    def __init__(
        self,
        mode: str = "lm",
        sentences: Sequence[str] | None = None,
        extra_words: Iterable[str] = (),
        workdir: str | os.PathLike[str] | None = None,
        pool_size: int = 4,
        prime: bool = True,
    ) -> None:
        if mode not in MODES:
            raise AsrError(f"unknown pocketsphinx mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode
        self._hmm, self._cmudict = _model_paths()
        if not (self._hmm / "mdef").is_file():
            raise AsrError(f"pocketsphinx acoustic model missing at {self._hmm}")
        if sentences is None:
            sentences, extra_words = default_sentences(), [*extra_words, *default_vocabulary()]
        self.sentences = list(sentences)
        self._tmp = tempfile.TemporaryDirectory(prefix="hotline-ps-") if workdir is None else None
        self.workdir = Path(workdir) if workdir is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        self._pool_size = pool_size
        self.prime = prime  # new decoders first hear PRIME_TEXT (see the module doc)
        self._primer: bytes | None = None
        self._grammar_phrases: frozenset[str] | None = None  # mode "grammar": whole phrases
        self._searches: dict[int, set[str]] = {}  # id(decoder) -> grammar searches added
        self._config = self._prepare(list(extra_words))
        self._release(self._new_decoder())  # fail at start, not on the first call

    def _prepare(self, extra_words: list[str]) -> dict[str, Any]:
        vocab = {w for s in [*self.sentences, *extra_words] for w in normalize_sentence(s)}
        config: dict[str, Any] = {"hmm": str(self._hmm), "samprate": MODEL_RATE,
                                  "loglevel": "FATAL"}  # fmt: skip
        if self.mode == "free":
            config["dict"] = str(self._cmudict)  # default LM; dict must cover it
            return config
        known = _load_cmudict(self._cmudict, vocab)
        missing = sorted(vocab - known.keys())
        self.generated = pronounce(missing)
        unpronounceable = [w for w in missing if w not in self.generated]
        lines = [f"{w} {p}" if i == 0 else f"{w}({i + 1}) {p}"
                 for w in sorted(known) for i, p in enumerate(known[w])]  # fmt: skip
        lines += [f"{w} {p}" for w, p in sorted(self.generated.items())]
        dict_path = self.workdir / "hotline.dict"
        dict_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        config["dict"] = str(dict_path)
        keep = [s for s in self.sentences
                if not set(normalize_sentence(s)) & set(unpronounceable)]  # fmt: skip
        if self.mode == "lm":
            lm_path = self.workdir / "hotline.arpa"
            lm_path.write_text(build_arpa(keep, extra_words=vocab - set(unpronounceable)),
                               encoding="utf-8")  # fmt: skip
            config["lm"] = str(lm_path)
        else:
            jsgf_path = self.workdir / "hotline.gram"
            jsgf_path.write_text(build_jsgf(keep), encoding="utf-8")
            self._grammar_phrases = _alternatives(keep)
            config["jsgf"] = str(jsgf_path)
        return config

    def _prime_audio(self) -> bytes:
        """PRIME_TEXT as 16 kHz PCM of phone-band speech (empty without espeak-ng)."""
        if self._primer is None:
            self._primer = b""
            if self.prime and shutil.which("espeak-ng"):
                try:
                    from voicebot.tts import TtsError
                    from voicebot.tts_espeak import espeak_phone

                    self._primer = resample(espeak_phone(PRIME_TEXT), 8000, MODEL_RATE)
                except (OSError, subprocess.SubprocessError, ValueError, TtsError):
                    self._primer = b""  # an unprimed decoder still works, only worse at first
        return self._primer

    def _new_decoder(self) -> Any:
        from pocketsphinx import Decoder

        try:
            decoder = Decoder(**self._config)
        except Exception as exc:  # RuntimeError with the C library's reason
            raise AsrError(f"pocketsphinx failed to initialise: {exc}") from exc
        primer = self._prime_audio()
        if primer:
            decoder.start_utt()
            decoder.process_raw(primer, False, False)
            decoder.end_utt()
        return decoder

    def _acquire(self) -> Any:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            return self._new_decoder()

    def _release(self, decoder: Any) -> None:
        if self._pool.qsize() < self._pool_size:
            self._pool.put(decoder)

    @property
    def pooled(self) -> int:
        """Decoders waiting in the pool."""
        return self._pool.qsize()

    def top_up(self) -> bool:
        """Build one more pooled decoder if the pool is below its size (for idle time);
        False when it is full."""
        if self._pool.qsize() >= self._pool_size:
            return False
        self._release(self._new_decoder())
        return True

    def recognizer(self, phrases: Sequence[str] | None = None) -> PocketsphinxRecognizer:
        """A session; `phrases` switches this utterance to a JSGF grammar of exactly them."""
        decoder = self._acquire()
        search = DEFAULT_SEARCH
        allowed = self._grammar_phrases
        if phrases:
            jsgf = build_jsgf(phrases)
            allowed = _alternatives(phrases)
            search = "g" + hashlib.sha1(jsgf.encode()).hexdigest()[:12]
            added = self._searches.setdefault(id(decoder), set())
            if search not in added:
                try:
                    decoder.add_jsgf_string(search, jsgf)
                except Exception as exc:
                    self._release(decoder)
                    raise AsrError("grammar rejected (words missing from the dictionary?): "
                                   f"{exc}") from exc  # fmt: skip
                added.add(search)
        return PocketsphinxRecognizer(self, decoder, search, allowed)
