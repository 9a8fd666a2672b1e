"""Tables of the back office: web users (roles admin, qa, team_lead, operator) and their sessions.

Created by migration 0004."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db.base import Base


class Role(enum.StrEnum):
    ADMIN = "admin"  # dialplans, directory, users
    QA = "qa"  # calls, recordings, reviews, statistics
    OPERATOR = "operator"  # own calls and screen-pop only
    # the wallboard, its abandoned calls and failed callbacks, click-to-call from their own
    # phone (docs/decisions/0008); linked to their operator row like an operator
    TEAM_LEAD = "team_lead"


# roles whose user must be linked to an operator (their phone, their calls)
LINKED_ROLES = (Role.OPERATOR, Role.TEAM_LEAD)


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



__all__ = ["LINKED_ROLES", "AuthSessionRow", "Role", "UserRow"]
