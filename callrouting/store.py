"""Routing's tables (attempts, QA reviews) and the repository the router reads and writes.

`RoutingStore` is the only place routing touches the database: it turns ORM rows into the
pure core's values (`Directory`, `Caller`, `CallHistory`) and stores what the executor did.
Numbers are normalised with `normalize_number` on the way in, so "8 916 ..." finds
"+7916...". Writes go through the one write path (`hotline.db.writes.WriteQueue`), shared
with the call store, so they land in order after the call's own row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from callrouting.model import Caller, Directory, Operator, Role, Team
from callrouting.policy import CallHistory
from callrouting.tables import ATTEMPT_OUTCOMES, CallAttemptRow, CallReviewRow
from directory.lookup import LOOKUP_TIMEOUT_S, find_caller, unavailable
from directory.tables import OperatorRow, TeamRow
from hotline.db.calls import CallKey, CallRow
from hotline.db.writes import RowRef, WriteQueue, known_id, ref_id
from hotline.phone import normalize_number

log = structlog.get_logger(__name__)


class RoutingStore:
    def __init__(self, sm: async_sessionmaker[AsyncSession], *, country: str = "RU",
                 writes: WriteQueue | None = None):
        self.sm = sm
        self.country = country
        self.writes = writes if writes is not None else WriteQueue(sm)
        self._directory: Directory | None = None  # the last one read

    # ---- reading the directory and history

    async def load_directory(self) -> Directory:
        """The directory from the database; while the database cannot answer, the one this
        store loaded last (routing goes on as it was: directory.lookup says the same of callers)."""
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                self._directory = await self._read_directory()
        except Exception as error:
            why = unavailable(error)
            if why is None or self._directory is None:
                raise
            log.warning("routing.directory_from_memory", reason=why)
        return self._directory

    async def _read_directory(self) -> Directory:
        async with self.sm() as s:
            ops = (
                await s.scalars(
                    select(OperatorRow)
                    .where(OperatorRow.active)
                    .options(selectinload(OperatorRow.backups))
                )
            ).all()
            teams = (await s.scalars(select(TeamRow))).all()
            operators = {
                o.id: Operator(
                    id=o.id,
                    name=o.name,
                    extension=o.extension,
                    role=Role.TEAM_LEAD if o.role == "team_lead" else Role.MANAGER,
                    team_id=o.team_id,
                    backup_ids=tuple(b.backup_id for b in o.backups),
                )
                for o in ops
            }
        return Directory(
            operators=operators,
            teams={t.id: Team(id=t.id, name=t.name, lead_id=t.lead_id) for t in teams},
        )

    def normalize(self, raw: str | None) -> str | None:
        return normalize_number(raw, self.country)

    async def find_caller(self, raw_number: str | None) -> Caller | None:
        row = await find_caller(self.sm, self.normalize(raw_number))
        if row is None:
            return None
        return Caller(
            id=row.id,
            number=row.number,
            name=row.name,
            vip=row.vip,
            personal_manager_id=row.personal_manager_id,
        )

    async def history(
        self, caller: Caller | None, raw_number: str | None = None, *,
        exclude_call: CallKey | None = None,
    ) -> CallHistory:
        """The operator who last answered this caller (by caller record, else by number)."""
        number = caller.number if caller else self.normalize(raw_number)
        if caller is None and number is None:
            return CallHistory()
        q = select(CallRow.answered_by_id).where(CallRow.answered_by_id.is_not(None))
        if caller is not None:
            q = q.where(CallRow.caller_ref_id == caller.id)
        else:
            q = q.where(CallRow.caller_number == number)
        exclude = known_id(exclude_call)  # a call still queued is not in the table yet
        if exclude is not None:
            q = q.where(CallRow.id != exclude)
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S), self.sm() as s:
                last = await s.scalar(q.order_by(CallRow.started_at.desc(), CallRow.id.desc()).limit(1))
        except Exception as error:
            why = unavailable(error)
            if why is None:
                raise
            log.warning("routing.history_unknown", reason=why)  # routed as a first call
            return CallHistory()
        return CallHistory(last_manager_id=last)

    # ---- writing what the executor did (queued on the one write path: never delays a ring)

    def add_attempt(
        self,
        call_id: CallKey,
        *,
        step_index: int,
        reason: str,
        targets: Sequence[str],
        started_at: datetime,
    ) -> RowRef:
        """Queue the attempt's row; `await` the returned ref for its id."""
        ref = RowRef("attempt")
        targets = list(targets)

        async def job(s: AsyncSession) -> int:
            row = CallAttemptRow(call_id=ref_id(call_id), step_index=step_index, reason=reason,
                                 targets=targets, started_at=started_at)
            s.add(row)
            await s.flush()
            ref.id = row.id
            return row.id

        ref.stored = self.writes.submit(job, what="attempt_started", data={
            "call": known_id(call_id), "step": step_index, "reason": reason, "targets": targets,
            "started_at": started_at.isoformat()})
        return ref

    def finish_attempt(
        self,
        attempt_id: int | RowRef,
        *,
        started_at: datetime,
        ended_at: datetime,
        outcome: str,
        answered_by_id: int | None,
    ) -> asyncio.Future[Any]:
        if outcome not in ATTEMPT_OUTCOMES:
            raise ValueError(f"unknown attempt outcome {outcome!r}")
        values = {"ended_at": ended_at, "duration": round((ended_at - started_at).total_seconds(), 3),
                  "outcome": outcome, "answered_by_id": answered_by_id}

        async def job(s: AsyncSession) -> None:
            await s.execute(update(CallAttemptRow)
                            .where(CallAttemptRow.id == ref_id(attempt_id)).values(**values))

        return self.writes.submit(job, what="attempt_ended", data={
            "attempt": known_id(attempt_id), **values, "ended_at": ended_at.isoformat()})

    def mark_answered(self, call_id: CallKey, operator_id: int | None,
                      at: datetime) -> asyncio.Future[Any]:
        """Who answered goes on the call row (first answer wins; later calls don't overwrite)."""

        async def job(s: AsyncSession) -> None:
            await s.execute(
                update(CallRow)
                .where(CallRow.id == ref_id(call_id), CallRow.answered_at.is_(None))
                .values(answered_by_id=operator_id, answered_at=at)
            )

        return self.writes.submit(job, what="call_answered", data={
            "call": known_id(call_id), "operator": operator_id, "at": at.isoformat()})

    def queue_joined(self, call_id: CallKey, at: datetime) -> asyncio.Future[Any]:
        """The caller joined the pool queue (the first time, if the queue step comes again)."""

        async def job(s: AsyncSession) -> None:
            await s.execute(
                update(CallRow)
                .where(CallRow.id == ref_id(call_id), CallRow.queue_joined_at.is_(None))
                .values(queue_joined_at=at)
            )

        return self.writes.submit(job, what="call_queue_joined", data={
            "call": known_id(call_id), "at": at.isoformat()})

    def queue_waited(self, call_id: CallKey, wait_ms: int) -> asyncio.Future[Any]:
        """How long the caller has waited in the queue in all (answered, or left)."""
        wait_ms = max(0, int(wait_ms))

        async def job(s: AsyncSession) -> None:
            await s.execute(update(CallRow).where(CallRow.id == ref_id(call_id))
                            .values(queue_wait_ms=wait_ms))

        return self.writes.submit(job, what="call_queue_wait", data={
            "call": known_id(call_id), "wait_ms": wait_ms})

    def flag_review(self, call_id: CallKey, reason: str, at: datetime) -> asyncio.Future[Any]:
        """Flag the call for QA review; the future gives False if it already was (one review
        per call: the one writer checks before it inserts)."""

        async def job(s: AsyncSession) -> bool:
            cid = ref_id(call_id)
            if await s.scalar(select(CallReviewRow.id).where(CallReviewRow.call_id == cid)):
                return False
            s.add(CallReviewRow(call_id=cid, reason=reason, flagged_at=at, status="open"))
            return True

        return self.writes.submit(job, what="review_flagged", data={
            "call": known_id(call_id), "reason": reason, "at": at.isoformat()})

    # ---- screen-pop reads

    async def attempts(self, call_id: int) -> list[CallAttemptRow]:
        async with self.sm() as s:
            return list(
                (
                    await s.scalars(
                        select(CallAttemptRow)
                        .where(CallAttemptRow.call_id == call_id)
                        .order_by(CallAttemptRow.id)
                    )
                ).all()
            )

    async def review(self, call_id: int) -> CallReviewRow | None:
        async with self.sm() as s:
            return await s.scalar(select(CallReviewRow).where(CallReviewRow.call_id == call_id))

    async def call_id_for(self, uniqueid: str) -> int | None:
        async with self.sm() as s:
            return await s.scalar(select(CallRow.id).where(CallRow.uniqueid == uniqueid))

    async def active_call_ids(self, now: datetime, max_age: timedelta) -> list[int]:
        async with self.sm() as s:
            return list(
                (
                    await s.scalars(
                        select(CallRow.id)
                        .where(CallRow.ended_at.is_(None), CallRow.started_at >= now - max_age)
                        .order_by(CallRow.started_at)
                    )
                ).all()
            )
