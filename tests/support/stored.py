"""Reading what the service stored about a call, in tests: its writes go through the write
queue (hotline.db.writes), behind the call, so they may land a moment after the caller's side
has ended."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import select

from hotline.db.calls import CallRow


async def newest_call(sm: Any, caller_id_raw: str) -> CallRow | None:
    async with sm() as s:
        return await s.scalar(select(CallRow).where(CallRow.caller_id_raw == caller_id_raw)
                              .order_by(CallRow.id.desc()))


async def ended_call(sm: Any, caller_id_raw: str, timeout: float = 30) -> CallRow | None:
    """The caller's newest call once its outcome is stored (or as it is after `timeout` s)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while (call := await newest_call(sm, caller_id_raw)) is None or call.outcome is None:
                await asyncio.sleep(0.2)
    return await newest_call(sm, caller_id_raw)
