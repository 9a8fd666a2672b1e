"""The queue on the wallboard: callers waiting now, service level, speed of answer,
abandonment and callbacks, overall and per team; and the callers to call back.

- GET /api/wallboard/queue: the figures (`backoffice.queuefigures`, where they are defined)
  over a window (`hours`: the last N hours; `since`: from a date-time; default: today, a
  local day in the statistics' time zone) with the service level's threshold `service_level_s` (default the setting
  `recordings.service_level_seconds`, 20);
- GET /api/wallboard/abandoned: abandoned queue calls and failed callbacks of the window, for
  a team lead to call back from the page (POST /api/callbacks/click-to-call {"call_id"}).

Figures come from the database (`calls.queue_joined_at`, `queue_wait_ms`, `answered_at`, the
`callbacks` table); "waiting now" from the service's live waiting room (`Deps.waiting`). The
room is per process: with several service nodes each would show only its own callers, so a
wallboard over several nodes reads the callers waiting from the shared database instead
(a call row with `queue_joined_at`, no `queue_wait_ms` and no end is waiting now), or each
node publishes its room; the figures already come from the database alone.
"""

# No `from __future__ import annotations` here: FastAPI must evaluate the routes' parameters.

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from backoffice.access import Who
from backoffice.callquery import day_bound
from backoffice.common import Deps, api_router, utc
from backoffice.queuefigures import (
    PENDING_STATES,
    Abandoned,
    CallbackFact,
    Figures,
    OnTheLine,
    QueueCall,
    Team,
    queue_board,
    to_call_back,
)
from callrouting.events import WaitingCaller
from callrouting.tables import CallbackRow
from directory.tables import CallerRow, OperatorRow, TeamRow
from hotline.api_errors import ApiError
from hotline.clock import aware
from hotline.db.calls import CallRow

MAX_HOURS = 24 * 7
MAX_LISTED = 200  # abandoned calls and failed callbacks listed at most (newest first)

# --- schemas -----------------------------------------------------------------------------------


class QueueFiguresOut(BaseModel):
    answered: int = Field(description="queue calls an operator answered")
    answered_within: int = Field(description="of those, answered within service_level_s")
    abandoned: int = Field(description="queue calls the caller left (hung up) unanswered")
    left_for_callback: int = Field(description="callers who took a callback instead of waiting")
    service_level: float | None = Field(description="answered_within / (answered + abandoned)")
    asa_seconds: float | None = Field(description="average speed of answer: mean queue wait of "
                                                  "the answered calls")
    abandonment: float | None = Field(description="abandoned / (answered + abandoned)")
    abandoned_after_mean_seconds: float | None = Field(description="mean wait before hanging up")
    abandoned_after_max_seconds: float | None
    callbacks_pending: int = Field(description="callbacks not yet answered, failed or cancelled")
    callbacks_done: int = Field(description="callbacks answered in the window")
    callbacks_failed: int = Field(description="callbacks closed as failed in the window")
    waiting_now: int = Field(description="callers on the line in the queue plus pending "
                                         "callbacks keeping their place")
    longest_wait_seconds: float | None = Field(description="the longest wait among waiting_now")


class TeamFiguresOut(QueueFiguresOut):
    team_id: int | None
    team: str = Field(description="the team's name, '(no team)' for calls without one")


class WaitingOut(BaseModel):
    position: int
    waited_seconds: float
    vip: bool
    callback: bool = Field(description="a callback request keeping its place (not on the line)")
    callback_state: str | None
    call_id: int | None
    caller_number: str | None
    caller_name: str | None
    team_id: int | None
    team: str | None


class QueueBoardOut(BaseModel):
    at: datetime
    since: datetime = Field(description="the window's start (its end is `at`)")
    window: str = Field(description="'today' (local day) or 'last N h'")
    service_level_seconds: float
    overall: QueueFiguresOut
    by_team: list[TeamFiguresOut]
    waiting: list[WaitingOut]


class CallBackOut(BaseModel):
    kind: Literal["abandoned", "callback_failed"]
    call_id: int
    at: datetime = Field(description="when the caller hung up / the callback was given up")
    caller_number: str | None
    caller_name: str | None
    vip: bool
    team_id: int | None
    team: str | None
    waited_seconds: float | None = Field(description="abandoned after this many seconds in queue")
    callback_id: int | None
    reason: str | None
    called_back: str | None = Field(description="the state of a click-to-call already started")


class CallBackList(BaseModel):
    at: datetime
    since: datetime
    items: list[CallBackOut]


# --- service -----------------------------------------------------------------------------------


def window(now: datetime, hours: int | None, tz: ZoneInfo,
           since: str | None = None) -> tuple[datetime, str]:
    """The window's start: `since`, else `hours` back from `now`, else the start of the
    local day (422 for a `since` that is no date-time, in the future or over a week back)."""
    if since:
        start = day_bound(since, tz, False)
        assert start is not None
        if start > now or now - start > timedelta(hours=MAX_HOURS):
            raise ApiError(422, "invalid_request", "since must be within the last 7 days",
                           {"since": since})
        return start, "since " + start.isoformat()
    if hours is not None:
        return now - timedelta(hours=hours), f"last {hours} h"
    local = now.astimezone(tz)
    return datetime.combine(local.date(), time(0), tz).astimezone(UTC), "today"


def _team(tid: int | None, name: str | None) -> Team:
    return Team(tid, name) if tid is not None else Team(None, None)


def _call_columns() -> tuple[Any, ...]:
    """A call's team: the answering operator's, else the caller's personal manager's."""
    answered_by, pm = aliased(OperatorRow), aliased(OperatorRow)
    team_a, team_pm = aliased(TeamRow), aliased(TeamRow)
    cols = (func.coalesce(team_a.id, team_pm.id), func.coalesce(team_a.name, team_pm.name),
            func.coalesce(CallerRow.vip, false()), CallerRow.name)
    joins = ((answered_by, answered_by.id == CallRow.answered_by_id),
             (team_a, team_a.id == answered_by.team_id),
             (CallerRow, CallerRow.id == CallRow.caller_ref_id),
             (pm, pm.id == CallerRow.personal_manager_id),
             (team_pm, team_pm.id == pm.team_id))
    return cols, joins


def _joined(q: Any, joins: Any) -> Any:
    for target, on in joins:
        q = q.outerjoin(target, on)
    return q


async def queue_calls(s: AsyncSession, since: datetime, now: datetime) -> list[QueueCall]:
    cols, joins = _call_columns()
    asked = exists().where(CallbackRow.call_id == CallRow.id, CallbackRow.kind == "callback")
    q = _joined(select(CallRow.id, CallRow.queue_joined_at, CallRow.queue_wait_ms,
                       CallRow.answered_at, CallRow.ended_at, CallRow.caller_number,
                       CallRow.caller_name, asked, *cols), joins)
    q = q.where(CallRow.queue_joined_at >= since, CallRow.queue_joined_at <= now)
    rows = (await s.execute(q)).all()
    return [QueueCall(
        call_id=cid, joined_at=aware(joined), wait_s=wait_ms / 1000 if wait_ms is not None else None,
        answered_at=aware(answered) if answered else None,
        ended_at=aware(ended) if ended else None, team=_team(tid, tname), callback=bool(cb),
        caller_number=number, caller_name=known_name or name, vip=bool(vip),
    ) for (cid, joined, wait_ms, answered, ended, number, name, cb, tid, tname, vip, known_name)
        in rows]


async def callback_facts(s: AsyncSession, since: datetime) -> list[CallbackFact]:
    """Callbacks pending now, and those asked for, answered or closed in the window."""
    cols, joins = _call_columns()
    handler, team_h = aliased(OperatorRow), aliased(TeamRow)
    q = _joined(select(CallbackRow, CallRow.caller_name, team_h.id, team_h.name, *cols)
                .join(CallRow, CallRow.id == CallbackRow.call_id), joins)
    q = (q.outerjoin(handler, handler.id == CallbackRow.answered_by_id)
         .outerjoin(team_h, team_h.id == handler.team_id)
         .where(or_(CallbackRow.state.in_(sorted(PENDING_STATES)),
                    CallbackRow.requested_at >= since, CallbackRow.closed_at >= since,
                    CallbackRow.answered_at >= since)))
    rows = (await s.execute(q)).all()
    out = []
    for cb, name, h_tid, h_tname, tid, tname, vip, known_name in rows:
        out.append(CallbackFact(
            callback_id=cb.id, call_id=cb.call_id, kind=cb.kind, state=cb.state,
            requested_at=aware(cb.requested_at),
            queue_joined_at=aware(cb.queue_joined_at) if cb.queue_joined_at else None,
            priority=cb.priority or 0,
            answered_at=aware(cb.answered_at) if cb.answered_at else None,
            closed_at=aware(cb.closed_at) if cb.closed_at else None,
            team=_team(h_tid, h_tname) if h_tid is not None else _team(tid, tname),
            number=cb.number, caller_name=known_name or name, vip=bool(vip), reason=cb.reason))
    return out


async def on_the_line(s: AsyncSession, waiting: Sequence[WaitingCaller]) -> list[OnTheLine]:
    """The waiting room's callers with their calls' facts (team, caller), by uniqueid."""
    if not waiting:
        return []
    cols, joins = _call_columns()
    q = _joined(select(CallRow.uniqueid, CallRow.id, CallRow.caller_number, CallRow.caller_name,
                       *cols), joins).where(CallRow.uniqueid.in_([w.uniqueid for w in waiting]))
    facts = {r[0]: r for r in (await s.execute(q)).all()}
    out = []
    for w in waiting:
        row = facts.get(w.uniqueid)
        if row is None:  # the call's row is still on its way to the database
            out.append(OnTheLine(w.uniqueid, w.waited_s, w.priority, w.vip, w.joined_at,
                                 w.call_id))
            continue
        _, cid, number, name, tid, tname, vip, known_name = row
        out.append(OnTheLine(w.uniqueid, w.waited_s, w.priority, w.vip or bool(vip), w.joined_at,
                             cid, _team(tid, tname), number, known_name or name))
    return out


def _figures(f: Figures) -> dict[str, Any]:
    return dict(
        answered=f.answered, answered_within=f.answered_within, abandoned=f.abandoned,
        left_for_callback=f.left_for_callback, service_level=f.service_level,
        asa_seconds=f.asa_s, abandonment=f.abandonment,
        abandoned_after_mean_seconds=f.abandoned_after_mean_s,
        abandoned_after_max_seconds=f.abandoned_after_max_s,
        callbacks_pending=f.callbacks_pending, callbacks_done=f.callbacks_done,
        callbacks_failed=f.callbacks_failed, waiting_now=f.waiting_now,
        longest_wait_seconds=f.longest_wait_s,
    )


def _label(team: Team) -> str:
    return team.name or "(no team)"


async def board(sm: async_sessionmaker[AsyncSession], waiting: Sequence[WaitingCaller], *,
                now: datetime, since: datetime, label: str, service_level_s: float) -> QueueBoardOut:
    async with sm() as s:
        calls = await queue_calls(s, since, now)
        callbacks = await callback_facts(s, since)
        line = await on_the_line(s, waiting)
    b = queue_board(calls, callbacks, line, now=now, since=since, service_level_s=service_level_s)
    teams = sorted(b.teams.items(), key=lambda kv: (kv[0].id is None, _label(kv[0])))
    return QueueBoardOut(
        at=now, since=since, window=label, service_level_seconds=service_level_s,
        overall=QueueFiguresOut(**_figures(b.overall)),
        by_team=[TeamFiguresOut(**_figures(f), team_id=t.id, team=_label(t)) for t, f in teams],
        waiting=[WaitingOut(position=w.position, waited_seconds=w.waited_s, vip=w.vip,
                            callback=w.callback, callback_state=w.callback_state,
                            call_id=w.call_id, caller_number=w.caller_number,
                            caller_name=w.caller_name, team_id=w.team.id, team=w.team.name)
                 for w in b.waiting],
    )


async def call_back_list(sm: async_sessionmaker[AsyncSession], *, now: datetime,
                         since: datetime) -> CallBackList:
    async with sm() as s:
        calls = await queue_calls(s, since, now)
        callbacks = await callback_facts(s, since)
    items: list[Abandoned] = to_call_back(calls, callbacks, now=now, since=since)[:MAX_LISTED]
    return CallBackList(at=now, since=since, items=[CallBackOut(
        kind=a.kind, call_id=a.call_id, at=utc(a.at), caller_number=a.caller_number,  # type: ignore[arg-type]
        caller_name=a.caller_name, vip=a.vip, team_id=a.team.id, team=a.team.name,
        waited_seconds=a.waited_s, callback_id=a.callback_id, reason=a.reason,
        called_back=a.called_back) for a in items])


# --- routes ------------------------------------------------------------------------------------

Hours = Annotated[int | None, Query(ge=1, le=MAX_HOURS,
                                    description="the last N hours (default: today, local day)")]
Since = Annotated[str | None, Query(max_length=40, description=(
    "from this ISO date-time (or local day YYYY-MM-DD) to now; overrides hours"))]


def build_router(deps: Deps) -> APIRouter:
    router = api_router()
    tz = ZoneInfo(deps.settings.stats_timezone)
    default_sl = deps.settings.service_level_seconds

    @router.get("/wallboard/queue", response_model=QueueBoardOut, tags=["wallboard"],
                summary="The queue live: callers waiting, service level, ASA, abandonment, "
                        "callbacks, overall and per team")
    async def get_queue(
        who: Who, hours: Hours = None, since: Since = None,
        service_level_s: Annotated[int | None, Query(ge=1, le=600, description=(
            "service level threshold in seconds (default: the setting, 20)"))] = None,
    ) -> Any:
        now = deps.clock()
        start, label = window(now, hours, tz, since)
        return await board(deps.sm, deps.waiting(), now=now, since=start, label=label,
                           service_level_s=float(service_level_s or default_sl))

    @router.get("/wallboard/abandoned", response_model=CallBackList, tags=["wallboard"],
                summary="Abandoned queue calls and failed callbacks, to call back")
    async def get_abandoned(who: Who, hours: Hours = None, since: Since = None) -> Any:
        now = deps.clock()
        start, _ = window(now, hours, tz, since)
        return await call_back_list(deps.sm, now=now, since=start)

    return router
