"""Retention: recordings older than `retention_days` are deleted and their rows say so.

The row keeps its metadata but loses its link (`path` set to None), gets `purged_at` and a
reason, and the call gets a `recording_purged` event, so the call record shows what happened.
A file that cannot be deleted (permissions, a directory in its place) is skipped with a
warning and its row left as it is, so the next round tries it again; the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.clock import utcnow
from hotline.db.calls import CallEventRow
from recordings.models import RecordingRow
from recordings.settings import RecordingSettings
from recordings.storage import UnsafePath, resolve_recording

__all__ = ["PurgeReport", "RecordingSettings", "RetentionJob", "purge_expired"]

log = structlog.get_logger("recordings.retention")


@dataclass
class PurgeReport:
    cutoff: datetime
    purged: list[int] = field(default_factory=list)  # recording ids
    files_deleted: int = 0
    files_missing: int = 0
    refused: list[int] = field(default_factory=list)  # unsafe stored paths: row kept, file kept
    undeletable: list[int] = field(default_factory=list)  # could not delete now: next round


async def purge_expired(sm: async_sessionmaker[AsyncSession], settings: RecordingSettings,
                        now: datetime | None = None, batch: int = 500) -> PurgeReport:
    """Delete files of recordings started before now - retention_days; mark their rows."""
    now = now or utcnow()
    cutoff = now - timedelta(days=settings.retention_days)
    report = PurgeReport(cutoff)
    reason = f"retention period of {settings.retention_days} days"
    while True:
        async with sm() as s:
            rows = (await s.scalars(
                select(RecordingRow).where(RecordingRow.purged_at.is_(None),
                                           RecordingRow.path.is_not(None),
                                           RecordingRow.started_at < cutoff,
                                           RecordingRow.id.not_in(
                                               [*report.refused, *report.undeletable] or [-1]))
                .order_by(RecordingRow.id).limit(batch)
            )).all()
        if not rows:
            return report
        for row in rows:
            assert row.path is not None
            try:
                path = resolve_recording(settings.dir, row.path)
            except UnsafePath:
                log.warning("retention.unsafe_path", recording=row.id, path=row.path)
                report.refused.append(row.id)
                continue
            try:
                path.unlink()
                report.files_deleted += 1
            except FileNotFoundError:
                report.files_missing += 1
            except OSError as exc:  # permissions, a directory, a busy mount: go on, retry later
                log.warning("retention.delete_failed", recording=row.id, path=row.path,
                            error=str(exc))
                report.undeletable.append(row.id)
                continue
            async with sm() as s, s.begin():
                rec = await s.get(RecordingRow, row.id)
                if rec is None:
                    continue
                old = rec.path
                rec.path, rec.purged_at, rec.purge_reason = None, now, reason
                s.add(CallEventRow(call_id=rec.call_id, at=now, kind="recording_purged",
                                   data={"recording_id": rec.id, "path": old, "reason": reason}))
            report.purged.append(row.id)
        log.info("retention.purged", count=len(report.purged), cutoff=cutoff.isoformat())


class RetentionJob:
    """Runs `purge_expired` every `purge_interval_minutes` (start/stop from the service)."""

    def __init__(self, sm: async_sessionmaker[AsyncSession], settings: RecordingSettings,
                 clock: Callable[[], datetime] = utcnow):
        self.sm, self.settings, self.clock = sm, settings, clock
        self._task: asyncio.Task[None] | None = None
        self.last: PurgeReport | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="recordings-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                self.last = await purge_expired(self.sm, self.settings, self.clock())
            except Exception:  # keep the job alive; the next round retries
                log.exception("retention.failed")
            await asyncio.sleep(self.settings.purge_interval_minutes * 60)
