"""Waiting well under load: N callers (150) waiting in the pool, announcements every 20 s.

    python -m tests.bench bench_queue                              (with the other benchmarks)
    HOTLINE_E2E_SLOT=6 python -m tests.bench.bench_queue [--callers 150] [--window 60]

The full service on a dialplan that goes straight to the operator pool; one baresip operator
(1001) is kept busy by a first call, so every other caller waits (and the estimate is known).
One sipp process places the N callers at `--rate` calls/s; each stays on the line until all
have joined and the measuring window is over, then hangs up itself.

Measured twice, with the same callers: with the dialplan's `queue:` announcements every
`--every` s (20), and without announcements (music only) as the baseline. Over the window,
once all N wait: the service process's CPU seconds (user + system, /proc), per caller-minute;
the announcement overhead is the difference between the two. Also: failed calls (sipp's own
count, plus callers that never joined the queue; goal 0), announcements said (stored events,
`played` = Asterisk took the whisper), and the interval between a caller's consecutive
announcements (p50/p95; the setting is `--every`).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callrouting.model import Presence
from hotline.clock import utcnow
from hotline.db.calls import CallEventRow, CallRow
from hotline.pbx.sipp import HangUp, Pause, build_scenario, free_udp_port, place_call
from tests.bench.common import CpuMeter, measure, own_asterisk
from tests.e2e.peers import Baresip

CALLER = "+79990007000"  # every bench caller (unknown: straight to the pool)
BUSY = "+79990007999"  # the call that keeps the operator busy
OPERATOR = "1001"

DIALPLAN = """\
version: 1
name: bench-queue
timezone: Europe/Moscow
languages: [en]
voice: v
start: operator
{queue}
nodes:
  operator:
    type: operator
"""
QUEUE = """\
queue:
  announce_every: {every}
  position: "You are number {{position}} in the queue."
  vip: "As a priority caller, you will be connected first."
  wait: "The expected wait is {{wait}}."
  less_than_a_minute: "less than a minute"
  one_minute: "about one minute"
  minutes: "about {{minutes}} minutes"
"""


async def sipp_callers(target: str, n: int, rate: float, hold_ms: int, wd: Path,
                       timeout_s: float) -> dict[str, int]:
    """N calls from one sipp process; its own counts (successful, failed) from -trace_stat."""
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "caller.xml").write_text(build_scenario(CALLER, None, [Pause(hold_ms), HangUp()],
                                                  media_dir=wd))
    stats = wd / "stats.csv"
    cmd = ["sipp", target, "-sf", str(wd / "caller.xml"), "-s", "100", "-m", str(n), "-l", str(n),
           "-r", str(rate), "-i", "127.0.0.1", "-p", str(free_udp_port()),
           "-mp", str(free_udp_port()), "-timeout", f"{int(timeout_s)}s", "-nostdin",
           "-trace_stat", "-stf", str(stats), "-fd", "5", "-trace_err",
           "-error_file", str(wd / "errors.log")]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=wd,
        env={**os.environ, "TERM": "dumb"})
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout_s + 30)
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
    counts = {"successful": 0, "failed": 0, "created": 0, "returncode": proc.returncode or 0}
    if stats.exists():
        rows = list(csv.reader(stats.read_text(errors="replace").splitlines(), delimiter=";"))
        if len(rows) >= 2:
            head, last = rows[0], rows[-1]
            col = {name: i for i, name in enumerate(head)}
            for key, name in (("successful", "SuccessfulCall(C)"), ("failed", "FailedCall(C)"),
                              ("created", "TotalCallCreated")):
                if name in col and col[name] < len(last):
                    counts[key] = int(last[col[name]] or 0)
    if not counts["created"]:
        counts["failed"] = n
        print(f"[bench] sipp gave no statistics: {err.decode(errors='replace')[-500:]}", flush=True)
    return counts


async def one_phase(settings: Any, asterisk: Any, tmp: Path, *, callers: int, rate: float,
                    every: int | None, window_s: float) -> dict[str, Any]:
    from hotline.app.service import Service

    name = "announced" if every else "music_only"
    dialplan = tmp / f"{name}.yaml"
    dialplan.write_text(DIALPLAN.format(queue=QUEUE.format(every=every) if every else ""))
    svc = Service(settings.model_copy(update={"dialplan": dialplan}), with_bot=False)
    await svc.start()
    phone = Baresip(OPERATOR, f"demo-pass-{OPERATOR}", settings.asterisk.sip_port, auto_answer=True)
    target = f"127.0.0.1:{settings.asterisk.sip_port}"
    ramp_s = callers / rate
    hold_ms = int((ramp_s + window_s + 25) * 1000)  # all wait through the window, then hang up
    busy: asyncio.Task[Any] | None = None
    try:
        await svc.ami.wait_connected(10)
        await phone.start()
        await svc.presence.wait_for(OPERATOR, Presence.AVAILABLE, timeout=10)
        busy = asyncio.create_task(place_call(target=target, caller_id=BUSY,
                                              steps=[Pause(hold_ms + 60_000), HangUp()],
                                              timeout=hold_ms / 1000 + 120))
        await svc.presence.wait_for(OPERATOR, Presence.IN_USE, timeout=30)
        started = utcnow()
        sipp = asyncio.create_task(sipp_callers(target, callers, rate, hold_ms, tmp / f"sipp-{name}",
                                                timeout_s=hold_ms / 1000 + 60))
        t0 = time.monotonic()
        while len(svc.waiting_now()) < callers and time.monotonic() - t0 < ramp_s + 60:
            if sipp.done():
                break
            await asyncio.sleep(0.5)
        joined_all = len(svc.waiting_now())
        print(f"[bench] queue {name}: {joined_all}/{callers} waiting after "
              f"{time.monotonic() - t0:.0f} s", flush=True)
        w0 = utcnow()
        with CpuMeter() as cpu:
            end = time.monotonic() + window_s
            low = joined_all
            while time.monotonic() < end:
                await asyncio.sleep(1)
                cpu.sample()
                low = min(low, len(svc.waiting_now()))
        w1 = utcnow()
        counts = await sipp
        async with svc.sessionmaker() as s:
            calls = (await s.execute(select(CallRow.id, CallRow.queue_joined_at).where(
                CallRow.started_at >= started - timedelta(seconds=1),
                CallRow.caller_id_raw == CALLER))).all()
            ids = [c[0] for c in calls]
            events = (await s.execute(select(CallEventRow.call_id, CallEventRow.at, CallEventRow.data)
                                      .where(CallEventRow.call_id.in_(ids),
                                             CallEventRow.kind == "queue.announcement")
                                      .order_by(CallEventRow.call_id, CallEventRow.at))).all() if ids else []
    finally:
        if busy is not None:
            busy.cancel()
        await asyncio.gather(*(t for t in (busy,) if t is not None), return_exceptions=True)
        await asyncio.to_thread(asterisk.rx, "channel request hangup all")
        await phone.stop()
        await svc.stop()
    never_queued = sum(1 for _, joined in calls if joined is None) + max(0, callers - len(calls))
    by_call: dict[int, list[Any]] = {}
    in_window = played = 0
    for cid, at, data in events:
        by_call.setdefault(cid, []).append(at)
        played += bool((data or {}).get("played"))
        if w0.replace(tzinfo=None) <= at.replace(tzinfo=None) <= w1.replace(tzinfo=None):
            in_window += 1
    intervals = [(b - a).total_seconds() for ats in by_call.values() for a, b in zip(ats, ats[1:], strict=False)]
    caller_minutes = joined_all * cpu.wall / 60 if joined_all else float("nan")
    return {
        "name": name, "callers": callers, "waiting_at_start": joined_all, "waiting_lowest": low,
        "sipp": counts, "never_queued": never_queued,
        "failed_calls": counts["failed"] + never_queued,
        "cpu_s": round(cpu.cpu, 3), "wall_s": round(cpu.wall, 1), "peak_rss_mb": round(cpu.peak_rss, 1),
        "cpu_s_per_caller_minute": round(cpu.cpu / caller_minutes, 5) if joined_all else None,
        "announcements": len(events), "announcements_played": played,
        "announcements_in_window": in_window, "intervals": intervals,
        "load_avg": os.getloadavg(),
    }


async def run(settings: Any, asterisk: Any = None, callers: int = 150, rate: float = 10.0,
              every: int = 20, window_s: float = 60.0) -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    announced = await one_phase(settings, asterisk, tmp, callers=callers, rate=rate, every=every,
                                window_s=window_s)
    await asyncio.sleep(3)
    base = await one_phase(settings, asterisk, tmp, callers=callers, rate=rate, every=None,
                           window_s=window_s)
    for phase in (announced, base):
        print(f"[bench] queue {phase['name']}: " + json.dumps(
            {k: v for k, v in phase.items() if k != "intervals"}), flush=True)
    per_min = [p["cpu_s_per_caller_minute"] for p in (announced, base)]
    overhead = round(per_min[0] - per_min[1], 5) if None not in per_min else None
    intervals = announced["intervals"]
    note = (f"{callers} callers waiting (one sipp, {rate}/s), one operator kept busy; service "
            f"CPU over {window_s:.0f} s once all wait; baseline: the same without announcements")
    common = {"callers": callers, "every_s": every}
    return [
        {"name": "queue.failed_calls", "unit": "calls", "n": callers,
         "p50": announced["failed_calls"], "p95": None, "goal": 0,
         "announced": announced["failed_calls"], "music_only": base["failed_calls"],
         "sipp_announced": announced["sipp"], "sipp_music_only": base["sipp"],
         "never_queued": [announced["never_queued"], base["never_queued"]],
         "waiting": [announced["waiting_at_start"], base["waiting_at_start"]],
         "waiting_lowest": [announced["waiting_lowest"], base["waiting_lowest"]], **common},
        measure("queue.announcement_interval", "s", intervals, **common,
                announcements=announced["announcements"], played=announced["announcements_played"],
                in_window=announced["announcements_in_window"],
                note="time between a caller's consecutive announcements (stored events)"),
        {"name": "queue.service_cpu_per_caller_minute", "unit": "cpu_s", "n": 2,
         "p50": announced["cpu_s_per_caller_minute"], "p95": None,
         "announced": announced["cpu_s_per_caller_minute"],
         "music_only": base["cpu_s_per_caller_minute"],
         "announcement_overhead": overhead,
         "overhead_cpu_ms_per_announcement": round(
             1000 * (announced["cpu_s"] - base["cpu_s"]) / announced["announcements_in_window"], 2)
         if announced["announcements_in_window"] else None,
         "cpu_s": [announced["cpu_s"], base["cpu_s"]], "wall_s": [announced["wall_s"], base["wall_s"]],
         "peak_rss_mb": [announced["peak_rss_mb"], base["peak_rss_mb"]],
         "load_avg": [list(announced["load_avg"]), list(base["load_avg"])], "note": note, **common},
    ]


async def _standalone(callers: int, rate: float, every: int, window_s: float) -> list[dict[str, Any]]:
    async with own_asterisk("bench-queue-var-") as (settings, inst):
        return await run(settings, inst, callers, rate, every, window_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=150)
    parser.add_argument("--rate", type=float, default=10.0, help="new callers per second")
    parser.add_argument("--every", type=int, default=20, help="announcement interval, s")
    parser.add_argument("--window", type=float, default=60.0, help="measuring window, s")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    from hotline.logs import setup_logging

    setup_logging("warning")
    results = asyncio.run(_standalone(args.callers, args.rate, args.every, args.window))
    text = json.dumps(results, indent=2, default=str)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
