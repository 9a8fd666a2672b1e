"""backoffice/calls.py over a migrated temp SQLite: the calls list and its filters, operators'
own calls, a call's full record."""

from __future__ import annotations

import httpx

from tests.support.qa_env import QaTestEnv, login

RANGE = {"date_from": "2026-11-02", "date_to": "2026-11-03"}


async def ids(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[int]:
    r = await client.get("/api/calls", params={**RANGE, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return sorted(c["id"] for c in r.json()["items"])


async def test_call_filters(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    h = await login(client, "qa")
    c, o, t = env.seeded.calls, env.seeded.operators, env.seeded.teams
    n = lambda *xs: sorted(c[x] for x in xs)  # noqa: E731
    assert await ids(client, h) == n(1, 2, 3, 4, 5, 6, 7)
    r = await client.get("/api/calls", headers=h)
    assert r.json()["total"] == 8  # no range: the July call too
    assert await ids(client, h, operator_id=str(o["anna"])) == n(1, 2)
    assert await ids(client, h, team_id=str(t["alpha"])) == n(1, 2, 3)
    assert await ids(client, h, rating="5") == n(1)
    assert await ids(client, h, rating="rated") == n(1, 2, 3)
    assert await ids(client, h, rating="none") == n(4, 5, 6, 7)
    assert await ids(client, h, reached_team_lead="true") == n(4)
    assert await ids(client, h, intent="ticket_check") == n(1, 3)
    assert await ids(client, h, vip="true") == n(1)
    assert await ids(client, h, bot_only="true") == n(5)
    assert await ids(client, h, date_from="2026-11-03", date_to="2026-11-03") == n(4, 5, 6, 7)
    r = await client.get("/api/calls", params={"rating": "7"}, headers=h)
    assert r.status_code == 422 and r.json()["error_id"] == "invalid_request"
    assert set(r.json()) == {"error_id", "message", "details"}


async def test_operator_sees_only_own_calls(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    h = await login(client, "operator")  # linked to Anna
    c = env.seeded.calls
    assert await ids(client, h) == sorted([c[1], c[2]])
    # asking for someone else's calls does not widen the view
    assert await ids(client, h, operator_id=str(env.seeded.operators["boris"])) == sorted([c[1], c[2]])
    assert (await client.get(f"/api/calls/{c[3]}", headers=h)).status_code == 404
    own = await client.get(f"/api/calls/{c[1]}", headers=h)
    assert own.status_code == 200
    assert all(r["audio_url"] is None for r in own.json()["recordings"])  # recordings: QA only


async def test_call_record(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    h = await login(client, "qa")
    c, rec = env.seeded.calls, env.seeded.recordings
    r = await client.get(f"/api/calls/{c[1]}", headers=h)
    assert r.status_code == 200
    body = r.json()
    assert body["call"]["vip"] and body["call"]["operator_name"] == "Anna Orlova"
    assert body["rating"]["score"] == 5
    assert [a["outcome"] for a in body["attempts"]] == ["answered"]
    kinds = [(i["source"], i["kind"]) for i in body["timeline"]]
    assert kinds[:2] == [("ivr", "start"), ("ivr", "main_menu")]
    assert ("attempt", "ring personal_manager") in kinds and ("event", "recording_started") in kinds
    assert [i["at"] for i in body["timeline"]] == sorted(i["at"] for i in body["timeline"])
    assert body["recordings"][0]["audio_url"] == f"/api/recordings/{rec['call1']}/audio"

    bot = (await client.get(f"/api/calls/{c[5]}", headers=h)).json()
    assert bot["call"]["bot_only"] and bot["intent"] == "draw_results"
    assert bot["bot_transcript"][0]["text"] == "When is the next draw?"

    off = (await client.get(f"/api/calls/{c[2]}", headers=h)).json()
    assert off["recordings"][0]["enabled"] is False
    assert off["recordings"][0]["disabled_reason"] == "dialplan node complaints has record: false"
    assert off["recordings"][0]["audio_url"] is None

    lead = (await client.get(f"/api/calls/{c[4]}", headers=h)).json()
    assert lead["review"]["status"] == "open" and lead["call"]["reached_team_lead"]
    r = await client.get("/api/calls/999999", headers=h)
    assert r.status_code == 404 and r.json()["error_id"] == "call_not_found"
