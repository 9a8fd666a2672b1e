"""hotline.db.base: engines for SQLite files whose directory does not exist yet (a fresh clone)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from hotline.db import migrate
from hotline.db.base import make_engine, sqlite_file

pytestmark = pytest.mark.component


def test_sqlite_file_of_urls(tmp_path: Path) -> None:
    assert sqlite_file(f"sqlite+aiosqlite:///{tmp_path}/a/b.db") == tmp_path / "a" / "b.db"
    assert sqlite_file("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_file("sqlite+aiosqlite://") is None
    assert sqlite_file("postgresql+asyncpg://u:p@127.0.0.1/hotline") is None


async def test_migrating_into_a_missing_directory_creates_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/var/nested/hotline.db"
    assert not (tmp_path / "var").exists()
    await migrate.upgrade(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            tables = {r[0] for r in await conn.execute(
                text("SELECT name FROM sqlite_master WHERE type='table'"))}
    finally:
        await engine.dispose()
    assert {"calls", "operators", "call_attempts", "users", "ratings"} <= tables
