"""FastAGI hardening on the real Asterisk: calls come through the instance's key, and a service
that does not answer (frozen, refusing) strands no caller, while a slow one keeps its calls."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from callrouting.model import Presence
from directory.tables import OperatorRow
from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.db.calls import CallRow
from hotline.pbx.agi import KEY_FILE, AgiChannel
from hotline.pbx.asterisk import AsteriskInstance
from hotline.pbx.sipp import place_call
from tests.e2e.peers import SippOperator
from tests.e2e.service_process import READY, write_settings
from tests.support.callflow import FoundationCallFlow
from tests.support.stored import ended_call, newest_call

REPO = Path(__file__).resolve().parents[2]
FROZEN_DEADLINE = 10.0  # a caller of a frozen service reaches an operator within this


class LogTail:
    """What Asterisk writes to its console log from now on."""

    def __init__(self, asterisk: AsteriskInstance):
        self.path = asterisk.log_file
        self.start = self.path.stat().st_size

    def text(self) -> str:
        with self.path.open("rb") as f:
            f.seek(self.start)
            return f.read().decode(errors="replace")


async def calls_of(sm, caller_id_raw: str) -> list[CallRow]:  # type: ignore[no-untyped-def]
    async with sm() as s:
        return list((await s.scalars(select(CallRow).where(CallRow.caller_id_raw == caller_id_raw))).all())


async def operator_answered(operator: SippOperator, timeout: float) -> float:
    """The monotonic time at which the operator got the ACK of its 200 OK (the call is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(r"^ACK sip:", operator.messages(), re.M):
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise AssertionError("the operator was not reached:\n" + operator.messages()[-2000:])


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
    assert stat.S_IMODE((etc / KEY_FILE).stat().st_mode) == 0o640  # and Asterisk's group
    tail = LogTail(asterisk)
    res = await place_call(target=sip_target, caller_id="89161230001", steps=[], timeout=30)
    assert res.ok, res.stderr + res.messages[-3000:]
    call = await ended_call(service.sessionmaker, "89161230001")
    assert call is not None and call.outcome == "completed"
    assert [p["step"] for p in call.path] == ["answered", "greeting"]
    assert service.agi.refused == 0
    log = tail.text()
    assert "Channel will hangup at" in log  # the first-answer guard was set ...
    assert "Channel hangup cancelled." in log  # ... and lifted by the service's first answer
    assert "no first answer" not in log and "Hotline service unavailable" not in log
    # the key is in no Asterisk log and no other configuration file
    logs = [p for p in (asterisk.dir / "log").rglob("*") if p.is_file()]
    assert logs and not any(key in p.read_text(errors="replace") for p in logs)
    assert [p.name for p in etc.iterdir() if p.is_file() and key in p.read_text(errors="replace")] == [KEY_FILE]


async def test_a_service_with_another_key_refuses_the_call_and_the_pool_answers(
    asterisk: AsteriskInstance, e2e_settings: Settings, sip_target: str,
) -> None:
    """Keys that do not match (a misconfiguration): the service serves nothing, Asterisk puts
    the caller into the pool, and the guard (lifted after AGI) does not cut that call short."""
    other = e2e_settings.model_copy(update={"service": e2e_settings.service.model_copy(
        update={"agi_secret": SecretStr("another-key-not-asterisks-0123")})})
    served: list[str] = []

    async def handler(chan: AgiChannel) -> None:
        served.append(chan.uniqueid)

    operator = SippOperator("1003", "demo-pass-1003", e2e_settings.asterisk.sip_port,
                            answer_delay_ms=300, talk_ms=5000)  # talks past the 3 s guard
    tail = LogTail(asterisk)
    async with started(Service(other, handler=handler)) as svc:
        await operator.start()
        try:
            await asyncio.sleep(1.0)  # registered
            res = await place_call(target=sip_target, caller_id="+79990007788", steps=[], timeout=40)
            assert res.ok, res.stderr + res.messages[-2000:]
            assert await operator.wait(20) == 0, operator.messages()[-2000:]
            assert "BYE sip:" in operator.messages()  # the operator hung up: not cut by Asterisk
        finally:
            await operator.stop()
        assert svc.agi.refused == 1 and served == []
        # stopped, the sipp operator unregistered: later tests do not see it available
        await svc.presence.wait_for("1003", Presence.UNAVAILABLE, timeout=5)
    assert await newest_call(svc.sessionmaker, "+79990007788") is None
    assert "Hotline service unavailable (AGISTATUS=SUCCESS)" in tail.text()


async def test_a_slow_service_keeps_the_calls_it_serves(asterisk: AsteriskInstance, e2e_settings: Settings,
                                                        sip_target: str) -> None:
    """The guard is on the first answer only: a flow that then takes longer than the guard
    before it answers the call still completes it."""
    guard = e2e_settings.asterisk.agi_first_answer_timeout
    svc = Service(e2e_settings, with_bot=False)
    flow = FoundationCallFlow(svc.store, country=e2e_settings.country)

    async def slow(chan: AgiChannel) -> None:
        await asyncio.sleep(guard + 2)  # e.g. a slow database, after the handshake
        await flow(chan)

    svc.agi.handler = slow
    tail = LogTail(asterisk)
    async with started(svc):
        res = await place_call(target=sip_target, caller_id="89161230002", steps=[], timeout=40)
        assert res.ok, res.stderr + res.messages[-2000:]
        call = await ended_call(svc.sessionmaker, "89161230002")
    assert call is not None and call.outcome == "completed"
    log = tail.text()
    assert "Channel hangup cancelled." in log
    assert "no first answer" not in log and "Hotline service unavailable" not in log


async def test_a_frozen_service_strands_no_caller_and_serves_again(
    asterisk: AsteriskInstance, e2e_settings: Settings, sip_target: str, tmp_path: Path,
) -> None:
    """The service process is stopped with SIGSTOP: Asterisk's guard puts a new caller through
    to an operator of the pool within FROZEN_DEADLINE; after SIGCONT the service serves again,
    and its reconciliation records the call it never served (from Asterisk's CDR) as
    `fallback_answered` by that operator."""
    settings = e2e_settings.model_copy(update={"service": e2e_settings.service.model_copy(
        update={"reconcile_interval": 2.0})})  # a pass soon after the service wakes
    settings_file = write_settings(settings, tmp_path / "settings.json")
    out = tmp_path / "service.log"
    with out.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.e2e.service_process", str(settings_file),
            cwd=REPO, stdout=sink, stderr=asyncio.subprocess.STDOUT,
        )
    operator = SippOperator("1007", "demo-pass-1007", e2e_settings.asterisk.sip_port,
                            answer_delay_ms=300, talk_ms=2000)
    tail = LogTail(asterisk)
    frozen = False
    try:
        deadline = time.monotonic() + 30
        while READY not in out.read_text(errors="replace"):
            assert proc.returncode is None and time.monotonic() < deadline, out.read_text()[-3000:]
            await asyncio.sleep(0.1)
        await operator.start()
        await asyncio.sleep(1.0)  # registered

        os.kill(proc.pid, signal.SIGSTOP)
        frozen = True
        t0 = time.monotonic()
        call = asyncio.create_task(
            place_call(target=sip_target, caller_id="+79990009900", steps=[], timeout=40))
        answered = await operator_answered(operator, timeout=FROZEN_DEADLINE + 10)
        res = await call
        waited = answered - t0
        print(f"\nfrozen service: the caller reached an operator after {waited:.2f} s")
        assert res.ok, res.stderr + res.messages[-2000:]
        assert waited < FROZEN_DEADLINE, f"{waited:.2f} s"
        log = tail.text()
        assert "no first answer within" in log, log[-3000:]

        os.kill(proc.pid, signal.SIGCONT)
        frozen = False
        res = await place_call(target=sip_target, caller_id="89161230003", steps=[], timeout=30)
        assert res.ok, res.stderr + res.messages[-2000:]
        from hotline.db.base import make_engine, make_sessionmaker

        engine = make_engine(e2e_settings.database_url)
        try:
            sm = make_sessionmaker(engine)
            served = await ended_call(sm, "89161230003")
            # the frozen service never served the first caller (its session had ended when
            # the service woke: nothing half-stored); a reconciliation pass adds its row
            async with asyncio.timeout(30):
                while (stranded := await calls_of(sm, "+79990009900")) == []:
                    await asyncio.sleep(0.5)
            async with sm() as s:
                op_1007 = await s.scalar(select(OperatorRow.id).where(OperatorRow.extension == "1007"))
        finally:
            await engine.dispose()
        assert served is not None and served.outcome == "completed"
        assert [(r.outcome, r.answered_by_id) for r in stranded] == [("fallback_answered", op_1007)]
        assert op_1007 is not None and stranded[0].ended_at is not None
        assert [p["node"] for p in stranded[0].path or []] == ["(reconciled)"]
    finally:
        if frozen:
            os.kill(proc.pid, signal.SIGCONT)
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await operator.stop()
    assert "1007/sip:" not in asterisk.rx("pjsip show contacts")  # the operator unregistered
    text = out.read_text(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    assert "agi.session_failed" not in text and "Traceback" not in text, text[-3000:]
