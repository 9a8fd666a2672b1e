"""The lottery data the bot and the IVR answer from: games, draws, tickets, claim rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base


class GameRow(Base):
    __tablename__ = "games"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    # {"timezone": "Europe/Moscow", "weekdays": [5], "time": "20:00"}; weekdays 0=Monday
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON)
    numbers_drawn: Mapped[int] = mapped_column(Integer)
    number_max: Mapped[int] = mapped_column(Integer)
    ticket_price: Mapped[int] = mapped_column(Integer)


class DrawRow(Base):
    __tablename__ = "draws"
    __table_args__ = (UniqueConstraint("game_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    drawn_at: Mapped[datetime] = mapped_column(index=True)
    winning_numbers: Mapped[list[Any]] = mapped_column(JSON)


class TicketRow(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"))
    draw_id: Mapped[int] = mapped_column(ForeignKey("draws.id", ondelete="CASCADE"))
    numbers: Mapped[list[Any]] = mapped_column(JSON)
    prize_amount: Mapped[int] = mapped_column(Integer, default=0)  # whole currency units
    claimed: Mapped[bool] = mapped_column(Boolean, default=False)


class PrizeClaimRuleRow(Base):
    __tablename__ = "prize_claim_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    min_amount: Mapped[int] = mapped_column(Integer)
    max_amount: Mapped[int | None] = mapped_column(Integer)  # None: no upper bound
    where: Mapped[str] = mapped_column(Text)
    how: Mapped[str] = mapped_column(Text)
    documents: Mapped[str | None] = mapped_column(Text)


