"""The service's HTTP port for real: the app of `qa_env` (temp SQLite, seeded users of each
role) behind the service's own uvicorn configuration (`hotline.app.httpserver`), in a
process of its own on loopback, so a test can send it hostile bytes, measure its memory and
check that it still answers.

    with live_http(tmp_path, trusted_proxies=["127.0.0.1"]) as server:
        httpx.get(server.url + "/health")

Run as `python -m tests.support.live_http DIR SETTINGS_JSON` (what `live_http` does): it
prints `LIVE-HTTP {"port": ...}` to its log file (DIR/server.log) once it listens.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline.paths import PROJECT_ROOT

MARK = "LIVE-HTTP "


@dataclass
class LiveHttp:
    url: str
    host: str
    port: int
    pid: int
    log: Path

    def rss_bytes(self) -> int:
        """The server process's resident memory now (Linux /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON log lines the server wrote so far."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


@contextmanager
def live_http(tmp: Path, start_timeout: float = 60.0, **service: Any) -> Iterator[LiveHttp]:
    """Start the server with `service` settings (`hotline.pbx.settings.ServiceSettings`
    fields, e.g. `trusted_proxies=[...]`, `http={"header_timeout": 2}`) on a free port."""
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "server.log"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.live_http", str(tmp), json.dumps(service)],
            cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env)
    try:
        deadline = time.monotonic() + start_timeout
        port = None
        while port is None:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith(MARK):
                    port = int(json.loads(line[len(MARK):])["port"])
            if port is None:
                if proc.poll() is not None:
                    raise RuntimeError(f"live HTTP server exited {proc.returncode}:\n{log.read_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"live HTTP server did not start:\n{log.read_text()}")
                time.sleep(0.05)
        host = service.get("host", "127.0.0.1")
        yield LiveHttp(f"http://{host}:{port}", host, port, proc.pid, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _serve(tmp: Path, service_json: str) -> None:
    import structlog

    from hotline.app.httpserver import HttpServer, http_config
    from hotline.pbx.settings import ServiceSettings
    from tests.support.qa_env import build_test_env

    structlog.configure(processors=[structlog.processors.add_log_level,
                                    structlog.processors.TimeStamper(fmt="iso"),
                                    structlog.processors.JSONRenderer()])
    settings = ServiceSettings(**json.loads(service_json))
    env = await build_test_env(tmp, limits=settings.http)
    server = HttpServer(http_config(env.app, settings, port=0))  # a free port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(MARK + json.dumps({"port": port}), flush=True)
    await stop.wait()
    server.should_exit = True
    await task
    await env.engine.dispose()


if __name__ == "__main__":
    asyncio.run(_serve(Path(sys.argv[1]), sys.argv[2]))
