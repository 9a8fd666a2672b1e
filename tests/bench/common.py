"""Shared pieces for benchmarks: percentiles, result rows, process CPU/RSS sampling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def measure(name: str, unit: str, values: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "unit": unit, "n": len(values),
        "p50": round(statistics.median(values), 3) if values else None,
        "p95": round(percentile(values, 0.95), 3) if values else None,
        **extra,
    }


@dataclass
class ProcSample:
    """CPU seconds and RSS of a process from /proc (no psutil needed)."""

    pid: int = field(default_factory=os.getpid)

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(parts[11]) + int(parts[12])) / ticks

    def rss_mb(self) -> float:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")


class CpuMeter:
    """CPU and peak RSS of a process plus `also` (e.g. its worker processes), summed."""

    def __init__(self, pid: int | None = None, also: Sequence[int] = ()):
        self.proc = ProcSample(pid or os.getpid())
        self.procs = [self.proc, *(ProcSample(p) for p in also)]

    def _cpu(self) -> float:
        return sum(p.cpu_seconds() for p in self.procs)

    def _rss(self) -> float:
        return sum(p.rss_mb() for p in self.procs)

    def __enter__(self) -> CpuMeter:
        self.t0, self.c0 = time.monotonic(), self._cpu()
        self.peak_rss = self._rss()
        return self

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, self._rss())

    def __exit__(self, *exc: object) -> None:
        self.wall = time.monotonic() - self.t0
        self.cpu = self._cpu() - self.c0
        self.sample()

    @property
    def cpu_percent(self) -> float:
        return 100 * self.cpu / self.wall if self.wall else 0.0


@contextlib.asynccontextmanager
async def own_asterisk(prefix: str) -> AsyncIterator[tuple[Any, Any]]:
    """Settings in a new var directory and an Asterisk of our own (slot HOTLINE_E2E_SLOT),
    provisioned, configured from the demo directory and started; stopped on the way out.
    Yields (settings, the AsteriskInstance)."""
    from hotline.app.bootstrap import prepare_database
    from hotline.app.service import Service
    from hotline.pbx.asterisk import AsteriskInstance, provision_root
    from tests.e2e.conftest import make_settings

    settings = make_settings(Path(tempfile.mkdtemp(prefix=prefix)))
    await asyncio.to_thread(provision_root, settings.asterisk.root, settings.asterisk.cache)
    await prepare_database(settings)
    assert settings.asterisk.ami_secret is not None
    secret = settings.asterisk.ami_secret.get_secret_value()
    probe = Service(settings, secret=secret)
    try:
        operators = await probe.operators()
    finally:
        await probe.engine.dispose()
    inst = AsteriskInstance(settings)
    inst.write_config(operators, secret, probe.agi_secret)
    await asyncio.to_thread(inst.start)
    try:
        yield settings, inst
    finally:
        await asyncio.to_thread(inst.stop)
