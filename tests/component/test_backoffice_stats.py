"""backoffice/stats.py through the API: statistics against values worked out by hand."""

from __future__ import annotations

import httpx
import pytest

from tests.support.qa_env import EXPECTED, QaTestEnv, login

RANGE = {"date_from": "2026-11-02", "date_to": "2026-11-03"}


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
