"""Issue 11, must-show 5 on the real Asterisk: a scripted queue (sipp callers, a baresip
operator) whose wallboard figures - service level, average speed of answer, abandonment,
abandoned after, waiting now - are exactly what the script makes them, in the API and on
the web page (headless chromium).

The script, one operator (1001) who takes the pool's calls:
  A  joins while 1001 is free: answered at once (well within 20 s);
  B  joins while 1001 talks to A and waits until the test frees 1001, at least 25 s later:
     answered after the threshold;
  C  joins after B and hangs up 12 s after the call started: abandoned;
  D  joins after B is answered and stays waiting: "waiting now", place 1.
So of the three handled calls one was answered within 20 s: service level 1/3, abandonment
1/3; ASA is the mean of A's and B's stored waits, each cross-checked against the AMI events
the test saw (QueueCallerJoin -> AgentConnect / QueueCallerLeave).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from callrouting.model import Presence
from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.clock import utcnow
from hotline.pbx.ami import AgentConnect, QueueCallerJoin, QueueCallerLeave
from hotline.pbx.asterisk import AsteriskInstance
from hotline.pbx.sipp import sipp_available
from tests.browser.test_qa_page import CHROMIUM, FLAGS
from tests.browser.test_wallboard_page import card, open_wallboard
from tests.e2e.conftest import api_client
from tests.e2e.test_callrouting_waiting import Callers, call_row, operator, queue_service, until

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")

A, B, C, D = "+79990005001", "+79990005002", "+79990005003", "+79990005004"
B_WAITS_AT_LEAST_S = 25  # the operator is freed no sooner: B is answered after the threshold
C_HANGS_UP_S = 12  # C's sipp hangs up this long after its call is answered by Asterisk
THRESHOLD_S = 20


class QueueEvents:
    """When Asterisk put each caller channel in the queue and took it out (monotonic)."""

    def __init__(self) -> None:
        self.joined: dict[str, float] = {}
        self.connected: dict[str, float] = {}
        self.left: dict[str, float] = {}

    def on_join(self, ev: QueueCallerJoin) -> None:
        self.joined.setdefault(ev.uniqueid, time.monotonic())

    def on_connect(self, ev: AgentConnect) -> None:
        self.connected.setdefault(ev.uniqueid, time.monotonic())

    def on_leave(self, ev: QueueCallerLeave) -> None:
        self.left.setdefault(ev.uniqueid, time.monotonic())


def qa_password(svc: Service) -> str:
    users = dict(line.split(" ", 1) for line in
                 (svc.settings.resolve(svc.settings.var_dir) / "qa-users.txt").read_text().splitlines()
                 if line.strip())
    return users["qa"]


async def test_wallboard_figures_match_the_scripted_queue(
    asterisk: AsteriskInstance, e2e_settings: Settings, tmp_path: Path
) -> None:
    started = utcnow() - timedelta(seconds=1)  # the window: this scenario's calls only
    since = started.isoformat().replace("+00:00", "Z")
    async with queue_service(e2e_settings, tmp_path, every=10) as svc, operator(svc, "1001") as op:
        seen = QueueEvents()
        unsub = [svc.ami.subscribe(QueueCallerJoin, seen.on_join),
                 svc.ami.subscribe(AgentConnect, seen.on_connect),
                 svc.ami.subscribe(QueueCallerLeave, seen.on_leave)]
        callers = Callers(svc, asterisk)
        try:
            callers.call(A)
            await until(lambda: _answered(svc, A))
            await svc.presence.wait_for("1001", Presence.IN_USE, timeout=10)
            callers.call(B)
            await until(lambda: _joined(svc, B))
            b_joined = time.monotonic()
            callers.call(C, seconds=C_HANGS_UP_S)
            await until(lambda: _joined(svc, C))
            await until(lambda: _ended(svc, C), timeout=C_HANGS_UP_S + 30)
            await asyncio.sleep(max(0.0, B_WAITS_AT_LEAST_S - (time.monotonic() - b_joined)))
            await op.hangup()  # A's call ends: after the wrap-up (2 s) the queue rings 1001 for B
            await until(lambda: _answered(svc, B))
            callers.call(D)
            await until(lambda: _waiting(svc, D))
            await until(lambda: _wait_stored(svc, (A, B, C)))
            rows = {n: await call_row(svc, n) for n in (A, B, C, D)}
            wait = {n: rows[n].queue_wait_ms / 1000 for n in (A, B, C)}  # type: ignore[union-attr,operator]
            # the stored waits are Asterisk's, as the test saw them on AMI
            uid = {n: rows[n].uniqueid for n in (A, B, C, D)}  # type: ignore[union-attr]
            assert abs(wait[B] - (seen.connected[uid[B]] - seen.joined[uid[B]])) < 1.5, (wait, seen)
            assert abs(wait[C] - (seen.left[uid[C]] - seen.joined[uid[C]])) < 1.5, (wait, seen)
            # the script's design: A within the threshold, B after it, C gone before it
            assert wait[A] < THRESHOLD_S < B_WAITS_AT_LEAST_S <= wait[B], wait
            assert wait[C] <= C_HANGS_UP_S, wait
            assert rows[C].answered_at is None and rows[D].queue_wait_ms is None  # type: ignore[union-attr]

            async with api_client(svc, "qa") as api:
                r = await api.get("/api/wallboard/queue", params={"since": since})
                assert r.status_code == 200, r.text
                board = r.json()
                listed = (await api.get("/api/wallboard/abandoned", params={"since": since})).json()
            o = board["overall"]
            expected_asa = round((wait[A] + wait[B]) / 2, 3)
            assert {k: o[k] for k in ("answered", "answered_within", "abandoned", "left_for_callback",
                                      "service_level", "abandonment", "asa_seconds",
                                      "abandoned_after_mean_seconds", "abandoned_after_max_seconds",
                                      "waiting_now", "callbacks_pending", "callbacks_done",
                                      "callbacks_failed")} == {
                "answered": 2, "answered_within": 1, "abandoned": 1, "left_for_callback": 0,
                "service_level": 0.3333, "abandonment": 0.3333, "asa_seconds": expected_asa,
                "abandoned_after_mean_seconds": round(wait[C], 3),
                "abandoned_after_max_seconds": round(wait[C], 3),
                "waiting_now": 1, "callbacks_pending": 0, "callbacks_done": 0, "callbacks_failed": 0,
            }, (o, wait)
            assert o["longest_wait_seconds"] is not None and o["longest_wait_seconds"] > 0
            [d] = board["waiting"]
            assert (d["position"], d["call_id"], d["callback"], d["caller_number"]) == (
                1, rows[D].id, False, D)  # type: ignore[union-attr]
            teams = {t["team"]: t for t in board["by_team"]}
            hotline = teams["Hotline"]  # 1001's team took A and B
            assert (hotline["answered"], hotline["answered_within"], hotline["service_level"],
                    hotline["asa_seconds"]) == (2, 1, 0.5, expected_asa)
            gone = teams["(no team)"]  # C and D are unknown callers nobody answered
            assert (gone["abandoned"], gone["abandonment"], gone["waiting_now"]) == (1, 1.0, 1)
            assert [(i["kind"], i["call_id"], i["waited_seconds"]) for i in listed["items"]] == [
                ("abandoned", rows[C].id, round(wait[C], 1))]  # type: ignore[union-attr]

            # the same figures on the web page
            await _page_shows(svc, board, since, rows[C].id, tmp_path)  # type: ignore[union-attr]
        finally:
            for u in unsub:
                u()
            await callers.close()


async def _page_shows(svc: Service, board: dict[str, Any], since: str, abandoned_id: int,
                      tmp: Path) -> None:
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium")
    base = f"http://127.0.0.1:{svc.settings.service.http_port}"
    o = board["overall"]
    async with async_playwright() as pw:
        ctx = await pw.chromium.launch_persistent_context(
            str(tmp / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 1000})
        try:
            page = await open_wallboard(ctx, base, "qa", qa_password(svc), f"#/wallboard?since={since}")
            assert await card(page, "q-sl") == (str(o["service_level"]), "33.3%")
            assert await card(page, "q-abandon") == (str(o["abandonment"]), "33.3% (1)")
            asa_value, asa_text = await card(page, "q-asa")
            assert float(asa_value) == o["asa_seconds"]
            assert asa_text == f"{o['asa_seconds']:.1f} s"
            after_value, _ = await card(page, "q-abandon-after")
            assert float(after_value) == o["abandoned_after_mean_seconds"]
            assert await card(page, "q-waiting") == ("1", "1")
            rows = page.locator("#q-waiting-list tbody tr")
            assert await rows.count() == 1
            assert await rows.nth(0).get_attribute("data-call-id") == str(board["waiting"][0]["call_id"])
            listed = page.locator("#to-call-back tbody tr")
            assert [await r.get_attribute("data-call-id") for r in await listed.all()] == [str(abandoned_id)]
            assert not page.errors, page.errors  # type: ignore[attr-defined]
        finally:
            await ctx.close()


async def _answered(svc: Service, number: str) -> bool:
    row = await call_row(svc, number)
    return row is not None and row.answered_at is not None


async def _joined(svc: Service, number: str) -> bool:
    row = await call_row(svc, number)
    return row is not None and row.queue_joined_at is not None


async def _ended(svc: Service, number: str) -> bool:
    row = await call_row(svc, number)
    return row is not None and row.queue_wait_ms is not None


async def _waiting(svc: Service, number: str) -> bool:
    row = await call_row(svc, number)
    return row is not None and any(w.uniqueid == row.uniqueid for w in svc.waiting_now())


async def _wait_stored(svc: Service, numbers: tuple[str, ...]) -> bool:
    for n in numbers:
        row = await call_row(svc, n)
        if row is None or row.queue_wait_ms is None:
            return False
    return True
