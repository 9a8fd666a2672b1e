"""Stored dialplan versions: every text that was ever activated (or uploaded), so an admin
can see what ran, diff two versions and roll back.

One row per distinct content (by SHA-256); at most one row has `active` set, and each row keeps
when it was last made active, so "roll back" means the version that served before this one
(not merely an older row: the same text activated again keeps its first row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Boolean, String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base


class DialplanVersionRow(Base):
    __tablename__ = "dialplan_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[str] = mapped_column(String(120), index=True)  # name@version#sha12
    name: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    sha: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    source: Mapped[str] = mapped_column(String(40))  # file | upload | rollback
    activated_at: Mapped[datetime | None]  # when it last became the active version


@dataclass(frozen=True)
class StoredVersion:
    """A row without the session attached (safe to hand to the API)."""

    id: int
    version_id: str
    name: str
    sha: str
    created_at: datetime
    created_by: str | None
    active: bool
    source: str
    content: str
    activated_at: datetime | None = None

    @classmethod
    def of(cls, r: DialplanVersionRow) -> StoredVersion:
        return cls(r.id, r.version_id, r.name, r.sha, r.created_at, r.created_by, r.active,
                   r.source, r.content, r.activated_at)

    def summary(self) -> dict[str, object]:
        return {
            "id": self.id, "version_id": self.version_id, "name": self.name, "sha": self.sha,
            "created_at": self.created_at.isoformat(), "created_by": self.created_by,
            "active": self.active, "source": self.source,
            "activated_at": self.activated_at.isoformat() if self.activated_at else None,
        }


class DialplanVersionStore:
    def __init__(self, sm: async_sessionmaker[AsyncSession]):
        self.sm = sm

    async def save(self, *, version_id: str, name: str, content: str, sha: str, source: str,
                   created_by: str | None) -> StoredVersion:
        """Store a text (or find the identical one already stored)."""
        async with self.sm() as s, s.begin():
            row = await s.scalar(select(DialplanVersionRow).where(DialplanVersionRow.sha == sha))
            if row is None:
                row = DialplanVersionRow(
                    version_id=version_id, name=name, content=content, sha=sha,
                    created_at=datetime.now(UTC), created_by=created_by, active=False,
                    source=source,
                )
                s.add(row)
                await s.flush()
            return StoredVersion.of(row)

    async def mark_active(self, id_: int) -> None:
        async with self.sm() as s, s.begin():
            await s.execute(update(DialplanVersionRow).where(DialplanVersionRow.active)
                            .values(active=False))
            await s.execute(update(DialplanVersionRow).where(DialplanVersionRow.id == id_)
                            .values(active=True, activated_at=datetime.now(UTC)))

    async def previous(self, current: int | None) -> StoredVersion | None:
        """The version that was active before `current`: the one other row made active most
        recently; rows from before activation times were kept count by age (newest first)."""
        async with self.sm() as s:
            others = select(DialplanVersionRow)
            if current is not None:
                others = others.where(DialplanVersionRow.id != current)
            row = await s.scalar(others.where(DialplanVersionRow.activated_at.is_not(None))
                                 .order_by(DialplanVersionRow.activated_at.desc(),
                                           DialplanVersionRow.id.desc()).limit(1))
            if row is None and current is not None:
                row = await s.scalar(select(DialplanVersionRow).where(DialplanVersionRow.id < current)
                                     .order_by(DialplanVersionRow.id.desc()).limit(1))
            return StoredVersion.of(row) if row else None

    async def get(self, id_: int) -> StoredVersion | None:
        async with self.sm() as s:
            row = await s.get(DialplanVersionRow, id_)
            return StoredVersion.of(row) if row else None

    async def active(self) -> StoredVersion | None:
        async with self.sm() as s:
            row = await s.scalar(select(DialplanVersionRow).where(DialplanVersionRow.active))
            return StoredVersion.of(row) if row else None

    async def list(self) -> list[StoredVersion]:
        async with self.sm() as s:
            rows = (await s.scalars(select(DialplanVersionRow)
                                    .order_by(DialplanVersionRow.id.desc()))).all()
            return [StoredVersion.of(r) for r in rows]
