"""Shared pieces for benchmarks: percentiles, result rows, process CPU/RSS sampling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_AMI_USER = "hotline-bench"


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
        shutil.rmtree(settings.var_dir, ignore_errors=True)


async def hang_up(asterisk: Any, channel: str) -> None:
    """Hang a channel up over the control socket (`channel request hangup`), as tests do: the
    service's AMI user may not send Hangup (its write classes are hotline.pbx.asterisk.AMI_WRITE)."""
    from hotline.pbx.ami import validate_channel
    from hotline.pbx.console import run_command

    await run_command(asterisk.control_socket, f"channel request hangup {validate_channel(channel)}")


@contextlib.asynccontextmanager
async def bench_ami(settings: Any, asterisk: Any, read: Sequence[str],
                    timestamps: bool = False) -> AsyncIterator[Any]:
    """An AMI login of the bench's own with the read classes it measures from (e.g. `dtmf`
    for DTMFEnd, `dialplan` for Newexten), which the service's user does not have
    (hotline.pbx.asterisk.AMI_READ). The user is appended to this bench Asterisk's
    manager.conf only (never the templates), with a fresh secret and loopback only, and
    removed again on the way out; its write class is the service's (`reporting`: the client
    asks CoreSettings after login), so it can read more but do nothing more. With
    `timestamps`, Asterisk stamps every event with the wall-clock time it sent it
    (`timestampevents`, a [general] option: the service's events carry it too while the bench
    runs), so a bench can time events without their delivery into a busy process.
    Yields a connected hotline.pbx.ami.AmiClient."""
    from hotline.pbx.ami import AmiClient
    from hotline.pbx.console import run_command

    for cls in read:
        if not cls.isalpha():
            raise ValueError(f"not an AMI class: {cls!r}")
    conf = asterisk.dir / "etc" / "manager.conf"
    original = conf.read_text()
    secret = secrets.token_hex(16)
    section = (f"\n; bench only (tests/bench/common.bench_ami), removed when the bench ends\n"
               f"[{BENCH_AMI_USER}]\nsecret = {secret}\ndeny = 0.0.0.0/0.0.0.0\n"
               f"permit = 127.0.0.1/255.255.255.255\nread = {','.join(read)}\nwrite = reporting\n")
    text = original + section
    if timestamps:
        if "[general]\n" not in text:
            raise ValueError(f"{conf} has no [general] section")
        text = text.replace("[general]\n", "[general]\ntimestampevents = yes\n", 1)
    conf.write_text(text)  # in place: the file keeps its mode and group
    client = None
    try:
        await run_command(asterisk.control_socket, "manager reload")
        a = settings.asterisk
        client = AmiClient(a.host, a.ami_port, BENCH_AMI_USER, secret)
        await client.start()
        await client.wait_connected(10)
        yield client
    finally:
        if client is not None:
            await client.stop()
        conf.write_text(original)
        with contextlib.suppress(Exception):
            await run_command(asterisk.control_socket, "manager reload")
