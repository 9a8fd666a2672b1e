"""The directory's tables: teams, operators with their backups, known callers."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.db.base import Base


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


