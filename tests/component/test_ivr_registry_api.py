"""Dialplan versions through the HTTP routes: validate, upload, reject, diff, rollback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hotline.db.base import make_engine, make_sessionmaker
from hotline.paths import PROJECT_ROOT
from hotline.yamlsrc import DEFAULT_LIMITS
from ivr.api import build_router
from ivr.registry import DialplanRegistry
from ivr.store import DialplanVersionStore
from tests.support.databases import DbBackend

DEMO = (PROJECT_ROOT / "dialplan" / "hotline.yaml").read_text()


@pytest.fixture
async def api(tmp_path: Path, db_backend: DbBackend) -> AsyncIterator[tuple[httpx.AsyncClient, DialplanRegistry]]:
    async with db_backend.migrated(tmp_path) as url:
        engine = make_engine(url)
        file = tmp_path / "hotline.yaml"
        file.write_text(DEMO)
        registry = DialplanRegistry(file, DialplanVersionStore(make_sessionmaker(engine)))
        await registry.load_file()
        app = FastAPI()
        app.include_router(build_router(registry))  # under /api/dialplans
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://t") as client:
                yield client, registry
        finally:
            await engine.dispose()


async def test_upload_reject_diff_rollback(api: tuple[httpx.AsyncClient, DialplanRegistry]) -> None:
    client, registry = api
    v1 = registry.active.version_id
    bad = DEMO.replace("start: choose_language", "start: nowhere")
    r = await client.post("/api/dialplans/validate", json={"content": bad})
    assert r.status_code == 200 and not r.json()["ok"]
    line = bad.splitlines().index("start: nowhere") + 1
    assert any(p.startswith(f"upload:{line}:") for p in r.json()["problems"])

    r = await client.post("/api/dialplans/upload", json={"content": bad, "by": "admin"})
    assert r.status_code == 422 and r.json()["error_id"] == "dialplan_invalid"
    assert registry.active.version_id == v1  # nothing changed ...
    assert registry.health()["dialplan_error"]["problems"]  # ... and the error is visible

    v2_text = DEMO.replace("version: 1\n", "version: 2\n")
    r = await client.post("/api/dialplans/upload", json={"content": v2_text, "by": "admin"})
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["active"] and v2["created_by"] == "admin" and v2["version_id"].startswith(
        "lottery-hotline@2#")
    assert registry.health()["dialplan_ok"]

    versions = (await client.get("/api/dialplans/versions")).json()
    assert [v["active"] for v in versions] == [True, False]
    d = (await client.get("/api/dialplans/diff", params={"a": versions[1]["id"],
                                                          "b": v2["id"]})).json()["diff"]
    assert "-version: 1" in d and "+version: 2" in d

    r = await client.post("/api/dialplans/rollback", json={})
    assert r.status_code == 200 and r.json()["version_id"] == v1
    assert registry.active.version_id == v1
    r = await client.post(f"/api/dialplans/activate/{v2['id']}")
    assert r.status_code == 200 and registry.active.version_id == v2["version_id"]
    assert (await client.post("/api/dialplans/activate/999")).status_code == 404


async def test_rollback_returns_to_the_version_that_served_before(
    api: tuple[httpx.AsyncClient, DialplanRegistry],
) -> None:
    """Rows are kept in the order they were first stored: v1 (file), v2, v3 uploaded, then v1
    again by id and v3 again. A rollback goes to v1 (it served before v3), not to v2 (merely
    the older row); a second rollback goes back to v3, as an undo of the undo."""
    client, registry = api
    v1 = registry.active_version.id  # type: ignore[union-attr]
    ids = {}
    for n in (2, 3):
        r = await client.post("/api/dialplans/upload", json={
            "content": DEMO.replace("version: 1\n", f"version: {n}\n"), "by": "admin"})
        assert r.status_code == 201, r.text
        ids[n] = r.json()["id"]
    assert (await client.post(f"/api/dialplans/activate/{v1}")).status_code == 200
    assert (await client.post(f"/api/dialplans/activate/{ids[3]}")).status_code == 200
    r = await client.post("/api/dialplans/rollback", json={})
    assert r.status_code == 200 and r.json()["id"] == v1, r.text
    assert r.json()["activated_at"] is not None
    r = await client.post("/api/dialplans/rollback", json={})
    assert r.status_code == 200 and r.json()["id"] == ids[3], r.text
    versions = (await client.get("/api/dialplans/versions")).json()
    assert [v["id"] for v in versions if v["active"]] == [ids[3]]


# nine levels of nine aliases: 9**9 strings if expanded
LAUGHS = DEMO + "laughs0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"laughs{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)
)
RECURSIVE = DEMO.replace("name: lottery-hotline", "name: &n [*n]")


@pytest.mark.parametrize("text, first", [
    (LAUGHS, f"upload:{DEMO.count(chr(10)) + 1}:10: anchors are not allowed here (&l0)"),
    (RECURSIVE, f"upload:{DEMO.splitlines().index('name: lottery-hotline') + 1}:7: anchors "
                "are not allowed here (&n)"),
], ids=["billion-laughs", "recursive-alias"])
async def test_alias_bombs_are_refused_with_their_line(
    api: tuple[httpx.AsyncClient, DialplanRegistry], text: str, first: str
) -> None:
    client, registry = api
    assert RECURSIVE != DEMO
    v1 = registry.active.version_id
    r = await client.post("/api/dialplans/upload", json={"content": text, "by": "admin"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error_id"] == "dialplan_invalid"
    detail = body["details"]
    assert detail["problems"][0].startswith(first), detail["problems"]
    assert all("aliases are not allowed here" in p or "anchors are not allowed here" in p
               for p in detail["problems"])
    r = await client.post("/api/dialplans/validate", json={"content": text})
    assert r.status_code == 200 and not r.json()["ok"]
    assert r.json()["problems"][0].startswith(first)
    assert registry.active.version_id == v1
    assert registry.health()["dialplan_error"]["problems"][0].startswith(first)


async def test_other_requests_are_answered_while_a_costly_upload_is_checked(
    api: tuple[httpx.AsyncClient, DialplanRegistry],
) -> None:
    """The most expensive text the limits let through (the billion laughs after the demo,
    padded with a list up to the node limit: composing it takes most of a second) is
    checked in a worker thread: a request sent after it is answered before it, in < 1 s."""
    client, registry = api
    padding = "padding: [" + ",".join("x" for _ in range(DEFAULT_LIMITS.max_nodes - 1500)) + "]\n"
    costly = LAUGHS + padding
    assert len(costly.encode()) < DEFAULT_LIMITS.max_bytes
    loop = asyncio.get_running_loop()
    done: list[str] = []

    async def upload() -> httpx.Response:
        r = await client.post("/api/dialplans/upload", json={"content": costly})
        done.append("upload")
        return r

    async def active() -> tuple[httpx.Response, float]:
        await asyncio.sleep(0.05)  # the upload has started
        started = loop.time()
        r = await client.get("/api/dialplans/active")
        done.append("active")
        return r, loop.time() - started

    up, (act, took) = await asyncio.gather(upload(), active())
    assert took < 1.0, took
    assert done == ["active", "upload"]  # answered while the upload was still being checked
    assert act.status_code == 200 and act.json()["dialplan_ok"]
    assert up.status_code == 422
    assert "anchors are not allowed here (&l0)" in up.json()["details"]["problems"][0]
    # the same for /validate, and afterwards a good upload still goes through
    val, (act, took) = await asyncio.gather(
        client.post("/api/dialplans/validate", json={"content": costly}), active())
    assert not val.json()["ok"] and act.status_code == 200 and took < 1.0
    r = await client.post("/api/dialplans/upload",
                          json={"content": DEMO.replace("version: 1\n", "version: 2\n")})
    assert r.status_code == 201, r.text
