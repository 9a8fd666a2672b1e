"""QA/admin API over a migrated temp SQLite: filters, call record, recordings, reviews, stats."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.qa_env import EXPECTED, PASSWORDS, QaTestEnv


@pytest.fixture
async def client(env: QaTestEnv) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(env.app), base_url="http://qa.test") as c:
        yield c


async def login(client: httpx.AsyncClient, role: str) -> dict[str, str]:
    r = await client.post("/api/auth/login", json={"username": role, "password": PASSWORDS[role]})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # tests use the bearer token unless they test the cookie
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


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


async def test_recording_stream_and_ranges(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    h = await login(client, "qa")
    rid = env.seeded.recordings["call1"]
    url = f"/api/recordings/{rid}/audio"
    full = await client.get(url, headers=h)
    assert full.status_code == 200
    assert full.headers["content-type"] == "audio/wav"
    assert full.headers["accept-ranges"] == "bytes"
    assert full.content[:4] == b"RIFF" and len(full.content) == 44 + 3 * 8000 * 2
    size = len(full.content)

    part = await client.get(url, headers={**h, "Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    assert part.content == full.content[100:200]

    tail = await client.get(url, headers={**h, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == full.content[-10:]

    open_end = await client.get(url, headers={**h, "Range": f"bytes={size - 5}-"})
    assert open_end.status_code == 206 and open_end.content == full.content[-5:]

    bad = await client.get(url, headers={**h, "Range": f"bytes={size + 10}-{size + 20}"})
    assert bad.status_code == 416

    head = await client.head(url, headers=h)
    assert head.status_code == 200 and int(head.headers["content-length"]) == size


async def test_path_traversal_refused(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    h = await login(client, "qa")
    # 1. a path in the request never reaches the file system: ids only
    for evil in ["..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "1%2F..%2F..%2Fqa.db"]:
        r = await client.get(f"/api/recordings/{evil}/audio", headers=h)
        assert r.status_code in (404, 422), (evil, r.status_code)
        assert b"root:" not in r.content
    # 2. a stored row pointing outside the directory is refused, not served
    r = await client.get(f"/api/recordings/{env.seeded.recordings['evil']}/audio", headers=h)
    assert r.status_code == 403 and r.json()["error_id"] == "recording_path_refused"
    # 3. a symlink planted inside the recordings directory that leads outside is refused
    from sqlalchemy import update

    from recordings.models import RecordingRow
    secret = env.settings.dir.parent / "secret.txt"
    secret.write_text("top secret")
    (env.settings.dir / "link.wav").symlink_to(secret)
    async with env.sm() as s, s.begin():
        await s.execute(update(RecordingRow).where(RecordingRow.id == env.seeded.recordings["evil"])
                        .values(path="link.wav"))
    r = await client.get(f"/api/recordings/{env.seeded.recordings['evil']}/audio", headers=h)
    assert r.status_code == 403 and b"top secret" not in r.content
    # 4. not recorded
    r = await client.get(f"/api/recordings/{env.seeded.recordings['call2_off']}/audio", headers=h)
    assert r.status_code == 404 and r.json()["error_id"] == "recording_not_recorded"


async def test_stats_against_hand_computed_values(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    h = await login(client, "qa")
    r = await client.get("/api/stats", params=RANGE, headers=h)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["csat_target"] == 0.8
    for k, v in EXPECTED.items():
        assert s["totals"][k] == pytest.approx(v), k
    assert s["totals"]["scores"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    by_op = {g["label"]: g for g in s["by_operator"]}
    assert by_op["Anna Orlova"]["csat"] == 1.0 and by_op["Anna Orlova"]["asa_seconds"] == 8.0
    assert by_op["Boris Petrov"]["csat"] == 0.0 and by_op["Boris Petrov"]["asa_seconds"] == 24.0
    assert by_op["Clara Lead"]["csat"] is None and by_op["Clara Lead"]["rated"] == 0
    assert by_op["(no operator)"]["calls"] == 3
    by_team = {g["label"]: g for g in s["by_team"]}
    assert by_team["Alpha"]["calls"] == 3 and by_team["Alpha"]["csat"] == pytest.approx(0.6667)
    by_day = {g["label"]: g for g in s["by_day"]}
    assert set(by_day) == {"2026-11-02", "2026-11-03"}
    assert by_day["2026-11-02"]["csat"] == pytest.approx(0.6667)
    assert by_day["2026-11-03"]["abandonment"] == 0.5 and by_day["2026-11-03"]["containment"] == 0.5
    by_intent = {g["key"]: g for g in s["by_intent"]}
    assert by_intent["ticket_check"]["csat"] == 0.5 and by_intent["none"]["calls"] == 1
    # whole history: the July call (score 5, Boris) joins in
    all_time = (await client.get("/api/stats", headers=h)).json()["totals"]
    assert all_time["calls"] == 8 and all_time["csat"] == 0.75


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


async def test_openapi_documents_every_endpoint(env: QaTestEnv, client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    from backoffice.access import ACCESS
    documented = [(m, p) for m, p in ACCESS if p.startswith("/api/") or p == "/health"]
    assert len(documented) == 40  # the web page and FastAPI's documentation are not in it
    for method, path in documented:
        op = spec["paths"][path][method.lower()]
        assert op.get("summary") or op.get("operationId")
        if ACCESS[(method, path)]:
            assert "401" in op["responses"] and "403" in op["responses"], (method, path)
    assert "ErrorBody" in spec["components"]["schemas"]
