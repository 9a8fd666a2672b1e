"""Foundation on the real Asterisk: FastAGI call flow, presence, fallback, AMI reconnect."""

from __future__ import annotations

import asyncio

from callrouting.model import Presence
from hotline.app.service import Service
from hotline.pbx.console import run_command
from hotline.pbx.sipp import place_call
from tests.e2e.conftest import api_client
from tests.e2e.peers import Baresip, SippOperator


async def test_call_reaches_service_and_is_stored(service: Service, sip_target: str) -> None:
    from tests.support.callflow import FoundationCallFlow
    from tests.support.stored import ended_call

    service.agi.handler = FoundationCallFlow(service.store, country=service.settings.country)
    res = await place_call(target=sip_target, caller_id="89161234567", steps=[], timeout=30)
    assert res.ok, res.stderr + res.messages[-3000:]
    call = await ended_call(service.sessionmaker, "89161234567")  # written behind the call
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
        async with api_client(service, "qa") as http:
            ops = {o["extension"]: o for o in (await http.get("/api/operators")).json()}
        async with _client(service) as anonymous:
            assert (await anonymous.get("/api/operators")).status_code == 401
        assert ops["1002"]["presence"] == "available"
        assert ops["1001"]["presence"] == "unavailable"
    finally:
        await phone.stop()
    await service.presence.wait_for("1002", Presence.UNAVAILABLE, timeout=5)


def _client(service: Service):  # type: ignore[no-untyped-def]
    import httpx

    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.settings.service.http_port}")


async def test_presence_ringing_then_in_use(service: Service) -> None:
    phone = Baresip("1003", "demo-pass-1003", service.settings.asterisk.sip_port, auto_answer=False)
    try:
        await phone.start()
        await service.presence.wait_for("1003", Presence.AVAILABLE, timeout=2)
        # the CLI, as root on the control socket: the service's AMI user may not originate
        await run_command(service.asterisk.control_socket, "channel originate PJSIP/1003 application Wait 5")
        await service.presence.wait_for("1003", Presence.RINGING, timeout=5)
        try:
            await phone.wait_for_line(r"(?i)incoming call", timeout=5)
        except TimeoutError:
            raise AssertionError("\n".join(phone.lines)) from None
        resp = await phone.answer()
        try:
            await service.presence.wait_for("1003", Presence.IN_USE, timeout=5)
        except TimeoutError:
            raise AssertionError(f"{resp}\n" + "\n".join(phone.lines)) from None
        await service.presence.wait_for("1003", Presence.AVAILABLE, timeout=10)  # Wait(5) ends
    finally:
        await phone.stop()


async def test_service_down_pool_still_answers(asterisk, e2e_settings, sip_target: str) -> None:  # type: ignore[no-untyped-def]
    """No service on the FastAGI port: Asterisk itself queues the caller to the pool."""
    operator = SippOperator("1004", "demo-pass-1004", e2e_settings.asterisk.sip_port,
                            answer_delay_ms=300, talk_ms=1500)
    await operator.start()
    try:
        await asyncio.sleep(1.0)  # registered
        res = await place_call(target=sip_target, caller_id="+79990001122", steps=[], timeout=40)
        assert res.ok, res.stderr + res.messages[-2000:]
        assert await operator.wait(20) == 0, operator.messages()[-2000:]
        assert "INVITE sip:1004@" in operator.messages()
    finally:
        await operator.stop()
    log = asterisk.log_file.read_text(errors="replace")
    assert "Hotline service unavailable" in log


async def test_ami_reconnects_after_asterisk_restart(service: Service, asterisk) -> None:  # type: ignore[no-untyped-def]
    phone = Baresip("1005", "demo-pass-1005", service.settings.asterisk.sip_port)
    try:
        await phone.start()
        await service.presence.wait_for("1005", Presence.AVAILABLE, timeout=2)
        connections = service.ami.connections
        await asyncio.to_thread(asterisk.stop)
        async with asyncio.timeout(10):
            while service.ami.connected:
                await asyncio.sleep(0.05)
        assert service.presence.get("1005") != Presence.AVAILABLE  # stale, not silently old
        await asyncio.to_thread(asterisk.start)
        async with asyncio.timeout(20):
            while not (service.ami.connected and service.ami.connections > connections):
                await asyncio.sleep(0.1)
        # after the resync the phone is known again (its contact survives in astdb, or it
        # re-registers) and an unregistered operator is still unavailable
        await service.presence.wait_for("1005", Presence.AVAILABLE, timeout=15)
        assert service.presence.get("1001") == Presence.UNAVAILABLE
        async with _client(service) as http:
            health = (await http.get("/health")).json()
        assert health["ami_connected"] and health["asterisk_version"].startswith("22")
    finally:
        await phone.stop()


async def test_wrong_ami_secret_is_one_clear_error_and_keeps_retrying(asterisk, e2e_settings) -> None:  # type: ignore[no-untyped-def]
    import structlog

    svc = Service(e2e_settings, secret="definitely-not-the-secret")
    with structlog.testing.capture_logs() as logs:
        await svc.start()
        try:
            await asyncio.sleep(4)  # several retries with backoff
            assert not svc.ami.connected and svc.ami.connections == 0
            assert "Authentication failed" in (svc.ami.last_error or "")
            async with _client(svc) as http:
                health = (await http.get("/health")).json()
            assert health["status"] == "degraded" and health["ami_connected"] is False
            assert health["database_ok"] is True
        finally:
            await svc.stop()
    failed = [e for e in logs if e["event"] == "ami.login_failed" and e["log_level"] != "debug"]
    assert len(failed) == 1, failed  # one clear message, not one per retry
    assert "secret" in failed[0].get("hint", "")


async def test_service_crash_mid_call_still_reaches_the_pool(asterisk, e2e_settings, sip_target: str) -> None:  # type: ignore[no-untyped-def]
    """The session dies after answering (a bug, a crash): the caller is not left in silence."""
    from hotline.pbx.agi import AgiChannel

    async def crashing(chan: AgiChannel) -> None:
        await chan.answer()
        await chan.stream_file("beep")
        raise RuntimeError("simulated crash in the middle of a call")

    svc = Service(e2e_settings, handler=crashing)
    operator = SippOperator("1006", "demo-pass-1006", e2e_settings.asterisk.sip_port,
                            answer_delay_ms=300, talk_ms=1000)
    await svc.start()
    await operator.start()
    try:
        res = await place_call(target=sip_target, caller_id="+79990003344", steps=[], timeout=40)
        assert res.ok, res.stderr + res.messages[-2000:]
        assert await operator.wait(20) == 0, operator.messages()[-2000:]
    finally:
        await operator.stop()
        await svc.stop()
