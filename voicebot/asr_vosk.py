"""Vosk (Kaldi) recognition: the production engine where a Vosk model is installed.

The model directory is a setting (models are not on PyPI except Korean); it is checked at start
so a wrong path fails with a message naming the missing files rather than a Kaldi crash.
`KaldiRecognizer(model, 8000)` takes phone audio as is. With a phrase list, recognition is
limited to those phrases plus "[unk]" (needs a small model with graph/HCLr.fst + Gr.fst), which is
~25x faster than free text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voicebot.asr import AsrError, Transcript

__all__ = ["REQUIRED_MODEL_PARTS", "UNK", "VoskEngine", "VoskRecognizer", "check_model_dir"]

REQUIRED_MODEL_PARTS = ("am/final.mdl", "conf/model.conf", "graph")
UNK = "[unk]"
SAMPLE_RATE = 8000


def check_model_dir(model_dir: str | os.PathLike[str]) -> Path:
    """Return the path if it looks like a Vosk model, else raise AsrError saying what is wrong."""
    path = Path(model_dir)
    hint = ("download a Vosk model (e.g. vosk-model-small-en-us-0.15), unpack it and point the "
            "setting at the unpacked directory")  # fmt: skip
    if not path.is_dir():
        raise AsrError(f"Vosk model directory {path} does not exist: {hint}")
    missing = [part for part in REQUIRED_MODEL_PARTS if not (path / part).exists()]
    if missing:
        raise AsrError(f"Vosk model directory {path} is incomplete, missing {', '.join(missing)}: "
                       f"{hint}")  # fmt: skip
    return path


def supports_grammar(model_dir: str | os.PathLike[str]) -> bool:
    graph = Path(model_dir) / "graph"
    return (graph / "HCLr.fst").is_file() and (graph / "Gr.fst").is_file()


class VoskRecognizer:
    def __init__(self, model: Any, phrases: Sequence[str] | None) -> None:
        from vosk import KaldiRecognizer

        if phrases:
            grammar = json.dumps([*dict.fromkeys(phrases), UNK], ensure_ascii=False)
            self._rec = KaldiRecognizer(model, SAMPLE_RATE, grammar)
        else:
            self._rec = KaldiRecognizer(model, SAMPLE_RATE)
        self._rec.SetWords(True)
        self._segments: list[dict[str, Any]] = []
        self._closed = False

    def accept(self, pcm_8k: bytes) -> None:
        if self._closed:
            raise AsrError("recognizer session already finished")
        if self._rec.AcceptWaveform(pcm_8k):  # an endpoint inside the utterance: keep the segment
            self._segments.append(json.loads(self._rec.Result()))

    def partial(self) -> str:
        done = " ".join(s.get("text", "") for s in self._segments)
        now = json.loads(self._rec.PartialResult()).get("partial", "")
        return _clean(f"{done} {now}")[0]

    def final(self) -> Transcript:
        if not self._closed:
            self._segments.append(json.loads(self._rec.FinalResult()))
            self._closed = True
        words = [w for s in self._segments for w in s.get("result", [])]
        text, tokens = _clean(" ".join(s.get("text", "") for s in self._segments))
        known = [float(w.get("conf", 0.0)) for w in words if w.get("word") != UNK]
        confidence = sum(known) / len(known) if known and tokens else 0.0
        return Transcript(text, round(confidence, 3), tokens)


def _clean(text: str) -> tuple[str, tuple[str, ...]]:
    tokens = tuple(t for t in text.split() if t != UNK)
    return " ".join(tokens), tokens


class VoskEngine:
    name = "vosk"

    def __init__(self, model_dir: str | os.PathLike[str], log_level: int = -1) -> None:
        try:
            import vosk
        except ImportError as exc:
            raise AsrError("the ASR engine 'vosk' needs the package vosk") from exc
        self.model_dir = check_model_dir(model_dir)
        vosk.SetLogLevel(log_level)
        try:
            self.model = vosk.Model(str(self.model_dir))
        except Exception as exc:  # Kaldi raises a bare Exception on a bad model
            raise AsrError(f"Vosk could not load the model in {self.model_dir}: {exc}") from exc
        self.grammar_ok = supports_grammar(self.model_dir)

    def recognizer(self, phrases: Sequence[str] | None = None) -> VoskRecognizer:
        if phrases and not self.grammar_ok:
            phrases = None  # big models have no HCLr/Gr graphs: fall back to free text
        return VoskRecognizer(self.model, phrases)
