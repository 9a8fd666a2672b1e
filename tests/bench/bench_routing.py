"""Routing on the real Asterisk: decision-to-ringing overhead per step, chain vs ring times.

Service overhead from the routing decision to each step's phones ringing, and the whole
chain's time against its configured ring times.

    HOTLINE_E2E_SLOT=2 python -m tests.bench.bench_routing [--calls N]

Each call runs the full chain with nobody answering until the pool: manager (rings out) ->
backups together (ring out) -> team lead (rings out) -> pool queue (an operator answers).
"Decision" is the moment the policy returned the step (`plan_call` for the first step,
`next_step` after that); "ringing" is AMI DialBegin (AgentCalled for the queue) of the last
target of a Dial step (all of them ring) or the first queue member rung.  Target: p95 <= 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path
from typing import Any

from callrouting.rules import RingSettings, RoutingConfig
from hotline.pbx.sipp import HangUp, Pause, place_call
from tests.bench.common import own_asterisk

RING_S = 2
CALLER = "+79164567890"  # Dmitry Volkov: manager 1004, backups 1002+1003, lead 1005
NO_ANSWER = ["1004", "1002", "1003", "1005"]
POOL_OPERATOR = "1006"


def _pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _metric(name: str, unit: str, values: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "unit": unit, "n": len(values),
        "p50": round(_pct(values, 50), 1) if values else None,
        "p95": round(_pct(values, 95), 1) if values else None,
        **extra,
    }


async def run(settings: Any, asterisk: Any = None, calls: int = 6) -> list[dict[str, Any]]:
    """Measure on a running Asterisk (`tests.bench` starts one for all benchmarks).

    Returns [{name, unit, n, p50, p95, ...}]; ~10 s per call.
    """
    from tests.e2e.test_routing_chain import phones, routing_service

    config = RoutingConfig(defaults=RingSettings(
        manager_ring_seconds=RING_S, backups_ring_seconds=RING_S, team_lead_ring_seconds=RING_S))
    configured = 3 * RING_S
    per_step: dict[str, list[float]] = {}
    spreads: list[float] = []
    overruns: list[float] = []
    async with routing_service(settings, config) as r:
        svc = r.service
        specs = [(e, False) for e in NO_ANSWER] + [(POOL_OPERATOR, True)]
        async with phones(svc, specs):
            for i in range(calls):
                res = await place_call(
                    target=f"127.0.0.1:{settings.asterisk.sip_port}", caller_id=CALLER,
                    steps=[Pause((configured + 3) * 1000), HangUp()], timeout=40)
                if not res.ok:
                    raise RuntimeError(f"bench call failed: {res.stderr[-500:]}")
                async with asyncio.timeout(10):  # the session stores its end
                    while len(r.flow.results) <= i:
                        await asyncio.sleep(0.05)
                result = r.flow.results[i]
                for t, step in zip(result.timings, result.plan.steps, strict=False):
                    if not t.ring_started:
                        continue
                    starts = sorted(t.ring_started.values())
                    rang = starts[0] if t.kind == "queue" else starts[-1]
                    per_step.setdefault(step.reason, []).append((rang - t.decided_at) * 1000)
                    if len(starts) > 1 and t.kind == "ring":
                        spreads.append((starts[-1] - starts[0]) * 1000)
                first, pool = result.timings[0], result.timings[-1]
                if pool.kind == "queue" and pool.ring_started:
                    chain = min(pool.ring_started.values()) - first.decided_at
                    overruns.append((chain - configured) * 1000)
                await asyncio.sleep(0.5)
    all_steps = [v for vs in per_step.values() for v in vs]
    out = [_metric("routing.decision_to_ringing", "ms", all_steps, target_p95=300)]
    out += [_metric(f"routing.decision_to_ringing.{k}", "ms", v) for k, v in per_step.items()]
    out.append(_metric("routing.backups_ring_spread", "ms", spreads, target_p95=300))
    out.append(_metric("routing.chain_overrun", "ms", overruns,
                       configured_s=configured,
                       note="decision to pool ringing minus the configured ring times"))
    return out


async def _standalone(calls: int) -> list[dict[str, Any]]:
    """Provision and start an Asterisk of our own (slot HOTLINE_E2E_SLOT), then `run`."""
    async with own_asterisk("bench-routing-") as (settings, inst):
        return await run(settings, inst, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    results = asyncio.run(_standalone(args.calls))
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
