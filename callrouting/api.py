"""Screen-pop and wallboard API: what an operator sees about a call, and the calls in progress.

`build_router(sessionmaker, presence)` returns a FastAPI `APIRouter` under /api/routing; the
app mounts it and applies its roles (`backoffice.access`).  Errors have the one body of every router
(`hotline.api_errors`: error_id, message, details).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callrouting.tables import CallAttemptRow, CallReviewRow
from directory.tables import CallerRow, OperatorRow
from hotline.api_errors import ErrorRoute, not_found
from hotline.db.calls import CallRow

if TYPE_CHECKING:
    from callrouting.presence import PresenceTracker

PAST_CALLS = 10
ACTIVE_MAX_AGE = timedelta(hours=4)  # a call row never closed (crash) drops off the wallboard


class OperatorRef(BaseModel):
    id: int
    extension: str
    name: str


class CallerOut(BaseModel):
    id: int | None
    number: str | None
    name: str | None
    vip: bool
    known: bool
    personal_manager: OperatorRef | None


class AttemptOut(BaseModel):
    step_index: int
    reason: str
    targets: list[str]
    started_at: datetime
    ended_at: datetime | None
    duration: float | None
    outcome: str | None
    answered_by: OperatorRef | None


class PastCallOut(BaseModel):
    id: int
    started_at: datetime
    outcome: str | None
    intent: str | None
    answered_by: OperatorRef | None


class ReviewOut(BaseModel):
    reason: str
    status: str
    flagged_at: datetime


class CallContextOut(BaseModel):
    call_id: int
    uniqueid: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    caller: CallerOut
    vip: bool
    intent: str | None
    bot_transcript: list[Any] | None
    context: dict[str, Any] | None
    answered_by: OperatorRef | None
    attempts: list[AttemptOut]
    past_calls: list[PastCallOut]
    review: ReviewOut | None


class ActiveCallOut(BaseModel):
    call_id: int
    started_at: datetime
    caller_number: str | None
    caller_name: str | None
    vip: bool
    intent: str | None
    state: str  # ivr | ringing | queued | talking
    ringing: list[str]  # extensions of the step in progress
    answered_by: OperatorRef | None
    answered_by_presence: str | None
    review: str | None


def build_router(
    sessionmaker: async_sessionmaker[AsyncSession],
    presence: PresenceTracker | Callable[[], PresenceTracker | None] | None = None,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    prefix: str = "/api/routing",
) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["calls"], route_class=ErrorRoute)

    def tracker() -> PresenceTracker | None:
        if presence is None or hasattr(presence, "snapshot"):
            return presence  # type: ignore[return-value]
        return presence()

    async def operators(s: AsyncSession, ids: set[int | None]) -> dict[int, OperatorRef]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        rows = (await s.scalars(select(OperatorRow).where(OperatorRow.id.in_(wanted)))).all()
        return {r.id: OperatorRef(id=r.id, extension=r.extension, name=r.name) for r in rows}

    @router.get("/calls/active", response_model=list[ActiveCallOut])
    async def active_calls() -> Any:
        now = clock()
        async with sessionmaker() as s:
            calls = (await s.scalars(
                select(CallRow)
                .where(CallRow.ended_at.is_(None), CallRow.started_at >= now - ACTIVE_MAX_AGE)
                .order_by(CallRow.started_at)
            )).all()
            ids = [c.id for c in calls]
            attempts = (await s.scalars(
                select(CallAttemptRow).where(CallAttemptRow.call_id.in_(ids))
                .order_by(CallAttemptRow.id)
            )).all() if ids else []
            reviews = dict((await s.execute(
                select(CallReviewRow.call_id, CallReviewRow.reason)
                .where(CallReviewRow.call_id.in_(ids))
            )).tuples().all()) if ids else {}
            callers = {r.id: r for r in (await s.scalars(select(CallerRow).where(
                CallerRow.id.in_({c.caller_ref_id for c in calls if c.caller_ref_id})
            ))).all()}
            ops = await operators(s, {c.answered_by_id for c in calls})
        snap = (t.snapshot() if (t := tracker()) is not None else {})
        last: dict[int, CallAttemptRow] = {}
        for a in attempts:
            last[a.call_id] = a
        out = []
        for c in calls:
            att = last.get(c.id)
            answered = ops.get(c.answered_by_id) if c.answered_by_id else None
            if answered is not None:
                state = "talking"
            elif att is not None and att.ended_at is None:
                state = "queued" if att.reason == "pool" else "ringing"
            else:
                state = "ivr"
            caller = callers.get(c.caller_ref_id) if c.caller_ref_id else None
            out.append(ActiveCallOut(
                call_id=c.id, started_at=c.started_at, caller_number=c.caller_number,
                caller_name=c.caller_name, vip=bool(caller and caller.vip), intent=c.intent,
                state=state,
                ringing=list(att.targets) if state == "ringing" and att else [],
                answered_by=answered,
                answered_by_presence=str(snap[answered.extension])
                if answered and answered.extension in snap else None,
                review=reviews.get(c.id),
            ))
        return out

    @router.get("/calls/{call_id}/context", response_model=CallContextOut)
    async def call_context(call_id: int) -> Any:
        async with sessionmaker() as s:
            call = await s.get(CallRow, call_id)
            if call is None:
                raise not_found("call", call_id)
            caller = await s.get(CallerRow, call.caller_ref_id) if call.caller_ref_id else None
            attempts = (await s.scalars(
                select(CallAttemptRow).where(CallAttemptRow.call_id == call_id)
                .order_by(CallAttemptRow.id)
            )).all()
            review = await s.scalar(select(CallReviewRow).where(CallReviewRow.call_id == call_id))
            past_q = select(CallRow).where(CallRow.id != call_id, CallRow.started_at < call.started_at)
            if caller is not None:
                past_q = past_q.where(CallRow.caller_ref_id == caller.id)
            elif call.caller_number:
                past_q = past_q.where(CallRow.caller_number == call.caller_number)
            else:
                past_q = None  # type: ignore[assignment]
            past = (await s.scalars(
                past_q.order_by(CallRow.started_at.desc()).limit(PAST_CALLS)
            )).all() if past_q is not None else []
            ops = await operators(s, {call.answered_by_id, caller.personal_manager_id if caller else None}
                                  | {a.answered_by_id for a in attempts}
                                  | {p.answered_by_id for p in past})
        return CallContextOut(
            call_id=call.id, uniqueid=call.uniqueid, started_at=call.started_at,
            answered_at=call.answered_at, ended_at=call.ended_at,
            caller=CallerOut(
                id=caller.id if caller else None,
                number=call.caller_number,
                name=caller.name if caller else call.caller_name,
                vip=bool(caller and caller.vip), known=caller is not None,
                personal_manager=ops.get(caller.personal_manager_id)
                if caller and caller.personal_manager_id else None,
            ),
            vip=bool(caller and caller.vip),
            intent=call.intent, bot_transcript=call.bot_transcript, context=call.context,
            answered_by=ops.get(call.answered_by_id) if call.answered_by_id else None,
            attempts=[AttemptOut(
                step_index=a.step_index, reason=a.reason, targets=list(a.targets),
                started_at=a.started_at, ended_at=a.ended_at, duration=a.duration,
                outcome=a.outcome,
                answered_by=ops.get(a.answered_by_id) if a.answered_by_id else None,
            ) for a in attempts],
            past_calls=[PastCallOut(
                id=p.id, started_at=p.started_at, outcome=p.outcome, intent=p.intent,
                answered_by=ops.get(p.answered_by_id) if p.answered_by_id else None,
            ) for p in past],
            review=ReviewOut(reason=review.reason, status=review.status,
                             flagged_at=review.flagged_at) if review else None,
        )

    return router
