"""A demo database (migrated, directory and a year of lottery data seeded at a fixed time) made
once per test module and copied for each test, for component tests over a real SQLite file.

    @pytest.fixture(scope="module")
    def seeded_file(tmp_path_factory):
        return make_seeded_file(tmp_path_factory, "lottery", SEEDED_AT)

    @pytest.fixture
    async def sm(seeded_file, tmp_path):
        async with copy_of(seeded_file, tmp_path) as sessionmaker:
            yield sessionmaker
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from directory.file import load_directory_file
from hotline.app.demo import seed_if_empty
from hotline.db import migrate
from hotline.db.base import make_engine, make_sessionmaker
from hotline.paths import PROJECT_ROOT

__all__ = ["copy_of", "make_seeded_file"]


async def _seed(url: str, seeded_at: datetime) -> None:
    await migrate.upgrade(url)
    engine = make_engine(url)
    try:
        directory = load_directory_file(PROJECT_ROOT / "config" / "directory.yaml")
        assert await seed_if_empty(make_sessionmaker(engine), directory, seeded_at)
    finally:
        await engine.dispose()


def make_seeded_file(factory: pytest.TempPathFactory, name: str, seeded_at: datetime) -> Path:
    """The seeded database file (built on its own event loop: module fixtures are sync)."""
    path = factory.mktemp(name) / "seeded.db"
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(_seed(f"sqlite+aiosqlite:///{path}", seeded_at))
    return path


@asynccontextmanager
async def copy_of(seeded: Path, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A private copy of the seeded file for one test, and a sessionmaker on it."""
    path = tmp_path / "hotline.db.base"
    shutil.copy(seeded, path)
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
