"""Callbacks for QA and team leads: the list (`GET /api/callbacks`) and click-to-call
(`POST /api/callbacks/click-to-call`: the service rings the requester's own phone, then the
caller of the call; docs/decisions/0008).

Who may click: team leads (role `team_lead`), whose own phone rings first (the operator row
their user is linked to; they cannot ring anyone else's), and QA and admin users, who may
name the operator whose phone rings (`operator_id`), their own linked phone otherwise.  The
ringing itself is the service's (`ClickToCall`, given by the composition root).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.access import Who
from backoffice.common import Out, api_router, utc
from backoffice.models import Role
from callrouting.tables import CallbackRow
from directory.tables import OperatorRow
from hotline.api_errors import ApiError, ErrorBody, not_found

# (call id, the requester's extension, the requester's user name) -> the callbacks row id;
# raises LookupError (no such call) or ValueError (nothing to dial)
ClickToCall = Callable[[int, str, str], Awaitable[int]]

# CALLBACK_STATES and CALLBACK_KINDS (tests/unit/test_callrouting_callbacks.py checks they match)
State = Literal["pending", "ringing_operator", "dialling_caller", "answered", "failed", "cancelled"]
Kind = Literal["callback", "click_to_call"]


class ClickToCallIn(BaseModel):
    call_id: int = Field(ge=1, le=2**63 - 1)
    # whose phone rings first: QA and admin may choose; a team lead's is always their own
    operator_id: int | None = Field(None, ge=1, le=2**63 - 1)


class ClickToCallOut(BaseModel):
    callback_id: int
    call_id: int
    extension: str  # the phone that rings first


class CallbackOut(Out):
    id: int
    call_id: int
    kind: str
    number: str
    queue: str | None
    priority: int
    state: str
    attempts: int
    requested_at: datetime | None
    queue_joined_at: datetime | None
    next_attempt_at: datetime | None
    operator_rang_at: datetime | None
    placed_at: datetime | None
    answered_at: datetime | None
    answered_by_id: int | None
    requested_by: str | None
    closed_at: datetime | None
    reason: str | None


def callback_out(r: CallbackRow) -> CallbackOut:
    return CallbackOut(
        id=r.id, call_id=r.call_id, kind=r.kind, number=r.number, queue=r.queue,
        priority=r.priority, state=r.state, attempts=r.attempts,
        requested_at=utc(r.requested_at), queue_joined_at=utc(r.queue_joined_at),
        next_attempt_at=utc(r.next_attempt_at), operator_rang_at=utc(r.operator_rang_at),
        placed_at=utc(r.placed_at), answered_at=utc(r.answered_at),
        answered_by_id=r.answered_by_id, requested_by=r.requested_by, closed_at=utc(r.closed_at),
        reason=r.reason)


async def requester_phone(sm: async_sessionmaker[AsyncSession], who: Any,
                          operator_id: int | None = None) -> str:
    """The extension that rings first for `who` (a team lead: their own; QA and admin: the
    operator they chose, else their own), or an ApiError saying why there is none."""
    chosen = operator_id is not None and operator_id != who.operator_id
    if chosen and who.role not in (Role.QA, Role.ADMIN):
        raise ApiError(403, "forbidden", "a team lead's click-to-call rings their own phone",
                       {"role": who.role, "operator_id": operator_id})
    if operator_id is None:
        operator_id = who.operator_id
    if operator_id is None:
        raise ApiError(422, "no_phone", "your user is not linked to an operator extension: "
                       "choose the operator whose phone rings (operator_id)")
    async with sm() as s:
        op = await s.get(OperatorRow, operator_id)
    if op is None or not op.active:
        raise ApiError(422, "no_phone", "that operator extension is not active" if chosen
                       else "your operator extension is not active", {"operator_id": operator_id})
    return op.extension


def build_router(sm: async_sessionmaker[AsyncSession], click_to_call: ClickToCall) -> APIRouter:
    router = api_router()

    @router.get("/callbacks", response_model=list[CallbackOut], tags=["callbacks"],
                summary="Callback requests and click-to-calls, newest first")
    async def callbacks(
        who: Who,
        state: Annotated[State | None, Query()] = None,
        kind: Annotated[Kind | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Any:
        q = select(CallbackRow)
        if state is not None:
            q = q.where(CallbackRow.state == state)
        if kind is not None:
            q = q.where(CallbackRow.kind == kind)
        async with sm() as s:
            rows = (await s.scalars(q.order_by(CallbackRow.requested_at.desc(),
                                               CallbackRow.id.desc()).limit(limit))).all()
        return [callback_out(r) for r in rows]

    @router.post("/callbacks/click-to-call", response_model=ClickToCallOut, tags=["callbacks"],
                 responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
                 summary="Ring my phone (or, for QA and admin, a chosen operator's), "
                         "then the caller of this call")
    async def click(body: ClickToCallIn, who: Who) -> Any:
        extension = await requester_phone(sm, who, body.operator_id)
        try:
            cid = await click_to_call(body.call_id, extension, who.username)
        except LookupError:
            raise not_found("call", body.call_id) from None
        except ValueError as exc:
            raise ApiError(422, "not_dialable", str(exc), {"call_id": body.call_id}) from None
        return ClickToCallOut(callback_id=cid, call_id=body.call_id, extension=extension)

    return router
