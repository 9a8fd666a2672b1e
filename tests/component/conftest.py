"""Fixtures shared by component tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import DB_KINDS, DbBackend
from tests.support.qa_env import Clock, QaTestEnv, build_test_env


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every component test that reaches the database (its fixtures ask for `db_backend`)
    runs on SQLite and on PostgreSQL, unless it names its databases itself."""
    if "db_backend" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if "db_backend" in (names.replace(" ", "").split(",") if isinstance(names, str) else names):
            return
    metafunc.parametrize("db_backend", DB_KINDS, indirect=True, scope="module")


@pytest.fixture
async def env(tmp_path: Path, db_backend: DbBackend) -> AsyncIterator[QaTestEnv]:
    """The service's app on a migrated, seeded database (test modules that move time
    override it with `clocked_env`)."""
    async with db_backend.migrated(tmp_path, "qa") as url:
        e = await build_test_env(tmp_path, url=url)
        try:
            yield e
        finally:
            await e.engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def clocked_env(tmp_path: Path, clock: Clock, db_backend: DbBackend) -> AsyncIterator[QaTestEnv]:
    """`env` with the authenticator (and so the back office) on the fake `clock`."""
    async with db_backend.migrated(tmp_path, "qa") as url:
        e = await build_test_env(tmp_path, clock=clock, url=url)
        try:
            yield e
        finally:
            await e.engine.dispose()


@pytest.fixture
async def client(env: QaTestEnv) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on `env`'s app."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(env.app), base_url="http://qa.test") as c:
        yield c
