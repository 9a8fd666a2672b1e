"""Calls for QA and operators: the filtered list, and one call's full record (timeline, bot
transcript, routing attempts, rating, recordings, review). Operators see their own calls only.
"""

# No `from __future__ import annotations` here: FastAPI must evaluate the routes'
# `Depends(filters)`, a dependency local to `build_router`.

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.access import Who
from backoffice.auth import Principal
from backoffice.callquery import (
    CallFilters,
    CallSummary,
    apply_filters,
    call_attempts,
    callbacks,
    filters_dependency,
    own_only,
    summary,
    summary_query,
)
from backoffice.common import Deps, api_router, utc
from backoffice.models import Role
from backoffice.reviews import ReviewOut, review_of
from hotline.api_errors import ErrorBody, not_found
from hotline.db.calls import CallEventRow, CallRow
from recordings.models import RatingRow, RecordingRow


class CallPage(BaseModel):
    items: list[CallSummary]
    total: int
    limit: int
    offset: int


class TimelineItem(BaseModel):
    at: datetime | None
    source: Literal["ivr", "event", "attempt"]
    kind: str
    detail: str = ""
    data: dict[str, Any] = {}


class AttemptOut(BaseModel):
    step: int | None
    reason: str | None
    targets: Any = None
    started_at: datetime | None
    ended_at: datetime | None
    duration: float | None
    outcome: str | None
    answered_by_id: int | None


class RatingOut(BaseModel):
    score: int | None
    status: str
    rated_at: datetime
    operator_id: int | None = None  # who answered the rated conversation
    team_id: int | None = None
    recording_id: int | None = None
    via: str | None = None  # key | speech


class RecordingOut(BaseModel):
    id: int
    started_at: datetime
    duration: float | None
    size: int | None
    enabled: bool
    disabled_reason: str | None
    node: str | None
    purged_at: datetime | None
    purge_reason: str | None
    audio_url: str | None  # None: not recorded, purged, or not visible to this role


class CallbackInfo(BaseModel):
    """A callback of the call: asked by the caller while waiting, or a team lead's
    click-to-call; requested -> the operator's phone rang -> the caller was dialled (placed)
    -> answered, or failed/cancelled (closed)."""

    id: int
    kind: str
    state: str
    number: str
    requested_at: datetime
    requested_by: str | None
    attempts: int
    operator_rang_at: datetime | None
    placed_at: datetime | None
    answered_at: datetime | None
    answered_by_id: int | None
    closed_at: datetime | None
    reason: str | None


class CallRecord(BaseModel):
    call: CallSummary
    timeline: list[TimelineItem]
    bot_transcript: list[Any] | None
    intent: str | None
    context: dict[str, Any] | None
    attempts: list[AttemptOut]
    rating: RatingOut | None
    recordings: list[RecordingOut]
    review: ReviewOut | None
    callbacks: list[CallbackInfo] = []


# --- service -----------------------------------------------------------------------------------


async def list_calls(sm: async_sessionmaker[AsyncSession], f: CallFilters, limit: int,
                     offset: int) -> CallPage:
    q = apply_filters(summary_query(), f)
    async with sm() as s:
        total = await s.scalar(select(func.count()).select_from(q.subquery()))
        rows = (await s.execute(q.order_by(CallRow.started_at.desc(), CallRow.id.desc())
                                .limit(limit).offset(offset))).all()
    return CallPage(items=[summary(r) for r in rows], total=total or 0, limit=limit, offset=offset)


def timeline(call: CallRow, events: Sequence[CallEventRow], attempts: Sequence[AttemptOut]) -> list[TimelineItem]:
    """The IVR's path, the call's events and the ring attempts, in time order."""
    items: list[TimelineItem] = []
    for step in call.path or []:
        if not isinstance(step, dict):
            continue
        at = None
        if isinstance(step.get("at"), str):
            try:
                at = utc(datetime.fromisoformat(step["at"]))
            except ValueError:
                at = None
        kind = str(step.get("node") or step.get("step") or "step")
        rest = {k: v for k, v in step.items() if k not in ("node", "step", "at", "detail")}
        items.append(TimelineItem(at=at, source="ivr", kind=kind, detail=str(step.get("detail") or ""), data=rest))
    for e in events:
        items.append(TimelineItem(at=utc(e.at), source="event", kind=e.kind, data=e.data or {}))
    for a in attempts:
        items.append(TimelineItem(at=a.started_at, source="attempt", kind=f"ring {a.reason or ''}".strip(),
                                  detail=a.outcome or "", data={"targets": a.targets, "duration": a.duration}))
    far = datetime.max.replace(tzinfo=UTC)
    items.sort(key=lambda i: i.at or far)
    return items


async def call_record(sm: async_sessionmaker[AsyncSession], call_id: int, who: Principal) -> CallRecord:
    """One call's record as `who` may see it (404 for other operators' calls)."""
    async with sm() as s:
        row = (await s.execute(summary_query().where(CallRow.id == call_id))).first()
        if row is None or (who.role is Role.OPERATOR
                           and (who.operator_id is None or row[0].answered_by_id != who.operator_id)):
            raise not_found("call", call_id)  # no hint that other operators' calls exist
        call: CallRow = row[0]
        events = (await s.scalars(select(CallEventRow).where(CallEventRow.call_id == call_id)
                                  .order_by(CallEventRow.at, CallEventRow.id))).all()
        att_rows = (await s.execute(select(call_attempts).where(call_attempts.c.call_id == call_id)
                                    .order_by(call_attempts.c.started_at, call_attempts.c.id))).all()
        rating = await s.scalar(select(RatingRow).where(RatingRow.call_id == call_id))
        recs = (await s.scalars(select(RecordingRow).where(RecordingRow.call_id == call_id)
                                .order_by(RecordingRow.started_at))).all()
        review = await review_of(s, call_id)
        cb_rows = (await s.execute(select(callbacks).where(callbacks.c.call_id == call_id)
                                   .order_by(callbacks.c.requested_at, callbacks.c.id))).all()
    attempts = [AttemptOut(step=a.step_index, reason=a.reason, targets=a.targets,
                           started_at=utc(a.started_at), ended_at=utc(a.ended_at),
                           duration=a.duration, outcome=a.outcome, answered_by_id=a.answered_by_id)
                for a in att_rows]
    may_listen = who.role is Role.QA
    return CallRecord(
        call=summary(row),
        timeline=timeline(call, events, attempts),
        bot_transcript=call.bot_transcript if isinstance(call.bot_transcript, list) else None,
        intent=call.intent, context=call.context, attempts=attempts,
        rating=RatingOut(score=rating.score, status=rating.status, rated_at=utc(rating.rated_at),
                         operator_id=rating.operator_id, team_id=rating.team_id,
                         recording_id=rating.recording_id, via=rating.via)
        if rating else None,
        recordings=[RecordingOut(
            id=r.id, started_at=utc(r.started_at), duration=r.duration, size=r.size,
            enabled=r.enabled, disabled_reason=r.disabled_reason, node=r.node,
            purged_at=utc(r.purged_at), purge_reason=r.purge_reason,
            audio_url=f"/api/recordings/{r.id}/audio"
            if may_listen and r.path and r.purged_at is None else None,
        ) for r in recs],
        review=review,
        callbacks=[CallbackInfo(
            id=cb.id, kind=cb.kind, state=cb.state, number=cb.number,
            requested_at=utc(cb.requested_at), requested_by=cb.requested_by,
            attempts=cb.attempts or 0, operator_rang_at=utc(cb.operator_rang_at),
            placed_at=utc(cb.placed_at), answered_at=utc(cb.answered_at),
            answered_by_id=cb.answered_by_id, closed_at=utc(cb.closed_at), reason=cb.reason,
        ) for cb in cb_rows],
    )


# --- routes ------------------------------------------------------------------------------------


def build_router(deps: Deps) -> APIRouter:
    router = api_router()
    filters = filters_dependency(ZoneInfo(deps.settings.stats_timezone))

    @router.get("/calls", response_model=CallPage, tags=["calls"],
                summary="List calls with filters (operators see only their own calls)")
    async def calls(
        who: Who,
        f: Annotated[CallFilters, Depends(filters)],
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0
    ) -> Any:
        return await list_calls(deps.sm, own_only(who, f), limit, offset)

    @router.get("/calls/{call_id}", response_model=CallRecord, tags=["calls"],
                responses={404: {"model": ErrorBody}},
                summary="A call's full record: timeline, bot transcript, routing, rating, recording")
    async def call(call_id: int, who: Who) -> Any:
        return await call_record(deps.sm, call_id, who)

    return router
