"""The database a test runs on: SQLite (a file under the test's tmp_path) or the session's real
PostgreSQL (tests/support/postgres.py), behind one fixture parameter, `db_backend`.

Component tests that touch the database run on both (tests/component/conftest.py parametrizes
every test whose fixtures ask for `db_backend`); an e2e test (whose `e2e_settings` ask for it)
opts in with `@on_both_databases` (the e2e suite's time allows a representative few).

A fixture gets a fresh database for one test with

    async with db_backend.migrated(tmp_path) as url:   # migrated to head, dropped afterwards
        ...
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from hotline.db import migrate
from tests.support.postgres import PostgresServer

__all__ = ["DB_KINDS", "DbBackend", "MIGRATED_TEMPLATE", "Seed", "on_both_databases",
           "prepare_postgres"]

DB_KINDS = ("sqlite", "postgresql")
on_both_databases = pytest.mark.parametrize("db_backend", DB_KINDS, indirect=True, scope="module")
MIGRATED_TEMPLATE = "template_migrated"  # made once per session: every migration applied
_names = itertools.count(1)


def prepare_postgres(server: PostgresServer) -> None:
    """The session's migrated template database (sync: no event loop runs in session setup)."""
    server.create_database(MIGRATED_TEMPLATE)
    migrate.upgrade_sync(server.url(MIGRATED_TEMPLATE))


@dataclass(frozen=True)
class Seed:
    """A database made once (per module) to be copied for each test: a SQLite file or a
    PostgreSQL template database."""

    url: str  # the seeded database itself (a SQLite file or a PostgreSQL database)


@dataclass(frozen=True)
class DbBackend:
    kind: str  # one of DB_KINDS
    server: PostgresServer | None = None  # for "postgresql"

    def __str__(self) -> str:
        return self.kind

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgresql"

    def _pg(self) -> PostgresServer:
        assert self.server is not None, "the postgresql backend has a server"
        return self.server

    def _new_name(self, hint: str) -> str:
        return f"t{os.getpid()}_{next(_names)}_{hint}"[:60].lower()

    # --- one database for one test ---------------------------------------------------------

    @asynccontextmanager
    async def empty(self, tmp_path: Path, hint: str = "empty") -> AsyncIterator[str]:
        """The URL of a new database with no tables (nothing migrated)."""
        with self.empty_sync(tmp_path, hint) as url:
            yield url

    @contextmanager
    def empty_sync(self, tmp_path: Path, hint: str = "empty") -> Iterator[str]:
        if not self.is_postgres:
            yield f"sqlite+aiosqlite:///{tmp_path / (hint + '.db')}"
            return
        name = self._new_name(hint)
        self._pg().create_database(name)
        try:
            yield self._pg().url(name)
        finally:
            self._pg().drop_database(name)

    @asynccontextmanager
    async def migrated(self, tmp_path: Path, hint: str = "t") -> AsyncIterator[str]:
        """The URL of a new database migrated to head (PostgreSQL: a copy of the session's
        migrated template, which is much faster than running the migrations again)."""
        with self.migrated_sync(tmp_path, hint, migrate_sqlite=False) as url:
            if not self.is_postgres:
                await migrate.upgrade(url)
            yield url

    @contextmanager
    def migrated_sync(self, tmp_path: Path, hint: str = "t", *,
                      migrate_sqlite: bool = True) -> Iterator[str]:
        if not self.is_postgres:
            url = f"sqlite+aiosqlite:///{tmp_path / (hint + '.db')}"
            if migrate_sqlite:
                migrate.upgrade_sync(url)
            yield url
            return
        name = self._new_name(hint)
        self._pg().create_database(name, template=MIGRATED_TEMPLATE)
        try:
            yield self._pg().url(name)
        finally:
            self._pg().drop_database(name)

    # --- a seeded database, copied for each test -------------------------------------------

    @contextmanager
    def seeded(self, tmp_dir: Path, hint: str,
               fill: Callable[[str], Awaitable[None]]) -> Iterator[Seed]:
        """A database migrated to head and filled by `fill(url)` (run on its own event loop:
        module fixtures are sync), kept while the context lasts, to be copied with `copy_of`."""
        with self.migrated_sync(tmp_dir, hint) as url:
            with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
                runner.run(fill(url))
            yield Seed(url)

    @asynccontextmanager
    async def copy_of(self, seed: Seed, tmp_path: Path) -> AsyncIterator[str]:
        """The URL of a private copy of `seed` for one test."""
        source = make_url(seed.url).database
        assert source
        if not self.is_postgres:
            path = tmp_path / "copy.db"
            shutil.copy(source, path)
            yield f"sqlite+aiosqlite:///{path}"
            return
        name = self._new_name("copy")
        self._pg().create_database(name, template=source)
        try:
            yield self._pg().url(name)
        finally:
            self._pg().drop_database(name)
