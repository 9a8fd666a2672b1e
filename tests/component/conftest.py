"""Fixtures shared by component tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.qa_env import Clock, QaTestEnv, build_test_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[QaTestEnv]:
    """The service's app on a migrated, seeded SQLite file (test modules that move time
    override it with `clocked_env`)."""
    e = await build_test_env(tmp_path)
    try:
        yield e
    finally:
        await e.engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def clocked_env(tmp_path: Path, clock: Clock) -> AsyncIterator[QaTestEnv]:
    """`env` with the authenticator (and so the back office) on the fake `clock`."""
    e = await build_test_env(tmp_path, clock=clock)
    try:
        yield e
    finally:
        await e.engine.dispose()


@pytest.fixture
async def client(env: QaTestEnv) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on `env`'s app."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(env.app), base_url="http://qa.test") as c:
        yield c
