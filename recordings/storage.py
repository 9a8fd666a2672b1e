"""Recording files: names the service chooses, and safe resolution of stored paths.

Requests name recordings by database id only; the stored relative path is still checked on
every read, so a bad row (or a symlink planted in the directory) can never expose a file
outside the recordings directory.
"""

from __future__ import annotations

import re
import wave
from datetime import datetime
from pathlib import Path, PurePosixPath

_SAFE_REL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
MEDIA_TYPES = {".wav": "audio/wav", ".wav49": "audio/wav", ".gsm": "audio/x-gsm"}


class UnsafePath(ValueError):
    pass


def recording_relpath(call_id: int, started_at: datetime, fmt: str = "wav") -> str:
    """`YYYY/MM/DD/call-<id>-<HHMMSS>.wav`: the call's id in the name, days as folders."""
    if fmt not in ("wav", "wav49", "gsm"):
        raise ValueError(f"unknown recording format {fmt!r}")
    return (f"{started_at:%Y/%m/%d}/call-{int(call_id)}-{started_at:%H%M%S}"
            f"{'.WAV' if fmt == 'wav49' else '.' + fmt}")


def resolve_recording(base_dir: Path, rel: str) -> Path:
    """The file for a stored relative path, or UnsafePath if it could leave `base_dir`."""
    if not rel or len(rel) > 400 or not _SAFE_REL.match(rel):
        raise UnsafePath(f"recording path {rel!r} is not a plain relative path")
    parts = PurePosixPath(rel).parts
    if any(p in ("..", ".") for p in parts):
        raise UnsafePath(f"recording path {rel!r} has dot segments")
    base = base_dir.resolve()
    target = (base / Path(*parts)).resolve()  # follows symlinks
    if not target.is_relative_to(base) or target == base:
        raise UnsafePath(f"recording path {rel!r} leaves the recordings directory")
    return target


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def wav_duration(path: Path) -> float | None:
    """Seconds of audio in a WAV file; None if it is not a readable PCM WAV."""
    try:
        with wave.open(str(path), "rb") as w:
            rate = w.getframerate()
            return round(w.getnframes() / rate, 3) if rate else None
    except (wave.Error, EOFError, OSError):
        return None
