"""Recording paths and the MixMonitor command: pure checks, a fake AGI channel."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from backoffice.stats import CallFacts, totals
from recordings.control import mixmonitor_args
from recordings.settings import RecordingSettings
from recordings.storage import UnsafePath, recording_relpath, resolve_recording


def test_relpath_has_call_id() -> None:
    at = datetime(2026, 11, 2, 9, 5, 7, tzinfo=UTC)
    assert recording_relpath(42, at) == "2026/11/02/call-42-090507.wav"


@pytest.mark.parametrize("rel", ["../x.wav", "/etc/passwd", "a/../../x", "a//b", "", ".hidden", "a/./b",
                                 "a\\..\\b", "a/b\x00.wav", "~/x"])
def test_unsafe_paths_refused(tmp_path: Path, rel: str) -> None:
    with pytest.raises(UnsafePath):
        resolve_recording(tmp_path, rel)


def test_safe_path_resolves_inside(tmp_path: Path) -> None:
    assert resolve_recording(tmp_path, "2026/11/02/call-1-000000.wav") == tmp_path.resolve() / "2026/11/02/call-1-000000.wav"


def test_mixmonitor_args_uses_asterisk_view() -> None:
    s = RecordingSettings(dir=Path("/srv/rec"), asterisk_dir="/var/spool/asterisk/recordings")
    assert mixmonitor_args(s, "2026/11/02/call-1-000000.wav") == "/var/spool/asterisk/recordings/2026/11/02/call-1-000000.wav,b"
    with pytest.raises(ValueError):
        mixmonitor_args(RecordingSettings(dir=Path("/srv/rec"), asterisk_dir="/a,b"), "x.wav")


def test_stats_empty_rates_are_none() -> None:
    f = totals([])
    assert f.csat is None and f.containment is None and f.asa_seconds is None
    f = totals([CallFacts(1, datetime(2026, 1, 1, tzinfo=UTC), score=3, operator_answered=True)])
    assert f.csat == 0.0 and f.rating_share == 1.0
