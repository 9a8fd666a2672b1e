"""IVR on the real Asterisk: key press -> next prompt, and concurrent callers (Must-show 5).

    python -m tests.bench bench_ivr                              (with the other benchmarks)
    HOTLINE_E2E_SLOT=1 python -m tests.bench.bench_ivr [--callers 200] [--ramp 150]  (on its own)

1. Key press -> next prompt start: the same chain of eight menus (same prompt file, keys
   1..8) run natively by Asterisk (Background/WaitExten, a bench-only context appended to the
   instance's generated extensions.conf) and through the service (FastAGI + IvrCallFlow).
   Start: AMI DTMFEnd for the key, at the time Asterisk sent it (its `Timestamp`).  End:
   native, AMI Newexten (its `Timestamp`) of the next menu's Background(); service, the
   moment the session writes the next menu's `GET DATA` to Asterisk (wall clock, the same
   machine's).  Each key is paired with the prompt of the menu it leads to, whichever of the
   two reaches this process first: under load the service often has its next GET DATA out
   before the bench has read the DTMFEnd.  DTMFEnd (class `dtmf`) and Newexten (`dialplan`)
   come over an AMI login of the bench's own (tests.bench.common.bench_ami): the service's
   user reads neither (least privilege).  Asterisk stamps an event when its manager sends
   it, not when the digit arrived: idle that is the same millisecond, but under load the
   manager lags, the stamp is late, and a key stamped after the prompt it led to is counted
   as `keys_late` and left out.  So under load key -> prompt is a lower bound (look at
   keys_late).  Each load level also splits it: Asterisk's part (key -> the session reads
   the GET DATA reply; from the stamp, so a lower bound too) and the service's part (that
   reply -> the next GET DATA; this process's clock only, exact).
2. Load: N sipp callers (one sipp process, N/5 new calls a second) walk the whole chain
   through the service, ramping 50, 100, ... up to the target + 50 and stopping at the
   first step with a failure.  Zero failures means sipp reports none and every call is
   stored as completed with the full path.  A failed call is explained from AMI DTMFEnd and
   the service's GET DATA times: which menu lost its key and whether Asterisk ever got it.
   The service's CPU (user+system of this process, which runs it), its peak RSS and
   Asterisk's CPU are sampled during each step.  Database writes at each step, from the
   service's write queue: latency from queued to committed (p50/p95), writes lost (a lost
   write fails the step) and transient failures retried.

`run()` returns measures [{name, unit, n, p50, p95, ...}] for var/bench/results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HOTLINE_E2E_SLOT", "4")

from sqlalchemy import select  # noqa: E402

from hotline.app.service import Service  # noqa: E402
from hotline.app.wiring import build_ivr  # noqa: E402
from hotline.db.calls import CallRow  # noqa: E402
from hotline.logs import setup_logging  # noqa: E402
from hotline.pbx.agi import AgiChannel  # noqa: E402
from hotline.pbx.ami import Message  # noqa: E402
from hotline.pbx.asterisk import AsteriskInstance  # noqa: E402
from hotline.pbx.sipp import Dtmf, Pause, build_scenario, free_udp_port, place_call  # noqa: E402
from ivr.check import parse_dialplan  # noqa: E402
from tests.bench.common import ProcSample, bench_ami, own_asterisk  # noqa: E402

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
    """Per channel: each key's DTMFEnd and each menu's prompt start, in call order.

    Times are wall-clock seconds: Asterisk's event `Timestamp` (timestampevents, see
    bench_ami) where it has one, else the time this process read the event; the service's
    GET DATA times are this process's. `starts[chan][i]` is the prompt of menu i + 1 (the
    chain is m1, m2, ... and every menu's prompt starts once), so key k, which menu k takes,
    is paired with `starts[chan][k]`."""

    def __init__(self) -> None:
        self.digits: dict[str, list[tuple[str, float]]] = defaultdict(list)
        self.starts: dict[str, list[float]] = defaultdict(list)
        self.replies: dict[str, list[float]] = defaultdict(list)  # service: GET DATA replies read
        self.late = 0  # keys stamped after the prompt they led to (not counted as latencies)

    def reset(self) -> None:
        self.digits.clear()
        self.starts.clear()
        self.replies.clear()
        self.late = 0

    def on_ami(self, msg: Message) -> None:
        ev = msg.event or ""
        if ev not in ("DTMFEnd", "Newexten"):
            return
        try:
            at = float(msg["Timestamp"]) if "Timestamp" in msg else time.time()
        except ValueError:
            at = time.time()
        chan = msg["Channel"] if "Channel" in msg else ""
        if ev == "DTMFEnd" and (msg["Direction"] if "Direction" in msg else "") == "Received":
            self.digits[chan].append((msg["Digit"] if "Digit" in msg else "?", at))
        elif ev == "Newexten" and "Application" in msg and msg["Application"].lower() == "background" \
                and msg.get("Context", "").startswith("ivrbench-m"):
            self.starts[chan].append(at)

    def _pairs(self) -> Iterator[tuple[str, int, float]]:
        """(channel, k, time of key k) for each menu's key, the first of each digit."""
        for chan, keys in self.digits.items():
            seen: set[str] = set()
            for digit, at in keys:
                if digit.isdigit() and digit not in seen:  # a repeated key leads nowhere new
                    seen.add(digit)
                    yield chan, int(digit), at

    def latencies(self) -> list[float]:
        """Key k -> the prompt of menu k + 1, ms."""
        out = []
        self.late = 0
        for chan, k, at in self._pairs():
            starts = self.starts.get(chan, [])
            if 0 < k < len(starts):
                if starts[k] >= at:
                    out.append((starts[k] - at) * 1000)
                else:
                    self.late += 1
        return out

    def split(self) -> tuple[list[float], list[float]]:
        """The service's key -> prompt in two parts, ms: Asterisk (key k -> the session reads
        the reply to menu k's GET DATA) and the service (that read -> menu k + 1's GET DATA)."""
        asterisk, service = [], []
        for chan, k, at in self._pairs():
            starts, replies = self.starts.get(chan, []), self.replies.get(chan, [])
            if 0 < k < len(starts) and k <= len(replies) and starts[k] >= replies[k - 1] >= at:
                asterisk.append((replies[k - 1] - at) * 1000)
                service.append((starts[k] - replies[k - 1]) * 1000)
        return asterisk, service


def timed(flow: Any, timeline: Timeline) -> Any:
    """Wrap the IVR handler: note when each GET DATA leaves for Asterisk and when the
    session reads Asterisk's reply to it (the key, or the timeout)."""

    async def handler(chan: AgiChannel) -> None:
        name = chan.env.get("agi_channel", "")
        writer = chan._writer  # noqa: SLF001 - bench-only probe
        write, readline = writer.write, chan._readline  # noqa: SLF001
        waiting = False  # a GET DATA is out, its reply not read yet

        def probe(data: bytes) -> None:
            nonlocal waiting
            if data.startswith(b"GET DATA"):
                timeline.starts[name].append(time.time())
                waiting = True
            write(data)

        async def read_probe() -> bytes:
            nonlocal waiting
            line = await readline()
            if waiting:
                timeline.replies[name].append(time.time())
                waiting = False
            return line

        writer.write = probe  # type: ignore[method-assign]
        chan._readline = read_probe  # type: ignore[method-assign]  # noqa: SLF001
        await flow(chan)

    return handler


class DbWrites:
    """The service's database writes during one load step, from its write queue
    (`hotline.db.writes`): latency from the moment the session queued a write until it was
    committed, writes given up (lost), and transient failures that were retried."""

    def __init__(self, store: Any) -> None:
        self.stats = store.writes.stats

    def reset(self) -> None:
        self.stats.reset()

    def summary(self) -> dict[str, Any]:
        times = list(self.stats.latencies_ms)
        causes: dict[str, int] = defaultdict(int)
        for why in self.stats.failures:
            causes[why] += 1
        return {"db_write_n": len(times),
                "db_write_p50": round(statistics.median(times), 1) if times else None,
                "db_write_p95": round(pct(times, 0.95), 1) if times else None,
                "db_write_lost": self.stats.lost, "db_write_retries": self.stats.retries,
                "db_write_failures": dict(causes), "db_transactions": self.stats.transactions,
                "db_transaction_p95": round(pct(list(self.stats.transaction_ms), 0.95), 1)
                if self.stats.transaction_ms else None,
                "db_transaction_max": round(max(self.stats.transaction_ms), 1)
                if self.stats.transaction_ms else None,
                "db_batch_max": self.stats.batch_max}


def sqlite_synchronous(engine: Any, mode: str) -> None:
    """Bench-only experiment (HOTLINE_BENCH_SQLITE_SYNC=normal): SQLite's commit durability,
    to show how much of the key -> prompt time is the fsync of each path write."""
    from sqlalchemy import event

    @event.listens_for(engine.sync_engine, "connect")
    def _pragma(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA synchronous={mode}")
        cur.close()


class ServiceLoad:
    """CPU seconds and peak RSS of this process (the service) while something runs, and
    Asterisk's CPU when its pid is known."""

    def __init__(self, asterisk_pid: int | None = None) -> None:
        self.peak_rss_mb = 0.0
        self._task: asyncio.Task[None] | None = None
        self.asterisk = ProcSample(asterisk_pid) if asterisk_pid else None
        self.asterisk_cpu_percent: float | None = None

    async def _sample(self) -> None:
        while True:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_rss_mb = max(self.peak_rss_mb, int(line.split()[1]) / 1024)
            await asyncio.sleep(0.25)

    def __enter__(self) -> ServiceLoad:
        self.t0, self.c0 = time.monotonic(), sum(os.times()[:2])
        self.a0 = self._asterisk_cpu()
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.wall = time.monotonic() - self.t0
        self.cpu = sum(os.times()[:2]) - self.c0
        a1 = self._asterisk_cpu()
        if self.a0 is not None and a1 is not None:
            self.asterisk_cpu_percent = round(100 * (a1 - self.a0) / self.wall, 1)

    def _asterisk_cpu(self) -> float | None:
        try:
            return self.asterisk.cpu_seconds() if self.asterisk else None
        except OSError:
            return None


async def _calls(target: str, service: str, n: int) -> list[Any]:
    return await asyncio.gather(*[
        place_call(target=target, service=service, caller_id=f"bench{i}", steps=steps(),
                   timeout=60, wait_for_bye_ms=20000) for i in range(n)])


async def _load(target: str, callers: int, rate: int) -> tuple[int, str]:
    """One sipp process places all the calls (`rate` new calls a second)."""
    wd = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    xml = wd / "load.xml"
    xml.write_text(build_scenario("bench", None, steps(), 30000, media_dir=wd))
    cmd = ["sipp", target, "-sf", str(xml), "-s", "100", "-m", str(callers), "-l", str(callers),
           "-r", str(rate), "-i", "127.0.0.1", "-p", str(free_udp_port()),
           "-mp", str(free_udp_port()), "-timeout", "120s", "-timeout_error", "-nostdin"]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, cwd=wd,
                                                env={**os.environ, "TERM": "dumb"})
    out, err = await proc.communicate()
    shutil.rmtree(wd, ignore_errors=True)
    return proc.returncode or 0, (out + err).decode(errors="replace")[-1500:]


def diagnose(row: CallRow, timeline: Timeline) -> str:
    """Which menu lost its key, and where: never reached Asterisk (no AMI DTMFEnd), or reached
    it while the service had no GET DATA running (between two AGI commands Asterisk reads
    and drops the caller's DTMF), or something else."""
    chan = row.channel or ""
    got = [int(p["detail"].split()[1]) for p in row.path
           if p["detail"].startswith("key ")]
    lost = (max(got) + 1) if got else 1
    keys = [(d, t) for d, t in timeline.digits.get(chan, [])]
    starts = timeline.starts.get(chan, [])
    last = [p for p in row.path][-1:] or [{"node": "?", "detail": "?"}]
    where = f"m{lost}: {last[0]['node']} '{last[0]['detail']}'"
    at = [t for d, t in keys if d == str(lost)]
    if not at:
        return f"{where}; Asterisk never got key {lost} (AMI DTMFEnd: {''.join(d for d, _ in keys)})"
    prompt = starts[lost - 1] if len(starts) >= lost else None
    if prompt is None or at[0] < prompt:
        gap = f"{(prompt - at[0]) * 1000:.0f} ms before" if prompt else "with no"
        return f"{where}; key {lost} reached Asterisk {gap} the service's GET DATA for m{lost}"
    return f"{where}; key {lost} reached Asterisk during GET DATA, service saw {got}"


async def _level(svc: Service, timeline: Timeline, db: DbWrites, target: str, callers: int,
                 asterisk_pid: int | None) -> dict[str, Any]:
    async with svc.sessionmaker() as s:
        before = max((await s.scalars(select(CallRow.id))).all() or [0])
    timeline.reset()
    db.reset()
    with ServiceLoad(asterisk_pid) as load:
        rc, tail = await _load(target, callers, rate=max(10, callers // 5))
    async with asyncio.timeout(15):  # the sessions store their ends
        while svc.agi.active_calls:
            await asyncio.sleep(0.1)
    await svc.store.writes.flush()
    async with svc.sessionmaker() as s:
        rows = (await s.scalars(select(CallRow).where(CallRow.id > before)
                                .order_by(CallRow.id))).all()
    walked = [("bye", f"key {MENUS}")]  # the whole chain, every key taken
    ok = [r for r in rows if r.outcome == "completed" and
          [(p["node"], p["detail"]) for p in r.path][-1:] == walked]
    bad = [diagnose(r, timeline) for r in rows if r not in ok]
    writes = db.summary()
    failures = callers - len(ok) + writes["db_write_lost"]  # a lost write fails the step
    lat = timeline.latencies()
    ast_part, svc_part = timeline.split()
    return {"callers": callers, "ok": len(ok), "failures": failures, "sipp_exit": rc,
            "sipp_tail": tail if rc else "", "lost": bad,
            "ami_keys": sum(len(v) for v in timeline.digits.values()), "keys_late": timeline.late,
            **writes,
            "key_to_reply_p50": round(statistics.median(ast_part), 1) if ast_part else None,
            "key_to_reply_p95": round(pct(ast_part, 0.95), 1) if ast_part else None,
            "reply_to_prompt_p50": round(statistics.median(svc_part), 1) if svc_part else None,
            "reply_to_prompt_p95": round(pct(svc_part, 0.95), 1) if svc_part else None,
            "key_to_prompt_n": len(lat),
            "key_to_prompt_p50": round(statistics.median(lat), 1) if lat else None,
            "key_to_prompt_p95": round(pct(lat, 0.95), 1) if lat else None,
            "cpu": round(100 * load.cpu / load.wall, 1), "rss": round(load.peak_rss_mb, 1),
            "asterisk_cpu": load.asterisk_cpu_percent, "wall": round(load.wall, 1)}


async def run(settings: Any, asterisk: AsteriskInstance, callers: int = 200,
              ramp: tuple[int, ...] | None = None, latency_calls: int = 4) -> list[dict[str, Any]]:
    """On a running Asterisk (`python -m tests.bench bench_ivr` starts one).  The load ramps
    up in steps of 50 to `callers` + 50 and stops at the first step with a failure."""
    ramp = ramp or tuple(range(50, callers + 51, 50))
    var = Path(tempfile.mkdtemp(prefix="hotline-bench-ivr-"))
    svc = Service(settings, with_bot=False)  # the IVR alone (the bot has its own bench)
    if os.environ.get("HOTLINE_BENCH_SQLITE_SYNC"):
        sqlite_synchronous(svc.engine, os.environ["HOTLINE_BENCH_SQLITE_SYNC"].upper())
    db = DbWrites(svc.store)
    dp_file = var / "bench.yaml"
    dp_file.write_text(bench_dialplan())
    dp, problems = parse_dialplan(dp_file.read_text(), str(dp_file))
    assert dp is not None, problems
    registry, flow = build_ivr(settings, svc.store, svc.sessionmaker, asterisk.sounds_dir,
                               asterisk.to_inside, dialplan_path=dp_file)
    timeline = Timeline()
    svc.agi.handler = timed(flow, timeline)
    target = f"127.0.0.1:{settings.asterisk.sip_port}"
    pid = asterisk.proc.pid if asterisk.proc else None
    levels: list[dict[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(shutil.rmtree, var, ignore_errors=True)
        stack.push_async_callback(svc.stop)
        await svc.start()
        stack.push_async_callback(registry.stop)
        await registry.start()
        await svc.ami.wait_connected(10)
        ami = await stack.enter_async_context(
            bench_ami(settings, asterisk, ("dtmf", "dialplan"), timestamps=True))
        ami.subscribe_raw(timeline.on_ami)
        prompt = await flow.prompts.target(_first_prompt(flow))
        conf = asterisk.dir / "etc" / "extensions.conf"
        if "[ivrbench-m1]" not in conf.read_text():
            with conf.open("a") as f:
                f.write(native_context(prompt))
            await asyncio.to_thread(asterisk.rx, "dialplan reload")

        await _calls(target, "ivrbench", latency_calls)
        await asyncio.sleep(0.5)
        native, native_late = timeline.latencies(), timeline.late
        timeline.reset()
        await _calls(target, "100", latency_calls)
        await asyncio.sleep(0.5)
        service, service_late = timeline.latencies(), timeline.late

        for n in ramp:
            lv = await _level(svc, timeline, db, target, n, pid)
            levels.append(lv)
            print(f"  ivr load {n:>3} callers: ok={lv['ok']} failures={lv['failures']} "
                  f"sipp_exit={lv['sipp_exit']} key->prompt p50/p95={lv['key_to_prompt_p50']}/"
                  f"{lv['key_to_prompt_p95']} ms (n={lv['key_to_prompt_n']} late={lv['keys_late']}; "
                  f"Asterisk key->reply {lv['key_to_reply_p50']}/{lv['key_to_reply_p95']}, service "
                  f"reply->prompt {lv['reply_to_prompt_p50']}/{lv['reply_to_prompt_p95']}) db write p50/p95={lv['db_write_p50']}/"
                  f"{lv['db_write_p95']} ms (n={lv['db_write_n']} lost={lv['db_write_lost']} "
                  f"retried={lv['db_write_retries']} {lv['db_write_failures'] or ''} "
                  f"txns={lv['db_transactions']} txn p95/max={lv['db_transaction_p95']}/"
                  f"{lv['db_transaction_max']} ms batch max={lv['db_batch_max']}) service cpu={lv['cpu']}% rss={lv['rss']} MB "
                  f"asterisk cpu={lv['asterisk_cpu']}% ({lv['wall']} s)", flush=True)
            for line in lv["lost"][:8]:
                print(f"    lost: {line}", flush=True)
            if lv["sipp_tail"]:
                print(lv["sipp_tail"][-600:], file=sys.stderr)
            if lv["failures"] or lv["sipp_exit"]:
                break
            await asyncio.sleep(1)

    def measure(name: str, values: list[float], unit: str = "ms", **extra: Any) -> dict[str, Any]:
        return {"name": name, "unit": unit, "n": len(values),
                "p50": round(statistics.median(values), 2) if values else None,
                "p95": round(pct(values, 0.95), 2) if values else None, **extra}

    n_med, s_med = statistics.median(native or [0]), statistics.median(service or [0])
    n95, s95 = pct(native or [0], 0.95), pct(service or [0], 0.95)
    clean = [lv for lv in levels if not lv["failures"] and not lv["sipp_exit"]]
    best = clean[-1] if clean else None
    first_bad = next((lv for lv in levels if lv not in clean), None)
    return [
        measure("ivr.key_to_prompt.native", native, keys_late=native_late),
        measure("ivr.key_to_prompt.service", service, keys_late=service_late,
                ratio=round(s_med / n_med, 2) if n_med else None,
                ratio_p95=round(s95 / n95, 2) if n95 else None),
        {"name": "ivr.load.max_callers_zero_failures", "unit": "calls", "n": len(levels),
         "p50": best["callers"] if best else 0, "p95": best["callers"] if best else 0,
         "target": callers, "target_met": bool(best and best["callers"] >= callers),
         "ramp": [f"{lv['callers']}:{lv['failures']}" for lv in levels],
         "first_failing": first_bad["callers"] if first_bad else None},
        {"name": "ivr.load.key_to_prompt_at_max", "unit": "ms", "n": best["key_to_prompt_n"] if best else 0,
         "p50": best["key_to_prompt_p50"] if best else None,
         "p95": best["key_to_prompt_p95"] if best else None,
         "keys_late": best["keys_late"] if best else None,
         **{k: best[k] if best else None for k in ("key_to_reply_p50", "key_to_reply_p95",
                                                   "reply_to_prompt_p50", "reply_to_prompt_p95")}},
        {"name": "ivr.load.service_cpu_at_max", "unit": "% of one core", "n": 1,
         "p50": best["cpu"] if best else None, "p95": best["cpu"] if best else None,
         "asterisk_cpu": best["asterisk_cpu"] if best else None,
         "wall_s": best["wall"] if best else None},
        {"name": "ivr.load.service_rss_peak_at_max", "unit": "MB", "n": 1,
         "p50": best["rss"] if best else None, "p95": best["rss"] if best else None},
        {"name": "ivr.load.db_write_at_max", "unit": "ms", "n": best["db_write_n"] if best else 0,
         "p50": best["db_write_p50"] if best else None,
         "p95": best["db_write_p95"] if best else None,
         "lost": best["db_write_lost"] if best else None,
         "retried": best["db_write_retries"] if best else None,
         "steps": [{k: lv[k] for k in ("callers", "db_write_n", "db_write_p50", "db_write_p95",
                                       "db_write_lost", "db_write_retries", "db_write_failures")}
                   for lv in levels]},
    ]


async def run_standalone(callers: int, latency_calls: int,
                         ramp: tuple[int, ...] | None = None) -> list[dict[str, Any]]:
    """Without `tests.bench`: an Asterisk of our own on the slot's ports."""
    async with own_asterisk("hotline-bench-var-") as (settings, inst):
        return await run(settings, inst, callers, ramp=ramp, latency_calls=latency_calls)


def _first_prompt(flow: Any) -> Any:
    from hotline.clock import utcnow
    from ivr.machine import CallerInfo, GetDigits, start

    _, effects = start(flow.current_dialplan(), CallerInfo(), utcnow())
    return next(e for e in effects if isinstance(e, GetDigits)).prompts[0]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--callers", type=int, default=200)
    ap.add_argument("--latency-calls", type=int, default=4)
    ap.add_argument("--ramp", default="", help="load levels to run, e.g. 150 or 100,150 "
                    "(default: 50, 100, ... up to callers + 50)")
    a = ap.parse_args()
    setup_logging("warning")
    t0 = time.monotonic()
    levels = tuple(int(n) for n in a.ramp.split(",") if n.strip()) or None
    for m in asyncio.run(run_standalone(a.callers, a.latency_calls, levels)):
        print(m)
    print(f"took {time.monotonic() - t0:.0f}s")
