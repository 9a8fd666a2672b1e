"""Storing a caller's post-call rating against the call, its operator, team and recording.

The IVR session asks (see `ivr.machine`, `rating:` in the dialplan) and calls `store_rating`
once per call.  The operator is the one routing stored as having answered
(`calls.answered_by_id`); the team is that operator's team at the time of the rating.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from directory.tables import OperatorRow
from hotline.clock import utcnow
from hotline.db.calls import CallEventRow, CallKey, CallRow
from hotline.db.writes import RowRef, WriteQueue, known_id, ref_id
from recordings.models import RatingRow, RatingStatus


def store_rating(
    writes: WriteQueue,
    *,
    call_id: CallKey,
    score: int | None,
    recording_id: int | RowRef | None = None,
    reason: str | None = None,
    attempts: int | None = None,
    at: datetime | None = None,
    via: str | None = None,
) -> asyncio.Future[Any]:
    """Store (or replace) the call's rating; `score` None stores "no rating".

    Queued on the one write path, after the call's earlier writes (who answered); the
    future gives the rating's id once stored."""
    if score is not None and not 1 <= score <= 5:
        raise ValueError(f"a rating is 1-5, got {score!r}")
    at = at or utcnow()
    status = RatingStatus.RATED if score is not None else RatingStatus.NO_RATING

    async def job(s: AsyncSession) -> int:
        cid, rec_id = ref_id(call_id), ref_id(recording_id)
        operator_id = await s.scalar(select(CallRow.answered_by_id).where(CallRow.id == cid))
        team_id = None
        if operator_id is not None:
            team_id = await s.scalar(select(OperatorRow.team_id).where(OperatorRow.id == operator_id))
        row = await s.scalar(select(RatingRow).where(RatingRow.call_id == cid))
        if row is None:
            row = RatingRow(call_id=cid)
            s.add(row)
        row.operator_id, row.team_id = operator_id, team_id
        row.score, row.status, row.rated_at = score, str(status), at
        row.via = via if score is not None else None
        if rec_id is not None:
            row.recording_id = rec_id
        s.add(CallEventRow(call_id=cid, at=at, kind="rating", data={
            "score": score, "status": str(status), "via": row.via, "reason": reason,
            "attempts": attempts,
            "operator_id": operator_id, "recording_id": rec_id,
        }))
        await s.flush()
        return row.id

    return writes.submit(job, what="rating", data={
        "call": known_id(call_id), "score": score, "via": via, "reason": reason,
        "attempts": attempts, "recording": known_id(recording_id), "at": at.isoformat()})
