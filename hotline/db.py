"""Database schema (SQLAlchemy 2, async) and session factory.

SQLite under var/ by default; any SQLAlchemy async URL (e.g. postgresql+asyncpg) by setting.
The schema is changed only through Alembic migrations (hotline/migrations).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON, list[Any]: JSON}


# --- directory -------------------------------------------------------------------------------


class TeamRow(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", use_alter=True, ondelete="SET NULL")
    )


class OperatorRow(Base):
    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    extension: Mapped[str] = mapped_column(String(40), unique=True)
    sip_password: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="manager")  # manager | team_lead
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    backups: Mapped[list[OperatorBackupRow]] = relationship(
        foreign_keys="OperatorBackupRow.operator_id",
        order_by="OperatorBackupRow.position",
        cascade="all, delete-orphan",
    )


class OperatorBackupRow(Base):
    __tablename__ = "operator_backups"
    __table_args__ = (UniqueConstraint("operator_id", "backup_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    backup_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)


class CallerRow(Base):
    __tablename__ = "callers"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    name: Mapped[str] = mapped_column(String(200))
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    personal_manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    language: Mapped[str | None] = mapped_column(String(10))


# --- calls -----------------------------------------------------------------------------------


class CallRow(Base):
    __tablename__ = "calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str | None] = mapped_column(String(200))
    caller_id_raw: Mapped[str | None] = mapped_column(String(200))  # as Asterisk gave it
    caller_number: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164 or None
    caller_name: Mapped[str | None] = mapped_column(String(200))
    caller_ref_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    path: Mapped[list[Any]] = mapped_column(JSON, default=list)  # steps: {node, at, ...}
    outcome: Mapped[str | None] = mapped_column(String(40))
    answered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), index=True
    )
    dialplan_version: Mapped[str | None] = mapped_column(String(80))
    intent: Mapped[str | None] = mapped_column(String(40))
    bot_transcript: Mapped[list[Any] | None] = mapped_column(JSON)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    events: Mapped[list[CallEventRow]] = relationship(
        order_by="CallEventRow.id", cascade="all, delete-orphan"
    )


class CallEventRow(Base):
    __tablename__ = "call_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# --- lottery data the bot answers from -------------------------------------------------------


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


# --- engine ----------------------------------------------------------------------------------


def make_engine(url: str, echo: bool = False) -> AsyncEngine:
    engine = create_async_engine(url, echo=echo)
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            # with WAL, NORMAL loses no committed data on a service crash (only on power
            # loss) and stops every commit waiting on fsync: under 150 IVR callers those
            # waits reached 1.6 s and callers' keys fell between AGI commands
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
