"""A hotline service in a process of its own, for tests that freeze it (SIGSTOP) or kill it.

    python -m tests.e2e.service_process SETTINGS.json

Runs `Service` with the foundation call flow (answer, greeting, call stored, hang-up) on the
settings in the file (secrets included: write it with `write_settings`, mode 0600), prints
READY once FastAGI listens and AMI is connected, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
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
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"cannot write {type(value).__name__} into the settings file")

    text = json.dumps(settings.model_dump(mode="python"), default=plain)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)
    return path


async def main(path: str) -> int:
    from hotline.app.service import Service
    from hotline.app.settings import Settings
    from hotline.logs import setup_logging
    from tests.support.callflow import FoundationCallFlow

    settings = Settings(**json.loads(Path(path).read_text()))
    setup_logging("info", "console")
    svc = Service(settings, with_bot=False)
    svc.agi.handler = FoundationCallFlow(svc.store, country=settings.country)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await svc.start()
    try:
        await svc.ami.wait_connected(10)
        print(READY, flush=True)
        await stop.wait()
    finally:
        await svc.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1])))
