"""The QA web page in a real headless Chromium (Debian's package, driven by Playwright).

The service app is served by uvicorn on 127.0.0.1 on a free port; the browser logs in as qa,
filters the calls, opens a call whose recording the audio player loads, and renders the
statistics plots. A screenshot is kept in tests/artifacts/qa_page.png.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from tests.browser.pages import collect_errors, log_in
from tests.support.qa_env import PASSWORDS, QaTestEnv, build_test_env

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, QaTestEnv]]:
    env = await build_test_env(tmp_path)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(env.app, host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off", access_log=False))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(), name="qa-uvicorn")
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


async def test_qa_page_in_chromium(served: tuple[str, QaTestEnv], tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium")
    from playwright.async_api import async_playwright

    base, env = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    async with async_playwright() as pw:
        ctx = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=FLAGS, viewport={"width": 1280, "height": 900},
        )
        try:
            page = ctx.pages[0] if ctx.pages else await ctx.new_page()
            collect_errors(page, errors)
            bad: list[str] = []
            page.on("response", lambda r: bad.append(f"{r.status} {r.url}") if r.status >= 400 else None)

            # 1. log in as qa (the page sends us to the login form first)
            await log_in(page, "qa", PASSWORDS["qa"], base)
            await page.wait_for_selector("table#calls tbody tr")
            assert await page.locator("table#calls tbody tr").count() == 8

            # 2. filter calls: operator Anna, using the keyboard
            await page.keyboard.press("/")
            await page.select_option("#f-operator_id", str(env.seeded.operators["anna"]))
            await page.press("#f-intent", "Enter")  # Enter in a text field submits the filters
            await page.wait_for_function("() => document.querySelectorAll('table#calls tbody tr').length === 2")
            assert "operator_id=" in page.url

            # 3. open call 1 from the keyboard (j moves the selection, Enter opens)
            call1 = env.seeded.calls[1]
            rows = page.locator("table#calls tbody tr")
            first_href = await rows.nth(0).get_attribute("data-href")
            idx = 0 if first_href == f"#/call/{call1}" else 1
            await page.locator("body").focus()
            await page.evaluate("() => document.activeElement.blur()")
            if idx == 1:
                await page.keyboard.press("j")
            await page.keyboard.press("Enter")
            await page.wait_for_selector("#call-title")
            assert f"Call {call1}" in await page.inner_text("#call-title")
            assert await page.locator("#timeline tr").count() >= 3

            # 4. the audio player loads the recording (metadata over HTTP range requests)
            try:
                await page.wait_for_function(
                    "() => { const a = document.querySelector('audio'); return a && a.readyState >= 1 && a.duration > 2.9; }",
                    timeout=15000)
            except Exception:
                info = await page.evaluate("""async () => { const a = document.querySelector("audio"); if (!a) return document.getElementById("main").innerText + " STATUS " + document.getElementById("status").innerText;
                    const r = await fetch(a.src, {headers: {Range: 'bytes=0-10'}});
                    return {src: a.src, rs: a.readyState, ns: a.networkState, err: a.error && [a.error.code, a.error.message],
                            fetch: r.status, ct: r.headers.get('content-type'), canPlay: a.canPlayType('audio/wav')}; }""")
                raise AssertionError(info) from None
            duration = await page.evaluate("() => document.querySelector('audio').duration")
            assert abs(duration - 3.0) < 0.05
            # seeking works (needs Range support)
            await page.evaluate("() => { document.querySelector('audio').currentTime = 2.0; }")
            await page.wait_for_function("() => document.querySelector('audio').currentTime >= 1.9")

            # 5. statistics with plots
            await page.keyboard.press("s")
            await page.wait_for_selector("#plot-day svg path.series")
            await page.fill("#f-date_from", "2026-11-02")
            await page.press("#f-date_from", "Enter")
            await page.wait_for_function("() => location.hash.includes('date_from=2026-11-02')")
            # the unfiltered plot (2 points) may still be on the page when the hash changes:
            # wait for the filtered one instead of reading the count once
            await page.wait_for_function(
                "() => document.querySelectorAll('#plot-day svg circle.point').length === 1"
                " && document.querySelector('#totals')?.innerText.includes('67%')")  # only 11-02 has ratings
            assert await page.locator("#plot-operator svg rect.bar").count() == 2  # Anna, Boris rated
            await page.screenshot(path=str(ARTIFACTS / "qa_page.png"), full_page=True)

            # 6. review queue and wallboard render too
            await page.keyboard.press("r")
            await page.wait_for_selector("table#reviews tbody tr")
            await page.keyboard.press("w")
            await page.wait_for_selector("#tiles .tile")
        finally:
            await ctx.close()
    assert not errors, errors
    # only the "who am I" probe before logging in, and the browser's own favicon request
    assert all(b.endswith(("/api/auth/me", "/favicon.ico")) for b in bad), bad
    assert (ARTIFACTS / "qa_page.png").stat().st_size > 10_000
