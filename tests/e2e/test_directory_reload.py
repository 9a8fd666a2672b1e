"""Directory changes through the admin API reach the running Asterisk and presence.

An operator added over the API can register at once and is in the pool queue; deactivated
it leaves the queue and shows unavailable; deleted, its phone can no longer register.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import httpx

from hotline.app.service import Service
from hotline.pbx.asterisk import AsteriskInstance
from tests.e2e.conftest import api_client
from tests.e2e.peers import Baresip

EXT, PASSWORD = "1010", "directory-reload-1010"


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.2)


async def presence_of(qa: httpx.AsyncClient, extension: str) -> str | None:
    r = await qa.get("/api/operators")
    r.raise_for_status()
    return next((o["presence"] for o in r.json() if o["extension"] == extension), None)


def in_pool(asterisk: AsteriskInstance, service: Service, extension: str) -> bool:
    out = asterisk.rx(f"queue show {service.settings.asterisk.pool_queue}")
    return re.search(rf"PJSIP/{extension}\b", out) is not None


async def test_operator_added_deactivated_and_deleted_over_the_api(
    service: Service, asterisk: AsteriskInstance, sip_target: str
) -> None:
    sip_port = service.settings.asterisk.sip_port
    assert not in_pool(asterisk, service, EXT)
    async with api_client(service, "admin") as admin, api_client(service, "qa") as qa:
        r = await admin.post("/api/admin/operators", json={
            "name": "Reload Tester", "extension": EXT, "sip_password": PASSWORD})
        assert r.status_code == 201, r.text
        op_id = r.json()["id"]
        phone = Baresip(EXT, PASSWORD, sip_port)
        try:
            await phone.start(timeout=5)  # registered: the endpoint exists now
            await eventually(lambda: _is(presence_of(qa, EXT), "available"), "available to QA")
            assert in_pool(asterisk, service, EXT)

            r = await admin.patch(f"/api/admin/operators/{op_id}", json={"active": False})
            assert r.status_code == 200, r.text
            assert not in_pool(asterisk, service, EXT)
            await eventually(lambda: _is(presence_of(qa, EXT), "unavailable"), "unavailable")
            assert "unavailable" == str(service.presence.get(EXT))
        finally:
            await phone.stop()

        r = await admin.delete(f"/api/admin/operators/{op_id}")
        assert r.status_code == 204, r.text
        assert await presence_of(qa, EXT) is None
        assert EXT not in service.presence.snapshot()
        assert not in_pool(asterisk, service, EXT)
        again = Baresip(EXT, PASSWORD, sip_port)
        try:
            await again.start(wait_registered=False)
            line = await again.wait_for_line(rf"reg: sip:{EXT}@\S+: (401|403|404) ", timeout=10)
            assert not again._registered.is_set(), line
        finally:
            await again.stop()


async def _is(value: Awaitable[str | None], expected: str) -> bool:
    return await value == expected
