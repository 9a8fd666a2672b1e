"""Live views: operators with their presence, the calls in progress (the wallboard), and a
call's screen-pop (caller, topic, bot transcript, ring attempts, earlier calls, last rating).

One implementation behind every URL that shows them:
- GET /api/wallboard: operators' presence and the calls in progress (QA, admins; the page);
- GET /api/routing/calls/active: the same calls in progress, without the operators;
- GET /api/me/screenpop: the screen-pop of the call on the operator's phone now (operators);
- GET /api/routing/calls/{call_id}/context: the screen-pop of any call (QA, admins);
- GET /api/operators: every operator with their presence (any logged-in user).

A call is in progress while its row has no end and it started less than
`IN_PROGRESS_WINDOW` ago: a row never closed (the service stopped mid-call) drops off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.access import Who
from backoffice.common import Deps, PresenceProvider, api_router, utc
from callrouting.tables import CallAttemptRow, CallReviewRow
from directory.tables import CallerRow, OperatorRow, TeamRow
from hotline.api_errors import ErrorBody, not_found
from hotline.clock import aware
from hotline.db.calls import CallRow
from recordings.models import RatingRow

IN_PROGRESS_WINDOW = timedelta(hours=4)
PAST_CALLS = 10  # earlier calls listed in a screen-pop

CallState = Literal["ivr", "ringing", "queued", "talking"]


class OperatorRef(BaseModel):
    id: int
    extension: str
    name: str


class OperatorPresence(BaseModel):
    id: int
    name: str
    extension: str
    role: str
    team: str | None
    presence: str


class LiveCall(BaseModel):
    call_id: int
    started_at: datetime
    caller_number: str | None
    caller_name: str | None
    vip: bool
    intent: str | None
    state: CallState  # talking: an operator answered; queued: waiting in the pool queue
    ringing: list[str]  # extensions ringing in the step in progress
    answered_by: OperatorRef | None
    answered_by_presence: str | None
    review: str | None  # why routing flagged the call for review
    waiting_seconds: float  # since the call started


class Wallboard(BaseModel):
    at: datetime
    operators: list[OperatorPresence]  # the active ones
    presence_counts: dict[str, int]
    calls: list[LiveCall]


class CallerCard(BaseModel):
    id: int | None
    number: str | None
    name: str | None
    vip: bool
    known: bool  # in the directory of known callers
    personal_manager: OperatorRef | None


class ContextAttempt(BaseModel):
    step_index: int
    reason: str
    targets: list[str]
    started_at: datetime
    ended_at: datetime | None
    duration: float | None
    outcome: str | None
    answered_by: OperatorRef | None


class PastCall(BaseModel):
    id: int
    started_at: datetime
    outcome: str | None
    intent: str | None
    answered_by: OperatorRef | None


class ContextReview(BaseModel):
    reason: str
    status: str
    flagged_at: datetime


class ScreenPop(BaseModel):
    call_id: int | None  # None: no call on this operator's phone now
    uniqueid: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    caller: CallerCard | None = None
    caller_number: str | None = None  # as the call came in
    caller_name: str | None = None
    vip: bool = False
    intent: str | None = None
    bot_transcript: list[Any] | None = None
    context: dict[str, Any] | None = None
    answered_by: OperatorRef | None = None
    attempts: list[ContextAttempt] = []
    past_calls: list[PastCall] = []  # the caller's latest PAST_CALLS earlier calls
    previous_calls: int = 0  # how many earlier calls the caller made
    last_rating: int | None = None  # the caller's latest score
    review: ContextReview | None = None


# --- service -----------------------------------------------------------------------------------


def _presence(snap: Mapping[str, Any], extension: str) -> str | None:
    if extension not in snap:
        return None
    value = snap[extension]
    return str(getattr(value, "value", value))


async def operators_with_presence(sm: async_sessionmaker[AsyncSession],
                                  snap: Mapping[str, Any], *,
                                  active_only: bool) -> list[OperatorPresence]:
    q = (select(OperatorRow, TeamRow.name).outerjoin(TeamRow, TeamRow.id == OperatorRow.team_id)
         .order_by(OperatorRow.extension))
    if active_only:
        q = q.where(OperatorRow.active)
    async with sm() as s:
        rows = (await s.execute(q)).all()
    return [OperatorPresence(id=o.id, name=o.name, extension=o.extension, role=o.role, team=team,
                             presence=_presence(snap, o.extension) or "unavailable")
            for o, team in rows]


async def _operator_refs(s: AsyncSession, ids: set[int | None]) -> dict[int, OperatorRef]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = (await s.scalars(select(OperatorRow).where(OperatorRow.id.in_(wanted)))).all()
    return {r.id: OperatorRef(id=r.id, extension=r.extension, name=r.name) for r in rows}


def _in_progress(now: datetime) -> list[Any]:
    return [CallRow.ended_at.is_(None), CallRow.started_at >= now - IN_PROGRESS_WINDOW]


async def calls_in_progress(sm: async_sessionmaker[AsyncSession], snap: Mapping[str, Any],
                            now: datetime) -> list[LiveCall]:
    """Calls in progress, oldest first, each with its state and the step ringing now."""
    async with sm() as s:
        calls = (await s.scalars(select(CallRow).where(*_in_progress(now))
                                 .order_by(CallRow.started_at))).all()
        ids = [c.id for c in calls]
        attempts = (await s.scalars(
            select(CallAttemptRow).where(CallAttemptRow.call_id.in_(ids)).order_by(CallAttemptRow.id)
        )).all() if ids else []
        reviews = dict((await s.execute(
            select(CallReviewRow.call_id, CallReviewRow.reason).where(CallReviewRow.call_id.in_(ids))
        )).tuples().all()) if ids else {}
        caller_ids = {c.caller_ref_id for c in calls if c.caller_ref_id}
        callers = {r.id: r for r in (await s.scalars(
            select(CallerRow).where(CallerRow.id.in_(caller_ids)))).all()} if caller_ids else {}
        ops = await _operator_refs(s, {c.answered_by_id for c in calls})
    last: dict[int, CallAttemptRow] = {}
    for a in attempts:
        last[a.call_id] = a
    out = []
    for c in calls:
        att = last.get(c.id)
        answered = ops.get(c.answered_by_id) if c.answered_by_id else None
        state: CallState
        if c.answered_by_id is not None:
            state = "talking"
        elif att is not None and att.ended_at is None:
            state = "queued" if att.reason == "pool" else "ringing"
        else:
            state = "ivr"
        caller = callers.get(c.caller_ref_id) if c.caller_ref_id else None
        out.append(LiveCall(
            call_id=c.id, started_at=utc(c.started_at), caller_number=c.caller_number,
            caller_name=c.caller_name, vip=bool(caller and caller.vip), intent=c.intent,
            state=state, ringing=[str(t) for t in att.targets] if state == "ringing" and att else [],
            answered_by=answered,
            answered_by_presence=_presence(snap, answered.extension) if answered else None,
            review=reviews.get(c.id),
            waiting_seconds=round((now - aware(c.started_at)).total_seconds(), 1),
        ))
    return out


async def wallboard(sm: async_sessionmaker[AsyncSession], presence: PresenceProvider,
                    now: datetime) -> Wallboard:
    snap = presence()
    operators = await operators_with_presence(sm, snap, active_only=True)
    counts: dict[str, int] = {}
    for o in operators:
        counts[o.presence] = counts.get(o.presence, 0) + 1
    return Wallboard(at=now, operators=operators, presence_counts=counts,
                     calls=await calls_in_progress(sm, snap, now))


async def current_call(sm: async_sessionmaker[AsyncSession], operator_id: int,
                       now: datetime) -> int | None:
    """The call in progress on the operator's phone: ringing it, or answered by them (the
    latest if several)."""
    async with sm() as s:
        ext = await s.scalar(select(OperatorRow.extension).where(OperatorRow.id == operator_id))
        ringing = (await s.execute(
            select(CallAttemptRow.call_id, CallAttemptRow.targets)
            .join(CallRow, CallRow.id == CallAttemptRow.call_id)
            .where(CallAttemptRow.ended_at.is_(None), *_in_progress(now)))).all()
        ringing_ids = [cid for cid, targets in ringing
                       if isinstance(targets, list) and ext in [str(t) for t in targets]]
        return await s.scalar(
            select(CallRow.id)
            .where(*_in_progress(now),
                   or_(CallRow.answered_by_id == operator_id, CallRow.id.in_(ringing_ids)))
            .order_by(CallRow.started_at.desc()).limit(1))


def _earlier_calls(call: CallRow, caller: CallerRow | None) -> Sequence[Any] | None:
    """Conditions for the caller's calls before this one (None: the caller is not known by
    directory entry or number)."""
    if caller is not None:
        same = CallRow.caller_ref_id == caller.id
    elif call.caller_number:
        same = CallRow.caller_number == call.caller_number
    else:
        return None
    return [same, CallRow.id != call.id, CallRow.started_at < call.started_at]


async def screen_pop(sm: async_sessionmaker[AsyncSession], call_id: int) -> ScreenPop:
    """Everything an operator wants to see about a call (404 if there is no such call)."""
    async with sm() as s:
        call = await s.get(CallRow, call_id)
        if call is None:
            raise not_found("call", call_id)
        caller = await s.get(CallerRow, call.caller_ref_id) if call.caller_ref_id else None
        attempts = (await s.scalars(
            select(CallAttemptRow).where(CallAttemptRow.call_id == call_id).order_by(CallAttemptRow.id)
        )).all()
        review = await s.scalar(select(CallReviewRow).where(CallReviewRow.call_id == call_id))
        earlier = _earlier_calls(call, caller)
        past: Sequence[CallRow] = []
        previous, last_rating = 0, None
        if earlier is not None:
            past = (await s.scalars(select(CallRow).where(*earlier)
                                    .order_by(CallRow.started_at.desc()).limit(PAST_CALLS))).all()
            previous = await s.scalar(select(func.count()).select_from(CallRow).where(*earlier)) or 0
            last_rating = await s.scalar(
                select(RatingRow.score).join(CallRow, CallRow.id == RatingRow.call_id)
                .where(*earlier, RatingRow.score.is_not(None))
                .order_by(RatingRow.rated_at.desc()).limit(1))
        ops = await _operator_refs(s, {call.answered_by_id, caller.personal_manager_id if caller else None}
                                   | {a.answered_by_id for a in attempts}
                                   | {p.answered_by_id for p in past})
    vip = bool(caller and caller.vip)
    return ScreenPop(
        call_id=call.id, uniqueid=call.uniqueid, started_at=utc(call.started_at),
        answered_at=utc(call.answered_at), ended_at=utc(call.ended_at),
        caller=CallerCard(
            id=caller.id if caller else None, number=call.caller_number,
            name=caller.name if caller else call.caller_name, vip=vip, known=caller is not None,
            personal_manager=ops.get(caller.personal_manager_id)
            if caller and caller.personal_manager_id else None,
        ),
        caller_number=call.caller_number, caller_name=call.caller_name, vip=vip,
        intent=call.intent, bot_transcript=call.bot_transcript, context=call.context,
        answered_by=ops.get(call.answered_by_id) if call.answered_by_id else None,
        attempts=[ContextAttempt(
            step_index=a.step_index, reason=a.reason, targets=[str(t) for t in a.targets],
            started_at=utc(a.started_at), ended_at=utc(a.ended_at), duration=a.duration,
            outcome=a.outcome, answered_by=ops.get(a.answered_by_id) if a.answered_by_id else None,
        ) for a in attempts],
        past_calls=[PastCall(
            id=p.id, started_at=utc(p.started_at), outcome=p.outcome, intent=p.intent,
            answered_by=ops.get(p.answered_by_id) if p.answered_by_id else None,
        ) for p in past],
        previous_calls=previous, last_rating=last_rating,
        review=ContextReview(reason=review.reason, status=review.status,
                             flagged_at=utc(review.flagged_at)) if review else None,
    )


async def my_screen_pop(sm: async_sessionmaker[AsyncSession], operator_id: int | None,
                        now: datetime) -> ScreenPop:
    call_id = await current_call(sm, operator_id, now) if operator_id is not None else None
    return await screen_pop(sm, call_id) if call_id is not None else ScreenPop(call_id=None)


# --- routes ------------------------------------------------------------------------------------


def build_router(deps: Deps) -> APIRouter:
    router = api_router()
    sm, presence, clock = deps.sm, deps.presence, deps.clock

    @router.get("/operators", response_model=list[OperatorPresence], tags=["directory"],
                summary="Operators with their live presence (from AMI)")
    async def operators(who: Who) -> Any:
        return await operators_with_presence(sm, presence(), active_only=False)

    @router.get("/wallboard", response_model=Wallboard, tags=["wallboard"],
                summary="Operators' presence and calls in progress")
    async def get_wallboard(who: Who) -> Any:
        return await wallboard(sm, presence, clock())

    @router.get("/routing/calls/active", response_model=list[LiveCall], tags=["wallboard"],
                summary="Calls in progress (the wallboard's calls)")
    async def active_calls(who: Who) -> Any:
        return await calls_in_progress(sm, presence(), clock())

    @router.get("/me/screenpop", response_model=ScreenPop, tags=["operator"],
                summary="The caller on this operator's phone now (screen-pop)")
    async def screenpop(who: Who) -> Any:
        return await my_screen_pop(sm, who.operator_id, clock())

    @router.get("/routing/calls/{call_id}/context", response_model=ScreenPop, tags=["wallboard"],
                responses={404: {"model": ErrorBody}}, summary="A call's screen-pop")
    async def call_context(call_id: int, who: Who) -> Any:
        return await screen_pop(sm, call_id)

    return router
