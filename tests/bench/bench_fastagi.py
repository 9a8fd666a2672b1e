"""FastAGI path under sipp load: the highest call rate with zero failures, and setup time.

Each call: INVITE -> Asterisk -> FastAGI -> service (caller lookup, call stored, ANSWER,
greeting, hang-up, call finished). Setup time is sipp's INVITE -> 200 OK (the service
answers only after it has looked the caller up and stored the call).
"""

from __future__ import annotations

import asyncio
import csv
import tempfile
from pathlib import Path
from typing import Any

from hotline.app.service import Service
from hotline.app.settings import Settings
from hotline.pbx.asterisk import AsteriskInstance
from hotline.pbx.sipp import build_scenario, free_udp_port
from tests.bench.common import CpuMeter, measure


async def sipp_load(target: str, service: str, rate: int, calls: int, workdir: Path) -> tuple[int, int, list[float]]:
    """Run `calls` calls at `rate` per second; returns (successful, failed, setup times ms)."""
    xml = workdir / "load.xml"
    xml.write_text(build_scenario("+79990000000", None, [], wait_for_bye_ms=20000))
    cmd = [
        "sipp", target, "-sf", str(xml), "-s", service, "-r", str(rate), "-m", str(calls),
        "-l", str(rate * 6), "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_udp_port()),
        "-nostdin", "-trace_rtt", "-rtt_freq", "1", "-trace_stat", "-fd", "1",
        "-timeout", f"{calls // rate + 40}s",
    ]
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=workdir, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await proc.wait()
    stats = sorted(workdir.glob("load_*_.csv"))
    ok = failed = 0
    if stats:
        rows = list(csv.reader(stats[-1].open(), delimiter=";"))
        head, last = rows[0], rows[-1]
        ok = int(last[head.index("SuccessfulCall(C)")])
        failed = int(last[head.index("FailedCall(C)")])
    times: list[float] = []
    for rtt in workdir.glob("load_*_rtt.csv"):
        for row in list(csv.reader(rtt.open(), delimiter=";"))[1:]:
            if len(row) >= 2 and row[1]:  # Date_ms;response_time_ms;rtd_no
                times.append(float(row[1]))
        rtt.unlink()
    for s in stats:
        s.unlink()
    return ok, failed, times


async def run(settings: Settings, asterisk: AsteriskInstance,
              rates: tuple[int, ...] = (10, 20, 40, 80, 120, 160, 200, 240), seconds: int = 5) -> list[dict[str, Any]]:
    from tests.support.callflow import FoundationCallFlow

    # the FastAGI path itself: lookup, call stored, ANSWER, greeting, hang-up (no IVR walk)
    service = Service(settings, with_bot=False)
    service.agi.handler = FoundationCallFlow(service.store, country=settings.country)
    await service.start()
    try:
        await service.ami.wait_connected(10)
        return await _run(f"127.0.0.1:{settings.asterisk.sip_port}", settings.asterisk.hotline_extension,
                          None, rates, seconds)
    finally:
        await service.stop()


async def _run(target: str, service_ext: str, service_pid: int | None,
               rates: tuple[int, ...], seconds: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    best, best_times, best_cpu = 0, [], None
    light_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-fastagi-") as d:
        for rate in rates:
            wd = Path(d) / f"r{rate}"
            wd.mkdir()
            with CpuMeter(service_pid) as cpu:
                ok, failed, times = await sipp_load(target, service_ext, rate, rate * seconds, wd)
            print(f"  fastagi load {rate:>3} calls/s: ok={ok} failed={failed} "
                  f"service cpu={cpu.cpu_percent:.0f}% rss={cpu.peak_rss:.0f} MB", flush=True)
            if failed or ok < rate * seconds:
                break
            if not light_times:
                light_times = times
            best, best_times, best_cpu = rate, times, cpu
    results.append({"name": "fastagi.max_calls_per_second_zero_failures", "unit": "calls/s", "n": len(rates),
                    "p50": best, "p95": best,
                    "service_cpu_percent": round(best_cpu.cpu_percent, 1) if best_cpu else None,
                    "service_rss_mb": round(best_cpu.peak_rss, 1) if best_cpu else None})
    results.append(measure("fastagi.call_setup_invite_to_200ok.light_load", "ms", light_times, at_rate=rates[0]))
    results.append(measure("fastagi.call_setup_invite_to_200ok.max_load", "ms", best_times, at_rate=best))
    return results
