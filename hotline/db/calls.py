"""Stores calls and their steps (the path a caller took) in the database.

Every write goes through `hotline.db.writes.WriteQueue` (in order, retried, never blocking
the caller); a new call is a `CallRef` until its row is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.clock import utcnow
from hotline.db.base import Base
from hotline.db.fields import ClippedString
from hotline.db.writes import RowRef, WriteQueue, ref_id, transient, update_later
from hotline.metrics import Metrics

log = structlog.get_logger(__name__)
READ_TIMEOUT_S = 2.0  # a read on the caller's way (last language) waits no longer than this


class CallRow(Base):
    __tablename__ = "calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Asterisk's ids: up to AST_MAX_UNIQUEID (150) characters with a long systemname
    uniqueid: Mapped[str] = mapped_column(String(150), unique=True)
    linkedid: Mapped[str | None] = mapped_column(String(150), index=True)
    # what the caller (and Asterisk) sent, clipped to fit: hotline.db.fields
    channel: Mapped[str | None] = mapped_column(ClippedString(200, "calls.channel"))
    caller_id_raw: Mapped[str | None] = mapped_column(ClippedString(200, "calls.caller_id_raw"))
    caller_number: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164 or None
    caller_name: Mapped[str | None] = mapped_column(ClippedString(200, "calls.caller_name"))
    caller_ref_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    path: Mapped[list[Any]] = mapped_column(JSON, default=list)  # steps: {node, at, ...}
    outcome: Mapped[str | None] = mapped_column(String(40))
    answered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), index=True
    )
    dialplan_version: Mapped[str | None] = mapped_column(String(120))  # as dialplan_versions
    intent: Mapped[str | None] = mapped_column(String(40))
    bot_transcript: Mapped[list[Any] | None] = mapped_column(JSON)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # the language the caller chose by key on this call (None: not asked, or kept the default)
    language: Mapped[str | None] = mapped_column(String(10))
    # the pool queue (migration 0010): when the caller joined it, and how long they waited
    # there until an operator answered or they left (hung up, took a callback, overflowed out)
    queue_joined_at: Mapped[datetime | None]
    queue_wait_ms: Mapped[int | None] = mapped_column(Integer)
    # the node (its Asterisk and service) that carried the call (migration 0011): several
    # nodes share one database in a cluster; service.node, the host's name by default
    node: Mapped[str | None] = mapped_column(String(64), index=True)
    events: Mapped[list[CallEventRow]] = relationship(
        order_by="CallEventRow.id", cascade="all, delete-orphan"
    )


_CALLER_ID_RAW_MAX = CallRow.__table__.c.caller_id_raw.type.length  # type: ignore[attr-defined]
_CHANNEL_MAX = CallRow.__table__.c.channel.type.length  # type: ignore[attr-defined]
_CALLER_NUMBER_MAX = CallRow.__table__.c.caller_number.type.length  # type: ignore[attr-defined]


class CallEventRow(Base):
    __tablename__ = "call_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@dataclass(eq=False)
class CallRef(RowRef):
    """A call whose row may still be in the write-behind queue (`id` is set once stored)."""

    uniqueid: str = ""


CallKey = int | RowRef  # a stored call's id, or a call still on its way to the database


class CallStore:
    """The calls and call_events tables, written through the one write path (`WriteQueue`).

    Writes return futures: the call flow goes on at once; a caller that needs the row stored
    (a test, the end of a call) awaits them."""

    def __init__(self, sm: async_sessionmaker[AsyncSession], writes: WriteQueue | None = None,
                 metrics: Metrics | None = None, node: str | None = None):
        self.sm = sm
        self.node = node  # written on every call this store opens (calls.node)
        self.metrics = metrics or Metrics()  # the queue's writes are timed and counted there
        self.writes = writes if writes is not None else WriteQueue(sm, metrics=self.metrics)

    def open_call(
        self,
        *,
        uniqueid: str,
        linkedid: str | None,
        channel: str | None,
        caller_id_raw: str | None,
        caller_number: str | None,
        caller: Any | None,  # a directory.tables.CallerRow (id, name)
        started_at: datetime,
        dialplan_version: str | None = None,
    ) -> CallRef:
        """Queue the call's row; returns at once (`ref.stored`: the id once committed)."""
        ref = CallRef("call " + uniqueid, uniqueid=uniqueid)
        if caller_number is not None and len(caller_number) > _CALLER_NUMBER_MAX:
            # a lookup key is never clipped (it could match another caller): not a number
            log.warning("db.caller_number_refused", length=len(caller_number),
                        limit=_CALLER_NUMBER_MAX)
            caller_number = None
        values = {
            "uniqueid": uniqueid, "linkedid": linkedid, "channel": channel,
            "caller_id_raw": caller_id_raw, "caller_number": caller_number,
            "caller_ref_id": caller.id if caller else None,
            "caller_name": caller.name if caller else None, "dialplan_version": dialplan_version,
            "node": self.node,
        }
        # the event keeps the caller ID whole (JSON), the column its first characters
        # (ClippedString cuts it on the way in)
        started = {"caller_id": caller_id_raw, "known": caller is not None}
        if len(caller_id_raw or "") > _CALLER_ID_RAW_MAX:
            started["caller_id_truncated_from"] = len(caller_id_raw or "")

        tried = False

        async def job(s: AsyncSession) -> int:
            nonlocal tried
            if tried:  # run again: the COMMIT may have reached the database and its answer not
                # us; the row is ours only if it is this very channel (a uniqueid used twice is
                # a constraint violation, logged as lost, never merged into another call)
                stored = (await s.execute(select(CallRow.id, CallRow.channel, CallRow.caller_id_raw)
                                          .where(CallRow.uniqueid == uniqueid))).first()
                raw = caller_id_raw[:_CALLER_ID_RAW_MAX] if caller_id_raw else caller_id_raw
                if stored is not None and (stored.channel, stored.caller_id_raw) == (
                        (channel[:_CHANNEL_MAX] if channel else channel), raw):
                    ref.id = stored.id
                    return int(stored.id)
            tried = True
            row = CallRow(**values, started_at=started_at, path=[])
            s.add(row)
            await s.flush()
            s.add(CallEventRow(call_id=row.id, at=started_at, kind="call_started", data=started))
            ref.id = row.id
            return row.id

        ref.stored = self.writes.submit(job, what="call_started",
                                        data={**values, "started_at": started_at.isoformat()})
        return ref

    async def start_call(self, **kw: Any) -> int:
        """`open_call` and wait for the row: the call's id."""
        ref = self.open_call(**kw)
        assert ref.stored is not None
        return int(await ref.stored)

    def event(self, call: CallKey, kind: str, data: dict[str, Any] | None = None,
              at: datetime | None = None) -> asyncio.Future[Any]:
        at, data = at or utcnow(), data or {}

        async def job(s: AsyncSession) -> None:
            s.add(CallEventRow(call_id=ref_id(call), at=at, kind=kind, data=data))

        return self.writes.submit(job, what=f"call_event {kind}",
                                  data={"call": _name(call), "data": data, "at": at.isoformat()})

    def update(self, call: CallKey, **values: Any) -> asyncio.Future[Any]:

        async def job(s: AsyncSession) -> None:
            update_later(s, CallRow, ref_id(call), values)

        return self.writes.submit(job, what="call_update", data={"call": _name(call), **values})

    def update_path(self, call: CallKey, path: Callable[[], list[Any]]) -> asyncio.Future[Any]:
        """Store the call's path as it is when the write runs (queued path writes coalesce)."""

        async def job(s: AsyncSession) -> None:
            update_later(s, CallRow, ref_id(call), {"path": path()})

        return self.writes.submit(job, what="call_path", key=("path", call if isinstance(call, int) else id(call)),
                                  data={"call": _name(call)})

    def finish_call(self, call: CallKey, outcome: str, path: list[dict[str, Any]] | None = None,
                    at: datetime | None = None) -> asyncio.Future[Any]:
        at = at or utcnow()
        values: dict[str, Any] = {"ended_at": at, "outcome": outcome}
        if path is not None:
            values["path"] = list(path)

        async def job(s: AsyncSession) -> None:
            cid = ref_id(call)
            update_later(s, CallRow, cid, values)
            s.add(CallEventRow(call_id=cid, at=at, kind="call_ended", data={"outcome": outcome}))

        return self.writes.submit(job, what="call_ended", data={
            "call": _name(call), "outcome": outcome, "at": at.isoformat(), "path": path})

    async def last_language(self, caller_number: str | None) -> str | None:
        """The language this number chose by key on its latest call that chose one."""
        if not caller_number:
            return None
        try:
            async with asyncio.timeout(READ_TIMEOUT_S), self.sm() as s:
                return await s.scalar(
                    select(CallRow.language)
                    .where(CallRow.caller_number == caller_number, CallRow.language.is_not(None))
                    .order_by(CallRow.id.desc()).limit(1)
                )
        except Exception as error:
            why = "no answer in time" if isinstance(error, TimeoutError) else transient(error)
            if why is None:
                raise
            log.warning("db.last_language_unknown", reason=why)  # the caller is asked again
            return None

    async def get_by_uniqueid(self, uniqueid: str) -> CallRow | None:
        async with self.sm() as s:
            return await s.scalar(select(CallRow).where(CallRow.uniqueid == uniqueid))


def _name(call: CallKey) -> Any:
    """How a lost write names its call in the log."""
    if isinstance(call, CallRef):
        return {"uniqueid": call.uniqueid, "id": call.id}
    return call.id if isinstance(call, RowRef) else call
