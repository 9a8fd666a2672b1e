"""Routing's tables (migration 0003): every ring step carried out, and the calls QA must review."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base

ATTEMPT_OUTCOMES = ("answered", "no_answer", "busy", "unavailable", "failed", "caller_hung_up",
                    "ended_unknown")  # the last: closed by reconciliation with no CDR of it
REVIEW_STATUSES = ("open", "in_review", "done")


class CallAttemptRow(Base):
    """One ring step carried out: who rang, when, for how long, how it ended."""

    __tablename__ = "call_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    step_index: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(60))  # personal_manager, backups, team_lead, pool...
    targets: Mapped[list[Any]] = mapped_column(default=list)  # extensions rung (JSON list)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    duration: Mapped[float | None] = mapped_column(Float)  # seconds from start to end
    outcome: Mapped[str | None] = mapped_column(String(20))  # see ATTEMPT_OUTCOMES
    answered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )


class CallReviewRow(Base):
    """A call QA must look at (every call that reached a team lead). Read by the QA feature."""

    __tablename__ = "call_reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), unique=True
    )
    reason: Mapped[str] = mapped_column(String(40))  # manager_busy, manager_unavailable, no_answer
    flagged_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="open", server_default="open")
    reviewer: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


