"""start_recording against a fake AGI channel: MixMonitor command, per-node record: false."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from hotline.db.calls import CallEventRow
from hotline.db.writes import WriteQueue
from recordings.control import finish_recording, start_recording
from recordings.models import RecordingRow
from tests.support.qa_env import build_test_env, write_wav


class FakeAgi:
    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> object:
        self.commands.append((app, args))
        return None


async def test_start_and_finish_recording(tmp_path: Path) -> None:
    env = await build_test_env(tmp_path, users=False)
    try:
        agi = FakeAgi()
        call_id = env.seeded.calls[7]
        at = datetime(2026, 11, 3, 12, 0, 1, tzinfo=UTC)
        writes = WriteQueue(env.sm)
        started = await start_recording(agi, writes, env.settings, call_id=call_id, node="operator", now=at)
        assert started.enabled and started.path == f"2026/11/03/call-{call_id}-120001.wav"
        assert agi.commands == [("MixMonitor", f"{env.settings.dir}/{started.path},b")]
        write_wav(env.settings.dir / started.path, seconds=1.5)  # what Asterisk would write
        await finish_recording(writes, env.settings, started.recording_id, started.path)

        off = await start_recording(agi, writes, env.settings, call_id=call_id, node="sales", record=False, now=at)
        assert not off.enabled and off.path is None and len(agi.commands) == 1  # no MixMonitor
        async with env.sm() as s:
            rec = await s.get(RecordingRow, await started.recording_id)
            no = await s.get(RecordingRow, await off.recording_id)
            kinds = (await s.scalars(select(CallEventRow.kind).where(CallEventRow.call_id == call_id))).all()
        assert rec is not None and rec.duration == 1.5 and rec.size == 44 + 1.5 * 8000 * 2
        assert no is not None and no.disabled_reason == "dialplan node sales has record: false"
        assert "recording_started" in kinds and "recording_disabled" in kinds
    finally:
        await env.engine.dispose()
