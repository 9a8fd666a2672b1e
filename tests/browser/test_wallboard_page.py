"""The wallboard's queue in a real headless Chromium (Debian's package, driven by Playwright):
the figures the API computes shown live, the callers waiting, the per-team table, and the
list to call back whose "Call back" button posts to /api/callbacks/click-to-call (the callbacks
API, backoffice/callbacks.py; the test's services note the request instead of ringing phones),
and the page says what it answered.

A screenshot is kept in tests/artifacts/wallboard.png.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from callrouting.events import WaitingCaller
from callrouting.tables import CallbackRow
from hotline.clock import utcnow
from hotline.db.calls import CallRow
from tests.browser.pages import collect_errors, log_in
from tests.browser.test_qa_page import ARTIFACTS, CHROMIUM, FLAGS, free_port
from tests.support.qa_env import PASSWORDS, QaTestEnv, build_test_env, login

pytestmark = pytest.mark.e2e

NOW = utcnow()


def ago(s: float) -> Any:
    return NOW - timedelta(seconds=s)


async def scripted(env: QaTestEnv) -> dict[str, int]:
    ops = env.seeded.operators
    rows = {
        "fast": CallRow(uniqueid="w-fast", started_at=ago(3000), queue_joined_at=ago(2990),
                        queue_wait_ms=6000, answered_at=ago(2984), answered_by_id=ops["anna"],
                        ended_at=ago(2800), caller_number="+79005550101"),
        "slow": CallRow(uniqueid="w-slow", started_at=ago(2000), queue_joined_at=ago(1990),
                        queue_wait_ms=41000, answered_at=ago(1949), answered_by_id=ops["clara"],
                        ended_at=ago(1800), caller_number="+79005550102"),
        "gone": CallRow(uniqueid="w-gone", started_at=ago(1500), queue_joined_at=ago(1490),
                        queue_wait_ms=14000, ended_at=ago(1476), caller_number="+79005550103",
                        outcome="caller_hung_up"),
        "failed": CallRow(uniqueid="w-failed", started_at=ago(1200), queue_joined_at=ago(1190),
                          queue_wait_ms=25000, ended_at=ago(1165), caller_number="+79005550104"),
        "waits": CallRow(uniqueid="w-waits", started_at=ago(70), queue_joined_at=ago(60),
                         caller_number="+79005550105"),
    }
    async with env.sm() as s, s.begin():
        s.add_all(rows.values())
        await s.flush()
        s.add(CallbackRow(call_id=rows["failed"].id, kind="callback", number="+79005550104",
                          queue="hotline-pool", requested_at=ago(1165), queue_joined_at=ago(1190),
                          state="failed", attempts=3, closed_at=ago(600), reason="no answer"))
    env.services.waiting = [WaitingCaller(uniqueid="w-waits", queue="hotline-pool", position=1,
                                          waited_s=60.0, joined_at=ago(60), call_id=rows["waits"].id)]
    return {k: v.id for k, v in rows.items()}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, QaTestEnv]]:
    env = await build_test_env(tmp_path)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(env.app, host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off", access_log=False))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(), name="wallboard-uvicorn")
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}", env
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await task
        await env.engine.dispose()


async def open_wallboard(ctx: Any, base: str, user: str, password: str, hash_: str) -> Any:
    """Log in on the page and open the wallboard at `hash_`; the page and its errors."""
    page = ctx.pages[0] if ctx.pages else await ctx.new_page()
    errors = collect_errors(page, [])
    await log_in(page, user, password, base)
    await page.wait_for_selector("table#calls")  # logged in: the first page is drawn
    await page.evaluate(f"() => {{ location.hash = {hash_!r}; }}")
    try:
        await page.wait_for_selector("#q-overall #q-sl", timeout=15000)
    except Exception:
        info = await page.evaluate("() => [location.hash, document.getElementById('status').innerText,"
                                   " document.getElementById('main').innerText.slice(0, 500)]")
        raise AssertionError((info, errors)) from None
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def card(page: Any, ident: str) -> tuple[str, str]:
    """(data-value, shown text) of a figure card."""
    value = await page.get_attribute(f"#q-overall #{ident}", "data-value")
    text = await page.inner_text(f"#q-overall #{ident} .v")
    return value, text


async def test_wallboard_queue_in_chromium(served: tuple[str, QaTestEnv], tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium")
    from playwright.async_api import async_playwright

    base, env = served
    ids = await scripted(env)
    async with httpx.AsyncClient(base_url=base) as api:
        api_board = (await api.get("/api/wallboard/queue?hours=4",
                                   headers=await login(api, "qa"))).json()
    o = api_board["overall"]
    # handled: fast 6 s and slow 41 s answered, gone 14 s abandoned ("failed" took a callback)
    assert (o["answered"], o["answered_within"], o["abandoned"]) == (2, 1, 1)
    assert (o["service_level"], o["asa_seconds"], o["abandonment"]) == (0.3333, 23.5, 0.3333)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        ctx = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=FLAGS, viewport={"width": 1280, "height": 1000})
        try:
            page = await open_wallboard(ctx, base, "qa", PASSWORDS["qa"], "#/wallboard?hours=4")
            assert await card(page, "q-sl") == ("0.3333", "33.3%")
            assert await card(page, "q-asa") == ("23.5", "23.5 s")
            assert await card(page, "q-abandon") == ("0.3333", "33.3% (1)")
            assert await card(page, "q-abandon-after") == ("14", "14.0 s")
            assert await card(page, "q-waiting") == ("1", "1")
            assert await card(page, "q-callbacks") == ("0/0/1", "0 / 0 / 1")
            assert "Service level (20 s)" in await page.inner_text("#q-sl .k")
            rows = page.locator("#q-waiting-list tbody tr")
            assert await rows.count() == 1
            assert await rows.nth(0).get_attribute("data-call-id") == str(ids["waits"])
            teams = {await r.get_attribute("data-team"): await r.inner_text()
                     for r in await page.locator("#q-teams tbody tr").all()}
            assert set(teams) == {"Alpha", "Beta", "(no team)"}
            assert "100.0%" in teams["Alpha"] and "6.0 s" in teams["Alpha"]  # fast, Anna's
            assert "0.0%" in teams["Beta"] and "41.0 s" in teams["Beta"]  # slow, Clara's

            # the threshold is a control: 45 s takes slow in as well
            await page.fill("#q-sl-seconds", "45")
            await page.press("#q-sl-seconds", "Enter")
            await page.wait_for_function(
                "() => document.querySelector('#q-sl')?.dataset.value === '0.6667'")
            assert "Service level (45 s)" in await page.inner_text("#q-sl .k")

            # to call back: the failed callback (newest) and the abandoned call
            listed = page.locator("#to-call-back tbody tr")
            assert [await r.get_attribute("data-kind") for r in await listed.all()] == [
                "callback_failed", "abandoned"]
            gone = page.locator(f"#to-call-back tr[data-call-id='{ids['gone']}']")
            assert "after 14.0 s" in await gone.inner_text()
            drawn = int(await page.evaluate("() => document.getElementById('main').dataset.drawn"))
            await gone.locator("button.call-back").click()
            note = page.locator(f"#to-call-back tr[data-call-id='{ids['gone']}'] .callback-note.good")
            await note.wait_for()
            assert "your phone rings first, then the caller" in await note.inner_text()
            # the next redraw keeps what the button answered
            await page.wait_for_function(
                f"() => Number(document.getElementById('main').dataset.drawn) > {drawn + 1}")
            assert "your phone rings first" in await page.locator(
                f"#to-call-back tr[data-call-id='{ids['gone']}'] .callback-note").inner_text()
            await page.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)

            # statistics and call records carry the queue too
            await page.keyboard.press("s")
            await page.wait_for_selector("#totals")
            totals = await page.inner_text("#totals")
            assert "21.5 s (5 calls)" in totals  # (6 + 41 + 14 + 25) / 4; waits has no wait yet
            assert "1, after 14.0 s" in totals and "1 / 0 / 0" in totals, totals
            await page.evaluate(f"() => {{ location.hash = '#/call/{ids['gone']}'; }}")
            await page.wait_for_selector("#call-title")
            assert "abandoned after 14.0 s" in await page.inner_text("main")
            await page.evaluate(f"() => {{ location.hash = '#/call/{ids['failed']}'; }}")
            await page.wait_for_selector("#callbacks")
            assert "no answer" in await page.inner_text("#callbacks")
            errors = page.errors  # type: ignore[attr-defined]
        finally:
            await ctx.close()
    assert not errors, errors
