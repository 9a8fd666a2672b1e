"""Live views: the wallboard (operators' presence, calls in progress) for QA and admins, and
the screen-pop (the caller on an operator's phone now) for operators."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.access import Who
from backoffice.callquery import call_attempts
from backoffice.common import Deps, PresenceProvider, api_router, utc
from directory.tables import CallerRow, OperatorRow, TeamRow
from hotline.clock import aware
from hotline.db.calls import CallRow
from recordings.models import RatingRow

IN_PROGRESS_WINDOW = timedelta(hours=12)


class PresenceOut(BaseModel):
    id: int
    name: str
    extension: str
    team: str | None
    presence: str


class LiveCall(BaseModel):
    id: int
    started_at: datetime
    caller_number: str | None
    caller_name: str | None
    vip: bool
    state: Literal["ivr", "ringing", "with_operator"]
    operator_name: str | None
    waiting_seconds: float


class Wallboard(BaseModel):
    at: datetime
    operators: list[PresenceOut]
    presence_counts: dict[str, int]
    calls: list[LiveCall]


class ScreenPop(BaseModel):
    call_id: int | None
    caller_number: str | None = None
    caller_name: str | None = None
    vip: bool = False
    intent: str | None = None
    context: dict[str, Any] | None = None
    previous_calls: int = 0
    last_rating: int | None = None


# --- service -----------------------------------------------------------------------------------


async def wallboard(sm: async_sessionmaker[AsyncSession], presence: PresenceProvider,
                    now: datetime) -> Wallboard:
    open_attempt = exists().where(call_attempts.c.call_id == CallRow.id, call_attempts.c.ended_at.is_(None))
    async with sm() as s:
        ops = (await s.execute(select(OperatorRow, TeamRow.name)
                               .outerjoin(TeamRow, TeamRow.id == OperatorRow.team_id)
                               .where(OperatorRow.active).order_by(OperatorRow.extension))).all()
        live = (await s.execute(
            select(CallRow, func.coalesce(CallerRow.vip, false()), OperatorRow.name, open_attempt)
            .outerjoin(CallerRow, CallerRow.id == CallRow.caller_ref_id)
            .outerjoin(OperatorRow, OperatorRow.id == CallRow.answered_by_id)
            .where(CallRow.ended_at.is_(None), CallRow.started_at > now - IN_PROGRESS_WINDOW)
            .order_by(CallRow.started_at))).all()
    snap = presence()
    operators = [PresenceOut(id=o.id, name=o.name, extension=o.extension, team=team,
                             presence=str(getattr(snap.get(o.extension), "value", snap.get(o.extension))
                                          if o.extension in snap else "unavailable"))
                 for o, team in ops]
    counts: dict[str, int] = {}
    for o in operators:
        counts[o.presence] = counts.get(o.presence, 0) + 1
    calls = [LiveCall(
        id=c.id, started_at=utc(c.started_at), caller_number=c.caller_number,
        caller_name=c.caller_name, vip=bool(vip), operator_name=op_name,
        state="with_operator" if c.answered_by_id else ("ringing" if ringing else "ivr"),
        waiting_seconds=round((now - aware(c.started_at)).total_seconds(), 1),
    ) for c, vip, op_name, ringing in live]
    return Wallboard(at=now, operators=operators, presence_counts=counts, calls=calls)


async def screen_pop(sm: async_sessionmaker[AsyncSession], operator_id: int | None,
                     now: datetime) -> ScreenPop:
    if operator_id is None:
        return ScreenPop(call_id=None)
    async with sm() as s:
        ext = await s.scalar(select(OperatorRow.extension).where(OperatorRow.id == operator_id))
        ringing = (await s.execute(
            select(call_attempts.c.call_id, call_attempts.c.targets)
            .join(CallRow, CallRow.id == call_attempts.c.call_id)
            .where(call_attempts.c.ended_at.is_(None), CallRow.ended_at.is_(None),
                   CallRow.started_at > now - IN_PROGRESS_WINDOW))).all()
        ringing_ids = [cid for cid, targets in ringing
                       if isinstance(targets, list) and ext in [str(t) for t in targets]]
        row = (await s.execute(
            select(CallRow, func.coalesce(CallerRow.vip, false()))
            .outerjoin(CallerRow, CallerRow.id == CallRow.caller_ref_id)
            .where(CallRow.ended_at.is_(None), CallRow.started_at > now - IN_PROGRESS_WINDOW,
                   or_(CallRow.answered_by_id == operator_id, CallRow.id.in_(ringing_ids)))
            .order_by(CallRow.started_at.desc()).limit(1))).first()
        if row is None:
            return ScreenPop(call_id=None)
        call, vip = row
        prev = 0
        last = None
        if call.caller_number:
            prev = await s.scalar(select(func.count()).where(
                CallRow.caller_number == call.caller_number, CallRow.id != call.id)) or 0
            last = await s.scalar(select(RatingRow.score).join(CallRow, CallRow.id == RatingRow.call_id)
                                  .where(CallRow.caller_number == call.caller_number,
                                         RatingRow.score.is_not(None))
                                  .order_by(RatingRow.rated_at.desc()).limit(1))
    return ScreenPop(call_id=call.id, caller_number=call.caller_number, caller_name=call.caller_name,
                     vip=bool(vip), intent=call.intent, context=call.context,
                     previous_calls=prev, last_rating=last)


# --- routes ------------------------------------------------------------------------------------


def build_router(deps: Deps) -> APIRouter:
    router = api_router()

    @router.get("/wallboard", response_model=Wallboard, tags=["wallboard"],
                summary="Operators' presence and calls in progress")
    async def get_wallboard(who: Who) -> Any:
        return await wallboard(deps.sm, deps.presence, deps.clock())

    @router.get("/me/screenpop", response_model=ScreenPop, tags=["operator"],
                summary="The caller on this operator's phone now (screen-pop)")
    async def screenpop(who: Who) -> Any:
        return await screen_pop(deps.sm, who.operator_id, deps.clock())

    return router
