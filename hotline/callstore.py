"""Stores calls and their steps (the path a caller took) in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db import CallerRow, CallEventRow, CallRow


def utcnow() -> datetime:
    return datetime.now(UTC)


class CallStore:
    def __init__(self, sm: async_sessionmaker[AsyncSession]):
        self.sm = sm

    async def find_caller(self, number: str | None) -> CallerRow | None:
        if not number:
            return None
        async with self.sm() as s:
            return await s.scalar(select(CallerRow).where(CallerRow.number == number))

    async def start_call(
        self,
        *,
        uniqueid: str,
        linkedid: str | None,
        channel: str | None,
        caller_id_raw: str | None,
        caller_number: str | None,
        caller: CallerRow | None,
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

    async def get_by_uniqueid(self, uniqueid: str) -> CallRow | None:
        async with self.sm() as s:
            return await s.scalar(select(CallRow).where(CallRow.uniqueid == uniqueid))
