"""Voice bot through the real Asterisk: turn latency, barge-in stop time, concurrent calls.

Callers are cheap: `channel originate` over Asterisk's CLI (the service's AMI user may not
originate) of `Local/<hotline>@hotline`; the far half of each Local
channel plays a caller WAV (questions made with espeak-ng, the first one spoken into the
greeting, the next ones into the bot's answers) and hangs up. The near half walks the normal
hotline dialplan: FastAGI -> the service's handler answers -> BotGateway -> AudioSocket.

Measured on the server side by each session (voicebot.processors.CallMetrics):
- turn: end of the caller's speech (VAD) -> first bot audio frame sent to Asterisk, including
  the end-of-speech silence the VAD waits for, recognition, lookup and TTS;
- barge-in: caller speech start -> the bot's queued audio dropped (the last frame already sent).
Concurrency ramps (5, 10, 20, 30, 40 calls at once); for each step: turn p50/p95, failures, service
(this process and its ASR worker processes) and Asterisk CPU% and RSS, and per call.

Then task success: every scripted multi-turn call of tests/e2e/bot_scripts.py in each caller
voice (BENCH_BOT_TASK_VOICES), placed by sipp (speech and keys in one RTP stream),
BENCH_BOT_TASK_CALLS at once; each stored call judged by voicebot.task_success (the right answer,
or the operator when asked, within 4 caller turns); the rate overall, per kind and per voice.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from hotline.app.settings import Settings
from hotline.pbx.asterisk import AsteriskInstance
from tests.bench.common import CpuMeter, measure, percentile
from tests.e2e.bot_scripts import SCRIPTS, place_scripted
from tests.e2e.bot_support import BotCalls, make_bot_service, say_wav
from voicebot.audio import read_wav, write_wav
from voicebot.session import BotResult

QUESTIONS = ["when is the next draw please", "how do i claim my prize",
             "what were the winning numbers yesterday"]  # fmt: skip
LEAD_S = 1.5  # the first question starts 1.5 s into the greeting (a barge-in)
GAP_S = 3.0  # then 3 s of the bot's answer before the next question barges in
TAIL_S = 4.0
STEPS = tuple(int(x) for x in os.environ.get("BENCH_BOT_STEPS", "5,10,20,30,40").split(",") if x)
# Call starts are spread evenly over one question-and-answer cycle, so callers talk at random
# moments as real ones do (all N calls still overlap for most of their length). With every
# caller speaking at the same instant (BENCH_BOT_SPREAD_S=0) recognition load comes in bursts:
# a worst case, not a capacity.
SPREAD_S = float(os.environ.get("BENCH_BOT_SPREAD_S", "6"))
CONTEXT = "hotline-bench-caller"
# The service's AMI user may not originate (least privilege: its classes are in
# hotline.pbx.asterisk.AMI_WRITE), so the bench originates over Asterisk's CLI: the Local
# channel's near half enters DIAL_CONTEXT at the caller's number, takes it as its caller ID and
# walks into the hotline; the far half plays the caller's audio from CONTEXT.
DIAL_CONTEXT = "hotline-bench-dial"
TASK_VOICES = tuple(v for v in os.environ.get(
    "BENCH_BOT_TASK_VOICES", "piper-joe-x1,espeak-en-us@150,flite-slt").split(",") if v)
TASK_CALLS = int(os.environ.get("BENCH_BOT_TASK_CALLS", "6"))
# Side by side in one run: BENCH_BOT_AB_PAUSE="160,none" gives the calls the VAD pause
# (semantic endpointing, voicebot.processors.AsrProcessor) of each variant in turn, and reports
# turn latency per variant for every ramp step (the same load for both).
AB_PAUSE = tuple(None if v.strip().lower() == "none" else int(v)
                 for v in os.environ.get("BENCH_BOT_AB_PAUSE", "").split(",") if v.strip())

DIALPLAN = f"""; Written by tests/bench/bench_bot.py - benchmark callers (Local channel far halves).
[{CONTEXT}]
exten => s,1,NoOp(bench caller)
 same => n,Playback({{wav}})
 same => n,Hangup()

[{DIAL_CONTEXT}]
exten => _X.,1,Set(CALLERID(all)=${{{{EXTEN}}}} <${{{{EXTEN}}}}>)
 same => n,Goto(hotline,{{hotline}},1)
"""


def caller_wav(path: Path, tmp: Path) -> float:
    """The caller's side of one call; returns its length in seconds."""
    pcm = bytearray(int(8000 * LEAD_S) * 2)
    for i, q in enumerate(QUESTIONS):
        wav, start, end = say_wav(q, tmp / f"q{i}.wav", wpm=160, lead_s=0, tail_s=0)
        speech, _ = read_wav(wav)
        pcm += speech + bytes(int(8000 * (GAP_S if i < len(QUESTIONS) - 1 else TAIL_S)) * 2)
    write_wav(path, bytes(pcm), 8000)
    return len(pcm) / 16000


async def install_dialplan(asterisk: AsteriskInstance, wav: Path) -> None:
    inside = asterisk.to_inside(wav.with_suffix(""))
    ext = asterisk.settings.asterisk.hotline_extension
    (asterisk.dir / "etc" / "extensions_bench.conf").write_text(
        DIALPLAN.format(wav=inside, hotline=ext))
    await asyncio.to_thread(asterisk.rx, "dialplan reload")
    out = await asyncio.to_thread(asterisk.rx, f"dialplan show {CONTEXT}")
    if "Playback" not in out:
        raise RuntimeError("the bench dialplan did not load: asterisk/templates/extensions.conf.j2 "
                           f"needs `#tryinclude \"extensions_bench.conf\"` ({out.strip()[:200]})")


async def run(settings: Settings, asterisk: AsteriskInstance,
              steps: tuple[int, ...] = STEPS) -> list[dict[str, Any]]:
    calls = BotCalls()
    service, gw = make_bot_service(settings, calls)
    results: list[BotResult] = []
    run_call = gw.run

    async def recording_run(chan, call_context=None):  # type: ignore[no-untyped-def]
        result = await run_call(chan, call_context)
        results.append(result)
        return result

    gw.run = recording_run  # type: ignore[method-assign]
    variants: list[tuple[int | None, Any]] = []  # (pause, session) per call, for AB_PAUSE
    if AB_PAUSE:
        import dataclasses

        open_session = gw._open_session

        def ab_open(call):  # type: ignore[no-untyped-def]
            pause = AB_PAUSE[len(variants) % len(AB_PAUSE)]
            gw.session_settings = dataclasses.replace(gw.session_settings, vad_pause_ms=pause)
            session = open_session(call)
            if session is not None:
                variants.append((pause, session))
            return session

        gw._open_session = ab_open  # type: ignore[method-assign]
        gw.server.sessions = ab_open  # the server holds the bound method it was given
    if os.environ.get("BENCH_BOT_ASR_THREADS"):  # experiments: recognition thread count
        gw.asr_threads = int(os.environ["BENCH_BOT_ASR_THREADS"])
    bench_dir = asterisk.sounds_dir / "bench"
    bench_dir.mkdir(parents=True, exist_ok=True)
    wav = bench_dir / "caller.wav"
    call_s = caller_wav(wav, bench_dir)
    await install_dialplan(asterisk, wav)
    t = time.monotonic()
    await gw.start()
    await service.start()
    print(f"  bot ready in {time.monotonic() - t:.1f}s (asr {gw.asr.name if gw.asr else '?'}, "
          f"tts {gw.tts.name}); each call {call_s:.1f}s", flush=True)
    try:
        await service.ami.wait_connected(10)
        rows = await _ramp(service, gw, asterisk, results, steps, call_s, variants) if steps else []
        if TASK_VOICES:
            rows += await task_success_rows(service, bench_dir)
        return rows
    finally:
        await service.stop()
        await gw.stop()


async def _ramp(service: Any, gw: Any, asterisk: AsteriskInstance, results: list[BotResult],
                steps: tuple[int, ...], call_s: float,
                variants: list[tuple[int | None, Any]] | None = None) -> list[dict[str, Any]]:
    # the service's process and its ASR worker processes (voicebot.asr_procpool)
    # (pocketsphinx's and Whisper's worker processes)
    workers = [pid for part in (getattr(gw.asr, "first", gw.asr), getattr(gw.asr, "second", None))
               if hasattr(part, "worker_pids") for pid in part.worker_pids()]  # fmt: skip
    idle_rss = CpuMeter(also=workers)._rss()
    ast_pid = asterisk.proc.pid if asterisk.proc is not None else None
    rows: list[dict[str, Any]] = []
    all_bargeins: list[float] = []
    light: list[float] = []
    best: dict[str, Any] | None = None
    for n in steps:
        results.clear()
        if variants is not None:
            variants.clear()
        with CpuMeter(also=workers) as svc_cpu, CpuMeter(ast_pid) as ast_cpu:
            t0 = time.monotonic()
            for i in range(n):
                await asyncio.to_thread(
                    asterisk.rx, f"channel originate Local/7999{n:03d}{i:04d}@{DIAL_CONTEXT} "
                    f"extension s@{CONTEXT}")
                await asyncio.sleep(max(0.02, t0 + (i + 1) * SPREAD_S / n - time.monotonic()))
            deadline = time.monotonic() + call_s + 25
            while len(results) < n and time.monotonic() < deadline:
                svc_cpu.sample()
                ast_cpu.sample()
                await asyncio.sleep(0.5)
        turns = [x for r in results for x in r.turn_latencies]
        stages = [st for r in results for st in r.turn_stages]
        names = list(dict.fromkeys(k for st in stages for k in st))
        breakdown = {k: [1000 * st[k] for st in stages if k in st] for k in names}
        bargeins = [x for r in results for x in r.bargein_stops]
        failed = n - sum(r.outcome in ("hangup", "done", "operator") for r in results)
        p95 = percentile(turns, 0.95) if turns else float("inf")
        ok = failed == 0 and p95 <= 1.0 and len(turns) >= n
        if ok:  # the overall barge-in figure covers the loads the machine holds
            all_bargeins += bargeins
        if not light:
            light = turns
        row = {
            "calls": n, "start_spread_s": SPREAD_S, "ok": ok, "failed": failed, "turns": len(turns),
            "turn_p50_ms": round(1000 * percentile(turns, 0.5)) if turns else None,
            "turn_p95_ms": round(1000 * p95) if turns else None,
            "bargein_p95_ms": round(1000 * percentile(bargeins, 0.95)) if bargeins else None,
            "service_cpu_percent": round(svc_cpu.cpu_percent, 1),
            "service_rss_mb": round(svc_cpu.peak_rss, 1),
            "service_cpu_percent_per_call": round(svc_cpu.cpu_percent / n, 2),
            "service_rss_mb_per_call": round(max(0.0, svc_cpu.peak_rss - idle_rss) / n, 2),
            "asterisk_cpu_percent": round(ast_cpu.cpu_percent, 1),
            "asterisk_rss_mb": round(ast_cpu.peak_rss, 1),
        }
        print(f"  bot {n:>3} calls at once: " + ", ".join(f"{k}={v}" for k, v in row.items()
                                                           if k != "calls"), flush=True)
        row["turn_stages_ms_p50_p95"] = {k: [round(percentile(v, 0.5)), round(percentile(v, 0.95))]
                                         for k, v in breakdown.items()}
        print(f"      turn stages (ms after speech end, p50/p95): {row['turn_stages_ms_p50_p95']}",
              flush=True)
        for pause in AB_PAUSE:
            mine = [sess for p, sess in variants or () if p == pause]
            vt = [x for sess in mine for x in sess.metrics.turns]
            vst = [st for sess in mine for st in sess.metrics.stages]
            early = sum(sess.asr.early_ends for sess in mine)
            if vt:
                print(f"      variant vad_pause_ms={pause}: {len(mine)} calls, {len(vt)} turns "
                      f"({early} ended at the pause), turn p50/p95 "
                      f"{1000 * percentile(vt, 0.5):.0f}/{1000 * percentile(vt, 0.95):.0f} ms; asr "
                      f"{1000 * percentile([st['asr'] for st in vst], 0.5):.0f}/"
                      f"{1000 * percentile([st['asr'] for st in vst], 0.95):.0f} ms", flush=True)
                row[f"variant_pause_{pause}_p50_p95_ms"] = [round(1000 * percentile(vt, 0.5)),
                                                             round(1000 * percentile(vt, 0.95))]
        rows.append(measure(f"bot.turn_latency.{n}_concurrent", "ms",
                            [1000 * x for x in turns], **{k: v for k, v in row.items()
                                                          if k not in ("turn_p50_ms", "turn_p95_ms")}))
        if ok:
            best = row
        else:
            break
    return [
        measure("bot.turn_latency.speech_end_to_first_audio.light", "ms",
                [1000 * x for x in light], at_calls=steps[0], target="p50<=500 p95<=800"),
        measure("bot.bargein_stop.held_loads", "ms", [1000 * x for x in all_bargeins],
                target="p95<=200", up_to_calls=best["calls"] if best else 0),
        {"name": "bot.max_concurrent_calls_turn_p95_under_1s", "unit": "calls", "n": len(rows),
         "p50": best["calls"] if best else 0, "p95": best["calls"] if best else 0,
         "target": ">=20", "idle_service_rss_mb": round(idle_rss, 1),
         **({k: v for k, v in best.items() if k.startswith(("service_", "asterisk_"))}
            if best else {})},
        *rows,
    ]


async def task_success_rows(service: Any, workdir: Path) -> list[dict[str, Any]]:
    """Every scripted call in every caller voice, TASK_CALLS at once; per call the task-success
    judgement of its stored row."""
    from tests.support.speech_testset import voice
    from voicebot.task_success import task_success

    jobs = [(v, s) for v in TASK_VOICES for s in SCRIPTS]
    speakers = {v: voice(v) for v in TASK_VOICES}
    gate = asyncio.Semaphore(TASK_CALLS)
    outcomes: list[tuple[str, str, str, bool, int, str]] = []

    async def one(k: int, voice_name: str, script: Any) -> None:
        async with gate:
            await asyncio.sleep(0.7 * (k % TASK_CALLS))  # not all callers in the same instant
            try:
                row = await place_scripted(service, script, speakers[voice_name],
                                           workdir / f"task-{k}", caller_id=f"8999100{k:04d}")
                got = task_success(script.goal, row.bot_transcript or [],
                                   (row.context or {}).get("bot"))  # fmt: skip
                ok, turns, why = got.success, got.turns, got.why
                heard = [x["text"] for x in row.bot_transcript or [] if x["speaker"] == "caller"]
            except Exception as exc:  # a call that did not happen counts as a failure
                ok, turns, why, heard = False, 0, f"call failed: {exc}"[:300], []
            outcomes.append((voice_name, script.kind, script.name, ok, turns, why))
            if not ok:
                print(f"      TASK FAIL {script.name} ({voice_name}): {why}; heard {heard}",
                      flush=True)

    t0 = time.monotonic()
    await asyncio.gather(*(one(k, v, s) for k, (v, s) in enumerate(jobs)))
    n = len(outcomes)
    right = sum(o[3] for o in outcomes)
    by: dict[str, list[int]] = {}
    for v, kind, _, ok, _, _ in outcomes:
        for key in (f"voice:{v}", f"kind:{kind}"):
            by.setdefault(key, [0, 0])
            by[key][0] += ok
            by[key][1] += 1
    rate = 100 * right / n if n else 0.0
    print(f"  task success {right}/{n} = {rate:.1f} % ({TASK_CALLS} calls at once, "
          f"{time.monotonic() - t0:.0f} s): " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in by.items()),
          flush=True)  # fmt: skip
    turns = [o[4] for o in outcomes if o[3]]
    return [{"name": "bot.task_success.scripted_calls", "unit": "percent", "n": n,
             "p50": round(rate, 1), "p95": round(rate, 1), "target": ">=95", "ok": rate >= 95,
             "successes": right, "calls_at_once": TASK_CALLS, "max_turns": 4,
             "turns_to_goal_p50": percentile(turns, 0.5) if turns else None,
             "by": {k: f"{a}/{b}" for k, (a, b) in by.items()},
             "failures": [f"{o[2]} ({o[0]}): {o[5]}" for o in outcomes if not o[3]]}]


if __name__ == "__main__":  # python -m tests.bench bench_bot is the usual way
    os.execv(sys.executable, [sys.executable, "-m", "tests.bench", "bench_bot"])
