"""QA statistics (GET /api/stats): pure functions over per-call facts (no I/O, easy to check
by hand), the query that gathers the facts (`call_facts`), and the route.

Definitions (each rate is None when its denominator is zero):
- CSAT: share of scores 4 and 5 among rated calls.
- rating share: rated calls / calls an operator answered.
- bot containment: calls the bot handled that never went to routing and no operator answered
  / calls the bot handled.
- average speed of answer (ASA): mean seconds from the first ring attempt's start to the call's
  `answered_at` (routing stores the operator's answer there), over operator-answered calls.
- abandonment: calls offered to operators (at least one ring attempt) that no operator
  answered / calls offered.
- the pool queue (as the wallboard counts them, `backoffice.queuefigures`): calls that joined
  it, their mean wait there (`queue_wait_avg_seconds`, answered or not), the calls that hung up
  waiting there (`queue_abandoned`, with their mean wait: "abandoned after"); callbacks asked
  for, placed (the caller was dialled) and answered, of the calls selected.
"""

# No `from __future__ import annotations` here: FastAPI must evaluate the routes'
# `Depends(filters)`, a dependency local to `build_router`.

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.access import Who
from backoffice.callquery import (
    CallFilters,
    answered_attempt,
    apply_filters,
    bot_handled,
    call_attempts,
    callbacks,
    filters_dependency,
    offered,
)
from backoffice.common import Deps, api_router
from backoffice.queuefigures import QueueCall, classify
from directory.tables import CallerRow, OperatorRow, TeamRow
from hotline.clock import aware
from hotline.db.calls import CallRow
from recordings.models import RatingRow


@dataclass(frozen=True)
class CallFacts:
    call_id: int
    started_at: datetime  # aware
    operator_id: int | None = None
    operator_name: str | None = None
    team_id: int | None = None
    team_name: str | None = None
    intent: str | None = None
    score: int | None = None
    bot_handled: bool = False
    offered: bool = False  # at least one ring attempt
    operator_answered: bool = False
    asa_seconds: float | None = None
    queued: bool = False  # joined the pool queue
    queue_wait_seconds: float | None = None
    queue_abandoned: bool = False  # hung up waiting in the queue (after queue_wait_seconds)
    callback_requested: bool = False
    callback_placed: bool = False
    callback_answered: bool = False


@dataclass
class Figures:
    calls: int = 0
    operator_answered: int = 0
    rated: int = 0
    satisfied: int = 0  # scores 4 and 5
    score_sum: int = 0
    bot_handled: int = 0
    bot_contained: int = 0
    offered: int = 0
    abandoned: int = 0
    asa_sum: float = 0.0
    asa_count: int = 0
    queued: int = 0
    queue_wait_sum: float = 0.0
    queue_wait_count: int = 0
    queue_abandoned: int = 0
    abandoned_after_sum: float = 0.0
    callbacks_requested: int = 0
    callbacks_placed: int = 0
    callbacks_answered: int = 0
    scores: dict[int, int] = field(default_factory=lambda: {i: 0 for i in range(1, 6)})

    def add(self, f: CallFacts) -> None:
        self.calls += 1
        self.operator_answered += f.operator_answered
        if f.score is not None:
            self.rated += 1
            self.score_sum += f.score
            self.satisfied += f.score >= 4
            self.scores[f.score] = self.scores.get(f.score, 0) + 1
        if f.bot_handled:
            self.bot_handled += 1
            self.bot_contained += not f.offered and not f.operator_answered
        if f.offered:
            self.offered += 1
            self.abandoned += not f.operator_answered
        if f.operator_answered and f.asa_seconds is not None:
            self.asa_sum += f.asa_seconds
            self.asa_count += 1
        if f.queued:
            self.queued += 1
            if f.queue_wait_seconds is not None:
                self.queue_wait_sum += f.queue_wait_seconds
                self.queue_wait_count += 1
            if f.queue_abandoned:
                self.queue_abandoned += 1
                self.abandoned_after_sum += f.queue_wait_seconds or 0.0
        self.callbacks_requested += f.callback_requested
        self.callbacks_placed += f.callback_placed
        self.callbacks_answered += f.callback_answered

    @property
    def queue_wait_avg_seconds(self) -> float | None:
        return round(self.queue_wait_sum / self.queue_wait_count, 3) if self.queue_wait_count else None

    @property
    def abandoned_after_avg_seconds(self) -> float | None:
        return round(self.abandoned_after_sum / self.queue_abandoned, 3) if self.queue_abandoned else None

    @property
    def csat(self) -> float | None:
        return _ratio(self.satisfied, self.rated)

    @property
    def rating_share(self) -> float | None:
        return _ratio(self.rated, self.operator_answered)

    @property
    def containment(self) -> float | None:
        return _ratio(self.bot_contained, self.bot_handled)

    @property
    def abandonment(self) -> float | None:
        return _ratio(self.abandoned, self.offered)

    @property
    def asa_seconds(self) -> float | None:
        return round(self.asa_sum / self.asa_count, 3) if self.asa_count else None

    @property
    def average_score(self) -> float | None:
        return round(self.score_sum / self.rated, 3) if self.rated else None


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def totals(facts: Iterable[CallFacts]) -> Figures:
    out = Figures()
    for f in facts:
        out.add(f)
    return out


def grouped(facts: Iterable[CallFacts], key: Callable[[CallFacts], Hashable]) -> dict[Hashable, Figures]:
    groups: dict[Hashable, Figures] = defaultdict(Figures)
    for f in facts:
        groups[key(f)].add(f)
    return dict(groups)


def local_day(tz: ZoneInfo) -> Callable[[CallFacts], date]:
    return lambda f: f.started_at.astimezone(tz).date()


# --- schemas -----------------------------------------------------------------------------------


class FiguresOut(BaseModel):
    calls: int
    operator_answered: int
    rated: int
    rating_share: float | None = Field(description="rated / operator-answered calls")
    csat: float | None = Field(description="share of 4 and 5 among rated calls")
    average_score: float | None
    scores: dict[int, int]
    bot_handled: int
    bot_contained: int
    containment: float | None = Field(description="bot-handled calls no operator took / bot-handled")
    offered: int
    abandoned: int
    abandonment: float | None = Field(description="offered calls no operator answered / offered")
    asa_seconds: float | None = Field(description="average speed of answer")
    queued: int = Field(description="calls that joined the pool queue")
    queue_wait_avg_seconds: float | None = Field(description="their mean wait in the queue")
    queue_abandoned: int = Field(description="calls that hung up waiting in the queue")
    abandoned_after_avg_seconds: float | None = Field(
        description="the mean wait after which those callers hung up")
    callbacks_requested: int = Field(description="calls whose caller asked for a callback")
    callbacks_placed: int = Field(description="calls whose caller was dialled back")
    callbacks_answered: int = Field(description="calls whose caller answered the call back")


class GroupFigures(FiguresOut):
    key: str
    label: str


class StatsOut(BaseModel):
    date_from: datetime | None
    date_to: datetime | None
    timezone: str
    csat_target: float
    totals: FiguresOut
    by_operator: list[GroupFigures]
    by_team: list[GroupFigures]
    by_intent: list[GroupFigures]
    by_day: list[GroupFigures]


# --- service -----------------------------------------------------------------------------------


async def call_facts(sm: async_sessionmaker[AsyncSession], f: CallFilters) -> list[CallFacts]:
    """The facts of every call the filters select."""
    first = (select(call_attempts.c.call_id, func.min(call_attempts.c.started_at).label("first"))
             .group_by(call_attempts.c.call_id).subquery())
    cb = (select(callbacks.c.call_id,
                 func.max(case((callbacks.c.kind == "callback", 1), else_=0)).label("asked"),
                 func.max(case((callbacks.c.placed_at.is_not(None), 1), else_=0)).label("placed"),
                 func.max(case((callbacks.c.answered_at.is_not(None), 1), else_=0)).label("answered"))
          .group_by(callbacks.c.call_id).subquery())
    q = (select(CallRow.id, CallRow.started_at, CallRow.answered_by_id, OperatorRow.name,
                OperatorRow.team_id, TeamRow.name, CallRow.intent, RatingRow.score,
                bot_handled(), offered(), answered_attempt(), first.c.first, CallRow.answered_at,
                CallRow.queue_joined_at, CallRow.queue_wait_ms, CallRow.ended_at,
                cb.c.asked, cb.c.placed, cb.c.answered)
         .outerjoin(OperatorRow, OperatorRow.id == CallRow.answered_by_id)
         .outerjoin(TeamRow, TeamRow.id == OperatorRow.team_id)
         .outerjoin(CallerRow, CallerRow.id == CallRow.caller_ref_id)
         .outerjoin(RatingRow, RatingRow.call_id == CallRow.id)
         .outerjoin(first, first.c.call_id == CallRow.id)
         .outerjoin(cb, cb.c.call_id == CallRow.id))
    q = apply_filters(q, f)
    async with sm() as s:
        rows = (await s.execute(q)).all()
    facts = []
    for (cid, started, op_id, op_name, team_id, team_name, intent, score, bot, was_offered,
         was_answered, first_at, answered_at, joined, wait_ms, ended, asked, placed,
         cb_answered) in rows:
        took = op_id is not None or bool(was_answered)
        asa = None
        if took and first_at is not None and answered_at is not None:
            asa = max(0.0, (aware(answered_at) - aware(first_at)).total_seconds())
        facts.append(CallFacts(
            call_id=cid, started_at=aware(started), operator_id=op_id, operator_name=op_name,
            team_id=team_id, team_name=team_name, intent=intent, score=score,
            bot_handled=bool(bot), offered=bool(was_offered),
            operator_answered=took, asa_seconds=asa,
            **_queue_facts(cid, joined, wait_ms, answered_at, ended, bool(asked)),
            callback_requested=bool(asked), callback_placed=bool(placed),
            callback_answered=bool(cb_answered),
        ))
    return facts


def _queue_facts(cid: int, joined: datetime | None, wait_ms: int | None,
                 answered_at: datetime | None, ended: datetime | None,
                 asked: bool) -> dict[str, Any]:
    if joined is None:
        return {}
    kind, wait = classify(QueueCall(
        call_id=cid, joined_at=aware(joined), wait_s=wait_ms / 1000 if wait_ms is not None else None,
        answered_at=aware(answered_at) if answered_at else None,
        ended_at=aware(ended) if ended else None, callback=asked))
    return {"queued": True, "queue_wait_seconds": wait, "queue_abandoned": kind == "abandoned"}


def _figures(f: Figures, **extra: Any) -> dict[str, Any]:
    return dict(
        calls=f.calls, operator_answered=f.operator_answered, rated=f.rated,
        rating_share=f.rating_share, csat=f.csat, average_score=f.average_score, scores=f.scores,
        bot_handled=f.bot_handled, bot_contained=f.bot_contained, containment=f.containment,
        offered=f.offered, abandoned=f.abandoned, abandonment=f.abandonment,
        asa_seconds=f.asa_seconds, queued=f.queued,
        queue_wait_avg_seconds=f.queue_wait_avg_seconds, queue_abandoned=f.queue_abandoned,
        abandoned_after_avg_seconds=f.abandoned_after_avg_seconds,
        callbacks_requested=f.callbacks_requested, callbacks_placed=f.callbacks_placed,
        callbacks_answered=f.callbacks_answered, **extra,
    )


def statistics(facts: list[CallFacts], f: CallFilters, tz: ZoneInfo, timezone: str,
               csat_target: float) -> StatsOut:
    def groups(key: Callable[[CallFacts], Any], label: Callable[[Any], str]) -> list[GroupFigures]:
        g = grouped(facts, key)
        return [GroupFigures(**_figures(v, key=str(k), label=label(k)))
                for k, v in sorted(g.items(), key=lambda kv: str(kv[0]))]

    names = {x.operator_id: x.operator_name for x in facts}
    teams = {x.team_id: x.team_name for x in facts}
    return StatsOut(
        date_from=f.date_from, date_to=f.date_to, timezone=timezone,
        csat_target=csat_target, totals=FiguresOut(**_figures(totals(facts))),
        by_operator=groups(lambda x: x.operator_id if x.operator_id is not None else "none",
                           lambda k: names.get(k) or "(no operator)" if k != "none" else "(no operator)"),
        by_team=groups(lambda x: x.team_id if x.team_id is not None else "none",
                       lambda k: teams.get(k) or "(no team)" if k != "none" else "(no team)"),
        by_intent=groups(lambda x: x.intent or "none", lambda k: k if k != "none" else "(no intent)"),
        by_day=groups(local_day(tz), lambda k: k.isoformat()),
    )


# --- routes ------------------------------------------------------------------------------------


def build_router(deps: Deps) -> APIRouter:
    router = api_router()
    settings = deps.settings
    tz = ZoneInfo(settings.stats_timezone)
    filters = filters_dependency(tz)

    @router.get("/stats", response_model=StatsOut, tags=["stats"],
                summary="CSAT, ratings, bot containment, speed of answer, abandonment")
    async def stats(who: Who, f: Annotated[CallFilters, Depends(filters)]) -> Any:
        facts = await call_facts(deps.sm, f)
        return statistics(facts, f, tz, settings.stats_timezone, settings.csat_target)

    return router
