"""The Admin section of the QA web page in a real headless Chromium (Debian's package).

As admin: create a team, an operator in it (SIP password, two backups in ring order), see the
409 of a duplicate extension with the form still filled, make the new operator the team's lead,
create a known caller and find it by part of its name, delete a caller, create a qa user and
deactivate it. Every change is checked through the API (httpx against the same server) or the
database, not only on the page. As qa: no Admin section. Screenshot: tests/artifacts/admin_page.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from directory.tables import OperatorRow
from tests.browser import test_qa_page as qa_page
from tests.browser.pages import collect_errors, log_in
from tests.support.qa_env import PASSWORDS, QaTestEnv

pytestmark = pytest.mark.e2e

served = qa_page.served  # the same uvicorn-served test app fixture as the QA page test

SIP_PASSWORD = "sip-Secret.0123456789"


async def api_client(base: str, user: str, password: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=10)
    r = await client.post("/api/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = "Bearer " + r.json()["access_token"]
    return client


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_admin_section_in_chromium(served: tuple[str, QaTestEnv], tmp_path: Path) -> None:
    if not Path(qa_page.CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium")
    from playwright.async_api import async_playwright, expect

    base, env = served
    ops = env.seeded.operators
    qa_page.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = qa_page.ARTIFACTS / "admin_page.png"
    errors: list[str] = []
    bad: list[str] = []
    admin = await api_client(base, "admin", PASSWORDS["admin"])
    async with async_playwright() as pw:
        ctx = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=qa_page.CHROMIUM, headless=True,
            args=qa_page.FLAGS, viewport={"width": 1280, "height": 900},
        )
        try:
            page = ctx.pages[0] if ctx.pages else await ctx.new_page()
            page.set_default_timeout(10_000)
            collect_errors(page, errors)
            page.on("response", lambda r: bad.append(f"{r.status} {r.request.method} {r.url}") if r.status >= 400 else None)
            page.on("dialog", lambda d: d.accept())  # "Delete ...?" confirmations

            # 1. log in as admin: the Admin link is there; "a" opens the section
            await log_in(page, "admin", PASSWORDS["admin"], base)
            admin_link = page.locator('header nav a[href="#/admin"]')
            await expect(admin_link).to_be_visible()
            await page.wait_for_selector("#tiles")  # the admin's wallboard
            await page.keyboard.press("a")
            await page.wait_for_selector("#team-form")
            assert page.url.endswith("#/admin/teams")
            await expect(page.locator("#teams-table tbody tr")).to_have_count(3)

            # 2. a team
            await page.fill("#team-form-name", "Gamma")
            await page.press("#team-form-name", "Enter")
            await expect(page.locator("#team-form-ok")).to_have_text("Team “Gamma” created.")
            await expect(page.locator("#team-form-name")).to_have_value("")  # ready for the next one
            teams = {t["name"]: t for t in await get(admin, "/api/admin/teams")}
            gamma = teams["Gamma"]["id"]
            assert teams["Gamma"]["lead_id"] is None

            # 3. an operator in it, with a SIP password and backups Boris, then Anna (reordered)
            await page.click("#tab-operators")
            await page.wait_for_selector("#operator-form")
            await page.fill("#operator-form-name", "Dora Testova")
            await page.fill("#operator-form-extension", "2010")
            await page.fill("#operator-form-sip_password", SIP_PASSWORD)
            await page.select_option("#operator-form-role", "team_lead")
            await page.select_option("#operator-form-team_id", str(gamma))
            for who in ("anna", "boris"):
                await page.select_option("#op-backup-choose", str(ops[who]))
                await page.click("#op-backup-add")
            await page.get_by_role("button", name="Move Boris Petrov (2002) up").click()
            await expect(page.locator("#op-backups li .who")).to_have_text(["Boris Petrov (2002)", "Anna Orlova (2001)"])
            await page.press("#operator-form-name", "Enter")
            await expect(page.locator("#operator-form-ok")).to_have_text("Operator Dora Testova (2010) created.")
            await expect(page.locator("#operator-form-sip_password")).to_have_value("")
            dora = next(o for o in await get(admin, "/api/admin/operators") if o["extension"] == "2010")
            assert dora == {"id": dora["id"], "name": "Dora Testova", "extension": "2010", "role": "team_lead",
                            "team_id": gamma, "active": True, "backup_ids": [ops["boris"], ops["anna"]]}
            async with env.sm() as s:
                stored = await s.scalar(select(OperatorRow.sip_password).where(OperatorRow.id == dora["id"]))
            assert stored == SIP_PASSWORD
            row = page.locator("#operators-table tr", has_text="Dora Testova")
            await expect(row).to_contain_text("Boris Petrov (2002) → Anna Orlova (2001)")
            assert SIP_PASSWORD not in await page.content()  # write-only: never shown back

            # 4. a duplicate extension: 409 in plain words, nothing lost from the form
            await page.fill("#operator-form-name", "Eve Duplicate")
            await page.fill("#operator-form-extension", "2001")
            await page.fill("#operator-form-sip_password", SIP_PASSWORD)
            await page.select_option("#operator-form-team_id", str(gamma))
            await page.click("#operator-form-save")
            error = page.locator("#operator-form-error")
            await expect(error).to_be_visible()
            await expect(error).to_contain_text("another operator already has extension 2001")
            await expect(error).not_to_contain_text("no longer exists")  # the API said which
            await expect(page.locator("#operator-form-name")).to_have_value("Eve Duplicate")
            await expect(page.locator("#operator-form-extension")).to_have_value("2001")
            await expect(page.locator("#operator-form-sip_password")).to_have_value(SIP_PASSWORD)
            await expect(page.locator("#operator-form-team_id")).to_have_value(str(gamma))
            await expect(page.locator("#operator-form-ok")).to_have_text("")
            await page.screenshot(path=str(shot), full_page=True)
            # a 422: the field's own error line says what is wrong
            await page.fill("#operator-form-extension", "20a")
            await page.click("#operator-form-save")
            await expect(page.locator("#operator-form-extension-err")).to_have_text("extension must be 2 to 10 digits 0-9")  # the directory rule, as the API words it
            await expect(page.locator("#operator-form-extension")).to_have_attribute("aria-invalid", "true")
            await expect(page.locator("#operator-form-name")).to_have_value("Eve Duplicate")
            names = [o["name"] for o in await get(admin, "/api/admin/operators")]
            assert "Eve Duplicate" not in names and len(names) == 5
            await page.click("#operator-form-cancel")  # "Clear"
            await expect(page.locator("#operator-form-name")).to_have_value("")

            # 5. rename the team and make Dora its lead
            await page.click("#tab-teams")
            await page.get_by_role("button", name="Edit team Gamma").click()
            await expect(page.locator("#team-form-name")).to_be_focused()
            await page.fill("#team-form-name", "Gamma Team")
            await page.select_option("#team-form-lead_id", str(dora["id"]))
            await page.press("#team-form-name", "Enter")
            await expect(page.locator("#team-form-ok")).to_have_text("Team “Gamma Team” saved.")
            assert {"id": gamma, "name": "Gamma Team", "lead_id": dora["id"]} in await get(admin, "/api/admin/teams")

            # 6. a known caller, found by part of its name; delete another one
            await page.click("#tab-callers")
            await page.wait_for_selector("#caller-form")
            await page.fill("#caller-form-number", "+79001230000")
            await page.fill("#caller-form-name", "Olga Zvezdina")
            await page.check("#caller-form-vip")
            await page.select_option("#caller-form-personal_manager_id", str(dora["id"]))
            await page.press("#caller-form-name", "Enter")
            await expect(page.locator("#caller-form-ok")).to_have_text("Known caller Olga Zvezdina (+79001230000) created.")
            found = await get(admin, "/api/admin/callers", q="+7900123")
            assert [(c["number"], c["name"], c["vip"], c["personal_manager_id"]) for c in found] == [
                ("+79001230000", "Olga Zvezdina", True, dora["id"])]
            await page.fill("#caller-q", "zvezd")
            await page.press("#caller-q", "Enter")
            await expect(page.locator("#callers-table tbody tr")).to_have_count(1)
            await expect(page.locator("#callers-table tbody tr")).to_contain_text("Olga Zvezdina")
            await expect(page.locator("#callers-table tbody tr")).to_contain_text("Dora Testova (2010)")
            await page.fill("#caller-q", "Scratch")
            await page.press("#caller-q", "Enter")
            await expect(page.locator("#callers-table tbody tr")).to_have_count(1)
            await page.get_by_role("button", name="Edit caller Scratch Caller").click()
            await page.click("#caller-form-delete")
            await expect(page.locator("#caller-form-ok")).to_have_text("Known caller Scratch Caller (+79009998877) deleted.")
            assert await get(admin, "/api/admin/callers", q="Scratch") == []

            # 7. a qa web user, then deactivated
            await page.click("#tab-users")
            await page.wait_for_selector("#user-form")
            await expect(page.locator("#user-form-operator_id")).to_be_hidden()  # only for the operator role
            await page.fill("#user-form-username", "qa2")
            await page.fill("#user-form-password", "qa2-pass-0123456789")
            await page.select_option("#user-form-role", "qa")
            await page.press("#user-form-password", "Enter")
            await expect(page.locator("#user-form-ok")).to_have_text("User qa2 created.")
            users = {u["username"]: u for u in await get(admin, "/api/admin/users")}
            assert users["qa2"]["role"] == "qa" and users["qa2"]["active"] is True
            qa2 = await api_client(base, "qa2", "qa2-pass-0123456789")
            await page.get_by_role("button", name="Deactivate qa2").click()
            await expect(page.locator("#user-form-ok")).to_have_text("User qa2 deactivated; their sessions were ended.")
            await expect(page.get_by_role("button", name="Reactivate qa2")).to_be_focused()
            users = {u["username"]: u for u in await get(admin, "/api/admin/users")}
            assert users["qa2"]["active"] is False
            assert (await qa2.get("/api/calls")).status_code == 401  # the open session ended
            await qa2.aclose()
            await expect(page.get_by_role("button", name="Deactivate admin")).to_be_disabled()  # not yourself

            # 8. qa never sees the Admin section, not even by its address
            await page.click("#logout")
            await log_in(page, "qa", PASSWORDS["qa"])
            await page.wait_for_selector("table#calls tbody tr")
            await expect(admin_link).to_be_hidden()
            await page.evaluate("() => { location.hash = '#/admin/operators'; }")
            await page.wait_for_function("() => location.hash === '#/calls'")
            await page.wait_for_selector("table#calls tbody tr")
            assert await page.locator("#operator-form, nav.tabs").count() == 0
        finally:
            await ctx.close()
            await admin.aclose()
    assert not errors, errors
    expected = {"409 POST", "422 POST"}  # the duplicate extension and the bad one, both on purpose
    unexpected = [b for b in bad if not b.endswith(("/api/auth/me", "/favicon.ico"))
                  and not (" ".join(b.split()[:2]) in expected and b.endswith("/api/admin/operators"))]
    assert not unexpected, bad
    assert shot.stat().st_size > 10_000
