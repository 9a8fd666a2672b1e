"""FastAGI hardening on the real Asterisk: calls come through the instance's key."""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator

from pydantic import SecretStr
from sqlalchemy import select

from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.db.calls import CallRow
from hotline.pbx.agi import KEY_FILE, AgiChannel
from hotline.pbx.asterisk import AsteriskInstance
from hotline.pbx.sipp import place_call
from tests.e2e.peers import SippOperator
from tests.support.callflow import FoundationCallFlow


class LogTail:
    """What Asterisk writes to its console log from now on."""

    def __init__(self, asterisk: AsteriskInstance):
        self.path = asterisk.log_file
        self.start = self.path.stat().st_size

    def text(self) -> str:
        with self.path.open("rb") as f:
            f.seek(self.start)
            return f.read().decode(errors="replace")


async def newest_call(service_or_sm, caller_id_raw: str) -> CallRow | None:  # type: ignore[no-untyped-def]
    async with service_or_sm() as s:
        return await s.scalar(select(CallRow).where(CallRow.caller_id_raw == caller_id_raw)
                              .order_by(CallRow.id.desc()))


@contextlib.asynccontextmanager
async def started(svc: Service) -> AsyncIterator[Service]:
    await svc.start()
    try:
        await svc.ami.wait_connected(10)
        yield svc
    finally:
        await svc.stop()


async def test_a_real_call_is_served_through_the_key(asterisk: AsteriskInstance, service: Service,
                                                     sip_target: str) -> None:
    service.agi.handler = FoundationCallFlow(service.store, country=service.settings.country)
    key = service.agi_secret
    etc = asterisk.dir / "etc"
    assert (etc / KEY_FILE).read_text().count(key) == 1
    assert stat.S_IMODE((etc / KEY_FILE).stat().st_mode) == 0o600
    tail = LogTail(asterisk)
    res = await place_call(target=sip_target, caller_id="89161230001", steps=[], timeout=30)
    assert res.ok, res.stderr + res.messages[-3000:]
    call = await newest_call(service.sessionmaker, "89161230001")
    assert call is not None and call.outcome == "completed"
    assert [p["step"] for p in call.path] == ["answered", "greeting"]
    assert service.agi.refused == 0
    assert "Hotline service unavailable" not in tail.text()
    # the key is in no Asterisk log and no other configuration file
    logs = [p for p in (asterisk.dir / "log").rglob("*") if p.is_file()]
    assert logs and not any(key in p.read_text(errors="replace") for p in logs)
    assert [p.name for p in etc.iterdir() if p.is_file() and key in p.read_text(errors="replace")] == [KEY_FILE]


async def test_a_service_with_another_key_refuses_the_call_and_the_pool_answers(
    asterisk: AsteriskInstance, e2e_settings: Settings, sip_target: str,
) -> None:
    """Keys that do not match (a misconfiguration): the service serves nothing, Asterisk puts
    the caller into the pool."""
    other = e2e_settings.model_copy(update={"service": e2e_settings.service.model_copy(
        update={"agi_secret": SecretStr("another-key-not-asterisks-0123")})})
    served: list[str] = []

    async def handler(chan: AgiChannel) -> None:
        served.append(chan.uniqueid)

    operator = SippOperator("1003", "demo-pass-1003", e2e_settings.asterisk.sip_port,
                            answer_delay_ms=300, talk_ms=5000)
    tail = LogTail(asterisk)
    async with started(Service(other, handler=handler)) as svc:
        await operator.start()
        try:
            await asyncio.sleep(1.0)  # registered
            res = await place_call(target=sip_target, caller_id="+79990007788", steps=[], timeout=40)
            assert res.ok, res.stderr + res.messages[-2000:]
            assert await operator.wait(20) == 0, operator.messages()[-2000:]
            assert "BYE sip:" in operator.messages()  # the operator hung up
        finally:
            await operator.stop()
        assert svc.agi.refused == 1 and served == []
    assert await newest_call(svc.sessionmaker, "+79990007788") is None
    assert "Hotline service unavailable (AGISTATUS=SUCCESS)" in tail.text()
