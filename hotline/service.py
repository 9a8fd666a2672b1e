"""Composition root: builds the service's object graph and runs it in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import structlog
import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from callrouting.presence import PresenceTracker
from hotline import migrate
from hotline.agi import FastAgiServer, Handler
from hotline.ami import AmiClient
from hotline.asterisk import Operator
from hotline.callflow import FoundationCallFlow
from hotline.callstore import CallStore
from hotline.db import OperatorRow, make_engine, make_sessionmaker
from hotline.http import create_app
from hotline.settings import Settings

log = structlog.get_logger("hotline.service")


class SettingsProblem(Exception):
    pass


def ami_secret(settings: Settings) -> str:
    """The AMI secret from settings; in demo mode generate one under var/ on first use."""
    if settings.asterisk.ami_secret is not None:
        return settings.asterisk.ami_secret.get_secret_value()
    if settings.mode == "production":
        raise SettingsProblem(
            "asterisk.ami_secret is not set: production settings have no default secret "
            "(set HOTLINE_ASTERISK__AMI_SECRET)"
        )
    path = settings.resolve(settings.var_dir) / "ami-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24))
    return path.read_text().strip()


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the service owns the signals
        yield


class Service:
    def __init__(self, settings: Settings, *, secret: str | None = None,
                 handler: Handler | None = None):
        self.settings = settings
        self.secret = secret if secret is not None else ami_secret(settings)
        self.engine: AsyncEngine = make_engine(settings.database_url, settings.database.echo)
        self.sessionmaker: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        self.store = CallStore(self.sessionmaker)
        a = settings.asterisk
        self.ami = AmiClient(a.host, a.ami_port, a.ami_user, self.secret)
        self.presence = PresenceTracker([])  # replaced with the directory's operators at start
        self.handler = handler or FoundationCallFlow(self.store, country=settings.country)
        self.agi = FastAgiServer(settings.service.host, settings.service.agi_port, self.handler)
        self.http = _Uvicorn(uvicorn.Config(
            create_app(self), host=settings.service.host, port=settings.service.http_port,
            log_config=None, lifespan="off", access_log=False,
        ))
        self._http_task: asyncio.Task[None] | None = None

    async def operators(self) -> list[Operator]:
        async with self.sessionmaker() as s:
            rows = (await s.scalars(select(OperatorRow).where(OperatorRow.active).order_by(OperatorRow.extension))).all()
        return [Operator(r.extension, r.name, r.sip_password) for r in rows]

    async def start(self) -> None:
        await migrate.upgrade(self.settings.database_url)
        ops = await self.operators()
        self.presence = PresenceTracker([o.extension for o in ops])
        self.presence.attach(self.ami)
        await self.ami.start()
        await self.agi.start()
        self._http_task = asyncio.create_task(self.http.serve(), name="http")
        while not self.http.started:
            if self._http_task.done():
                self._http_task.result()  # raises the bind error
                raise RuntimeError("HTTP server stopped during start-up")
            await asyncio.sleep(0.02)
        log.info("service.started", agi=self.settings.service.agi_port,
                 http=f"http://{self.settings.service.host}:{self.settings.service.http_port}")

    async def stop(self) -> None:
        await self.agi.stop()
        if self._http_task is not None:
            self.http.should_exit = True
            with contextlib.suppress(Exception):
                await self._http_task
            self._http_task = None
        await self.ami.stop()
        await self.engine.dispose()
        log.info("service.stopped")


def var_path(settings: Settings, *parts: str) -> Path:
    return settings.resolve(settings.var_dir).joinpath(*parts)
