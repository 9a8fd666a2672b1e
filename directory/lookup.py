"""Caller lookup by number (E.164, as `hotline.phone.normalize_number` gives it).

The database is asked first, every time (a directory change counts at once). When it cannot
answer (down, unreachable, or slower than `LOOKUP_TIMEOUT_S`: the error kinds
`hotline.db.writes.transient` names), the lookup answers from memory instead: the callers this
process found before, and all of them once `remember_all` ran (the service does at start).
A VIP is still greeted and routed to their manager while the database is away; a caller added
while it is away is unknown until it is back. The memory is per database (sessionmaker) and
bounded (`MAX_REMEMBERED`, the oldest forgotten first).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from directory.tables import CallerRow
from hotline.db.writes import transient

log = structlog.get_logger(__name__)

LOOKUP_TIMEOUT_S = 2.0
MAX_REMEMBERED = 200_000

_Memory = OrderedDict[str, CallerRow | None]
_memories: weakref.WeakKeyDictionary[async_sessionmaker[AsyncSession], _Memory] = (
    weakref.WeakKeyDictionary())


def _memory(sm: async_sessionmaker[AsyncSession]) -> _Memory:
    mem = _memories.get(sm)
    if mem is None:
        mem = _memories[sm] = OrderedDict()
    return mem


def _remember(mem: _Memory, number: str, row: CallerRow | None) -> None:
    mem[number] = row
    mem.move_to_end(number)
    while len(mem) > MAX_REMEMBERED:
        mem.popitem(last=False)


def unavailable(error: BaseException) -> str | None:
    """Why a read failed because the database is away (None: another error, e.g. a bug)."""
    if isinstance(error, TimeoutError):
        return f"no answer within {LOOKUP_TIMEOUT_S:g} s"
    return transient(error)


async def find_caller(sm: async_sessionmaker[AsyncSession], number: str | None) -> CallerRow | None:
    if not number:
        return None
    mem = _memory(sm)
    try:
        async with asyncio.timeout(LOOKUP_TIMEOUT_S), sm() as s:
            row = await s.scalar(select(CallerRow).where(CallerRow.number == number))
    except Exception as error:
        why = unavailable(error)
        if why is None:
            raise
        known = mem.get(number)
        log.warning("directory.lookup_from_memory", reason=why, known=known is not None,
                    remembered=len(mem))
        return known
    _remember(mem, number, row)
    return row


async def remember_all(sm: async_sessionmaker[AsyncSession]) -> int:
    """Load every known caller into the memory (up to MAX_REMEMBERED): how many."""
    async with sm() as s:
        rows = (await s.scalars(select(CallerRow).order_by(CallerRow.id).limit(MAX_REMEMBERED))).all()
    mem = _memory(sm)
    for row in rows:
        _remember(mem, row.number, row)
    return len(rows)
