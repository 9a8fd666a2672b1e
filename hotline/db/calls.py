"""Stores calls and their steps (the path a caller took) in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    String,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.clock import utcnow
from hotline.db.base import Base


class CallRow(Base):
    __tablename__ = "calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str | None] = mapped_column(String(200))
    caller_id_raw: Mapped[str | None] = mapped_column(String(200))  # as Asterisk gave it
    caller_number: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164 or None
    caller_name: Mapped[str | None] = mapped_column(String(200))
    caller_ref_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    path: Mapped[list[Any]] = mapped_column(JSON, default=list)  # steps: {node, at, ...}
    outcome: Mapped[str | None] = mapped_column(String(40))
    answered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), index=True
    )
    dialplan_version: Mapped[str | None] = mapped_column(String(80))
    intent: Mapped[str | None] = mapped_column(String(40))
    bot_transcript: Mapped[list[Any] | None] = mapped_column(JSON)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # the language the caller chose by key on this call (None: not asked, or kept the default)
    language: Mapped[str | None] = mapped_column(String(10))
    events: Mapped[list[CallEventRow]] = relationship(
        order_by="CallEventRow.id", cascade="all, delete-orphan"
    )


class CallEventRow(Base):
    __tablename__ = "call_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)




class CallStore:
    def __init__(self, sm: async_sessionmaker[AsyncSession]):
        self.sm = sm

    async def start_call(
        self,
        *,
        uniqueid: str,
        linkedid: str | None,
        channel: str | None,
        caller_id_raw: str | None,
        caller_number: str | None,
        caller: Any | None,  # a directory.tables.CallerRow (id, name)
        started_at: datetime,
    ) -> int:
        async with self.sm() as s, s.begin():
            row = CallRow(
                uniqueid=uniqueid, linkedid=linkedid, channel=channel,
                caller_id_raw=caller_id_raw, caller_number=caller_number,
                caller_ref_id=caller.id if caller else None,
                caller_name=caller.name if caller else None,
                started_at=started_at, path=[],
            )
            s.add(row)
            await s.flush()
            s.add(CallEventRow(call_id=row.id, at=started_at, kind="call_started",
                               data={"caller_id": caller_id_raw, "known": caller is not None}))
            return row.id

    async def event(self, call_id: int, kind: str, data: dict[str, Any] | None = None,
                    at: datetime | None = None) -> None:
        async with self.sm() as s, s.begin():
            s.add(CallEventRow(call_id=call_id, at=at or utcnow(), kind=kind, data=data or {}))

    async def update(self, call_id: int, **values: Any) -> None:
        async with self.sm() as s, s.begin():
            await s.execute(update(CallRow).where(CallRow.id == call_id).values(**values))

    async def finish_call(self, call_id: int, outcome: str, path: list[dict[str, Any]] | None = None,
                          at: datetime | None = None) -> None:
        at = at or utcnow()
        values: dict[str, Any] = {"ended_at": at, "outcome": outcome}
        if path is not None:
            values["path"] = path
        async with self.sm() as s, s.begin():
            await s.execute(update(CallRow).where(CallRow.id == call_id).values(**values))
            s.add(CallEventRow(call_id=call_id, at=at, kind="call_ended", data={"outcome": outcome}))

    async def last_language(self, caller_number: str | None) -> str | None:
        """The language this number chose by key on its latest call that chose one."""
        if not caller_number:
            return None
        async with self.sm() as s:
            return await s.scalar(
                select(CallRow.language)
                .where(CallRow.caller_number == caller_number, CallRow.language.is_not(None))
                .order_by(CallRow.id.desc()).limit(1)
            )

    async def get_by_uniqueid(self, uniqueid: str) -> CallRow | None:
        async with self.sm() as s:
            return await s.scalar(select(CallRow).where(CallRow.uniqueid == uniqueid))
