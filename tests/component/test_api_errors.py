"""hotline/api_errors.py: every router of the service's app answers errors with the one body
{error_id, message, details}, including routing's own 404 and 405."""

from __future__ import annotations

import httpx

from tests.support.qa_env import QaTestEnv, login

BODY = {"error_id", "message", "details"}


async def test_one_error_body_for_every_router(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    admin, qa = await login(client, "admin"), await login(client, "qa")
    answers = {
        "no route": await client.get("/api/nowhere", headers=admin),
        "wrong method": await client.put("/health"),
        "dialplan version": await client.get("/api/dialplans/versions/999999", headers=admin),
        "dialplan body": await client.post("/api/dialplans/validate", json={}, headers=admin),
        "dialplan invalid": await client.post("/api/dialplans/upload", json={"content": "start: nowhere\n"},
                                              headers=admin),
        "routing context": await client.get("/api/routing/calls/999999/context", headers=qa),
        "back office": await client.get("/api/calls/999999", headers=qa),
        "role": await client.get("/api/dialplans/versions", headers=qa),
    }
    assert {k: r.status_code for k, r in answers.items()} == {
        "no route": 404, "wrong method": 405, "dialplan version": 404, "dialplan body": 422,
        "dialplan invalid": 422, "routing context": 404, "back office": 404, "role": 403}
    for what, r in answers.items():
        assert set(r.json()) == BODY, (what, r.text)
    ids = {k: r.json()["error_id"] for k, r in answers.items()}
    assert ids == {"no route": "http_404", "wrong method": "http_405",
                   "dialplan version": "version_not_found", "dialplan body": "invalid_request",
                   "dialplan invalid": "dialplan_invalid", "routing context": "call_not_found",
                   "back office": "call_not_found", "role": "forbidden"}
    assert answers["dialplan invalid"].json()["details"]["problems"]
    assert answers["wrong method"].headers["allow"] == "GET"
