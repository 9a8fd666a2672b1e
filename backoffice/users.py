"""Web users for admins: list, create, change (role, operator link, password, active).

A change of password or role, or a deactivation, ends the user's sessions; admins cannot
deactivate or demote themselves. `UserIn` and `UserPatch` are also the rules of
`hotline user ...` (hotline.app.cli_users).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.access import Who
from backoffice.auth import Principal, hash_password, revoke_sessions
from backoffice.common import Deps, Out, api_router, commit, found
from backoffice.models import LINKED_ROLES, Role, UserRow
from hotline.api_errors import ApiError, ErrorBody


class UserOut(Out):
    id: int
    username: str
    role: Role
    operator_id: int | None
    active: bool


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


# --- service -----------------------------------------------------------------------------------


async def get_user(sm: async_sessionmaker[AsyncSession], user_id: int) -> UserRow | None:
    async with sm() as s:
        return await s.get(UserRow, user_id)


async def list_users(sm: async_sessionmaker[AsyncSession]) -> Sequence[UserRow]:
    async with sm() as s:
        return (await s.scalars(select(UserRow).order_by(UserRow.username))).all()


async def add_user(sm: async_sessionmaker[AsyncSession], body: UserIn, now: datetime) -> UserRow:
    if body.role in LINKED_ROLES and body.operator_id is None:
        raise ApiError(422, "operator_id_required", f"a {body.role.value} user needs operator_id")
    pw_hash = await asyncio.to_thread(hash_password, body.password)
    async with sm() as s:
        row = UserRow(username=body.username, password_hash=pw_hash, role=body.role.value,
                      operator_id=body.operator_id, active=True, created_at=now)
        s.add(row)
        await commit(s, "user")
        return row


async def change_user(sm: async_sessionmaker[AsyncSession], user_id: int, body: UserPatch,
                      by: Principal, now: datetime) -> UserRow:
    changes = body.model_dump(exclude_unset=True)
    if user_id == by.user_id and (changes.get("active") is False
                                  or changes.get("role", Role.ADMIN) is not Role.ADMIN):
        raise ApiError(422, "cannot_demote_self", "admins cannot deactivate or demote themselves")
    pw = changes.pop("password", None)
    pw_hash = await asyncio.to_thread(hash_password, pw) if pw else None
    async with sm() as s:
        row = await found(s, UserRow, user_id, "user")
        for k, v in changes.items():
            setattr(row, k, v.value if isinstance(v, Role) else v)
        if pw_hash:
            row.password_hash = pw_hash
        if row.role in LINKED_ROLES and row.operator_id is None:
            raise ApiError(422, "operator_id_required", f"a {row.role} user needs operator_id")
        if pw_hash or "role" in changes or changes.get("active") is False:
            await revoke_sessions(s, user_id, now)
        await commit(s, "user")
        return row


# --- routes ------------------------------------------------------------------------------------


def build_router(deps: Deps) -> APIRouter:
    router = api_router()
    sm, clock = deps.sm, deps.clock

    @router.get("/admin/users", response_model=list[UserOut], tags=["admin"])
    async def users(who: Who) -> Any:
        return await list_users(sm)

    @router.post("/admin/users", response_model=UserOut, status_code=201, tags=["admin"],
                 responses={409: {"model": ErrorBody}})
    async def create_user(body: UserIn, who: Who) -> Any:
        return await add_user(sm, body, clock())

    @router.patch("/admin/users/{user_id}", response_model=UserOut, tags=["admin"],
                  responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
                  summary="Change role, link, password or deactivate (ends the user's sessions)")
    async def patch_user(user_id: int, body: UserPatch, who: Who) -> Any:
        return await change_user(sm, user_id, body, who, clock())

    return router

