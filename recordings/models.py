"""Tables of recordings and post-call ratings (migration 0004).

One owner per table: users and sessions are backoffice.models, call attempts and reviews
callrouting.tables, calls hotline.db.calls."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base


class RatingStatus(enum.StrEnum):
    RATED = "rated"
    NO_RATING = "no_rating"  # asked, but the caller hung up or pressed nothing


class RecordingRow(Base):
    """One MixMonitor recording of a call, or the note that recording was turned off.

    `path` is relative to the recordings directory; it is resolved and checked on every read.
    """

    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    path: Mapped[str | None] = mapped_column(String(400))  # None when not recorded
    started_at: Mapped[datetime] = mapped_column(index=True)
    duration: Mapped[float | None]  # seconds
    size: Mapped[int | None]  # bytes
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    node: Mapped[str | None] = mapped_column(String(100))  # dialplan node that sent the call
    purged_at: Mapped[datetime | None]
    purge_reason: Mapped[str | None] = mapped_column(String(200))


class RatingRow(Base):
    __tablename__ = "ratings"
    __table_args__ = (CheckConstraint("score IS NULL OR (score BETWEEN 1 AND 5)", name="score_range"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), unique=True
    )
    operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    score: Mapped[int | None] = mapped_column(SmallInteger)  # 1..5, None when no_rating
    status: Mapped[str] = mapped_column(String(20))  # RatingStatus
    rated_at: Mapped[datetime] = mapped_column(index=True)
    recording_id: Mapped[int | None] = mapped_column(
        ForeignKey("recordings.id", ondelete="SET NULL")
    )
    via: Mapped[str | None] = mapped_column(String(10))  # "key" | "speech"; None: no rating
    comment: Mapped[str | None] = mapped_column(Text)


__all__ = [
    "RatingRow",
    "RatingStatus",
    "RecordingRow",
]
