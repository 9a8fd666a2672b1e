"""QA and admin HTTP API: calls, call records, recordings, review queue, statistics, wallboard,
screen-pop, and the directory and users for admins.

Who may call each endpoint is in `backoffice.access.ACCESS` (applied by the app to every
route, tested exhaustively); recordings are
named by id only and their stored paths are checked before a byte is served.
"""

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, String, and_, cast, delete, exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice import stats as st
from backoffice.access import Who
from backoffice.auth import Authenticator, Principal, hash_password, revoke_sessions
from backoffice.models import Role, UserRow
from callrouting.tables import CallAttemptRow, CallReviewRow
from directory.tables import CallerRow, OperatorBackupRow, OperatorRow, TeamRow
from hotline.api_errors import ERROR_RESPONSES, ApiError, ErrorBody, ErrorRoute, not_found
from hotline.clock import aware
from hotline.db.calls import CallEventRow, CallRow
from recordings.models import RatingRow, RecordingRow
from recordings.settings import RecordingSettings
from recordings.storage import UnsafePath, media_type, resolve_recording

call_attempts = CallAttemptRow.__table__  # Core views of routing's tables for the QA queries
call_reviews = CallReviewRow.__table__

PresenceProvider = Callable[[], Mapping[str, Any]]  # {extension: presence}

E164 = r"^\+[1-9][0-9]{6,14}$"
IN_PROGRESS_WINDOW = timedelta(hours=12)


# --- schemas ---------------------------------------------------------------------------------


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserOut(Out):
    id: int
    username: str
    role: Role
    operator_id: int | None
    active: bool


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: UserOut


class RatingOut(Out):
    score: int | None
    status: str
    rated_at: datetime
    operator_id: int | None = None  # who answered the rated conversation
    team_id: int | None = None
    recording_id: int | None = None
    via: str | None = None  # key | speech


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


class ReviewOut(BaseModel):
    call_id: int
    reason: str | None
    flagged_at: datetime | None
    status: str
    reviewer: str | None
    notes: str | None
    reviewed_at: datetime | None


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


class ReviewItem(BaseModel):
    review: ReviewOut
    call: CallSummary


class ReviewUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "in_review", "done"] | None = None
    notes: str | None = Field(None, max_length=10_000)


class Figures(BaseModel):
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


class GroupFigures(Figures):
    key: str
    label: str


class StatsOut(BaseModel):
    date_from: datetime | None
    date_to: datetime | None
    timezone: str
    csat_target: float
    totals: Figures
    by_operator: list[GroupFigures]
    by_team: list[GroupFigures]
    by_intent: list[GroupFigures]
    by_day: list[GroupFigures]


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


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    lead_id: int | None = None


class TeamPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=100)
    lead_id: int | None = None


class TeamOut(Out):
    id: int
    name: str
    lead_id: int | None


# An operator's name goes into Asterisk's config (callerid, queue member): no characters
# that end a value, start a comment or a section, or break a line.
SAFE_NAME = r'^[^;\[\]"\\\x00-\x1f]+$'


class OperatorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=SAFE_NAME)
    extension: str = Field(pattern=r"^[0-9]{2,10}$")
    sip_password: str = Field(min_length=12, max_length=128, pattern=r"^[A-Za-z0-9_.~+-]+$")
    role: Literal["manager", "team_lead"] = "manager"
    team_id: int | None = None
    active: bool = True


class OperatorPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200, pattern=SAFE_NAME)
    sip_password: str | None = Field(None, min_length=12, max_length=128, pattern=r"^[A-Za-z0-9_.~+-]+$")
    role: Literal["manager", "team_lead"] | None = None
    team_id: int | None = None
    active: bool | None = None


class OperatorAdminOut(BaseModel):
    id: int
    name: str
    extension: str
    role: str
    team_id: int | None
    active: bool
    backup_ids: list[int]


class BackupsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backup_ids: list[int] = Field(max_length=20, description="in ring order")


class CallerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(pattern=E164)
    name: str = Field(min_length=1, max_length=200)
    vip: bool = False
    personal_manager_id: int | None = None
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")


class CallerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    vip: bool | None = None
    personal_manager_id: int | None = None
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")


class CallerOut(Out):
    id: int
    number: str
    name: str
    vip: bool
    personal_manager_id: int | None
    language: str | None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=r"^[a-z0-9_.-]{2,64}$")
    password: str = Field(min_length=12, max_length=256)
    role: Role
    operator_id: int | None = None


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(None, min_length=12, max_length=256)
    role: Role | None = None
    operator_id: int | None = None
    active: bool | None = None


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


# --- helpers ---------------------------------------------------------------------------------


def _utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else aware(dt).astimezone(UTC)


def _day_bound(value: str | None, tz: ZoneInfo, end: bool) -> datetime | None:
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


def _bot_handled() -> ColumnElement[bool]:
    return func.coalesce(cast(CallRow.bot_transcript, String), "null").not_in(["null", "[]"])


def _offered() -> ColumnElement[bool]:
    return exists().where(call_attempts.c.call_id == CallRow.id)


def _answered_attempt() -> ColumnElement[bool]:
    return exists().where(call_attempts.c.call_id == CallRow.id, call_attempts.c.outcome == "answered")


def _reached_lead() -> ColumnElement[bool]:
    # Aliases: call_reviews is also outer-joined in the summary query (no auto-correlation).
    cr, ca = call_reviews.alias("cr_lead"), call_attempts.alias("ca_lead")
    return or_(
        exists().where(cr.c.call_id == CallRow.id),
        exists().where(ca.c.call_id == CallRow.id, ca.c.reason == "team_lead"),
    )


def _has_recording() -> ColumnElement[bool]:
    return exists().where(RecordingRow.call_id == CallRow.id, RecordingRow.path.is_not(None),
                          RecordingRow.purged_at.is_(None))


def _summary_query() -> Any:
    return (
        select(
            CallRow, OperatorRow.name, OperatorRow.team_id, TeamRow.name,
            func.coalesce(CallerRow.vip, false()), RatingRow.score, RatingRow.status,
            call_reviews.c.status, _reached_lead(), _bot_handled(), _offered(), _has_recording(),
        )
        .outerjoin(OperatorRow, OperatorRow.id == CallRow.answered_by_id)
        .outerjoin(TeamRow, TeamRow.id == OperatorRow.team_id)
        .outerjoin(CallerRow, CallerRow.id == CallRow.caller_ref_id)
        .outerjoin(RatingRow, RatingRow.call_id == CallRow.id)
        .outerjoin(call_reviews, call_reviews.c.call_id == CallRow.id)
    )


def _summary(row: Sequence[Any]) -> CallSummary:
    (c, op_name, team_id, team_name, vip, score, rstatus, review_status, lead, bot, offered,
     has_rec) = row
    return CallSummary(
        id=c.id, uniqueid=c.uniqueid, started_at=_utc(c.started_at), ended_at=_utc(c.ended_at),
        caller_number=c.caller_number, caller_name=c.caller_name, vip=bool(vip),
        outcome=c.outcome, intent=c.intent, operator_id=c.answered_by_id, operator_name=op_name,
        team_id=team_id, team_name=team_name, rating=score, rating_status=rstatus,
        reached_team_lead=bool(lead), review_status=review_status,
        bot_only=bool(bot) and not offered and c.answered_by_id is None,
        has_recording=bool(has_rec),
    )


def _apply_filters(q: Any, f: CallFilters) -> Any:
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
        conds.append(_reached_lead() if f.reached_team_lead else ~_reached_lead())
    if f.bot_only is not None:
        bot_only = and_(_bot_handled(), ~_offered(), CallRow.answered_by_id.is_(None))
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


def _timeline(call: CallRow, events: Sequence[CallEventRow], attempts: Sequence[AttemptOut]) -> list[TimelineItem]:
    items: list[TimelineItem] = []
    for step in call.path or []:
        if not isinstance(step, dict):
            continue
        at = None
        if isinstance(step.get("at"), str):
            try:
                at = _utc(datetime.fromisoformat(step["at"]))
            except ValueError:
                at = None
        kind = str(step.get("node") or step.get("step") or "step")
        rest = {k: v for k, v in step.items() if k not in ("node", "step", "at", "detail")}
        items.append(TimelineItem(at=at, source="ivr", kind=kind, detail=str(step.get("detail") or ""), data=rest))
    for e in events:
        items.append(TimelineItem(at=_utc(e.at), source="event", kind=e.kind, data=e.data or {}))
    for a in attempts:
        items.append(TimelineItem(at=a.started_at, source="attempt", kind=f"ring {a.reason or ''}".strip(),
                                  detail=a.outcome or "", data={"targets": a.targets, "duration": a.duration}))
    far = datetime.max.replace(tzinfo=UTC)
    items.sort(key=lambda i: i.at or far)
    return items


def _figures(f: st.Figures, **extra: Any) -> dict[str, Any]:
    return dict(
        calls=f.calls, operator_answered=f.operator_answered, rated=f.rated,
        rating_share=f.rating_share, csat=f.csat, average_score=f.average_score, scores=f.scores,
        bot_handled=f.bot_handled, bot_contained=f.bot_contained, containment=f.containment,
        offered=f.offered, abandoned=f.abandoned, abandonment=f.abandonment,
        asa_seconds=f.asa_seconds, **extra,
    )


_UNIQUE_FIELD = re.compile(r"UNIQUE constraint failed: \w+\.(\w+)|Key \((\w+)\)=", re.I)


def conflict_kind(exc: IntegrityError) -> tuple[str, str | None]:
    """("duplicate", field) | ("unknown_reference", None) | ("conflict", None), from the
    database's own message (SQLite and PostgreSQL wordings)."""
    text = str(exc.orig)
    low = text.lower()
    if "unique" in low or "duplicate key" in low:
        m = _UNIQUE_FIELD.search(text)
        return "duplicate", (m.group(1) or m.group(2)) if m else None
    if "foreign key" in low:
        return "unknown_reference", None
    return "conflict", None


async def _commit(s: AsyncSession, what: str) -> None:
    try:
        await s.commit()
    except IntegrityError as exc:
        await s.rollback()
        kind, field = conflict_kind(exc)
        message = {
            "duplicate": f"another {what} already has this {field or 'value'}",
            "unknown_reference": f"the {what} refers to something that does not exist "
                                 "(a team, operator or user deleted meanwhile?)",
        }.get(kind, f"the {what} clashes with existing data")
        details: dict[str, Any] = {"what": what, "kind": kind}
        if field:
            details["field"] = field
        raise ApiError(409, f"{what}_conflict", message, details) from exc


# --- router ----------------------------------------------------------------------------------


def build_router(
    sm: async_sessionmaker[AsyncSession],
    settings: RecordingSettings,
    presence_provider: PresenceProvider | None = None,
    *,
    authenticator: Authenticator,
    on_directory_changed: Callable[[], Awaitable[None]] | None = None,
) -> APIRouter:
    """All QA/admin endpoints under /api. `settings.dir` must be absolute (`resolved`).

    The app applies `backoffice.access` to them (handlers take the user as `Who`); times come
    from the authenticator's clock. `on_directory_changed` is awaited after every committed
    change to operators, teams or backups (Asterisk's endpoints and queue are generated from
    them). Known callers are not included: routing reads them from the database on every call.
    """
    if not settings.dir.is_absolute():
        raise ValueError("RecordingSettings.dir must be absolute: use settings.resolved(root)")
    auth = authenticator
    clock = auth.clock
    tz = ZoneInfo(settings.stats_timezone)
    presence = presence_provider or (lambda: {})

    async def directory_changed() -> None:
        if on_directory_changed is not None:
            await on_directory_changed()

    router = APIRouter(prefix="/api", route_class=ErrorRoute, responses=ERROR_RESPONSES)

    # -- auth

    @router.post("/auth/login", response_model=TokenOut, tags=["auth"],
                 responses={401: {"model": ErrorBody},
                            429: {"model": ErrorBody, "description": "too many failed logins "
                                  "(5 per username, 20 per address in 5 minutes); see Retry-After"}},
                 summary="Log in (token + session cookie)")
    async def login(body: LoginIn, request: Request, response: Response) -> Any:
        client = request.client.host if request.client else None
        result = await auth.login(body.username, body.password, client)
        max_age = int((result.expires_at - clock()).total_seconds())
        response.set_cookie(settings.auth.cookie_name, result.token, max_age=max_age,
                            httponly=True, samesite="strict", secure=settings.auth.cookie_secure,
                            path="/")
        return TokenOut(access_token=result.token, expires_at=result.expires_at,
                        user=UserOut.model_validate(result.user))

    @router.post("/auth/logout", status_code=204, tags=["auth"], summary="End this session")
    async def logout(response: Response,
                     who: Who) -> Response:
        await auth.logout(who)
        out = Response(status_code=204)
        out.delete_cookie(settings.auth.cookie_name, path="/", httponly=True, samesite="strict")
        return out

    @router.get("/auth/me", response_model=UserOut, tags=["auth"], summary="Who is logged in")
    async def me(who: Who) -> Any:
        async with sm() as s:
            user = await s.get(UserRow, who.user_id)
        return UserOut.model_validate(user)

    # -- calls

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
            date_from=_day_bound(date_from, tz, False), date_to=_day_bound(date_to, tz, True),
            operator_id=operator_id, team_id=team_id, rating=rating,
            reached_team_lead=reached_team_lead, intent=intent, vip=vip, bot_only=bot_only,
        )

    def own_only(who: Principal, f: CallFilters) -> CallFilters:
        if who.role is Role.OPERATOR:
            return f.model_copy(update={"operator_id": who.operator_id if who.operator_id is not None else -1})
        return f

    @router.get("/calls", response_model=CallPage, tags=["calls"],
                summary="List calls with filters (operators see only their own calls)")
    async def list_calls(
        who: Who,
        f: Annotated[CallFilters, Depends(filters)],
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0
    ) -> Any:
        f = own_only(who, f)
        q = _apply_filters(_summary_query(), f)
        async with sm() as s:
            total = await s.scalar(select(func.count()).select_from(q.subquery()))
            rows = (await s.execute(q.order_by(CallRow.started_at.desc(), CallRow.id.desc())
                                    .limit(limit).offset(offset))).all()
        return CallPage(items=[_summary(r) for r in rows], total=total or 0, limit=limit, offset=offset)

    @router.get("/calls/{call_id}", response_model=CallRecord, tags=["calls"],
                responses={404: {"model": ErrorBody}},
                summary="A call's full record: timeline, bot transcript, routing, rating, recording")
    async def call_record(call_id: int, who: Who) -> Any:
        async with sm() as s:
            row = (await s.execute(_summary_query().where(CallRow.id == call_id))).first()
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
            review = (await s.execute(select(call_reviews).where(call_reviews.c.call_id == call_id))).first()
        attempts = [AttemptOut(step=a.step_index, reason=a.reason, targets=a.targets,
                               started_at=_utc(a.started_at), ended_at=_utc(a.ended_at),
                               duration=a.duration, outcome=a.outcome, answered_by_id=a.answered_by_id)
                    for a in att_rows]
        may_listen = who.role is Role.QA
        return CallRecord(
            call=_summary(row),
            timeline=_timeline(call, events, attempts),
            bot_transcript=call.bot_transcript if isinstance(call.bot_transcript, list) else None,
            intent=call.intent, context=call.context, attempts=attempts,
            rating=RatingOut(score=rating.score, status=rating.status, rated_at=_utc(rating.rated_at),
                             operator_id=rating.operator_id, team_id=rating.team_id,
                             recording_id=rating.recording_id, via=rating.via)
            if rating else None,
            recordings=[RecordingOut(
                id=r.id, started_at=_utc(r.started_at), duration=r.duration, size=r.size,
                enabled=r.enabled, disabled_reason=r.disabled_reason, node=r.node,
                purged_at=_utc(r.purged_at), purge_reason=r.purge_reason,
                audio_url=f"/api/recordings/{r.id}/audio"
                if may_listen and r.path and r.purged_at is None else None,
            ) for r in recs],
            review=_review_out(review) if review else None,
        )

    # -- recordings

    audio_doc: dict[str, Any] = dict(
        tags=["recordings"], response_class=FileResponse,
        responses={200: {"content": {"audio/wav": {}}, "description": "the recording"},
                   206: {"description": "the requested byte range"},
                   404: {"model": ErrorBody}, 410: {"model": ErrorBody},
                   416: {"description": "range not satisfiable"}},
    )

    @router.head("/recordings/{recording_id}/audio", operation_id="recording_audio_head",
                 summary="Size and type of a recording", **audio_doc)
    @router.get("/recordings/{recording_id}/audio", operation_id="recording_audio",
                summary="Stream a recording (HTTP Range requests for seeking)", **audio_doc)
    async def recording_audio(recording_id: int, request: Request,
                              who: Who) -> Any:
        async with sm() as s:
            rec = await s.get(RecordingRow, recording_id)
        if rec is None:
            raise not_found("recording", recording_id)
        if rec.purged_at is not None:
            raise ApiError(410, "recording_purged", "the recording was deleted by the retention policy",
                           {"purged_at": _utc(rec.purged_at).isoformat() if rec.purged_at else None,
                            "reason": rec.purge_reason})
        if not rec.path:
            raise ApiError(404, "recording_not_recorded", rec.disabled_reason or "this call was not recorded",
                           {"reason": rec.disabled_reason})
        try:
            path = resolve_recording(settings.dir, rec.path)
        except UnsafePath as exc:
            raise ApiError(403, "recording_path_refused", "the stored recording path is not safe",
                           {"recording_id": recording_id}) from exc
        if not await asyncio.to_thread(path.is_file):
            raise ApiError(404, "recording_file_missing", "the recording file is missing",
                           {"recording_id": recording_id})
        return FileResponse(path, media_type=media_type(path),
                            filename=f"call-{rec.call_id}-recording-{rec.id}{path.suffix}",
                            content_disposition_type="inline",
                            headers={"Cache-Control": "private, no-store"})

    # -- reviews

    def _review_out(r: Any) -> ReviewOut:
        return ReviewOut(call_id=r.call_id, reason=r.reason, flagged_at=_utc(r.flagged_at),
                         status=r.status or "open", reviewer=r.reviewer, notes=r.notes,
                         reviewed_at=_utc(r.reviewed_at))

    @router.get("/reviews", response_model=list[ReviewItem], tags=["reviews"],
                summary="Review queue: calls that reached a team lead")
    async def reviews(
        who: Who,
        status: Annotated[Literal["open", "in_review", "done", "all"], Query()] = "open",
        limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> Any:
        q = _summary_query().add_columns(*call_reviews.c).where(call_reviews.c.id.is_not(None))
        if status != "all":
            q = q.where(call_reviews.c.status == status)
        async with sm() as s:
            rows = (await s.execute(q.order_by(call_reviews.c.flagged_at, call_reviews.c.id).limit(limit))).all()
        n = 12
        return [ReviewItem(call=_summary(r[:n]),
                           review=_review_out(_Obj(dict(zip(call_reviews.c.keys(), r[n:], strict=True)))))
                for r in rows]

    @router.patch("/reviews/{call_id}", response_model=ReviewOut, tags=["reviews"],
                  responses={404: {"model": ErrorBody}}, summary="Set a review's status and notes")
    async def update_review(call_id: int, body: ReviewUpdate,
                            who: Who) -> Any:
        values: dict[str, Any] = {"reviewer": who.username}
        if body.status is not None:
            values["status"] = body.status
            values["reviewed_at"] = clock() if body.status == "done" else None
        if body.notes is not None:
            values["notes"] = body.notes
        async with sm() as s, s.begin():
            res = await s.execute(call_reviews.update().where(call_reviews.c.call_id == call_id).values(**values))
            if res.rowcount == 0:
                raise not_found("review", call_id)
            row = (await s.execute(select(call_reviews).where(call_reviews.c.call_id == call_id))).first()
        return _review_out(row)

    # -- statistics

    @router.get("/stats", response_model=StatsOut, tags=["stats"],
                summary="CSAT, ratings, bot containment, speed of answer, abandonment")
    async def stats(
        who: Who,
        f: Annotated[CallFilters, Depends(filters)],
    ) -> Any:
        first = (select(call_attempts.c.call_id, func.min(call_attempts.c.started_at).label("first"))
                 .group_by(call_attempts.c.call_id).subquery())
        q = (select(CallRow.id, CallRow.started_at, CallRow.answered_by_id, OperatorRow.name,
                    OperatorRow.team_id, TeamRow.name, CallRow.intent, RatingRow.score,
                    _bot_handled(), _offered(), _answered_attempt(), first.c.first, CallRow.answered_at)
             .outerjoin(OperatorRow, OperatorRow.id == CallRow.answered_by_id)
             .outerjoin(TeamRow, TeamRow.id == OperatorRow.team_id)
             .outerjoin(CallerRow, CallerRow.id == CallRow.caller_ref_id)
             .outerjoin(RatingRow, RatingRow.call_id == CallRow.id)
             .outerjoin(first, first.c.call_id == CallRow.id))
        q = _apply_filters(q, f)
        async with sm() as s:
            rows = (await s.execute(q)).all()
        facts = []
        for (cid, started, op_id, op_name, team_id, team_name, intent, score, bot, offered,
             answered_attempt, first_at, answered_at) in rows:
            took = op_id is not None or bool(answered_attempt)
            asa = None
            if took and first_at is not None and answered_at is not None:
                asa = max(0.0, (aware(answered_at) - aware(first_at)).total_seconds())
            facts.append(st.CallFacts(
                call_id=cid, started_at=aware(started), operator_id=op_id, operator_name=op_name,
                team_id=team_id, team_name=team_name, intent=intent, score=score,
                bot_handled=bool(bot), offered=bool(offered),
                operator_answered=took, asa_seconds=asa,
            ))

        def groups(key: Callable[[st.CallFacts], Any], label: Callable[[Any], str]) -> list[GroupFigures]:
            g = st.grouped(facts, key)
            return [GroupFigures(**_figures(v, key=str(k), label=label(k)))
                    for k, v in sorted(g.items(), key=lambda kv: str(kv[0]))]

        names = {f.operator_id: f.operator_name for f in facts}
        teams = {f.team_id: f.team_name for f in facts}
        return StatsOut(
            date_from=f.date_from, date_to=f.date_to, timezone=settings.stats_timezone,
            csat_target=settings.csat_target, totals=Figures(**_figures(st.totals(facts))),
            by_operator=groups(lambda x: x.operator_id if x.operator_id is not None else "none",
                               lambda k: names.get(k) or "(no operator)" if k != "none" else "(no operator)"),
            by_team=groups(lambda x: x.team_id if x.team_id is not None else "none",
                           lambda k: teams.get(k) or "(no team)" if k != "none" else "(no team)"),
            by_intent=groups(lambda x: x.intent or "none", lambda k: k if k != "none" else "(no intent)"),
            by_day=groups(st.local_day(tz), lambda k: k.isoformat()),
        )

    # -- wallboard and screen-pop

    @router.get("/wallboard", response_model=Wallboard, tags=["wallboard"],
                summary="Operators' presence and calls in progress")
    async def wallboard(who: Who) -> Any:
        now = clock()
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
            id=c.id, started_at=_utc(c.started_at), caller_number=c.caller_number,
            caller_name=c.caller_name, vip=bool(vip), operator_name=op_name,
            state="with_operator" if c.answered_by_id else ("ringing" if ringing else "ivr"),
            waiting_seconds=round((now - aware(c.started_at)).total_seconds(), 1),
        ) for c, vip, op_name, ringing in live]
        return Wallboard(at=now, operators=operators, presence_counts=counts, calls=calls)

    @router.get("/me/screenpop", response_model=ScreenPop, tags=["operator"],
                summary="The caller on this operator's phone now (screen-pop)")
    async def screenpop(who: Who) -> Any:
        if who.operator_id is None:
            return ScreenPop(call_id=None)
        now = clock()
        async with sm() as s:
            ext = await s.scalar(select(OperatorRow.extension).where(OperatorRow.id == who.operator_id))
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
                       or_(CallRow.answered_by_id == who.operator_id, CallRow.id.in_(ringing_ids)))
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

    # -- admin: teams

    async def _found(s: AsyncSession, model: Any, ident: int, what: str) -> Any:
        row = await s.get(model, ident)
        if row is None:
            raise not_found(what, ident)
        return row

    async def _save(s: AsyncSession, what: str, *, directory: bool) -> None:
        """Commit (409 on a conflict); tell the service when the directory changed."""
        await _commit(s, what)
        if directory:
            await directory_changed()

    async def _patch(s: AsyncSession, row: Any, body: BaseModel, what: str, *, directory: bool) -> None:
        for k, v in body.model_dump(exclude_unset=True).items():
            setattr(row, k, v)
        await _save(s, what, directory=directory)

    async def _delete(model: Any, ident: int, what: str, *, directory: bool,
                      before: Callable[[AsyncSession], Awaitable[None]] | None = None) -> Response:
        async with sm() as s:
            if before is not None:
                await before(s)
            res = await s.execute(delete(model).where(model.id == ident))
            if res.rowcount == 0:
                raise not_found(what, ident)
            await _save(s, what, directory=directory)
        return Response(status_code=204)

    @router.get("/admin/teams", response_model=list[TeamOut], tags=["admin"])
    async def teams(who: Who) -> Any:
        async with sm() as s:
            return (await s.scalars(select(TeamRow).order_by(TeamRow.name))).all()

    @router.post("/admin/teams", response_model=TeamOut, status_code=201, tags=["admin"],
                 responses={409: {"model": ErrorBody}})
    async def create_team(body: TeamIn, who: Who) -> Any:
        async with sm() as s:
            row = TeamRow(name=body.name, lead_id=body.lead_id)
            s.add(row)
            await _save(s, "team", directory=True)
            return row

    @router.patch("/admin/teams/{team_id}", response_model=TeamOut, tags=["admin"],
                  responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
    async def patch_team(team_id: int, body: TeamPatch,
                         who: Who) -> Any:
        async with sm() as s:
            row = await _found(s, TeamRow, team_id, "team")
            await _patch(s, row, body, "team", directory=True)
            return row

    @router.delete("/admin/teams/{team_id}", status_code=204, tags=["admin"],
                   responses={404: {"model": ErrorBody}})
    async def delete_team(team_id: int, who: Who) -> Response:
        return await _delete(TeamRow, team_id, "team", directory=True)

    # -- admin: operators

    async def _operator_out(s: AsyncSession, op: OperatorRow) -> OperatorAdminOut:
        ids = (await s.scalars(select(OperatorBackupRow.backup_id).where(OperatorBackupRow.operator_id == op.id)
                               .order_by(OperatorBackupRow.position))).all()
        return OperatorAdminOut(id=op.id, name=op.name, extension=op.extension, role=op.role,
                                team_id=op.team_id, active=op.active, backup_ids=list(ids))

    @router.get("/admin/operators", response_model=list[OperatorAdminOut], tags=["admin"],
                summary="Operators (SIP passwords are write-only)")
    async def operators(who: Who) -> Any:
        async with sm() as s:
            ops = (await s.scalars(select(OperatorRow).order_by(OperatorRow.extension))).all()
            return [await _operator_out(s, o) for o in ops]

    @router.post("/admin/operators", response_model=OperatorAdminOut, status_code=201, tags=["admin"],
                 responses={409: {"model": ErrorBody}})
    async def create_operator(body: OperatorIn, who: Who) -> Any:
        async with sm() as s:
            row = OperatorRow(**body.model_dump())
            s.add(row)
            await _save(s, "operator", directory=True)
            return await _operator_out(s, row)

    @router.patch("/admin/operators/{operator_id}", response_model=OperatorAdminOut, tags=["admin"],
                  responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
    async def patch_operator(operator_id: int, body: OperatorPatch,
                             who: Who) -> Any:
        async with sm() as s:
            row = await _found(s, OperatorRow, operator_id, "operator")
            await _patch(s, row, body, "operator", directory=True)
            return await _operator_out(s, row)

    @router.delete("/admin/operators/{operator_id}", status_code=204, tags=["admin"],
                   responses={404: {"model": ErrorBody}})
    async def delete_operator(operator_id: int,
                              who: Who) -> Response:
        async def retire_linked_users(s: AsyncSession) -> None:
            # an operator web user without its operator has nothing left to do: deactivated,
            # sessions ended (admin/qa users linked to it only lose the link)
            linked = (await s.scalars(select(UserRow).where(UserRow.operator_id == operator_id))).all()
            for user in linked:
                if user.role == Role.OPERATOR:
                    user.active = False
                    await revoke_sessions(s, user.id, clock())

        return await _delete(OperatorRow, operator_id, "operator", directory=True,
                             before=retire_linked_users)

    @router.put("/admin/operators/{operator_id}/backups", response_model=OperatorAdminOut, tags=["admin"],
                responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
                summary="Replace an operator's backups (ring order)")
    async def put_backups(operator_id: int, body: BackupsIn,
                          who: Who) -> Any:
        if operator_id in body.backup_ids or len(set(body.backup_ids)) != len(body.backup_ids):
            raise ApiError(422, "invalid_backups", "backups must be distinct and not the operator itself",
                           {"backup_ids": body.backup_ids})
        async with sm() as s:
            row = await _found(s, OperatorRow, operator_id, "operator")
            await s.execute(delete(OperatorBackupRow).where(OperatorBackupRow.operator_id == operator_id))
            for pos, bid in enumerate(body.backup_ids):
                s.add(OperatorBackupRow(operator_id=operator_id, backup_id=bid, position=pos))
            await _save(s, "backups", directory=True)
            return await _operator_out(s, row)

    # -- admin: known callers

    @router.get("/admin/callers", response_model=list[CallerOut], tags=["admin"])
    async def callers(
        who: Who,
        q: Annotated[str | None, Query(max_length=100, description="part of number or name")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> Any:
        stmt = select(CallerRow).order_by(CallerRow.name).limit(limit)
        if q:
            like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            stmt = stmt.where(or_(CallerRow.number.like(like, escape="\\"), CallerRow.name.like(like, escape="\\")))
        async with sm() as s:
            return (await s.scalars(stmt)).all()

    @router.post("/admin/callers", response_model=CallerOut, status_code=201, tags=["admin"],
                 responses={409: {"model": ErrorBody}})
    async def create_caller(body: CallerIn, who: Who) -> Any:
        async with sm() as s:
            row = CallerRow(**body.model_dump())
            s.add(row)
            await _save(s, "caller", directory=False)
            return row

    @router.patch("/admin/callers/{caller_id}", response_model=CallerOut, tags=["admin"],
                  responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
    async def patch_caller(caller_id: int, body: CallerPatch,
                           who: Who) -> Any:
        async with sm() as s:
            row = await _found(s, CallerRow, caller_id, "caller")
            await _patch(s, row, body, "caller", directory=False)
            return row

    @router.delete("/admin/callers/{caller_id}", status_code=204, tags=["admin"],
                   responses={404: {"model": ErrorBody}})
    async def delete_caller(caller_id: int,
                            who: Who) -> Response:
        return await _delete(CallerRow, caller_id, "caller", directory=False)

    # -- admin: users

    @router.get("/admin/users", response_model=list[UserOut], tags=["admin"])
    async def users(who: Who) -> Any:
        async with sm() as s:
            return (await s.scalars(select(UserRow).order_by(UserRow.username))).all()

    @router.post("/admin/users", response_model=UserOut, status_code=201, tags=["admin"],
                 responses={409: {"model": ErrorBody}})
    async def create_user(body: UserIn, who: Who) -> Any:
        if body.role is Role.OPERATOR and body.operator_id is None:
            raise ApiError(422, "operator_id_required", "an operator user needs operator_id")
        pw_hash = await asyncio.to_thread(hash_password, body.password)
        async with sm() as s:
            row = UserRow(username=body.username, password_hash=pw_hash, role=body.role.value,
                          operator_id=body.operator_id, active=True, created_at=clock())
            s.add(row)
            await _commit(s, "user")
            return row

    @router.patch("/admin/users/{user_id}", response_model=UserOut, tags=["admin"],
                  responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
                  summary="Change role, link, password or deactivate (ends the user's sessions)")
    async def patch_user(user_id: int, body: UserPatch,
                         who: Who) -> Any:
        changes = body.model_dump(exclude_unset=True)
        if user_id == who.user_id and (changes.get("active") is False
                                       or changes.get("role", Role.ADMIN) is not Role.ADMIN):
            raise ApiError(422, "cannot_demote_self", "admins cannot deactivate or demote themselves")
        pw = changes.pop("password", None)
        pw_hash = await asyncio.to_thread(hash_password, pw) if pw else None
        async with sm() as s:
            row = await _found(s, UserRow, user_id, "user")
            for k, v in changes.items():
                setattr(row, k, v.value if isinstance(v, Role) else v)
            if pw_hash:
                row.password_hash = pw_hash
            if row.role == Role.OPERATOR and row.operator_id is None:
                raise ApiError(422, "operator_id_required", "an operator user needs operator_id")
            if pw_hash or "role" in changes or changes.get("active") is False:
                await revoke_sessions(s, user_id, clock())
            await _commit(s, "user")
            return row

    return router


class _Obj:
    def __init__(self, d: dict[str, Any]):
        self.__dict__.update(d)
