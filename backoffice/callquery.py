"""The calls query the back office shares: one call's summary row, and the filters of the
calls list, the review queue and the statistics.

A summary joins a call with who answered it, their team, the known caller, the rating and
the review, and computes per call: reached a team lead, handled by the bot, offered to
operators, has a recording (see `summary`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, String, and_, cast, exists, false, func, or_, select

from backoffice.auth import Principal
from backoffice.common import utc
from backoffice.models import Role
from backoffice.queuefigures import QueueCall, classify
from callrouting.tables import CallAttemptRow, CallbackRow, CallReviewRow
from directory.tables import CallerRow, OperatorRow, TeamRow
from hotline.api_errors import ApiError
from hotline.db.calls import CallRow
from recordings.models import RatingRow, RecordingRow

call_attempts = CallAttemptRow.__table__  # Core views of routing's tables for the QA queries
call_reviews = CallReviewRow.__table__
callbacks = CallbackRow.__table__

SUMMARY_COLUMNS = 14  # columns of `summary_query()`; callers add theirs after them


class CallSummary(BaseModel):
    id: int
    uniqueid: str
    started_at: datetime
    ended_at: datetime | None
    caller_number: str | None
    caller_name: str | None
    vip: bool
    outcome: str | None
    intent: str | None
    operator_id: int | None
    operator_name: str | None
    team_id: int | None
    team_name: str | None
    rating: int | None
    rating_status: str | None
    reached_team_lead: bool
    review_status: str | None
    bot_only: bool
    has_recording: bool
    queue_joined_at: datetime | None = None  # joined the pool queue (first time)
    queue_wait_seconds: float | None = None  # in the queue until answered or gone
    abandoned_after_seconds: float | None = None  # hung up waiting in the queue after this
    callback_state: str | None = None  # the latest callback's (or click-to-call's) state


class CallFilters(BaseModel):
    date_from: datetime | None = None
    date_to: datetime | None = None
    operator_id: int | None = None
    team_id: int | None = None
    rating: str | None = None
    reached_team_lead: bool | None = None
    intent: str | None = None
    vip: bool | None = None
    bot_only: bool | None = None


def day_bound(value: str | None, tz: ZoneInfo, end: bool) -> datetime | None:
    """`2026-11-01` (a local day; `date_to` includes that day) or an ISO date-time."""
    if value is None or value == "":
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            d = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            return datetime.combine(d, time(0), tz).astimezone(UTC)
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", f"not a date or date-time: {value!r}",
                       {"value": value}) from exc
    return (dt if dt.tzinfo else dt.replace(tzinfo=tz)).astimezone(UTC)


def filters_dependency(tz: ZoneInfo) -> Callable[..., CallFilters]:
    """The query parameters of the calls list and the statistics, as a FastAPI dependency."""

    def filters(
        date_from: Annotated[str | None, Query(description="local day YYYY-MM-DD or ISO date-time")] = None,
        date_to: Annotated[str | None, Query(description="local day (inclusive) or ISO date-time (exclusive)")] = None,
        operator_id: int | None = None,
        team_id: int | None = None,
        rating: Annotated[str | None, Query(pattern=r"^([1-5]|rated|none)$")] = None,
        reached_team_lead: bool | None = None,
        intent: Annotated[str | None, Query(max_length=40)] = None,
        vip: bool | None = None,
        bot_only: bool | None = None,
    ) -> CallFilters:
        return CallFilters(
            date_from=day_bound(date_from, tz, False), date_to=day_bound(date_to, tz, True),
            operator_id=operator_id, team_id=team_id, rating=rating,
            reached_team_lead=reached_team_lead, intent=intent, vip=vip, bot_only=bot_only,
        )

    return filters


def own_only(who: Principal, f: CallFilters) -> CallFilters:
    """Operators see their own calls only, whatever they ask for."""
    if who.role is Role.OPERATOR:
        return f.model_copy(update={"operator_id": who.operator_id if who.operator_id is not None else -1})
    return f


def bot_handled() -> ColumnElement[bool]:
    return func.coalesce(cast(CallRow.bot_transcript, String), "null").not_in(["null", "[]"])


def offered() -> ColumnElement[bool]:
    return exists().where(call_attempts.c.call_id == CallRow.id)


def answered_attempt() -> ColumnElement[bool]:
    return exists().where(call_attempts.c.call_id == CallRow.id, call_attempts.c.outcome == "answered")


def asked_callback() -> ColumnElement[bool]:
    """The caller asked for a callback instead of waiting (not a team lead's click-to-call)."""
    cb = callbacks.alias("cb_asked")
    return exists().where(cb.c.call_id == CallRow.id, cb.c.kind == "callback")


def latest_callback_state() -> Any:
    cb = callbacks.alias("cb_latest")
    return (select(cb.c.state).where(cb.c.call_id == CallRow.id).order_by(cb.c.id.desc())
            .limit(1).scalar_subquery())


def reached_lead() -> ColumnElement[bool]:
    # Aliases: call_reviews is also outer-joined in the summary query (no auto-correlation).
    cr, ca = call_reviews.alias("cr_lead"), call_attempts.alias("ca_lead")
    return or_(
        exists().where(cr.c.call_id == CallRow.id),
        exists().where(ca.c.call_id == CallRow.id, ca.c.reason == "team_lead"),
    )


def has_recording() -> ColumnElement[bool]:
    return exists().where(RecordingRow.call_id == CallRow.id, RecordingRow.path.is_not(None),
                          RecordingRow.purged_at.is_(None))


def summary_query() -> Any:
    return (
        select(
            CallRow, OperatorRow.name, OperatorRow.team_id, TeamRow.name,
            func.coalesce(CallerRow.vip, false()), RatingRow.score, RatingRow.status,
            call_reviews.c.status, reached_lead(), bot_handled(), offered(), has_recording(),
            asked_callback(), latest_callback_state(),
        )
        .outerjoin(OperatorRow, OperatorRow.id == CallRow.answered_by_id)
        .outerjoin(TeamRow, TeamRow.id == OperatorRow.team_id)
        .outerjoin(CallerRow, CallerRow.id == CallRow.caller_ref_id)
        .outerjoin(RatingRow, RatingRow.call_id == CallRow.id)
        .outerjoin(call_reviews, call_reviews.c.call_id == CallRow.id)
    )


def summary(row: Sequence[Any]) -> CallSummary:
    """A `summary_query()` row (its first `SUMMARY_COLUMNS` columns) as a `CallSummary`."""
    (c, op_name, team_id, team_name, vip, score, rstatus, review_status, lead, bot, was_offered,
     has_rec, asked, cb_state) = row[:SUMMARY_COLUMNS]
    wait, abandoned = queue_wait(c, bool(asked))
    return CallSummary(
        id=c.id, uniqueid=c.uniqueid, started_at=utc(c.started_at), ended_at=utc(c.ended_at),
        caller_number=c.caller_number, caller_name=c.caller_name, vip=bool(vip),
        outcome=c.outcome, intent=c.intent, operator_id=c.answered_by_id, operator_name=op_name,
        team_id=team_id, team_name=team_name, rating=score, rating_status=rstatus,
        reached_team_lead=bool(lead), review_status=review_status,
        bot_only=bool(bot) and not was_offered and c.answered_by_id is None,
        has_recording=bool(has_rec), queue_joined_at=utc(c.queue_joined_at),
        queue_wait_seconds=wait, abandoned_after_seconds=abandoned, callback_state=cb_state,
    )


def queue_wait(c: CallRow, asked_callback: bool) -> tuple[float | None, float | None]:
    """(the call's wait in the pool queue, the wait after which the caller hung up there),
    as the wallboard counts them (`backoffice.queuefigures.classify`)."""
    if c.queue_joined_at is None:
        return None, None
    kind, wait = classify(QueueCall(
        call_id=c.id, joined_at=utc(c.queue_joined_at),  # type: ignore[arg-type]
        wait_s=c.queue_wait_ms / 1000 if c.queue_wait_ms is not None else None,
        answered_at=utc(c.answered_at), ended_at=utc(c.ended_at), callback=asked_callback))
    wait = round(wait, 3) if wait is not None else None
    return wait, wait if kind == "abandoned" else None


def apply_filters(q: Any, f: CallFilters) -> Any:
    conds: list[Any] = []
    if f.date_from is not None:
        conds.append(CallRow.started_at >= f.date_from)
    if f.date_to is not None:
        conds.append(CallRow.started_at < f.date_to)
    if f.operator_id is not None:
        conds.append(CallRow.answered_by_id == f.operator_id)
    if f.team_id is not None:
        conds.append(OperatorRow.team_id == f.team_id)
    if f.intent:
        conds.append(CallRow.intent == f.intent)
    if f.vip is not None:
        conds.append(func.coalesce(CallerRow.vip, false()) == f.vip)
    if f.reached_team_lead is not None:
        conds.append(reached_lead() if f.reached_team_lead else ~reached_lead())
    if f.bot_only is not None:
        bot_only = and_(bot_handled(), ~offered(), CallRow.answered_by_id.is_(None))
        conds.append(bot_only if f.bot_only else ~bot_only)
    if f.rating:
        if f.rating == "rated":
            conds.append(RatingRow.score.is_not(None))
        elif f.rating == "none":
            conds.append(RatingRow.score.is_(None))
        elif f.rating in {"1", "2", "3", "4", "5"}:
            conds.append(RatingRow.score == int(f.rating))
        else:
            raise ApiError(422, "invalid_request", "rating is 1-5, rated or none", {"rating": f.rating})
    return q.where(*conds) if conds else q
