"""Storing a caller's post-call rating against the call, its operator, team and recording.

The IVR session asks (see `ivr.machine`, `rating:` in the dialplan) and calls `store_rating`
once per call.  The operator is the one routing stored as having answered
(`calls.answered_by_id`); the team is that operator's team at the time of the rating.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from directory.tables import OperatorRow
from hotline.clock import utcnow
from hotline.db.calls import CallEventRow, CallRow
from recordings.models import RatingRow, RatingStatus


async def store_rating(
    sm: async_sessionmaker[AsyncSession],
    *,
    call_id: int,
    score: int | None,
    recording_id: int | None = None,
    reason: str | None = None,
    attempts: int | None = None,
    at: datetime | None = None,
    via: str | None = None,
) -> int:
    """Store (or replace) the call's rating; `score` None stores "no rating". Returns its id."""
    if score is not None and not 1 <= score <= 5:
        raise ValueError(f"a rating is 1-5, got {score!r}")
    at = at or utcnow()
    status = RatingStatus.RATED if score is not None else RatingStatus.NO_RATING
    async with sm() as s, s.begin():
        operator_id = await s.scalar(select(CallRow.answered_by_id).where(CallRow.id == call_id))
        team_id = None
        if operator_id is not None:
            team_id = await s.scalar(select(OperatorRow.team_id).where(OperatorRow.id == operator_id))
        row = await s.scalar(select(RatingRow).where(RatingRow.call_id == call_id))
        if row is None:
            row = RatingRow(call_id=call_id)
            s.add(row)
        row.operator_id, row.team_id = operator_id, team_id
        row.score, row.status, row.rated_at = score, str(status), at
        row.via = via if score is not None else None
        if recording_id is not None:
            row.recording_id = recording_id
        s.add(CallEventRow(call_id=call_id, at=at, kind="rating", data={
            "score": score, "status": str(status), "via": row.via, "reason": reason,
            "attempts": attempts,
            "operator_id": operator_id, "recording_id": recording_id,
        }))
        await s.flush()
        return row.id
