"""Routing's tables (attempts, QA reviews) and the repository the router reads and writes.

`RoutingStore` is the only place routing touches the database: it turns ORM rows into the
pure core's values (`Directory`, `Caller`, `CallHistory`) and stores what the executor did.
Numbers are normalised with `normalize_number` on the way in, so "8 916 ..." finds
"+7916...".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from callrouting.model import Caller, Directory, Operator, Role, Team
from callrouting.policy import CallHistory
from callrouting.tables import ATTEMPT_OUTCOMES, CallAttemptRow, CallReviewRow
from directory.lookup import find_caller
from directory.tables import OperatorRow, TeamRow
from hotline.db.calls import CallRow
from hotline.phone import normalize_number


class RoutingStore:
    def __init__(self, sm: async_sessionmaker[AsyncSession], *, country: str = "RU"):
        self.sm = sm
        self.country = country

    # ---- reading the directory and history

    async def load_directory(self) -> Directory:
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
        self, caller: Caller | None, raw_number: str | None = None, *, exclude_call: int | None = None
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
        if exclude_call is not None:
            q = q.where(CallRow.id != exclude_call)
        async with self.sm() as s:
            last = await s.scalar(q.order_by(CallRow.started_at.desc(), CallRow.id.desc()).limit(1))
        return CallHistory(last_manager_id=last)

    # ---- writing what the executor did

    async def add_attempt(
        self,
        call_id: int,
        *,
        step_index: int,
        reason: str,
        targets: Sequence[str],
        started_at: datetime,
    ) -> int:
        async with self.sm() as s, s.begin():
            row = CallAttemptRow(
                call_id=call_id,
                step_index=step_index,
                reason=reason,
                targets=list(targets),
                started_at=started_at,
            )
            s.add(row)
            await s.flush()
            return row.id

    async def finish_attempt(
        self,
        attempt_id: int,
        *,
        started_at: datetime,
        ended_at: datetime,
        outcome: str,
        answered_by_id: int | None,
    ) -> None:
        if outcome not in ATTEMPT_OUTCOMES:
            raise ValueError(f"unknown attempt outcome {outcome!r}")
        async with self.sm() as s, s.begin():
            await s.execute(
                update(CallAttemptRow)
                .where(CallAttemptRow.id == attempt_id)
                .values(
                    ended_at=ended_at,
                    duration=round((ended_at - started_at).total_seconds(), 3),
                    outcome=outcome,
                    answered_by_id=answered_by_id,
                )
            )

    async def mark_answered(self, call_id: int, operator_id: int | None, at: datetime) -> None:
        """Who answered goes on the call row (first answer wins; later calls don't overwrite)."""
        async with self.sm() as s, s.begin():
            await s.execute(
                update(CallRow)
                .where(CallRow.id == call_id, CallRow.answered_at.is_(None))
                .values(answered_by_id=operator_id, answered_at=at)
            )

    async def flag_review(self, call_id: int, reason: str, at: datetime) -> bool:
        """Flag the call for QA review; False if it already was (one review per call)."""
        try:
            async with self.sm() as s, s.begin():
                if await s.scalar(select(CallReviewRow.id).where(CallReviewRow.call_id == call_id)):
                    return False
                s.add(CallReviewRow(call_id=call_id, reason=reason, flagged_at=at, status="open"))
        except IntegrityError:
            return False
        return True

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
