"""backoffice/queueboard.py through the service's app: the queue's wallboard figures and the
callers to call back, from call rows, callback rows and the waiting room (on SQLite and
PostgreSQL). The figures' definitions are checked in tests/unit/test_backoffice_queuefigures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from callrouting.events import WaitingCaller
from callrouting.tables import CallbackRow
from hotline.db.calls import CallRow
from tests.support.qa_env import Clock, QaTestEnv, login

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 15:00 in Moscow: "today" began at 21:00 UTC


@pytest.fixture
async def qclient(clocked_env: QaTestEnv, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    clock.now = NOW
    async with httpx.AsyncClient(transport=httpx.ASGITransport(clocked_env.app),
                                 base_url="http://qa.test") as c:
        yield c


def ago(s: float) -> datetime:
    return NOW - timedelta(seconds=s)


async def scripted(env: QaTestEnv) -> dict[str, int]:
    """Queue calls of today (and one of the day before), their callbacks."""
    ops, callers = env.seeded.operators, env.seeded.callers
    rows = {
        # answered by Anna (team Alpha) after 8 s, by Clara (Beta) after 45 s
        "fast": CallRow(uniqueid="q-fast", started_at=ago(5010), queue_joined_at=ago(5000),
                        queue_wait_ms=8000, answered_at=ago(4992), answered_by_id=ops["anna"],
                        ended_at=ago(4800), caller_number="+79005550001"),
        "slow": CallRow(uniqueid="q-slow", started_at=ago(3000), queue_joined_at=ago(2990),
                        queue_wait_ms=45000, answered_at=ago(2945), answered_by_id=ops["clara"],
                        ended_at=ago(2800), caller_number="+79005550002"),
        # Maria Ivanova (VIP, her manager Anna: team Alpha) hung up after 12.5 s
        "gone": CallRow(uniqueid="q-gone", started_at=ago(2500), queue_joined_at=ago(2490),
                        queue_wait_ms=12500, ended_at=ago(2477.5), caller_number="+79001112233",
                        caller_ref_id=callers["ivanova"], caller_name="Maria Ivanova",
                        outcome="caller_hung_up"),
        # asked for a callback after 30 s (pending, keeps its place from its join)
        "asked": CallRow(uniqueid="q-asked", started_at=ago(610), queue_joined_at=ago(600),
                         queue_wait_ms=30000, ended_at=ago(570), caller_number="+79005550004"),
        # a callback that failed in the window
        "failed": CallRow(uniqueid="q-failed", started_at=ago(1900), queue_joined_at=ago(1890),
                          queue_wait_ms=20000, ended_at=ago(1870), caller_number="+79005550005"),
        # waiting now (the room has it)
        "waits": CallRow(uniqueid="q-waits", started_at=ago(100), queue_joined_at=ago(90),
                         caller_number="+79004445566", caller_ref_id=callers["petrov"],
                         caller_name="Ivan Petrov"),
        # yesterday (Moscow): outside "today", inside the last 24 h
        "yesterday": CallRow(uniqueid="q-old", started_at=ago(16 * 3600), queue_joined_at=ago(16 * 3600),
                             queue_wait_ms=3000, ended_at=ago(16 * 3600 - 50),
                             caller_number="+79005550007"),
    }
    async with env.sm() as s, s.begin():
        s.add_all(rows.values())
        await s.flush()
        s.add_all([
            CallbackRow(call_id=rows["asked"].id, kind="callback", number="+79005550004",
                        queue="hotline-pool", priority=0, requested_at=ago(570),
                        queue_joined_at=ago(600), state="pending"),
            CallbackRow(call_id=rows["failed"].id, kind="callback", number="+79005550005",
                        queue="hotline-pool", requested_at=ago(1870), queue_joined_at=ago(1890),
                        state="failed", attempts=3, closed_at=ago(1000), reason="no answer"),
        ])
    return {k: v.id for k, v in rows.items()}


def waiting_room(ids: dict[str, int]) -> list[WaitingCaller]:
    return [WaitingCaller(uniqueid="q-waits", queue="hotline-pool", position=1, waited_s=90.0,
                          joined_at=ago(90), call_id=ids["waits"])]


async def test_queue_figures_overall_and_per_team(clocked_env: QaTestEnv,
                                                  qclient: httpx.AsyncClient) -> None:
    ids = await scripted(clocked_env)
    clocked_env.services.waiting = waiting_room(ids)
    h = await login(qclient, "qa")
    b = await _get(qclient, "/api/wallboard/queue", h)
    assert b["window"] == "today" and b["service_level_seconds"] == 20
    assert b["since"] == "2026-11-30T21:00:00Z"  # midnight in Moscow
    # today: fast (8 s) and slow (45 s) answered, gone abandoned after 12.5 s; asked and
    # failed took a callback; waits is on the line; yesterday's call is outside
    assert b["overall"] == {
        "answered": 2, "answered_within": 1, "abandoned": 1, "left_for_callback": 2,
        "service_level": 0.3333, "asa_seconds": 26.5, "abandonment": 0.3333,
        "abandoned_after_mean_seconds": 12.5, "abandoned_after_max_seconds": 12.5,
        "callbacks_pending": 1, "callbacks_done": 0, "callbacks_failed": 1,
        "waiting_now": 2, "longest_wait_seconds": 600.0,  # the callback keeps its time in queue
    }
    teams = {t["team"]: t for t in b["by_team"]}
    assert list(teams) == ["Alpha", "Beta", "(no team)"]
    alpha, beta, none = teams["Alpha"], teams["Beta"], teams["(no team)"]
    assert alpha["team_id"] == clocked_env.seeded.teams["alpha"]
    # gone is Maria's: her personal manager Anna is in Alpha
    assert (alpha["answered"], alpha["abandoned"], alpha["service_level"], alpha["asa_seconds"]) \
        == (1, 1, 0.5, 8.0)
    assert (beta["answered"], beta["service_level"], beta["asa_seconds"], beta["abandonment"]) \
        == (1, 0.0, 45.0, 0.0)
    assert (none["left_for_callback"], none["waiting_now"], none["callbacks_pending"],
            none["callbacks_failed"], none["service_level"]) == (2, 2, 1, 1, None)
    assert [(w["position"], w["call_id"], w["callback"], w["callback_state"], w["waited_seconds"])
            for w in b["waiting"]] == [(1, ids["asked"], True, "pending", 600.0),
                                       (2, ids["waits"], False, None, 90.0)]
    assert b["waiting"][1]["caller_name"] == "Ivan Petrov"


async def test_window_and_threshold_are_parameters(clocked_env: QaTestEnv,
                                                   qclient: httpx.AsyncClient) -> None:
    await scripted(clocked_env)
    h = await login(qclient, "admin")
    day = await _get(qclient, "/api/wallboard/queue?hours=24", h)
    assert day["window"] == "last 24 h" and day["since"] == "2026-11-30T12:00:00Z"
    o = day["overall"]  # yesterday's call hung up after 3 s
    assert (o["answered"], o["abandoned"], o["service_level"], o["abandonment"]) == (2, 2, 0.25, 0.5)
    assert (o["abandoned_after_mean_seconds"], o["abandoned_after_max_seconds"]) == (7.75, 12.5)
    assert o["waiting_now"] == 1  # the pending callback (the room is empty here)
    wide = await _get(qclient, "/api/wallboard/queue?service_level_s=45", h)
    assert wide["service_level_seconds"] == 45
    assert (wide["overall"]["answered_within"], wide["overall"]["service_level"]) == (2, 0.6667)
    hour = await _get(qclient, "/api/wallboard/queue?hours=1", h)
    assert hour["overall"]["answered"] == 1 and hour["overall"]["abandoned"] == 1  # slow, gone
    since = await _get(qclient, "/api/wallboard/queue?since=2026-12-01T11:10:00%2B00:00&hours=24", h)
    assert since["since"] == "2026-12-01T11:10:00Z" and since["window"].startswith("since ")
    assert since["overall"]["answered"] == 1 and since["overall"]["abandoned"] == 1  # slow, gone
    for bad in ("hours=0", "hours=169", "service_level_s=0", "service_level_s=601", "hours=x",
                "since=yesterday", "since=2026-12-02T00:00:00Z", "since=2026-11-01"):
        r = await qclient.get("/api/wallboard/queue?" + bad, headers=h)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error_id"] == "invalid_request"


async def test_callers_to_call_back(clocked_env: QaTestEnv, qclient: httpx.AsyncClient) -> None:
    ids = await scripted(clocked_env)
    h = await login(qclient, "qa")
    listed = await _get(qclient, "/api/wallboard/abandoned", h)
    items = [{k: i[k] for k in ("kind", "call_id", "at", "waited_seconds", "vip", "caller_name",
                                "team", "reason", "called_back")} for i in listed["items"]]
    assert items == [
        {"kind": "callback_failed", "call_id": ids["failed"], "at": "2026-12-01T11:43:20Z",
         "waited_seconds": 20.0, "vip": False, "caller_name": None, "team": None,
         "reason": "no answer", "called_back": None},
        {"kind": "abandoned", "call_id": ids["gone"], "at": "2026-12-01T11:18:42.500000Z",
         "waited_seconds": 12.5, "vip": True, "caller_name": "Maria Ivanova", "team": "Alpha",
         "reason": None, "called_back": None},
    ]
    # a team lead's click-to-call to Maria shows on her row (and once answered, she is off)
    async with clocked_env.sm() as s, s.begin():
        click = CallbackRow(call_id=ids["gone"], kind="click_to_call", number="+79001112233",
                            requested_at=ago(60), state="dialling_caller", requested_by="qa")
        s.add(click)
    listed = await _get(qclient, "/api/wallboard/abandoned", h)
    assert [(i["call_id"], i["called_back"]) for i in listed["items"]] == [
        (ids["failed"], None), (ids["gone"], "dialling_caller")]
    async with clocked_env.sm() as s, s.begin():
        row = await s.get(CallbackRow, click.id)
        assert row is not None
        row.state, row.answered_at = "answered", ago(30)
    listed = await _get(qclient, "/api/wallboard/abandoned", h)
    assert [i["call_id"] for i in listed["items"]] == [ids["failed"]]


async def test_roles_and_openapi(clocked_env: QaTestEnv, qclient: httpx.AsyncClient) -> None:
    oh = await login(qclient, "operator")
    for path in ("/api/wallboard/queue", "/api/wallboard/abandoned"):
        r = await qclient.get(path, headers=oh)
        assert r.status_code == 403, r.text
        assert (await qclient.get(path)).status_code == 401
    spec = (await qclient.get("/openapi.json")).json()
    ok = spec["paths"]["/api/wallboard/queue"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/QueueBoardOut")
    ok = spec["paths"]["/api/wallboard/abandoned"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/CallBackList")
    figures = spec["components"]["schemas"]["QueueFiguresOut"]["properties"]
    assert {"service_level", "asa_seconds", "abandonment", "waiting_now",
            "callbacks_pending", "callbacks_done"} <= set(figures)


async def _get(client: httpx.AsyncClient, path: str, h: dict[str, str]) -> Any:
    r = await client.get(path, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


async def test_call_records_and_statistics_carry_the_queue(clocked_env: QaTestEnv,
                                                           qclient: httpx.AsyncClient) -> None:
    ids = await scripted(clocked_env)
    async with clocked_env.sm() as s, s.begin():
        row = await s.get(CallbackRow, 1)  # asked's callback: the caller was dialled, answered
        assert row is not None and row.call_id == ids["asked"]
        row.state, row.operator_rang_at = "answered", ago(500)
        row.placed_at, row.answered_at, row.answered_by_id = ago(495), ago(480), clocked_env.seeded.operators["boris"]
    h = await login(qclient, "qa")
    page = await _get(qclient, "/api/calls?date_from=2026-12-01&limit=500", h)
    by_id = {c["id"]: c for c in page["items"]}
    gone, fast, asked = by_id[ids["gone"]], by_id[ids["fast"]], by_id[ids["asked"]]
    assert (gone["queue_wait_seconds"], gone["abandoned_after_seconds"]) == (12.5, 12.5)
    assert gone["queue_joined_at"] == "2026-12-01T11:18:30Z"
    assert (fast["queue_wait_seconds"], fast["abandoned_after_seconds"]) == (8.0, None)
    assert (asked["abandoned_after_seconds"], asked["callback_state"]) == (None, "answered")
    assert by_id[ids["failed"]]["callback_state"] == "failed"
    record = await _get(qclient, f"/api/calls/{ids['asked']}", h)
    [cb] = record["callbacks"]
    assert (cb["kind"], cb["state"], cb["requested_at"], cb["placed_at"], cb["answered_at"]) == (
        "callback", "answered", "2026-12-01T11:50:30Z", "2026-12-01T11:51:45Z",
        "2026-12-01T11:52:00Z")
    assert record["call"]["queue_wait_seconds"] == 30.0
    stats = await _get(qclient, "/api/stats?date_from=2026-12-01", h)
    t = stats["totals"]
    # today: fast 8, slow 45, gone 12.5, asked 30, failed 20 (waits has no wait yet)
    assert (t["queued"], t["queue_wait_avg_seconds"], t["queue_abandoned"],
            t["abandoned_after_avg_seconds"]) == (6, 23.1, 1, 12.5)
    assert (t["callbacks_requested"], t["callbacks_placed"], t["callbacks_answered"]) == (2, 1, 1)
