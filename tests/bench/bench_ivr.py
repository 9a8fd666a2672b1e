"""IVR benchmarks on the real Asterisk (Must-show 5 of issue 3).

    HOTLINE_E2E_SLOT=1 python -m tests.bench.bench_ivr [--callers 200]

1. Key press -> next prompt start: the same chain of eight menus (same prompt file, keys
   1..8) run natively by Asterisk (Background/WaitExten, a bench-only context appended to the
   instance's generated extensions.conf) and through the service (FastAGI + IvrCallFlow).
   Start: AMI DTMFEnd for the key (received by the bench process).  End: native, AMI
   Newexten for the next Background(); service, the moment the session writes the next
   `GET DATA` to Asterisk (same process clock).  The service figure is slightly favoured by
   the AMI delivery delay of DTMFEnd (sub-millisecond on loopback).
2. Load: N sipp callers at once walk the whole chain through the service; zero failures means
   sipp reports none and every call is stored as completed with the full path.  The service's
   CPU (user+system of this process, which runs it) and peak RSS are sampled during the load.

`run()` returns measures [{name, unit, n, p50, p95, ratio?}] for var/bench/results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HOTLINE_E2E_SLOT", "4")

from sqlalchemy import select  # noqa: E402

from hotline.agi import AgiChannel  # noqa: E402
from hotline.ami import Message  # noqa: E402
from hotline.asterisk import AsteriskInstance, provision_root  # noqa: E402
from hotline.cli import prepare_database  # noqa: E402
from hotline.db import CallRow  # noqa: E402
from hotline.service import Service  # noqa: E402
from hotline.sipp import Dtmf, Pause, build_scenario, free_udp_port, place_call  # noqa: E402
from ivr.check import parse_dialplan  # noqa: E402
from ivr.wiring import build_ivr  # noqa: E402
from tests.e2e.conftest import SIP_PORT, make_settings  # noqa: E402

MENUS = 8
PROMPT = ("To check a ticket, press 1. For the next draw times, press 2. For the latest winning "
          "numbers, press 3. To learn how to claim winnings, press 4.")


def bench_dialplan() -> str:
    nodes = []
    for k in range(1, MENUS + 1):
        dest = f"m{k + 1}" if k < MENUS else "bye"
        nodes.append(f"""  m{k}:
    type: menu
    prompt: "{PROMPT}"
    options: {{"{k}": {dest}}}
    timeout: 6
    retries: 0
    on_no_input: bye
    on_invalid: bye
""")
    return f"""version: 1
name: ivr-bench
timezone: Europe/Moscow
languages: [en]
voice: en-us
start: m1
nodes:
{''.join(nodes)}  bye:
    type: hangup
  operator:
    type: operator
"""


def native_context(prompt_target: str) -> str:
    out = ["", "; --- bench_ivr: the same menus in native dialplan", "[hotline]",
           "exten => ivrbench,1,Answer()", " same => n,Goto(ivrbench-m1,s,1)"]
    for k in range(1, MENUS + 1):
        nxt = f"Goto(ivrbench-m{k + 1},s,1)" if k < MENUS else "Hangup()"
        out += [f"[ivrbench-m{k}]", f"exten => s,1,Background({prompt_target})",
                " same => n,WaitExten(6)", " same => n,Hangup()", f"exten => {k},1,{nxt}"]
    return "\n".join(out) + "\n"


def steps() -> list[Any]:
    out: list[Any] = [Pause(1500)]
    for k in range(1, MENUS):
        out += [Dtmf(str(k), gap_ms=300), Pause(700)]
    return [*out, Dtmf(str(MENUS), gap_ms=0)]  # then Asterisk's BYE (no pause it could hit)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


class Timeline:
    """DTMFEnd -> next prompt start, per channel."""

    def __init__(self) -> None:
        self.keys: dict[str, list[float]] = defaultdict(list)
        self.starts: dict[str, list[float]] = defaultdict(list)

    def on_ami(self, msg: Message) -> None:
        now = time.perf_counter()
        ev = msg.event or ""
        chan = msg["Channel"] if "Channel" in msg else ""
        if ev == "DTMFEnd" and (msg["Direction"] if "Direction" in msg else "") == "Received":
            self.keys[chan].append(now)
        elif ev == "Newexten" and "Application" in msg and msg["Application"].lower() == "background" \
                and msg["Context"].startswith("ivrbench-m") and msg["Context"] != "ivrbench-m1":
            self.starts[chan].append(now)

    def latencies(self) -> list[float]:
        out = []
        for chan, keys in self.keys.items():
            starts = self.starts.get(chan, [])
            for k in keys:
                nxt = [s for s in starts if s >= k]
                if nxt and nxt[0] - k < 2.0:
                    out.append((nxt[0] - k) * 1000)
        return out


def timed(flow: Any, timeline: Timeline) -> Any:
    """Wrap the IVR handler: note when each GET DATA leaves for Asterisk."""

    async def handler(chan: AgiChannel) -> None:
        name = chan.env.get("agi_channel", "")
        writer = chan._writer  # noqa: SLF001 - bench-only probe
        write = writer.write

        def probe(data: bytes) -> None:
            if data.startswith(b"GET DATA"):
                timeline.starts[name].append(time.perf_counter())
            write(data)

        writer.write = probe  # type: ignore[method-assign]
        await flow(chan)

    return handler


class ServiceLoad:
    """CPU seconds and peak RSS of this process while something runs."""

    def __init__(self) -> None:
        self.peak_rss_mb = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_rss_mb = max(self.peak_rss_mb, int(line.split()[1]) / 1024)
            await asyncio.sleep(0.25)

    def __enter__(self) -> ServiceLoad:
        self.t0, self.c0 = time.monotonic(), sum(os.times()[:2])
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.wall = time.monotonic() - self.t0
        self.cpu = sum(os.times()[:2]) - self.c0


async def _calls(target: str, service: str, n: int) -> list[Any]:
    return await asyncio.gather(*[
        place_call(target=target, service=service, caller_id=f"bench{i}", steps=steps(),
                   timeout=60, wait_for_bye_ms=20000) for i in range(n)])


async def _load(target: str, callers: int, rate: int) -> tuple[int, str]:
    wd = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    xml = wd / "load.xml"
    xml.write_text(build_scenario("bench", None, steps(), 30000))
    cmd = ["sipp", target, "-sf", str(xml), "-s", "100", "-m", str(callers), "-l", str(callers),
           "-r", str(rate), "-i", "127.0.0.1", "-p", str(free_udp_port()),
           "-mp", str(free_udp_port()), "-timeout", "120s", "-timeout_error", "-nostdin"]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, cwd=wd,
                                                env={**os.environ, "TERM": "dumb"})
    out, err = await proc.communicate()
    shutil.rmtree(wd, ignore_errors=True)
    return proc.returncode or 0, (out + err).decode(errors="replace")[-1500:]


async def run_async(callers: int = 200, latency_calls: int = 4) -> list[dict[str, Any]]:
    var = Path(tempfile.mkdtemp(prefix="hotline-bench-var-"))
    settings = make_settings(var)
    provision_root(settings.asterisk.root, settings.asterisk.cache)
    await prepare_database(settings)
    secret = settings.asterisk.ami_secret.get_secret_value()  # type: ignore[union-attr]
    inst = AsteriskInstance(settings)
    svc = Service(settings, secret=secret)
    inst.write_config(await svc.operators(), secret)
    dp_file = var / "bench.yaml"
    dp_file.write_text(bench_dialplan())
    dp, problems = parse_dialplan(dp_file.read_text(), str(dp_file))
    assert dp is not None, problems
    registry, flow = build_ivr(settings, svc.store, svc.sessionmaker, inst.sounds_dir,
                               inst.to_inside, dialplan_path=dp_file)
    timeline = Timeline()
    svc.agi.handler = timed(flow, timeline)
    await asyncio.to_thread(inst.start)
    target = f"127.0.0.1:{SIP_PORT}"
    try:
        await svc.start()
        await registry.start()
        await svc.ami.wait_connected(10)
        svc.ami.subscribe_raw(timeline.on_ami)
        prompt = await flow.prompts.target(_first_prompt(flow))
        with (inst.dir / "etc" / "extensions.conf").open("a") as f:
            f.write(native_context(prompt))
        await asyncio.to_thread(inst.rx, "dialplan reload")

        await _calls(target, "ivrbench", latency_calls)
        await asyncio.sleep(0.5)
        native = timeline.latencies()
        timeline.keys.clear()
        timeline.starts.clear()
        await _calls(target, "100", latency_calls)
        await asyncio.sleep(0.5)
        service = timeline.latencies()

        async with svc.sessionmaker() as s:
            before = len((await s.scalars(select(CallRow.id))).all())
        with ServiceLoad() as load:
            rc, tail = await _load(target, callers, rate=max(10, callers // 5))
        async with svc.sessionmaker() as s:
            rows = (await s.scalars(select(CallRow).order_by(CallRow.id))).all()[before:]
        walked = [("bye", f"key {MENUS}")]  # the whole chain, every key taken
        ok = [r for r in rows if r.outcome == "completed" and
              [(p["node"], p["detail"]) for p in r.path][-1:] == walked]
        failures = callers - len(ok) + (1 if rc else 0)
        if rc:
            print(tail, file=sys.stderr)
    finally:
        await registry.stop()
        await svc.stop()
        await asyncio.to_thread(inst.stop)
        shutil.rmtree(var, ignore_errors=True)

    def measure(name: str, values: list[float], unit: str = "ms", **extra: Any) -> dict[str, Any]:
        return {"name": name, "unit": unit, "n": len(values),
                "p50": round(statistics.median(values), 2) if values else None,
                "p95": round(pct(values, 0.95), 2) if values else None, **extra}

    n_med, s_med = statistics.median(native or [0]), statistics.median(service or [0])
    n95, s95 = pct(native or [0], 0.95), pct(service or [0], 0.95)
    return [
        measure("ivr.key_to_prompt.native", native),
        measure("ivr.key_to_prompt.service", service,
                ratio=round(s_med / n_med, 2) if n_med else None,
                ratio_p95=round(s95 / n95, 2) if n95 else None),
        {"name": "ivr.load.concurrent_callers", "unit": "calls", "n": callers,
         "p50": len(ok), "p95": len(ok), "failures": failures,
         "sipp_exit": rc},
        {"name": "ivr.load.service_cpu", "unit": "% of one core", "n": 1,
         "p50": round(100 * load.cpu / load.wall, 1), "p95": round(100 * load.cpu / load.wall, 1),
         "wall_s": round(load.wall, 1)},
        {"name": "ivr.load.service_rss_peak", "unit": "MB", "n": 1,
         "p50": round(load.peak_rss_mb, 1), "p95": round(load.peak_rss_mb, 1)},
    ]


def _first_prompt(flow: Any) -> Any:
    from hotline.callstore import utcnow
    from ivr.machine import CallerInfo, GetDigits, start

    _, effects = start(flow.current_dialplan(), CallerInfo(), utcnow())
    return next(e for e in effects if isinstance(e, GetDigits)).prompts[0]


def run(callers: int = 200, latency_calls: int = 4) -> list[dict[str, Any]]:
    return asyncio.run(run_async(callers, latency_calls))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--callers", type=int, default=200)
    ap.add_argument("--latency-calls", type=int, default=4)
    a = ap.parse_args()
    t0 = time.monotonic()
    for m in run(a.callers, a.latency_calls):
        print(m)
    print(f"took {time.monotonic() - t0:.0f}s")
