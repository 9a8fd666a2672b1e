"""backoffice/directory.py: the admin endpoints (teams, operators, known callers) beyond the
access table: the 404 and 409 answers, partial updates, and the directory-changed hook that
reloads Asterisk's configuration (called for teams and operators, not for known callers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.qa_env import PASSWORDS, QaServices, QaTestEnv

pytestmark = pytest.mark.component


@pytest.fixture
async def api(env: QaTestEnv) -> AsyncIterator[tuple[httpx.AsyncClient, QaServices]]:
    """The app as admin; `QaServices.directory_changes` counts the directory-changed hook."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(env.app), base_url="http://a.test") as c:
        r = await c.post("/api/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]})
        assert r.status_code == 200
        c.headers["Authorization"] = "Bearer " + r.json()["access_token"]
        c.cookies.clear()
        yield c, env.services


async def _ok(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


async def test_team_create_conflict_patch_delete(api: tuple[httpx.AsyncClient, QaServices]) -> None:
    c, hook = api
    team = await _ok(await c.post("/api/admin/teams", json={"name": "Night shift"}), 201)
    assert hook.directory_changes == 1
    dup = await c.post("/api/admin/teams", json={"name": "Night shift"})
    assert dup.status_code == 409 and hook.directory_changes == 1  # nothing committed, no reload
    assert dup.json()["details"] == {"what": "team", "kind": "duplicate", "field": "name"}
    gone = await c.post("/api/admin/teams", json={"name": "Orphans", "lead_id": 999999})
    assert gone.status_code == 409 and gone.json()["details"]["kind"] == "unknown_reference"
    patched = await _ok(await c.patch(f"/api/admin/teams/{team['id']}", json={"name": "Nights"}), 200)
    assert patched["name"] == "Nights" and hook.directory_changes == 2
    assert (await c.patch("/api/admin/teams/999999", json={"name": "x"})).status_code == 404
    assert (await c.delete("/api/admin/teams/999999")).status_code == 404
    await _ok(await c.delete(f"/api/admin/teams/{team['id']}"), 204)
    assert hook.directory_changes == 3
    names = [t["name"] for t in await _ok(await c.get("/api/admin/teams"), 200)]
    assert "Nights" not in names


async def test_operator_patch_is_partial_and_backups_validate(api: tuple[httpx.AsyncClient, QaServices]) -> None:
    c, hook = api
    ops = await _ok(await c.get("/api/admin/operators"), 200)
    first, second = ops[0], ops[1]
    patched = await _ok(await c.patch(f"/api/admin/operators/{first['id']}",
                                      json={"name": "Renamed"}), 200)  # fmt: skip
    assert patched["name"] == "Renamed" and patched["extension"] == first["extension"]
    assert "password" not in patched and "sip_password" not in patched  # write-only
    assert hook.directory_changes == 1
    assert (await c.patch("/api/admin/operators/999999", json={"name": "x"})).status_code == 404
    backups = await _ok(await c.put(f"/api/admin/operators/{first['id']}/backups",
                                    json={"backup_ids": [second["id"]]}), 200)  # fmt: skip
    assert backups["backup_ids"] == [second["id"]] and hook.directory_changes == 2
    own = await c.put(f"/api/admin/operators/{first['id']}/backups", json={"backup_ids": [first["id"]]})
    assert own.status_code == 422 and hook.directory_changes == 2
    missing = await c.put("/api/admin/operators/999999/backups", json={"backup_ids": []})
    assert missing.status_code == 404
    assert (await c.delete("/api/admin/operators/999999")).status_code == 404


async def test_known_callers_do_not_reload_the_directory(api: tuple[httpx.AsyncClient, QaServices]) -> None:
    c, hook = api
    body = {"number": "+79001234567", "name": "Zinovy Quarkov"}
    caller = await _ok(await c.post("/api/admin/callers", json=body), 201)
    assert (await c.post("/api/admin/callers", json=body)).status_code == 409
    patched = await _ok(await c.patch(f"/api/admin/callers/{caller['id']}", json={"vip": True}), 200)
    assert patched["vip"] is True and patched["name"] == "Zinovy Quarkov"
    found = await _ok(await c.get("/api/admin/callers", params={"q": "Quarkov"}), 200)
    assert [x["id"] for x in found] == [caller["id"]]
    assert (await c.patch("/api/admin/callers/999999", json={"vip": True})).status_code == 404
    await _ok(await c.delete(f"/api/admin/callers/{caller['id']}"), 204)
    assert (await c.delete(f"/api/admin/callers/{caller['id']}")).status_code == 404
    assert hook.directory_changes == 0


@pytest.mark.parametrize(("orig", "kind", "field"), [
    ("UNIQUE constraint failed: operators.extension", "duplicate", "extension"),
    ('duplicate key value violates unique constraint "uq_operators_extension"\n'
     "DETAIL:  Key (extension)=(2001) already exists.", "duplicate", "extension"),
    ("FOREIGN KEY constraint failed", "unknown_reference", None),
    ('insert or update on table "teams" violates foreign key constraint "fk_teams_lead"',
     "unknown_reference", None),
    ("NOT NULL constraint failed: teams.name", "conflict", None),
])  # fmt: skip
def test_conflicts_are_told_apart_in_sqlite_and_postgresql_wording(orig: str, kind: str,
                                                                  field: str | None) -> None:
    from sqlalchemy.exc import IntegrityError

    from backoffice.common import conflict_kind

    assert conflict_kind(IntegrityError("INSERT ...", {}, Exception(orig))) == (kind, field)


async def test_deleting_an_operator_retires_its_operator_web_user(
        api: tuple[httpx.AsyncClient, QaServices], env: QaTestEnv) -> None:  # fmt: skip
    c, _ = api
    users = {u["username"]: u for u in await _ok(await c.get("/api/admin/users"), 200)}
    op_user = users["operator"]
    assert op_user["role"] == "operator" and op_user["operator_id"] is not None
    transport = c._transport  # the same app, as the operator
    async with httpx.AsyncClient(transport=transport, base_url="http://a.test") as op:
        r = await op.post("/api/auth/login", json={"username": "operator",
                                                   "password": PASSWORDS["operator"]})  # fmt: skip
        token = {"Authorization": "Bearer " + r.json()["access_token"]}
        op.cookies.clear()
        assert (await op.get("/api/auth/me", headers=token)).status_code == 200
        await _ok(await c.delete(f"/api/admin/operators/{op_user['operator_id']}"), 204)
        assert (await op.get("/api/auth/me", headers=token)).status_code == 401
    after = {u["username"]: u for u in await _ok(await c.get("/api/admin/users"), 200)}
    assert after["operator"]["active"] is False and after["operator"]["operator_id"] is None
    assert after["admin"]["active"] is True and after["qa"]["active"] is True


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("name", "Eve,PJSIP/1001", "','"),  # would become extra fields of a queues.conf member line
    ("name", "Anna ", "space"),  # passed the API once, then failed the config writer
    ("name", "Anna\nEve", "line break"),
    ("name", "Я" * 40, "at most 79"),  # Asterisk keeps 79 bytes of a member name
    ("sip_password", "short", "12"),
    ("extension", "10a1", "digits"),
])
async def test_operator_that_asterisk_cannot_carry_is_refused_and_nothing_changes(
        api: tuple[httpx.AsyncClient, QaServices], field: str, value: str, reason: str) -> None:
    c, hook = api
    before = await _ok(await c.get("/api/admin/operators"), 200)
    body = {"name": "Eve Adams", "extension": "1091", "sip_password": "a-long-password-1091",
            field: value}
    r = await c.post("/api/admin/operators", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error_id"] == "invalid_request"
    assert reason in r.text
    assert value not in r.text or field != "sip_password"  # a password is never echoed
    if field != "extension":
        r = await c.patch(f"/api/admin/operators/{before[0]['id']}", json={field: value})
        assert r.status_code == 422, r.text
    assert await _ok(await c.get("/api/admin/operators"), 200) == before
    assert hook.directory_changes == 0  # Asterisk's config never rewritten


@pytest.mark.parametrize(("body", "reason"), [
    ({"number": "89161234599", "name": "Oleg"}, "+7916"),  # not canonical E.164: says which is
    ({"number": "+79161234599", "name": "Oleg;x"}, "';'"),
    ({"number": "+79161234599", "name": "Oleg", "language": "russian"}, "language"),
])
async def test_caller_the_directory_rules_refuse_gets_422(
        api: tuple[httpx.AsyncClient, QaServices], body: dict[str, Any], reason: str) -> None:
    c, _ = api
    r = await c.post("/api/admin/callers", json=body)
    assert r.status_code == 422, r.text
    assert reason in r.text
