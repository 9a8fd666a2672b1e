"""A hotline service in a process of its own, for tests that freeze it (SIGSTOP) or kill it.

    python -m tests.e2e.service_process SETTINGS.json [--ivr]

Runs `Service` with the foundation call flow (answer, greeting, call stored, hang-up), or
with `--ivr` the whole service as `hotline run` builds it (the IVR on `settings.dialplan`,
routing, the voice bot), on the settings in the file (secrets included: write it with
`write_settings`, mode 0600), prints READY once FastAGI listens and AMI is connected, and on
SIGTERM drains (as `hotline run` does) and stops.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

READY = "hotline-service-process-ready"


def write_settings(settings: Any, path: Path) -> Path:
    """The settings as JSON with their secrets (readable by the owner only)."""

    def plain(value: object) -> object:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, (Path, ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return str(value)
        raise TypeError(f"cannot write {type(value).__name__} into the settings file")

    text = json.dumps(settings.model_dump(mode="python"), default=plain)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)
    return path


async def main(path: str, ivr: bool = False) -> int:
    from hotline.app.service import Service
    from hotline.app.settings import Settings
    from hotline.logs import setup_logging
    from tests.support.callflow import FoundationCallFlow

    settings = Settings(**json.loads(Path(path).read_text()))
    setup_logging("info", "console")
    svc = Service(settings, with_bot=ivr)
    if not ivr:
        svc.agi.handler = FoundationCallFlow(svc.store, country=settings.country)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await svc.start()
    try:
        await svc.ami.wait_connected(10)
        r = svc.reconciled
        print(f"reconciled at start: {r}", flush=True)
        print(READY, flush=True)
        await stop.wait()
        await svc.drain()
    finally:
        await svc.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1], "--ivr" in sys.argv[2:])))


class ServiceProcess:
    """`python -m tests.e2e.service_process` as a child process: start, kill -9, SIGTERM."""

    def __init__(self, settings: Any, workdir: Path, *, ivr: bool = True, name: str = "service"):
        self.settings_file = write_settings(settings, workdir / f"{name}-settings.json")
        self.out = workdir / f"{name}.log"
        self.ivr = ivr
        self.proc: asyncio.subprocess.Process | None = None

    def text(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""

    async def start(self, timeout: float = 90) -> None:  # noqa: ASYNC109
        import time

        with self.out.open("ab") as sink:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.e2e.service_process", str(self.settings_file),
                *(["--ivr"] if self.ivr else []), cwd=Path(__file__).resolve().parents[2],
                stdout=sink, stderr=asyncio.subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while READY not in self.text():
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise AssertionError("the service process did not start:\n" + self.text()[-4000:])
            await asyncio.sleep(0.1)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    async def wait(self, timeout: float = 60) -> int:  # noqa: ASYNC109
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
