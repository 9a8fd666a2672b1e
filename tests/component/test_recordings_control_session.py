"""start_recording against a fake AGI channel: MixMonitor command, per-node record: false."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hotline.db.calls import CallEventRow
from hotline.db.writes import WriteQueue
from recordings.control import finish_recording, start_recording
from recordings.models import RecordingRow
from tests.support.databases import DbBackend
from tests.support.dblock import locked_database
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


class RowCheckingAgi(FakeAgi):
    """Looks in the database (a separate session) the moment MixMonitor is asked for."""

    def __init__(self, sm: Any) -> None:
        super().__init__()
        self.sm = sm
        self.rows_at_start: list[RecordingRow] = []

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> object:
        if app == "MixMonitor":
            async with self.sm() as s:
                self.rows_at_start = list((await s.scalars(select(RecordingRow).where(
                    RecordingRow.path == args.split(",")[0].split("/recordings/", 1)[1]))).all())
        return await super().exec(app, args, timeout)


async def test_the_recording_row_is_stored_before_mixmonitor_starts(tmp_path: Path) -> None:
    env = await build_test_env(tmp_path, users=False)
    try:
        agi = RowCheckingAgi(env.sm)
        writes = WriteQueue(env.sm)
        at = datetime(2026, 11, 3, 12, 0, 2, tzinfo=UTC)
        started = await start_recording(agi, writes, env.settings, call_id=env.seeded.calls[7],
                                        node="operator", now=at)
        assert [c[0] for c in agi.commands] == ["MixMonitor"]
        (row,) = agi.rows_at_start  # committed and visible to anyone before the file exists
        assert row.id == started.recording_id.id and row.enabled and row.path == started.path
    finally:
        await env.engine.dispose()


async def test_no_recording_when_the_database_cannot_store_its_row(tmp_path: Path) -> None:
    """Another process holds the write lock: the caller is not kept from the operator; the
    call is not recorded (no file the database does not know), and once the database takes
    writes again the row says why."""
    env = await build_test_env(tmp_path, users=False)
    try:
        agi = FakeAgi()
        writes = WriteQueue(env.sm)
        call_id = env.seeded.calls[7]
        async with locked_database(env.url):
            started = await start_recording(agi, writes, env.settings, call_id=call_id,
                                            node="operator", row_wait=0.5)
            assert not started.enabled and started.path is None and agi.commands == []
        await writes.flush()
        async with env.sm() as s:
            row = await s.get(RecordingRow, await started.recording_id)
            kinds = (await s.scalars(select(CallEventRow.kind).where(
                CallEventRow.call_id == call_id).order_by(CallEventRow.id))).all()
        assert row is not None and not row.enabled and row.path is None
        assert row.disabled_reason == "the database did not store the recording's row in time"
        assert list(kinds[-2:]) == ["recording_started", "recording_disabled"]
        assert writes.stats.lost == 0
    finally:
        await env.engine.dispose()
