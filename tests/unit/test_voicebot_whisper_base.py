"""Joining Whisper base's two packaged parts (voicebot.whisper_base): the join is checked
against the pinned size and SHA-256, a wrong join is refused, a checked join is reused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import voicebot.whisper_base as wb
from voicebot.asr import AsrError

pytestmark = pytest.mark.unit


def _parts(tmp: Path, a: bytes, b: bytes) -> list[Path]:
    one, two = tmp / "p1" / "data", tmp / "p2" / "data"
    one.mkdir(parents=True)
    two.mkdir(parents=True)
    (one / "model.bin.part1").write_bytes(a)
    (two / "model.bin.part2").write_bytes(b)
    for name in wb.SIDE_FILES:
        (two / name).write_text("{}")
    return [one, two]


def test_join_is_checked_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dirs = _parts(tmp_path, b"abc" * 1000, b"defg" * 700)
    joined = b"abc" * 1000 + b"defg" * 700
    monkeypatch.setattr(wb, "_part_dirs", lambda: dirs)
    monkeypatch.setattr(wb, "MODEL_BYTES", len(joined))
    monkeypatch.setattr(wb, "MODEL_SHA256", hashlib.sha256(joined).hexdigest())
    path = wb.whisper_base_model(tmp_path / "cache")
    assert path is not None and (path / "model.bin").read_bytes() == joined
    assert all((path / n).is_file() for n in wb.SIDE_FILES)
    (dirs[0] / "model.bin.part1").unlink()  # a checked join is not made again
    assert wb.whisper_base_model(tmp_path / "cache") == path


def test_a_join_that_does_not_match_is_refused(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    dirs = _parts(tmp_path, b"abc", b"xyz")
    monkeypatch.setattr(wb, "_part_dirs", lambda: dirs)
    monkeypatch.setattr(wb, "MODEL_BYTES", 6)
    monkeypatch.setattr(wb, "MODEL_SHA256", hashlib.sha256(b"abcdef").hexdigest())
    with pytest.raises(AsrError, match="sha256"):
        wb.whisper_base_model(tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("model.bin"))


def test_no_packages_no_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(wb, "_part_dirs", lambda: None)
    assert wb.whisper_base_model(tmp_path) is None
