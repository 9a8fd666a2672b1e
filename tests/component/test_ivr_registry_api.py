"""Dialplan versions through the HTTP routes: validate, upload, reject, diff, rollback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hotline.db import migrate
from hotline.db.base import make_engine, make_sessionmaker
from hotline.paths import PROJECT_ROOT
from ivr.api import build_router
from ivr.registry import DialplanRegistry
from ivr.store import DialplanVersionStore

DEMO = (PROJECT_ROOT / "dialplan" / "hotline.yaml").read_text()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, DialplanRegistry]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/t.db"
    await migrate.upgrade(url)
    engine = make_engine(url)
    file = tmp_path / "hotline.yaml"
    file.write_text(DEMO)
    registry = DialplanRegistry(file, DialplanVersionStore(make_sessionmaker(engine)))
    await registry.load_file()
    app = FastAPI()
    app.include_router(build_router(registry))  # under /api/dialplans
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        yield client, registry
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
