"""start_recording against a fake AGI channel: MixMonitor command, per-node record: false."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from hotline.db.calls import CallEventRow
from recordings.control import finish_recording, start_recording
from recordings.models import RecordingRow
from tests.support.databases import DbBackend
from tests.support.qa_env import build_test_env, write_wav


class FakeAgi:
    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> object:
        self.commands.append((app, args))
        return None


async def test_start_and_finish_recording(tmp_path: Path, db_backend: DbBackend) -> None:
    async with db_backend.migrated(tmp_path) as url:
        await _start_and_finish_recording(tmp_path, url)


async def _start_and_finish_recording(tmp_path: Path, url: str) -> None:
    env = await build_test_env(tmp_path, users=False, url=url)
    try:
        agi = FakeAgi()
        call_id = env.seeded.calls[7]
        at = datetime(2026, 11, 3, 12, 0, 1, tzinfo=UTC)
        started = await start_recording(agi, env.sm, env.settings, call_id=call_id, node="operator", now=at)
        assert started.enabled and started.path == f"2026/11/03/call-{call_id}-120001.wav"
        assert agi.commands == [("MixMonitor", f"{env.settings.dir}/{started.path},b")]
        write_wav(env.settings.dir / started.path, seconds=1.5)  # what Asterisk would write
        await finish_recording(env.sm, env.settings, started.recording_id, started.path)

        off = await start_recording(agi, env.sm, env.settings, call_id=call_id, node="sales", record=False, now=at)
        assert not off.enabled and off.path is None and len(agi.commands) == 1  # no MixMonitor
        async with env.sm() as s:
            rec = await s.get(RecordingRow, started.recording_id)
            no = await s.get(RecordingRow, off.recording_id)
            kinds = (await s.scalars(select(CallEventRow.kind).where(CallEventRow.call_id == call_id))).all()
        assert rec is not None and rec.duration == 1.5 and rec.size == 44 + 1.5 * 8000 * 2
        assert no is not None and no.disabled_reason == "dialplan node sales has record: false"
        assert "recording_started" in kinds and "recording_disabled" in kinds
    finally:
        await env.engine.dispose()
