"""backoffice/users.py beyond the access table: a deactivated user loses access at once."""

from __future__ import annotations

import httpx
import pytest

from tests.support.qa_env import PASSWORDS, QaTestEnv, tokens


@pytest.fixture
async def env(clocked_env: QaTestEnv) -> QaTestEnv:
    """The app on the fake clock (conftest's `clock`)."""
    return clocked_env


async def test_deactivated_user_loses_access(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    tok = await tokens(client)
    r = await client.patch(f"/api/admin/users/{env.seeded.users['qa']}", json={"active": False}, headers=tok["admin"])
    assert r.status_code == 200
    assert (await client.get("/api/calls", headers=tok["qa"])).status_code == 401
    r = await client.post("/api/auth/login", json={"username": "qa", "password": PASSWORDS["qa"]})
    assert r.status_code == 401
