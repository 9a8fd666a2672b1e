"""The HTTP API (FastAPI on loopback): every feature's routes, each behind its roles.

`create_app` takes what the routes need (`AppServices`), not the service: the composition
root (`hotline.app.service`) builds the app, so this module does not import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.access import ACCESS, AccessFirst, AccessPolicy, check_access, install_access
from backoffice.app import backoffice_routers
from backoffice.auth import Authenticator
from backoffice.callbacks import build_router as callbacks_router
from callrouting.events import WaitingCaller
from hotline.api_errors import ERROR_RESPONSES, install_error_handlers
from hotline.app.bodylimit import BodyLimit
from hotline.app.metrics_http import Network, metrics_router
from hotline.metrics import Metrics
from hotline.pbx.settings import HttpLimits
from hotline.yamlsrc import DEFAULT_LIMITS as YAML_LIMITS
from ivr.api import build_router as dialplan_router
from ivr.registry import DialplanRegistry
from recordings.settings import RecordingSettings


class PresenceSource(Protocol):
    def snapshot(self) -> Mapping[str, Any]: ...  # {extension: presence}


class AmiStatus(Protocol):
    @property
    def connected(self) -> bool: ...
    @property
    def asterisk_version(self) -> str | None: ...
    @property
    def last_error(self) -> str | None: ...


class AgiStatus(Protocol):
    @property
    def active_calls(self) -> int: ...


class AppServices(Protocol):
    """What the HTTP app uses of the running service (`hotline.app.service.Service`)."""

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]: ...
    @property
    def recordings(self) -> RecordingSettings: ...
    @property
    def auth(self) -> Authenticator: ...
    @property
    def dialplans(self) -> DialplanRegistry: ...
    def presence_now(self) -> PresenceSource: ...  # swapped when the directory changes: read per request
    @property
    def ami(self) -> AmiStatus: ...
    @property
    def agi(self) -> AgiStatus: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def metrics_allow(self) -> Sequence[Network]: ...  # who may scrape /metrics
    def waiting_now(self) -> Sequence[WaitingCaller]: ...  # callers in the pool queues now
    async def directory_changed(self) -> None: ...
    async def click_to_call(self, call_id: int, extension: str, requested_by: str) -> int: ...


class Health(BaseModel):
    status: str  # ok | degraded
    ami_connected: bool
    asterisk_version: str | None
    ami_error: str | None
    database_ok: bool
    active_calls: int
    dialplan_ok: bool
    dialplan_active: str | None
    dialplan_error: dict[str, Any] | None


# The dialplan routes carry a whole YAML file (at most YAML_LIMITS.max_bytes) as a JSON
# string, whose escapes can make it longer: room for that, the YAML reader checks the size.
DIALPLAN_BODY_BYTES = 4 * YAML_LIMITS.max_bytes
BODY_LIMITS = {"/api/dialplans/upload": DIALPLAN_BODY_BYTES,
               "/api/dialplans/validate": DIALPLAN_BODY_BYTES}


def create_app(service: AppServices, limits: HttpLimits | None = None) -> FastAPI:
    """Every route of the service, each behind its roles in `backoffice.access.ACCESS`.

    Roles are checked from the headers before any body is read (`AccessFirst`); bodies are
    limited as they arrive (`BodyLimit`): `limits.max_body_bytes` for every route but the
    dialplan uploads (`BODY_LIMITS`).

    `check_access` is an app-level dependency: it runs for every route, including those of
    the included routers, and refuses routes the table does not name; `verify` refuses to
    build an app whose routes and table differ.
    """
    policy = AccessPolicy(ACCESS, service.auth)
    app = FastAPI(
        title="Hotline",
        version="0.1.0",
        description="Hotline call router: health, presence, dialplans, routing context, "
        "calls, recordings, reviews and statistics. Log in at POST /api/auth/login.",
        dependencies=[Depends(check_access)],
    )
    install_error_handlers(app)
    install_access(app, policy)
    limits = limits or HttpLimits()
    app.add_middleware(BodyLimit, default=limits.max_body_bytes, limits=BODY_LIMITS,
                       timeout=limits.body_timeout)
    app.add_middleware(AccessFirst)  # outermost: roles are checked before a body is read

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> Any:
        """Liveness for monitoring: no credentials, no personal data."""
        db_ok = True
        try:
            async with service.sessionmaker() as s:
                await s.execute(text("SELECT 1"))
        except Exception:
            db_ok = False
        ami = service.ami
        dp = service.dialplans.health()
        ok = db_ok and ami.connected and bool(dp.get("dialplan_ok"))
        return Health(
            status="ok" if ok else "degraded", ami_connected=ami.connected,
            asterisk_version=ami.asterisk_version, ami_error=ami.last_error,
            database_ok=db_ok, active_calls=service.agi.active_calls,
            dialplan_ok=bool(dp.get("dialplan_ok")), dialplan_active=dp.get("dialplan_active"),
            dialplan_error=dp.get("dialplan_error"),
        )

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/qa/")

    # Routers carry their full paths and are included without a prefix (see backoffice.access).
    app.include_router(dialplan_router(service.dialplans), responses=ERROR_RESPONSES)
    app.include_router(metrics_router(service.metrics, service.metrics_allow))
    for router in backoffice_routers(service.sessionmaker, service.recordings, service.auth,
                                     lambda: service.presence_now().snapshot(), service.directory_changed,
                                     service.waiting_now):
        app.include_router(router)
    app.include_router(callbacks_router(service.sessionmaker, service.click_to_call))
    policy.verify(app.routes)
    return app
