"""Tables of the QA side: web users and their sessions, post-call ratings, recordings.

Created by migration 0004. `call_attempts` and `call_reviews` belong to routing (migration
0003, ORM in `callrouting/store.py`); this package reads and updates them through the Core
tables in `recordings.routing_tables`, so it does not depend on that module's import.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base


class Role(enum.StrEnum):
    ADMIN = "admin"  # dialplans, directory, users
    QA = "qa"  # calls, recordings, reviews, statistics
    OPERATOR = "operator"  # own calls and screen-pop only


class RatingStatus(enum.StrEnum):
    RATED = "rated"
    NO_RATING = "no_rating"  # asked, but the caller hung up or pressed nothing


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, PHC string
    role: Mapped[str] = mapped_column(String(20))  # Role
    operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class AuthSessionRow(Base):
    """One login: the token's `jti`. Logout or deactivation revokes it before it expires."""

    __tablename__ = "auth_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]


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
    "AuthSessionRow",
    "RatingRow",
    "RatingStatus",
    "RecordingRow",
    "Role",
    "UserRow",
]
