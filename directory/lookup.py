"""Caller lookup by number (E.164, as `hotline.phone.normalize_number` gives it)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from directory.tables import CallerRow


async def find_caller(sm: async_sessionmaker[AsyncSession], number: str | None) -> CallerRow | None:
    if not number:
        return None
    async with sm() as s:
        return await s.scalar(select(CallerRow).where(CallerRow.number == number))
