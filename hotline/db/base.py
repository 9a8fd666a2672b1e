"""The database ground: declarative base, engine and session factory (SQLAlchemy 2, async).

Every table is declared by the one module that owns it (calls here in hotline.db.calls, the
directory in directory.tables, the lottery data in lottery.tables, ...) on this Base.

SQLite under var/ by default; any SQLAlchemy async URL (e.g. postgresql+asyncpg) by setting.
The schema is changed only through Alembic migrations (hotline/db/migrations).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    MetaData,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

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


# --- engine ----------------------------------------------------------------------------------


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    u = make_url(url)
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def make_engine(url: str, echo: bool = False) -> AsyncEngine:
    """An async engine; for a SQLite file, its directory is made first (a fresh clone has no
    var/, and SQLite's own error for that is "unable to open database file")."""
    file = sqlite_file(url)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
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
