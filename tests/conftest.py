"""Suite-wide fixtures: markers by folder, no asyncio task may outlive its test, and the
database a test runs on (`db_backend`: SQLite, or the session's real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import DbBackend, prepare_postgres
from tests.support.postgres import PostgresServer, PostgresUnavailable

_FOLDER_MARK = {"unit": "unit", "component": "component", "e2e": "e2e", "browser": "e2e", "bench": "bench"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        mark = _FOLDER_MARK.get(folder)
        if mark and not any(m.name == mark for m in item.iter_markers()):
            item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(autouse=True)
async def no_leaked_tasks(request: pytest.FixtureRequest):
    """Fail a test that leaves an asyncio task running (livekit-agents style)."""
    before = set(asyncio.all_tasks())
    yield
    current = asyncio.current_task()
    for _ in range(20):  # let cancelled tasks finish unwinding
        leaked = {t for t in asyncio.all_tasks() - before if t is not current and not t.done()}
        if not leaked:
            return
        await asyncio.sleep(0.05)
    for t in leaked:
        t.cancel()
    names = sorted(t.get_name() + ": " + repr(t.get_coro())[:120] for t in leaked)
    pytest.fail("test left asyncio tasks running:\n  " + "\n  ".join(names))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL 15 for the session, started the first time a test needs it, with
    the migrated template database; stopped and its directory removed at the end."""
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        pytest.fail(f"the test PostgreSQL did not start: {exc}", pytrace=False)
    try:
        prepare_postgres(server)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def db_backend(request: pytest.FixtureRequest) -> DbBackend:
    """The database under test: "sqlite" unless the test is parametrized over it
    (tests/component/conftest.py does that for every component test that asks for it)."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        return DbBackend("sqlite")
    if kind == "postgresql":
        return DbBackend("postgresql", request.getfixturevalue("pg_server"))
    raise ValueError(f"unknown database kind {kind!r}")
