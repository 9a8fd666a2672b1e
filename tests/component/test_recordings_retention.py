"""Retention purge: old recordings deleted, their rows unlinked and marked, the call record says so."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from recordings.models import RecordingRow
from recordings.retention import RetentionJob, purge_expired
from tests.support.qa_env import PASSWORDS, QaTestEnv

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # 90 days back: 2026-08-12


async def test_purge_old_recordings(env: QaTestEnv) -> None:
    async with env.sm() as s:
        old = await s.get(RecordingRow, env.seeded.recordings["call8_old"])
        new = await s.get(RecordingRow, env.seeded.recordings["call1"])
    assert old is not None and new is not None and old.path and new.path
    old_file, new_file = env.settings.dir / old.path, env.settings.dir / new.path
    assert old_file.exists() and new_file.exists()

    report = await purge_expired(env.sm, env.settings, NOW)
    assert report.purged == [old.id] and report.files_deleted == 1
    assert report.refused == [env.seeded.recordings["evil"]] or report.refused == []  # evil row is recent
    assert not old_file.exists() and new_file.exists()

    async with env.sm() as s:
        old = await s.get(RecordingRow, old.id)
        assert old is not None
    assert old.path is None and old.purged_at is not None
    assert old.purge_reason == "retention period of 90 days"

    again = await purge_expired(env.sm, env.settings, NOW)  # idempotent
    assert again.purged == []

    async with httpx.AsyncClient(transport=httpx.ASGITransport(env.app), base_url="http://qa.test") as c:
        tok = (await c.post("/api/auth/login", json={"username": "qa", "password": PASSWORDS["qa"]})).json()
        h = {"Authorization": "Bearer " + tok["access_token"]}
        rec = (await c.get(f"/api/calls/{env.seeded.calls[8]}", headers=h)).json()
        assert rec["recordings"][0]["purged_at"] is not None and rec["recordings"][0]["audio_url"] is None
        assert any(i["kind"] == "recording_purged" for i in rec["timeline"])
        assert rec["call"]["has_recording"] is False
        r = await c.get(f"/api/recordings/{old.id}/audio", headers=h)
        assert r.status_code == 410 and r.json()["error_id"] == "recording_purged"


async def test_purge_refuses_unsafe_path_and_tolerates_missing_file(env: QaTestEnv) -> None:
    far_future = datetime(2027, 12, 1, tzinfo=UTC)  # everything is past retention
    (env.settings.dir / (await _path(env, "call3"))).unlink()
    report = await purge_expired(env.sm, env.settings, far_future)
    assert env.seeded.recordings["evil"] in report.refused
    assert report.files_missing == 1
    assert Path("/etc/passwd").exists()
    async with env.sm() as s:
        evil = await s.get(RecordingRow, env.seeded.recordings["evil"])
    assert evil is not None and evil.purged_at is None


async def _path(env: QaTestEnv, key: str) -> str:
    async with env.sm() as s:
        p = await s.scalar(select(RecordingRow.path).where(RecordingRow.id == env.seeded.recordings[key]))
    assert p
    return p


async def test_retention_job_runs_and_stops(env: QaTestEnv) -> None:
    import asyncio
    job = RetentionJob(env.sm, env.settings, clock=lambda: NOW)
    job.start()
    for _ in range(100):
        if job.last is not None:
            break
        await asyncio.sleep(0.02)
    await job.stop()
    assert job.last is not None and job.last.purged == [env.seeded.recordings["call8_old"]]


async def test_purge_skips_a_file_it_cannot_delete_and_retries_it_next_round(env: QaTestEnv) -> None:
    """A directory where the file should be (unlink fails with EISDIR, also for root): the round
    goes on with the other recordings, keeps that row, and the next round deletes it."""
    far_future = datetime(2027, 12, 1, tzinfo=UTC)
    stuck_rel = await _path(env, "call3")
    stuck = env.settings.dir / stuck_rel
    stuck.unlink()
    stuck.mkdir()
    (stuck / "inside").write_bytes(b"x")  # a non-empty directory: nothing can unlink it
    report = await purge_expired(env.sm, env.settings, far_future)
    stuck_id = env.seeded.recordings["call3"]
    assert report.undeletable == [stuck_id]
    assert stuck_id not in report.purged
    assert env.seeded.recordings["call1"] in report.purged  # the others went on
    async with env.sm() as s:
        row = await s.get(RecordingRow, stuck_id)
    assert row is not None and row.path == stuck_rel and row.purged_at is None

    (stuck / "inside").unlink()
    stuck.rmdir()
    stuck.write_bytes(b"RIFF")  # the file is deletable again
    again = await purge_expired(env.sm, env.settings, far_future)
    assert again.purged == [stuck_id] and again.files_deleted == 1 and not stuck.exists()
