"""backoffice/callbacks.py through the service's app: whose phone click-to-call rings first.

A team lead's own phone (the operator row their user is linked to), never another; QA and
admin may choose the operator, their own linked phone otherwise. The ringing itself is the
service's (`QaServices.click_to_call` notes it here; tests/e2e/test_callrouting_callbacks.py
rings real phones)."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from directory.tables import OperatorRow
from tests.support.qa_env import QaTestEnv, login


async def click(client: httpx.AsyncClient, h: dict[str, str], body: dict[str, int]) -> httpx.Response:
    return await client.post("/api/callbacks/click-to-call", json=body, headers=h)


async def test_a_team_lead_rings_their_own_phone_only(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    sd, clicks = env.seeded, env.services.clicks
    lead = await login(client, "team_lead")  # Clara Lead, extension 2003
    r = await click(client, lead, {"call_id": sd.calls[1]})
    assert r.status_code == 200, r.text
    assert r.json() == {"callback_id": 1, "call_id": sd.calls[1], "extension": "2003"}
    assert clicks == [(sd.calls[1], "2003", "team_lead")]
    # naming her own operator row is the same; anybody else's is refused, nothing rings
    r = await click(client, lead, {"call_id": sd.calls[2], "operator_id": sd.operators["clara"]})
    assert r.status_code == 200 and r.json()["extension"] == "2003"
    r = await click(client, lead, {"call_id": sd.calls[2], "operator_id": sd.operators["anna"]})
    assert r.status_code == 403 and r.json()["error_id"] == "forbidden", r.text
    assert len(clicks) == 2


async def test_qa_and_admin_may_choose_the_phone(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    sd, clicks = env.seeded, env.services.clicks
    qa, admin = await login(client, "qa"), await login(client, "admin")
    r = await click(client, qa, {"call_id": sd.calls[1], "operator_id": sd.operators["anna"]})
    assert r.status_code == 200 and r.json()["extension"] == "2001", r.text
    r = await click(client, admin, {"call_id": sd.calls[1]})  # admin is linked to Clara (2003)
    assert r.status_code == 200 and r.json()["extension"] == "2003", r.text
    assert clicks == [(sd.calls[1], "2001", "qa"), (sd.calls[1], "2003", "admin")]
    async with env.sm() as s, s.begin():
        await s.execute(update(OperatorRow).where(OperatorRow.id == sd.operators["boris"])
                        .values(active=False))
    r = await click(client, qa, {"call_id": sd.calls[1], "operator_id": sd.operators["boris"]})
    assert r.status_code == 422 and r.json()["error_id"] == "no_phone", r.text
    r = await click(client, qa, {"call_id": sd.calls[1], "operator_id": 987654})
    assert r.status_code == 422 and r.json()["details"] == {"operator_id": 987654}
    assert len(clicks) == 2
    op = await login(client, "operator")
    assert (await click(client, op, {"call_id": sd.calls[1]})).status_code == 403


async def test_a_team_lead_user_needs_an_operator_link(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    admin = await login(client, "admin")
    body = {"username": "lead2", "password": "a-long-password-1", "role": "team_lead"}
    r = await client.post("/api/admin/users", json=body, headers=admin)
    assert r.status_code == 422 and r.json()["error_id"] == "operator_id_required", r.text
    r = await client.post("/api/admin/users", json={**body, "operator_id": env.seeded.operators["boris"]},
                          headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "team_lead"
    uid = r.json()["id"]
    r = await client.patch(f"/api/admin/users/{uid}", json={"operator_id": None}, headers=admin)
    assert r.status_code == 422 and r.json()["error_id"] == "operator_id_required"
    me = await client.get("/api/auth/me", headers=await login(client, "lead2", "a-long-password-1"))
    assert me.status_code == 200 and me.json()["role"] == "team_lead"
