"""`make bench`: every benchmark against a real Asterisk; writes var/bench/results.json.

Runs on its own Asterisk instance and ports (slot HOTLINE_BENCH_SLOT, default 5), so a
`make run` on the standard ports is not disturbed.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HOTLINE_E2E_SLOT", os.environ.get("HOTLINE_BENCH_SLOT", "5"))

from hotline.app.bootstrap import prepare_database  # noqa: E402
from hotline.app.service import Service  # noqa: E402
from hotline.logs import setup_logging  # noqa: E402
from hotline.paths import PROJECT_ROOT  # noqa: E402
from hotline.pbx.asterisk import AsteriskInstance, provision_root  # noqa: E402
from tests.e2e.conftest import make_settings  # noqa: E402

RESULTS = PROJECT_ROOT / "var" / "bench" / "results.json"
BENCHES = ["bench_fastagi", "bench_ivr", "bench_routing", "bench_operator_key", "bench_queue",
           "bench_callbacks", "bench_bot", "bench_speech", "bench_cluster"]


def table(rows: list[dict[str, Any]]) -> str:
    out = [f"{'measure':58} {'unit':>8} {'n':>5} {'p50':>10} {'p95':>10}  extra"]
    for r in rows:
        extra = ", ".join(f"{k}={v}" for k, v in r.items() if k not in {"name", "unit", "n", "p50", "p95"})
        out.append(f"{r['name']:58} {r['unit']:>8} {r['n']:>5} {str(r['p50']):>10} {str(r['p95']):>10}  {extra}")
    return "\n".join(out)


async def main() -> int:
    setup_logging("warning")
    var = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    settings = make_settings(var)
    print(f"[bench] Asterisk instance {settings.asterisk.instance}, SIP 127.0.0.1:{settings.asterisk.sip_port}", flush=True)
    await asyncio.to_thread(provision_root, settings.asterisk.root, settings.asterisk.cache)
    await prepare_database(settings)
    assert settings.asterisk.ami_secret is not None
    secret = settings.asterisk.ami_secret.get_secret_value()
    probe = Service(settings, secret=secret)
    operators = await probe.operators()
    await probe.engine.dispose()
    inst = AsteriskInstance(settings)
    inst.write_config(operators, secret, probe.agi_secret)
    await asyncio.to_thread(inst.start)
    results: list[dict[str, Any]] = []
    t0 = time.monotonic()
    # Each benchmark module has `async def run(settings, asterisk) -> list[dict]` and starts
    # the service pieces it needs itself (one Asterisk for all of them).
    selected = [m for m in BENCHES if not sys.argv[1:] or m in sys.argv[1:]]
    try:
        for i, name in enumerate(selected, 1):
            try:
                module = importlib.import_module(f"tests.bench.{name}")
            except ImportError as exc:
                print(f"[bench] {i}/{len(selected)} {name}: not available ({exc})", flush=True)
                continue
            print(f"[bench] {i}/{len(selected)} {name}: {module.__doc__.strip().splitlines()[0]}", flush=True)
            t = time.monotonic()
            results += await module.run(settings, inst)
            print(f"[bench] {name} done in {time.monotonic() - t:.0f}s", flush=True)
    finally:
        await asyncio.to_thread(inst.stop)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if sys.argv[1:] and RESULTS.exists():  # a partial run keeps the other benchmarks' figures
        fresh = {r["name"] for r in results}
        kept = [r for r in json.loads(RESULTS.read_text()).get("measures", []) if r["name"] not in fresh]
        results = kept + results
    RESULTS.write_text(json.dumps({
        "generated_at": datetime.now(UTC).isoformat(), "machine": {"cpus": os.cpu_count(),
        "python": platform.python_version()}, "seconds": round(time.monotonic() - t0, 1),
        "measures": results}, indent=2))
    print("\n" + table(results))
    print(f"\n[bench] wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
