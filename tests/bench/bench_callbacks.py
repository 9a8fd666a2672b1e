"""Callbacks: time from an operator becoming free to the callback operator's phone ringing.

    python -m tests.bench bench_callbacks                      (with the other benchmarks)
    HOTLINE_E2E_SLOT=6 python -m tests.bench.bench_callbacks [--calls 10]   (on its own)

The full service on a dialplan that sends every caller to the pool, with the callback
offer, no wrap-up.  One baresip operator (1001, answers at once).  Each round: a sipp caller
takes the operator; a callback request is stored (as the desk stores a confirmed one: the
DTMF dialogue itself is the e2e test's) and the dispatcher puts it into the pool queue; the
operator hangs up.  Start: AMI DeviceStateChange of PJSIP/1001 to NOT_INUSE (the operator
is free).  End: AMI AgentCalled from the callback's Local channel to PJSIP/1001 (the phone
rings with "Callback: ..."), checked against the phone itself (baresip answers a call from
the called-back number).  The operator answers, the caller (a sipp UAS on the callers' trunk) is dialled,
answers, hangs up after a second, and the round's row must end `answered`.
Goal: p95 <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callrouting.model import Presence
from callrouting.tables import CallbackRow
from hotline.clock import utcnow
from hotline.db.calls import CallRow
from hotline.pbx.ami import AgentCalled, DeviceStateChange
from hotline.pbx.sipp import HangUp, Pause, place_call
from tests.bench.common import measure, own_asterisk
from tests.e2e.peers import Baresip

GOAL_P95_S = 1.0
OPERATOR = "1001"
CALLER = "+79990009001"  # keeps the operator busy
CALLED_BACK = "+79990009002"  # the number called back
DIALPLAN = """\
version: 1
name: bench-callbacks
timezone: Europe/Moscow
languages: [en]
voice: v
start: operator
queue:
  announce_every: 600
  position: "You are number {position} in the queue."
  wait: "The expected wait is {wait}."
  less_than_a_minute: "less than a minute"
  one_minute: "about one minute"
  minutes: "about {minutes} minutes"
  wrapup: 0
  callback:
    offer: "To be called back, press 1."
    confirm: "We will call you back on {number}. Press 1."
    goodbye: "Goodbye."
    ring_caller: 10
    business_hours_only: false
nodes:
  operator:
    type: operator
"""

CALLER_ANSWERS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="the caller answers the callback">
  <recv request="INVITE" rrs="true">
    <action><ereg regexp=";tag=([^;> ]+)" search_in="hdr" header="From:" assign_to="junk,ftag"/></action>
  </recv>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]cb[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:caller@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]></send>
  <recv request="ACK"/>
  <pause milliseconds="1000"/>
  <send retrans="500"><![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]cb[call_number]
      To: <sip:asterisk@[remote_ip]:[remote_port]>;tag=[$ftag]
      [last_Call-ID:]
      CSeq: 1 BYE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200"/>
  <Reference variables="junk"/>
</scenario>
"""


class Watch:
    """The operator freeing up and the first callback ring to them, by AMI event times."""

    def __init__(self) -> None:
        self.freed: float | None = None
        self.rang: float | None = None
        self.rang_event = asyncio.Event()
        self.armed = False

    def arm(self) -> None:
        self.freed = self.rang = None
        self.rang_event.clear()
        self.armed = True

    def on_state(self, ev: DeviceStateChange) -> None:
        if self.armed and self.freed is None and ev.device == f"PJSIP/{OPERATOR}" \
                and ev.state == "NOT_INUSE":
            self.freed = time.monotonic()

    def on_ring(self, ev: AgentCalled) -> None:
        if self.armed and self.freed is not None and self.rang is None \
                and "@hotline-callback-" in ev.channel \
                and ev.dest_channel.startswith(f"PJSIP/{OPERATOR}-"):
            self.rang = time.monotonic()
            self.armed = False
            self.rang_event.set()


async def run(settings: Any, asterisk: Any = None, calls: int = 10) -> list[dict[str, Any]]:
    from hotline.app.service import Service

    if settings.asterisk.callback_contact is None:
        return [measure("callback.operator_free_to_ringing", "s", [], target_p95=GOAL_P95_S,
                        note="not run: asterisk.callback_contact is not set")]
    work = Path(tempfile.mkdtemp(prefix="bench-callbacks-"))
    path = work / "dialplan.yaml"
    path.write_text(DIALPLAN)
    svc = Service(settings.model_copy(update={"dialplan": path}), with_bot=False)
    watch = Watch()
    values: list[float] = []
    failed = 0
    await svc.start()
    assert svc.callbacks is not None
    phone = Baresip(OPERATOR, f"demo-pass-{OPERATOR}", settings.asterisk.sip_port, auto_answer=True)
    port = settings.asterisk.callback_contact.rsplit(":", 1)[1]
    (work / "uas.xml").write_text(CALLER_ANSWERS)
    uas = await asyncio.create_subprocess_exec(
        "sipp", f"127.0.0.1:{settings.asterisk.sip_port}", "-sf", str(work / "uas.xml"),
        "-m", str(calls), "-i", "127.0.0.1", "-p", port, "-nostdin",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=work)
    try:
        await svc.ami.wait_connected(10)
        svc.ami.subscribe(DeviceStateChange, watch.on_state)
        svc.ami.subscribe(AgentCalled, watch.on_ring)
        await phone.start()
        await svc.presence.wait_for(OPERATOR, Presence.AVAILABLE, timeout=10)
        for i in range(calls):
            ok = await _round(svc, settings, phone, watch)
            if ok and watch.rang is not None and watch.freed is not None:
                values.append(watch.rang - watch.freed)
                got = f"{values[-1]:.3f} s"
            else:
                failed += 1
                got = "failed"
            print(f"[bench] callback round {i + 1}/{calls}: {got}", flush=True)
    finally:
        if uas.returncode is None:
            uas.kill()
            await uas.wait()
        await phone.stop()
        await svc.stop()
        shutil.rmtree(work, ignore_errors=True)
    return [measure("callback.operator_free_to_ringing", "s", values, target_p95=GOAL_P95_S,
                    failed=failed,
                    note="operator free (AMI DeviceStateChange NOT_INUSE) -> AgentCalled from "
                         "the callback's Local channel to that phone")]


async def _round(svc: Any, settings: Any, phone: Baresip, watch: Watch) -> bool:
    desk = svc.callbacks
    seen = len(phone.lines)
    busy = asyncio.create_task(place_call(
        target=f"127.0.0.1:{settings.asterisk.sip_port}", caller_id=CALLER,
        steps=[Pause(60000), HangUp()], timeout=90))
    stage = "the operator taking a caller"
    try:
        await svc.presence.wait_for(OPERATOR, Presence.IN_USE, timeout=15)
        stage = "the request in the queue"
        async with svc.sessionmaker() as s:
            call_id = await s.scalar(select(CallRow.id).order_by(CallRow.id.desc()).limit(1))
        now = utcnow()
        rid = await desk.requested(call_id=call_id, number=CALLED_BACK,
                                   queue=settings.asterisk.pool_queue, priority=0,
                                   joined_at=now, requested_at=now)
        async with asyncio.timeout(10):  # the dispatcher put it into the queue
            while not (rid in desk.legs and desk.legs[rid].joined_queue is not None):
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # it waits in Queue() now
        watch.arm()
        await phone.hangup()  # the operator is free
        stage = "the callback ringing the freed operator"
        async with asyncio.timeout(10):
            await watch.rang_event.wait()
        stage = "the phone showing the callback"
        async with asyncio.timeout(5):  # the phone itself takes the call, from the caller's number
            while not any("answering call" in ln and CALLED_BACK in ln for ln in phone.lines[seen:]):
                await asyncio.sleep(0.02)
        stage = "the callback answered and over"
        async with asyncio.timeout(30):  # answered, bridged, the caller hung up
            while True:
                async with svc.sessionmaker() as s:
                    row = await s.get(CallbackRow, rid)
                if row is not None and row.closed_at is not None:
                    break
                await asyncio.sleep(0.1)
        await svc.presence.wait_for(OPERATOR, Presence.AVAILABLE, timeout=10)
        return row.state == "answered"
    except TimeoutError:
        print(f"[bench] callback round timed out at: {stage}", flush=True)
        return False
    finally:
        busy.cancel()
        await asyncio.gather(busy, return_exceptions=True)
        await asyncio.to_thread(svc.asterisk.rx, "channel request hangup all")
        await asyncio.sleep(0.5)


async def _standalone(calls: int) -> list[dict[str, Any]]:
    async with own_asterisk("bench-callbacks-") as (settings, inst):
        return await run(settings, inst, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10, help="rounds")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    from hotline.logs import setup_logging

    setup_logging("warning")
    results = asyncio.run(_standalone(args.calls))
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
