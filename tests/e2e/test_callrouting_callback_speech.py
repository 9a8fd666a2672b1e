"""Issue 11's "press 1 (or say 'call me back')" on the real Asterisk (docs/decisions/0008,
addendum).  The callers are sipp UACs whose side of the call is one rendered RTP stream
(tests/e2e/bot_scripts.py: the project's TTS voice for the speech, RFC 4733 for the keys);
they wait in the pool while the only operator is busy.  The dialplan has
`queue.callback.listen: true`, so the service hears them through a spy channel (ChanSpy
`qoES`) on the voice bot's AudioSocket server while they stay in Queue()."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from callrouting.tables import CallbackRow
from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.pbx.asterisk import AsteriskInstance
from hotline.pbx.sipp import Audio, place_call, sipp_available
from tests.e2e.bot_scripts import Key, Say, Script, caller_voice, render_pcap
from tests.e2e.test_callrouting_callbacks import DIALPLAN, callback_service
from tests.e2e.test_callrouting_waiting import (
    Callers,
    announcements,
    answered_by,
    call_row,
    op_id,
    operator,
    until,
)
from voicebot.task_success import Goal

pytestmark = pytest.mark.skipif(not sipp_available(), reason="sipp (sip-tester) is not installed")

LISTEN_DIALPLAN = DIALPLAN.replace(
    "    business_hours_only: false\n",
    "    business_hours_only: false\n    timeout: 20\n    listen: true\n")
H, J, K = "+79990007001", "+79990007002", "+79990007003"


def speaks(svc: Service, number: str, script: Script, workdir: Path) -> asyncio.Task[Any]:
    """A caller from `number` whose side of the call is `script`, rendered to RTP."""
    workdir.mkdir(parents=True, exist_ok=True)
    pcap = workdir / "caller.pcap"
    length = render_pcap(script, pcap, caller_voice(), first_at_s=7.0)
    return asyncio.create_task(place_call(
        target=f"127.0.0.1:{svc.settings.asterisk.sip_port}", caller_id=number,
        steps=[Audio(str(pcap), 100)], timeout=length + 60,
        wait_for_bye_ms=int((length + 50) * 1000), workdir=workdir))


async def callback_row(svc: Service, number: str) -> CallbackRow | None:
    call = await call_row(svc, number)
    if call is None:
        return None
    async with svc.sessionmaker() as s:
        return await s.scalar(select(CallbackRow).where(CallbackRow.call_id == call.id))


async def test_a_waiting_caller_says_call_me_back_confirms_by_key_and_is_stored(
    asterisk: AsteriskInstance, e2e_settings: Settings, tmp_path: Path
) -> None:
    assert "listen: true" in LISTEN_DIALPLAN
    goal = Goal("operator")
    said = Script("callback-by-voice", "operator", goal,
                  (Say("call me back please", 12.0), Key("1", 12.0)))
    declined = Script("callback-then-operator", "operator", goal,
                      (Say("call me back please", 10.0), Say("operator", 14.0)))
    with capture_logs() as logs:
        try:
            await _run(asterisk, e2e_settings, tmp_path, said, declined, logs)
        except BaseException:
            for e in logs:  # what the listener and the offer did, to see where it stopped
                if str(e.get("event", "")).startswith(("queue_listen", "callback", "audiosocket")):
                    print({k: v for k, v in e.items() if k != "timestamp"})
            raise


async def _run(asterisk: AsteriskInstance, e2e_settings: Settings, tmp_path: Path,
               said: Script, declined: Script, logs: list[dict[str, Any]]) -> None:
    async with callback_service(e2e_settings, tmp_path, LISTEN_DIALPLAN, with_bot=True) as svc, \
            operator(svc, "1001"):
        callers = Callers(svc, asterisk)
        try:
            callers.call(H)  # the only operator takes H: from now on everybody waits
            assert await answered_by(svc, H) == await op_id(svc, "1001")
            started = time.monotonic()
            callers.tasks[J] = speaks(svc, J, said, tmp_path / "j")
            callers.tasks[K] = speaks(svc, K, declined, tmp_path / "k")
            # J said it: the confirmation was whispered, her key confirmed, the request stored
            await until(lambda: _has_callback(svc, J), timeout=60)
            row = await callback_row(svc, J)
            assert row is not None and (row.kind, row.number, row.state) == ("callback", J, "pending")
            asked_s = time.monotonic() - started
            await until(lambda: _outcome(svc, J, "callback_requested"), timeout=30)
            # K said "call me back", heard the confirmation, then "operator": still waiting
            k_id = await _uniqueid(svc, K)
            assert k_id is not None

            async def k_declined() -> bool:
                return _heard(logs, k_id)[:2] == ["callback", "operator"]

            await until(k_declined, timeout=40)
            # J keyed 1 once: only her spoken request can have opened the dialog it confirmed
            j_heard = [e["word"] for e in logs if e.get("event") == "callback.heard"
                       and e.get("uniqueid") != k_id]
            assert j_heard[:1] == ["callback"], j_heard
            assert await callback_row(svc, K) is None
            k_call = await call_row(svc, K)
            assert k_call is not None and k_call.ended_at is None and k_call.outcome is None
            assert any(w.call_id == k_call.id for w in svc.router.waiting.snapshot())  # type: ignore[union-attr]
            texts = [a["text"] for a in await announcements(svc, J)]
            assert texts, "J heard no announcement"
            print(f"J's callback stored {asked_s:.1f} s after she called")
        finally:
            await callers.close()


async def _has_callback(svc: Service, number: str) -> bool:
    return await callback_row(svc, number) is not None


async def _outcome(svc: Service, number: str, outcome: str) -> bool:
    await svc.store.writes.flush()
    row = await call_row(svc, number)
    return row is not None and row.outcome == outcome


def _heard(logs: list[dict[str, Any]], uniqueid: str) -> list[str]:
    """The words the callback offer of `uniqueid` heard, in order (its `callback.heard` logs)."""
    return [e["word"] for e in logs if e.get("event") == "callback.heard"
            and e.get("uniqueid") == uniqueid]


async def _uniqueid(svc: Service, number: str) -> str | None:
    call = await call_row(svc, number)
    for w in svc.router.waiting.snapshot():  # type: ignore[union-attr]
        if call is not None and w.call_id == call.id:
            return w.uniqueid
    return None
