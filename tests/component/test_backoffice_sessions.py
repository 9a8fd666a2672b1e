"""backoffice/sessions.py: log in (failures, expiry), log out (the session is revoked), and the
session cookie (HttpOnly, SameSite, CSRF header for writes)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.support.qa_env import PASSWORDS, Clock, QaTestEnv, tokens


@pytest.fixture
async def env(clocked_env: QaTestEnv) -> QaTestEnv:
    """The app on the fake clock (conftest's `clock`)."""
    return clocked_env


async def test_login_failures_and_expiry(env: QaTestEnv, client: httpx.AsyncClient, clock: Clock) -> None:
    r = await client.post("/api/auth/login", json={"username": "qa", "password": "wrong"})
    assert r.status_code == 401 and r.json()["error_id"] == "login_failed"
    r = await client.post("/api/auth/login", json={"username": "nobody", "password": "x"})
    assert r.status_code == 401 and r.json()["error_id"] == "login_failed"
    tok = await tokens(client)
    assert (await client.get("/api/auth/me", headers=tok["qa"])).json()["role"] == "qa"
    clock.now += timedelta(minutes=env.settings.auth.token_ttl_minutes + 1)
    r = await client.get("/api/auth/me", headers=tok["qa"])
    assert r.status_code == 401 and r.json()["error_id"] == "session_expired"


async def test_logout_revokes_and_cookie_needs_csrf_header(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    r = await client.post("/api/auth/login", json={"username": "qa", "password": PASSWORDS["qa"]})
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    bearer = {"Authorization": "Bearer " + r.json()["access_token"]}
    # the cookie alone authenticates reads ...
    assert (await client.get("/api/calls")).status_code == 200
    # ... but a write by cookie needs the CSRF header
    c4 = env.seeded.calls[4]
    r = await client.patch(f"/api/reviews/{c4}", json={"notes": "x"})
    assert r.status_code == 403 and r.json()["error_id"] == "csrf_header_missing"
    r = await client.patch(f"/api/reviews/{c4}", json={"notes": "x"}, headers={"X-Hotline-CSRF": "1"})
    assert r.status_code == 200
    r = await client.post("/api/auth/logout", headers={"X-Hotline-CSRF": "1"})
    assert r.status_code == 204
    client.cookies.clear()
    assert (await client.get("/api/calls", headers=bearer)).status_code == 401  # same session: revoked
