"""The directory for admins: teams, operators (with their backups in ring order) and known
callers, over the tables of the `directory` feature.

After every committed change to teams, operators or backups the service's
`directory_changed` hook runs (Asterisk's endpoints and queue are generated from them).
Known callers are not included: routing reads them from the database on every call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.access import Who
from backoffice.auth import revoke_sessions
from backoffice.common import Deps, Out, api_router, commit, found
from backoffice.models import Role, UserRow
from directory.tables import CallerRow, OperatorBackupRow, OperatorRow, TeamRow
from directory.validation import (
    CallerName,
    CallerNumber,
    Extension,
    Language,
    OperatorName,
    OperatorRole,
    SipPassword,
    TeamName,
)
from hotline.api_errors import ApiError, ErrorBody, not_found

# One set of rules for directory data, shared with the directory file and the Asterisk config
# writer (directory.validation): a value the API accepts can always be rendered.

class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: TeamName
    lead_id: int | None = None


class TeamPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: TeamName | None = None
    lead_id: int | None = None


class TeamOut(Out):
    id: int
    name: str
    lead_id: int | None


class OperatorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: OperatorName
    extension: Extension
    sip_password: SipPassword
    role: OperatorRole = "manager"
    team_id: int | None = None
    active: bool = True


class OperatorPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: OperatorName | None = None
    sip_password: SipPassword | None = None
    role: OperatorRole | None = None
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
    number: CallerNumber
    name: CallerName
    vip: bool = False
    personal_manager_id: int | None = None
    language: Language | None = None


class CallerPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: CallerName | None = None
    vip: bool | None = None
    personal_manager_id: int | None = None
    language: Language | None = None


class CallerOut(Out):
    id: int
    number: str
    name: str
    vip: bool
    personal_manager_id: int | None
    language: str | None


# --- service -----------------------------------------------------------------------------------

Sm = async_sessionmaker[AsyncSession]
R = TypeVar("R")


async def _add(sm: Sm, row: R, what: str) -> R:
    async with sm() as s:
        s.add(row)
        await commit(s, what)
        return row


async def _patch(sm: Sm, model: type[R], ident: int, body: BaseModel, what: str) -> R:
    async with sm() as s:
        row = await found(s, model, ident, what)
        for k, v in body.model_dump(exclude_unset=True).items():
            setattr(row, k, v)
        await commit(s, what)
        return row


async def _delete(sm: Sm, model: Any, ident: int, what: str,
                  before: Callable[[AsyncSession], Awaitable[None]] | None = None) -> None:
    async with sm() as s:
        if before is not None:
            await before(s)
        res = await s.execute(delete(model).where(model.id == ident))
        if res.rowcount == 0:
            raise not_found(what, ident)
        await commit(s, what)


async def list_teams(sm: Sm) -> Sequence[TeamRow]:
    async with sm() as s:
        return (await s.scalars(select(TeamRow).order_by(TeamRow.name))).all()


async def add_team(sm: Sm, body: TeamIn) -> TeamRow:
    return await _add(sm, TeamRow(name=body.name, lead_id=body.lead_id), "team")


async def change_team(sm: Sm, team_id: int, body: TeamPatch) -> TeamRow:
    return await _patch(sm, TeamRow, team_id, body, "team")


async def remove_team(sm: Sm, team_id: int) -> None:
    await _delete(sm, TeamRow, team_id, "team")


async def operator_out(sm: Sm, op: OperatorRow) -> OperatorAdminOut:
    async with sm() as s:
        ids = (await s.scalars(select(OperatorBackupRow.backup_id)
                               .where(OperatorBackupRow.operator_id == op.id)
                               .order_by(OperatorBackupRow.position))).all()
    return OperatorAdminOut(id=op.id, name=op.name, extension=op.extension, role=op.role,
                            team_id=op.team_id, active=op.active, backup_ids=list(ids))


async def list_operators(sm: Sm) -> list[OperatorAdminOut]:
    async with sm() as s:
        ops = (await s.scalars(select(OperatorRow).order_by(OperatorRow.extension))).all()
    return [await operator_out(sm, o) for o in ops]


async def add_operator(sm: Sm, body: OperatorIn) -> OperatorAdminOut:
    return await operator_out(sm, await _add(sm, OperatorRow(**body.model_dump()), "operator"))


async def change_operator(sm: Sm, operator_id: int, body: OperatorPatch) -> OperatorAdminOut:
    return await operator_out(sm, await _patch(sm, OperatorRow, operator_id, body, "operator"))


async def remove_operator(sm: Sm, operator_id: int, now: datetime) -> None:
    async def retire_linked_users(s: AsyncSession) -> None:
        # an operator web user without its operator has nothing left to do: deactivated,
        # sessions ended (admin/qa users linked to it only lose the link)
        linked = (await s.scalars(select(UserRow).where(UserRow.operator_id == operator_id))).all()
        for user in linked:
            if user.role == Role.OPERATOR:
                user.active = False
                await revoke_sessions(s, user.id, now)

    await _delete(sm, OperatorRow, operator_id, "operator", before=retire_linked_users)


async def set_backups(sm: Sm, operator_id: int, body: BackupsIn) -> OperatorAdminOut:
    if operator_id in body.backup_ids or len(set(body.backup_ids)) != len(body.backup_ids):
        raise ApiError(422, "invalid_backups", "backups must be distinct and not the operator itself",
                       {"backup_ids": body.backup_ids})
    async with sm() as s:
        row = await found(s, OperatorRow, operator_id, "operator")
        await s.execute(delete(OperatorBackupRow).where(OperatorBackupRow.operator_id == operator_id))
        for pos, bid in enumerate(body.backup_ids):
            s.add(OperatorBackupRow(operator_id=operator_id, backup_id=bid, position=pos))
        await commit(s, "backups")
    return await operator_out(sm, row)


async def search_callers(sm: Sm, q: str | None, limit: int) -> Sequence[CallerRow]:
    stmt = select(CallerRow).order_by(CallerRow.name).limit(limit)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(CallerRow.number.like(like, escape="\\"), CallerRow.name.like(like, escape="\\")))
    async with sm() as s:
        return (await s.scalars(stmt)).all()


async def add_caller(sm: Sm, body: CallerIn) -> CallerRow:
    return await _add(sm, CallerRow(**body.model_dump()), "caller")


async def change_caller(sm: Sm, caller_id: int, body: CallerPatch) -> CallerRow:
    return await _patch(sm, CallerRow, caller_id, body, "caller")


async def remove_caller(sm: Sm, caller_id: int) -> None:
    await _delete(sm, CallerRow, caller_id, "caller")


# --- routes ------------------------------------------------------------------------------------


def build_router(deps: Deps) -> APIRouter:
    router = api_router()
    sm, changed = deps.sm, deps.directory_changed
    saved = {409: {"model": ErrorBody}}
    edited = {404: {"model": ErrorBody}, 409: {"model": ErrorBody}}
    gone = {404: {"model": ErrorBody}}

    # -- teams

    @router.get("/admin/teams", response_model=list[TeamOut], tags=["admin"])
    async def teams(who: Who) -> Any:
        return await list_teams(sm)

    @router.post("/admin/teams", response_model=TeamOut, status_code=201, tags=["admin"],
                 responses=saved)
    async def create_team(body: TeamIn, who: Who) -> Any:
        row = await add_team(sm, body)
        await changed()
        return row

    @router.patch("/admin/teams/{team_id}", response_model=TeamOut, tags=["admin"],
                  responses=edited)
    async def patch_team(team_id: int, body: TeamPatch, who: Who) -> Any:
        row = await change_team(sm, team_id, body)
        await changed()
        return row

    @router.delete("/admin/teams/{team_id}", status_code=204, tags=["admin"], responses=gone)
    async def delete_team(team_id: int, who: Who) -> Response:
        await remove_team(sm, team_id)
        await changed()
        return Response(status_code=204)

    # -- operators

    @router.get("/admin/operators", response_model=list[OperatorAdminOut], tags=["admin"],
                summary="Operators (SIP passwords are write-only)")
    async def operators(who: Who) -> Any:
        return await list_operators(sm)

    @router.post("/admin/operators", response_model=OperatorAdminOut, status_code=201,
                 tags=["admin"], responses=saved)
    async def create_operator(body: OperatorIn, who: Who) -> Any:
        out = await add_operator(sm, body)
        await changed()
        return out

    @router.patch("/admin/operators/{operator_id}", response_model=OperatorAdminOut,
                  tags=["admin"], responses=edited)
    async def patch_operator(operator_id: int, body: OperatorPatch, who: Who) -> Any:
        out = await change_operator(sm, operator_id, body)
        await changed()
        return out

    @router.delete("/admin/operators/{operator_id}", status_code=204, tags=["admin"],
                   responses=gone)
    async def delete_operator(operator_id: int, who: Who) -> Response:
        await remove_operator(sm, operator_id, deps.clock())
        await changed()
        return Response(status_code=204)

    @router.put("/admin/operators/{operator_id}/backups", response_model=OperatorAdminOut,
                tags=["admin"], responses=edited,
                summary="Replace an operator's backups (ring order)")
    async def put_backups(operator_id: int, body: BackupsIn, who: Who) -> Any:
        out = await set_backups(sm, operator_id, body)
        await changed()
        return out

    # -- known callers (no directory_changed: routing reads them for every call)

    @router.get("/admin/callers", response_model=list[CallerOut], tags=["admin"])
    async def callers(
        who: Who,
        q: Annotated[str | None, Query(max_length=100, description="part of number or name")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> Any:
        return await search_callers(sm, q, limit)

    @router.post("/admin/callers", response_model=CallerOut, status_code=201, tags=["admin"],
                 responses=saved)
    async def create_caller(body: CallerIn, who: Who) -> Any:
        return await add_caller(sm, body)

    @router.patch("/admin/callers/{caller_id}", response_model=CallerOut, tags=["admin"],
                  responses=edited)
    async def patch_caller(caller_id: int, body: CallerPatch, who: Who) -> Any:
        return await change_caller(sm, caller_id, body)

    @router.delete("/admin/callers/{caller_id}", status_code=204, tags=["admin"], responses=gone)
    async def delete_caller(caller_id: int, who: Who) -> Response:
        await remove_caller(sm, caller_id)
        return Response(status_code=204)

    return router
