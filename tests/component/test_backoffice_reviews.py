"""backoffice/reviews.py: the review queue and review updates."""

from __future__ import annotations

import httpx

from tests.support.qa_env import QaTestEnv, login


async def test_review_queue(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    h = await login(client, "qa")
    c4 = env.seeded.calls[4]
    q = (await client.get("/api/reviews", headers=h)).json()
    assert [i["call"]["id"] for i in q] == [c4]
    assert q[0]["review"]["reason"] == "manager_busy"
    r = await client.patch(f"/api/reviews/{c4}", json={"status": "done", "notes": "Lead handled it well."}, headers=h)
    assert r.status_code == 200
    assert r.json()["reviewer"] == "qa" and r.json()["reviewed_at"] is not None
    assert (await client.get("/api/reviews", headers=h)).json() == []
    done = (await client.get("/api/reviews", params={"status": "done"}, headers=h)).json()
    assert done[0]["review"]["notes"] == "Lead handled it well."
    r = await client.patch(f"/api/reviews/{env.seeded.calls[1]}", json={"status": "done"}, headers=h)
    assert r.status_code == 404 and r.json()["error_id"] == "review_not_found"
    r = await client.patch(f"/api/reviews/{c4}", json={"status": "bogus"}, headers=h)
    assert r.status_code == 422
