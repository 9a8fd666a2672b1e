"""The cluster (issue 13): setup through Kamailio vs straight to one node, presence propagation, failover detection.

Brings up its own cluster (`hotline cluster up`: Kamailio, PostgreSQL, three nodes in network
namespaces; root only, with Debian's kamailio) on a prefix and subnet of the bench slot, and in
one run measures

- call setup time (INVITE sent -> 200 OK received, from sipp's message log): calls through
  Kamailio and calls straight to node 1's Asterisk, interleaved, and the ratio of the medians;
- cluster-wide presence propagation: operator 1001 (baresip registered at Kamailio) answers a
  call on node 1 -> node 2's `/api/operators` (what its router reads) says `in_use`;
  goal <= 200 ms p95. This includes one HTTP poll (every 10 ms) and reading baresip's output;
- failover detection: node 3's service and Asterisk SIGKILLed (idle cluster) -> Kamailio's
  dispatcher marks it down; node 3 is started again between the runs.

    python -m tests.bench bench_cluster      (or: python -m tests.bench.bench_cluster)
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.bench.common import measure

SETUP_CALLS = 10  # per path
PRESENCE_RUNS = 8
FAILOVER_RUNS = 3


def setup_time(messages: str) -> float | None:
    """Seconds from the first INVITE sent to its 200 OK, from a sipp -trace_msg log."""
    sent = answered = None
    for block in re.split(r"\n(?=-{20,} \d{4}-)", "\n" + messages):
        head = re.match(r"\n?-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)", block)
        if not head:
            continue
        at = datetime.strptime(head.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        if sent is None and re.search(r"^INVITE sip:", block, re.MULTILINE):
            sent = at
        elif sent is not None and re.search(r"^SIP/2\.0 200", block, re.MULTILINE) and \
                re.search(r"^CSeq:\s*\d+ INVITE", block, re.MULTILINE | re.IGNORECASE):
            answered = at
            break
    return answered - sent if sent is not None and answered is not None else None


async def run(settings: Any = None, asterisk: Any = None) -> list[dict[str, Any]]:
    from hotline.cluster.kamailio import KAMAILIO_BIN
    from hotline.pbx.sipp import HangUp, Pause, place_call, sipp_available

    if os.geteuid() != 0 or not Path(KAMAILIO_BIN).exists() or not sipp_available():
        print("[bench] bench_cluster: needs root, kamailio and sipp; skipped", flush=True)
        return []
    from hotline.cluster.cluster import Cluster
    from tests.e2e.test_cluster import TOPOLOGY, _cli, _state_dir
    from tests.e2e.test_cluster_presence import MARIA, NodeApi, call_on, established, operators

    state = _state_dir("bench-cluster")
    up = await asyncio.to_thread(
        _cli, "up", "--prefix", TOPOLOGY.prefix, "--subnet", TOPOLOGY.subnet,
        "--env", "HOTLINE_BOT__ASR_ENGINE=pocketsphinx", state=state)
    if up.returncode != 0:
        raise RuntimeError(f"cluster up failed:\n{up.stderr[-3000:]}")
    c = Cluster(state)
    k, n1, n2, n3 = c.kamailio, c.node("n1"), c.node("n2"), c.node("n3")
    results: list[dict[str, Any]] = []
    try:
        # 1. setup time, the two paths interleaved (same run, same load)
        times: dict[str, list[float]] = {"kamailio": [], "direct": []}
        for i in range(2 * SETUP_CALLS):
            path = "kamailio" if i % 2 == 0 else "direct"
            target = f"{k.address}:{k.port}" if path == "kamailio" else n1.sip
            wd = Path(tempfile.mkdtemp(prefix="hotline-bench-setup-"))
            res = await place_call(target=target, service="100", caller_id=f"+7915{i:07d}",
                                   local_ip=k.address, steps=[Pause(300), HangUp()], timeout=30,
                                   workdir=wd)
            t = setup_time((wd / "messages.log").read_text(errors="replace")) if res.ok else None
            if t is not None:
                times[path].append(t * 1000)
            shutil.rmtree(wd, ignore_errors=True)
        ratio = (round(sorted(times["kamailio"])[len(times["kamailio"]) // 2]
                       / sorted(times["direct"])[len(times["direct"]) // 2], 2)
                 if times["kamailio"] and times["direct"] else None)
        results.append(measure("cluster call setup through Kamailio (INVITE->200)", "ms",
                               times["kamailio"], ratio_to_direct=ratio))
        results.append(measure("cluster call setup straight to node 1 (INVITE->200)", "ms",
                               times["direct"]))
        # 2. presence propagation: 1001 answers on node 1 -> node 2's router sees in_use
        prop: list[float] = []
        async with operators(c, [("1001", True)]) as ph, NodeApi(c, n2) as api2:
            await api2.wait_presence("1001", "available", timeout=15)
            for _ in range(PRESENCE_RUNS):
                took = established(ph["1001"])
                call = asyncio.create_task(call_on(c, n1, 4000, caller=MARIA))
                try:
                    async with asyncio.timeout(30):
                        while established(ph["1001"]) <= took:
                            await asyncio.sleep(0.002)
                    answered = time.monotonic()
                    await api2.wait_presence("1001", "in_use", timeout=5)
                    prop.append((time.monotonic() - answered) * 1000)
                    await call
                finally:
                    call.cancel()
                    await asyncio.gather(call, return_exceptions=True)
                await api2.wait_presence("1001", "available", timeout=15)
        results.append(measure("cluster presence propagation (answer on n1 -> n2 in_use)", "ms",
                               prop, goal_p95_ms=200))
        # 3. failover detection (idle cluster): kill node 3, Kamailio marks it down
        detect: list[float] = []
        for i in range(FAILOVER_RUNS):
            await asyncio.to_thread(c.kill_node, "n3")
            killed = time.monotonic()
            while time.monotonic() - killed < 30:
                if c.kamailio.node_states().get(n3.sip) == "down":
                    detect.append((time.monotonic() - killed) * 1000)
                    break
                await asyncio.sleep(0.02)
            if i < FAILOVER_RUNS - 1:
                await asyncio.to_thread(c.start_node, "n3")
                deadline = time.monotonic() + 30
                while c.kamailio.node_states().get(n3.sip) != "up" and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
        results.append(measure("cluster failover detection (node killed -> marked down)", "ms",
                               detect, ping_interval_s=1))
    finally:
        down = await asyncio.to_thread(_cli, "down", "--force", state=state, timeout=180)
        if down.returncode != 0:
            print(f"[bench] cluster down failed: {down.stderr[-2000:]}", flush=True)
        shutil.rmtree(state, ignore_errors=True)
    for r in results:
        print(f"[bench] {r['name']}: p50 {r['p50']} {r['unit']}, p95 {r['p95']} {r['unit']}"
              + (f", ratio to direct {r['ratio_to_direct']}" if r.get("ratio_to_direct") else ""),
              flush=True)
    return results


if __name__ == "__main__":
    os.environ.setdefault("HOTLINE_E2E_SLOT", os.environ.get("HOTLINE_BENCH_SLOT", "5"))
    asyncio.run(run())
