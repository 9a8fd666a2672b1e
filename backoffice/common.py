"""What the back office's resource modules share: what their routers are built from
(`Deps`), the router they start from, times in UTC, and saving with 404/409 answers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.auth import Authenticator
from callrouting.events import WaitingCaller
from hotline.api_errors import ERROR_RESPONSES, ApiError, ErrorRoute, not_found
from hotline.clock import aware
from recordings.settings import RecordingSettings

PresenceProvider = Callable[[], Mapping[str, Any]]  # {extension: presence}
# the callers on the line in the pool queues now (the service's waiting room)
WaitingProvider = Callable[[], Sequence[WaitingCaller]]


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Deps:
    """What the back office's routers are built from (`backoffice.app.backoffice_routers`).

    `settings.dir` is absolute; times come from the authenticator's clock (tests move it).
    `directory_changed` is awaited after every committed change to operators, teams or
    backups (Asterisk's endpoints and queue are generated from them). `waiting` gives the
    callers waiting in the pool queues now (the wallboard's "waiting now")."""

    sm: async_sessionmaker[AsyncSession]
    settings: RecordingSettings
    auth: Authenticator
    presence: PresenceProvider = dict
    directory_changed: Callable[[], Awaitable[None]] = _nothing
    waiting: WaitingProvider = list

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.auth.clock


def api_router() -> APIRouter:
    """A router under /api whose errors have the one body (`hotline.api_errors`)."""
    return APIRouter(prefix="/api", route_class=ErrorRoute, responses=ERROR_RESPONSES)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def utc(dt: datetime | None) -> datetime | None:
    """A stored time (SQLite gives it back naive, meaning UTC) as an aware UTC time."""
    return None if dt is None else aware(dt).astimezone(UTC)


async def found(s: AsyncSession, model: Any, ident: int, what: str) -> Any:
    """The row, or a 404 `{what}_not_found`."""
    row = await s.get(model, ident)
    if row is None:
        raise not_found(what, ident)
    return row


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


async def commit(s: AsyncSession, what: str) -> None:
    """Commit, or roll back and answer 409 `{what}_conflict` saying what clashed."""
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
