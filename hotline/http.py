"""The HTTP API (FastAPI on loopback): health and live operator presence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import select, text

from hotline.db import OperatorRow, TeamRow

if TYPE_CHECKING:
    from hotline.service import Service


class Health(BaseModel):
    status: str  # ok | degraded
    ami_connected: bool
    asterisk_version: str | None
    ami_error: str | None
    database_ok: bool
    active_calls: int


class OperatorOut(BaseModel):
    id: int
    name: str
    extension: str
    role: str
    team: str | None
    presence: str


def create_app(service: Service) -> FastAPI:
    app = FastAPI(
        title="Hotline",
        version="0.1.0",
        description="Hotline call router: health, operators and their live presence.",
    )

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> Any:
        db_ok = True
        try:
            async with service.sessionmaker() as s:
                await s.execute(text("SELECT 1"))
        except Exception:
            db_ok = False
        ami = service.ami
        ok = db_ok and ami.connected
        return Health(
            status="ok" if ok else "degraded", ami_connected=ami.connected,
            asterisk_version=ami.asterisk_version, ami_error=ami.last_error,
            database_ok=db_ok, active_calls=service.agi.active_calls,
        )

    @app.get("/api/operators", response_model=list[OperatorOut], tags=["directory"])
    async def operators() -> Any:
        async with service.sessionmaker() as s:
            rows = (await s.execute(
                select(OperatorRow, TeamRow.name).outerjoin(TeamRow, OperatorRow.team_id == TeamRow.id)
                .order_by(OperatorRow.extension)
            )).all()
        snap = service.presence.snapshot()
        return [
            OperatorOut(id=o.id, name=o.name, extension=o.extension, role=o.role, team=team,
                        presence=str(snap.get(o.extension, "unavailable")))
            for o, team in rows
        ]

    return app
