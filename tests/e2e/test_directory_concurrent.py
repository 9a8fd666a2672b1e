"""Concurrent directory changes are applied one at a time and the last state wins."""

from __future__ import annotations

import asyncio

from hotline.app.service import Service
from hotline.pbx.asterisk import AsteriskInstance
from tests.e2e.conftest import api_client
from tests.e2e.test_directory_reload import in_pool

EXTS = ["1021", "1022", "1023"]


async def test_concurrent_operator_changes_all_reach_asterisk(
    service: Service, asterisk: AsteriskInstance
) -> None:
    async with api_client(service, "admin") as admin:
        created = await asyncio.gather(*(
            admin.post("/api/admin/operators", json={
                "name": f"Parallel {ext}", "extension": ext, "sip_password": f"parallel-pass-{ext}"})
            for ext in EXTS
        ))
        assert [r.status_code for r in created] == [201] * len(EXTS), [r.text for r in created]
        for ext in EXTS:
            assert in_pool(asterisk, service, ext)
            assert ext in service.presence.snapshot()
        endpoints = asterisk.rx("pjsip show endpoints")
        assert all(f" {ext} " in endpoints or f" {ext}/" in endpoints for ext in EXTS), endpoints

        deleted = await asyncio.gather(*(
            admin.delete(f"/api/admin/operators/{r.json()['id']}") for r in created))
        assert [r.status_code for r in deleted] == [204] * len(EXTS)
        for ext in EXTS:
            assert not in_pool(asterisk, service, ext)
            assert ext not in service.presence.snapshot()
        assert not any(f" {ext}/" in asterisk.rx("pjsip show endpoints") for ext in EXTS)
