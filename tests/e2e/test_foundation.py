"""Foundation on the real Asterisk: FastAGI call flow, presence, fallback, AMI reconnect."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from callrouting.model import Presence
from hotline.db import CallRow
from hotline.service import Service
from hotline.sipp import Pause, place_call
from tests.e2e.peers import Baresip


async def test_call_reaches_service_and_is_stored(service: Service, sip_target: str) -> None:
    res = await place_call(target=sip_target, caller_id="89161234567", steps=[], timeout=30)
    assert res.ok, res.stderr + res.messages[-3000:]
    async with service.sessionmaker() as s:
        call = await s.scalar(select(CallRow).where(CallRow.caller_id_raw == "89161234567")
                              .order_by(CallRow.id.desc()))
    assert call is not None
    assert call.uniqueid and call.uniqueid.split("-")[-1][0].isdigit()
    assert call.caller_number == "+79161234567"  # national form normalised to E.164
    assert call.caller_name == "Maria Ivanova"  # known caller from the demo directory
    assert call.outcome == "completed"
    assert [p["step"] for p in call.path] == ["answered", "greeting"]
    assert call.ended_at is not None and call.ended_at >= call.started_at


async def test_presence_follows_registration(service: Service) -> None:
    phone = Baresip("1002", "demo-pass-1002", service.settings.asterisk.sip_port)
    try:
        await phone.start()
        await service.presence.wait_for("1002", Presence.AVAILABLE, timeout=2)
        async with _client(service) as http:
            ops = {o["extension"]: o for o in (await http.get("/api/operators")).json()}
        assert ops["1002"]["presence"] == "available"
        assert ops["1001"]["presence"] == "unavailable"
    finally:
        await phone.stop()
    await service.presence.wait_for("1002", Presence.UNAVAILABLE, timeout=5)


def _client(service: Service):  # type: ignore[no-untyped-def]
    import httpx

    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.settings.service.http_port}")
