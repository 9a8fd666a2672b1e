"""Routing's tables: every ring step carried out and the calls QA must review (migration 0003),
and the callbacks callers asked for instead of waiting (0010)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base

ATTEMPT_OUTCOMES = ("answered", "no_answer", "busy", "unavailable", "failed", "caller_hung_up", "callback",
                    "ended_unknown")  # the last: closed by reconciliation with no CDR of it
REVIEW_STATUSES = ("open", "in_review", "done")
# a callback request: waiting for its turn (and business hours) -> the operator's phone rings ->
# the caller is dialled -> answered; or failed (no answer after the retries), or cancelled
CALLBACK_STATES = ("pending", "ringing_operator", "dialling_caller", "answered", "failed",
                   "cancelled")
CALLBACK_KINDS = ("callback", "click_to_call")  # asked by the caller / started by a team lead


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




class CallbackRow(Base):
    """A call back to a caller: asked for while waiting in the queue (it keeps the caller's place
    and priority), or started by a team lead from the page (click-to-call)."""

    __tablename__ = "callbacks"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="callback")  # CALLBACK_KINDS
    number: Mapped[str] = mapped_column(String(20))  # the number to dial: E.164 or digits keyed
    queue: Mapped[str | None] = mapped_column(String(80))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    requested_at: Mapped[datetime] = mapped_column(index=True)
    queue_joined_at: Mapped[datetime | None]  # the place it keeps: the caller's time in queue
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]  # not before (retry delay, business hours)
    operator_rang_at: Mapped[datetime | None]
    placed_at: Mapped[datetime | None]  # the caller was dialled
    answered_at: Mapped[datetime | None]  # the caller answered and was bridged
    answered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"))
    requested_by: Mapped[str | None] = mapped_column(String(200))  # click-to-call: the user
    closed_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(200))  # why it failed or was cancelled


class PresenceLeaseRow(Base):
    """A cluster node's presence lease (0012): its claims count until `expires_at`; renewed
    every heartbeat, so a node that dies stops counting by itself (callrouting.presence_cluster)."""

    __tablename__ = "presence_leases"
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PresenceClaimRow(Base):
    """An operator a cluster node's Asterisk has ringing or in a call (0012)."""

    __tablename__ = "presence_claims"
    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    extension: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))  # in_use, ringing
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
