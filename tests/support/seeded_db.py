"""A demo database (migrated, directory and a year of lottery data seeded at a fixed time) made
once per test module and copied for each test, on SQLite or PostgreSQL (`db_backend`).

    @pytest.fixture(scope="module")
    def seeded(db_backend, tmp_path_factory):
        with make_seeded(db_backend, tmp_path_factory, "lottery", SEEDED_AT) as seed:
            yield seed

    @pytest.fixture
    async def sm(db_backend, seeded, tmp_path):
        async with copy_of(db_backend, seeded, tmp_path) as sessionmaker:
            yield sessionmaker
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from directory.file import load_directory_file
from hotline.app.demo import seed_if_empty
from hotline.db.base import make_engine, make_sessionmaker
from hotline.paths import PROJECT_ROOT
from tests.support.databases import DbBackend, Seed

__all__ = ["copy_of", "make_seeded"]


def _seed_with(seeded_at: datetime):  # type: ignore[no-untyped-def]
    async def fill(url: str) -> None:
        engine = make_engine(url)
        try:
            directory = load_directory_file(PROJECT_ROOT / "config" / "directory.yaml")
            assert await seed_if_empty(make_sessionmaker(engine), directory, seeded_at)
        finally:
            await engine.dispose()
    return fill


@contextmanager
def make_seeded(db: DbBackend, factory: pytest.TempPathFactory, name: str,
                seeded_at: datetime) -> Iterator[Seed]:
    """The seeded database, kept while the context lasts (module fixtures are sync)."""
    with db.seeded(factory.mktemp(name), "seeded", _seed_with(seeded_at)) as seed:
        yield seed


@asynccontextmanager
async def copy_of(db: DbBackend, seed: Seed, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A private copy of the seeded database for one test, and a sessionmaker on it."""
    async with db.copy_of(seed, tmp_path) as url:
        engine = make_engine(url)
        try:
            yield make_sessionmaker(engine)
        finally:
            await engine.dispose()
