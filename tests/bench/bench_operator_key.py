"""Time to a human: call start -> operator phone ringing when the caller presses 0 at once.

    python -m tests.bench bench_operator_key                      (with the other benchmarks)
    HOTLINE_E2E_SLOT=6 python -m tests.bench.bench_operator_key [--calls 10]   (on its own)

The full service (IVR on the demo dialplan, routing) with two baresip operators that ring
and never answer: 1006 (the pool) and 1001 (Anna Petrova, the VIP Maria Ivanova's personal
manager).  Two callers: an unknown number (-> the operator pool) and Maria (-> her manager).
Each sipp caller presses 0 `--key-ms` (300 ms) after the answer, i.e. during the greeting.

Start: AMI Newchannel of the caller's channel (Asterisk has the INVITE).  End: AMI DialBegin
towards an operator's phone (PJSIP/<extension>), checked against the phone itself (baresip
prints the incoming call).  The bench then hangs the caller up over Asterisk's control socket
(the service's AMI user may not send Hangup) and waits until the phones are free again.  A
call counts only if sipp saw it end cleanly too.  Goal: p95 <= 3 s (the greeting cut short,
no menu timing out).

The IVR runs on a clock moved to a weekday noon in Moscow (the same as tests/e2e), so the
figure does not depend on the hour it runs at: a caller whose 0 is lost walks the business
hours menus until they time out to the operator.  Each call is bounded by `--limit` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callrouting.model import Presence
from hotline.clock import utcnow
from hotline.pbx.ami import Message
from hotline.pbx.sipp import Dtmf, Pause, place_call
from tests.bench.common import hang_up, measure, own_asterisk
from tests.e2e.peers import Baresip

CALLERS = {"unknown": "+79035550147", "known_manager": "+79161234567"}
PHONES = ("1006", "1001")
GOAL_P95_S = 3.0


def business_clock() -> Any:
    msk = ZoneInfo("Europe/Moscow")
    now = utcnow()
    day = now.astimezone(msk).date()
    while day.weekday() > 4 or day.strftime("%m-%d") in ("01-01", "01-02"):
        day += timedelta(days=1)
    delta = datetime(day.year, day.month, day.day, 12, tzinfo=msk) - now
    return lambda: utcnow() + delta


class Watch:
    """The caller's channel and the first operator ringing, by AMI event times."""

    def __init__(self) -> None:
        self.caller = ""
        self.channel: str | None = None
        self.started: float | None = None
        self.rang: float | None = None
        self.rung: str | None = None
        self.event = asyncio.Event()

    def arm(self, caller: str) -> None:
        self.caller, self.channel, self.started, self.rang, self.rung = caller, None, None, None, None
        self.event.clear()

    def on_ami(self, msg: Message) -> None:
        now = time.monotonic()
        if msg.event == "Newchannel" and self.channel is None \
                and msg.get("CallerIDNum") == self.caller:
            self.channel, self.started = msg.get("Channel"), now
        elif msg.event == "DialBegin" and self.started is not None and self.rang is None:
            dest = msg.get("DestChannel") or ""
            ext = dest.removeprefix("PJSIP/").split("-")[0]
            if ext in PHONES:
                self.rang, self.rung = now, ext
                self.event.set()


async def run(settings: Any, asterisk: Any, calls: int = 10, key_ms: int = 300,
              limit_s: float = 90.0) -> list[dict[str, Any]]:
    """Measure on a running Asterisk; returns [{name, unit, n, p50, p95, ...}]."""
    from hotline.app.service import Service

    svc = Service(settings, with_bot=False)
    svc.ivr.clock = business_clock()
    watch = Watch()
    figures: dict[str, list[float]] = {k: [] for k in CALLERS}
    failed: dict[str, int] = {k: 0 for k in CALLERS}
    await svc.start()
    phones = {ext: Baresip(ext, f"demo-pass-{ext}", settings.asterisk.sip_port, auto_answer=False)
              for ext in PHONES}
    try:
        await svc.ami.wait_connected(10)
        svc.ami.subscribe_raw(watch.on_ami)
        await asyncio.gather(*(p.start() for p in phones.values()))
        for ext in PHONES:
            await svc.presence.wait_for(ext, Presence.AVAILABLE, timeout=10)
        for i in range(calls):
            for kind, number in CALLERS.items():
                seen = {ext: len(p.lines) for ext, p in phones.items()}
                watch.arm(number)
                caller = asyncio.create_task(place_call(
                    target=f"127.0.0.1:{settings.asterisk.sip_port}", caller_id=number,
                    steps=[Pause(key_ms), Dtmf("0", gap_ms=0)], timeout=limit_s + 20,
                    wait_for_bye_ms=int((limit_s + 10) * 1000)))
                try:
                    async with asyncio.timeout(limit_s):
                        await watch.event.wait()
                except TimeoutError:
                    pass
                rang = watch.rang is not None and watch.started is not None
                shown = False
                if rang:
                    phone = phones[watch.rung or ""]
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(5):  # the phone itself shows the call
                            while not any("incoming call" in ln.lower()
                                          for ln in phone.lines[seen[phone.extension]:]):
                                await asyncio.sleep(0.02)
                            shown = True
                if watch.channel:
                    await hang_up(asterisk, watch.channel)
                res = await caller
                took = (watch.rang - watch.started) if rang else None  # type: ignore[operator]
                if rang and shown and res.ok:
                    figures[kind].append(took)  # type: ignore[arg-type]
                    got = f"{took:.2f} s"
                else:
                    failed[kind] += 1
                    got = ("no ring" if not rang else
                           f"rang in {took:.2f} s, but {watch.rung} never showed the call"
                           if not shown else f"rang in {took:.2f} s, but sipp failed "
                           f"(exit {res.returncode}): {res.stderr.strip()[-200:]!r}")
                for ext in PHONES:
                    await svc.presence.wait_for(ext, Presence.AVAILABLE, timeout=10)
                await asyncio.sleep(0.5)
                print(f"[bench] operator key {kind} call {i + 1}/{calls}: {got}", flush=True)
    finally:
        await asyncio.gather(*(p.stop() for p in phones.values()))
        await svc.stop()
    return [
        measure(f"ivr.zero_to_operator_ringing.{kind}", "s", values, target_p95=GOAL_P95_S,
                failed=failed[kind], key_ms=key_ms,
                note="call start (AMI Newchannel) -> DialBegin to an operator's phone; "
                     "0 pressed during the greeting")
        for kind, values in figures.items()
    ]


async def _standalone(calls: int, key_ms: int, limit_s: float) -> list[dict[str, Any]]:
    """Provision and start an Asterisk of our own (slot HOTLINE_E2E_SLOT), then `run`."""
    async with own_asterisk("bench-operator-key-") as (settings, inst):
        return await run(settings, inst, calls, key_ms, limit_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10, help="calls per caller")
    parser.add_argument("--key-ms", type=int, default=300, help="0 this long after the answer")
    parser.add_argument("--limit", type=float, default=90.0, help="seconds to wait for a ring")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    from hotline.logs import setup_logging

    setup_logging("warning")
    results = asyncio.run(_standalone(args.calls, args.key_ms, args.limit))
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
