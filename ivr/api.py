"""HTTP routes for dialplan versions, under /api/dialplans (the router carries the prefix).

Errors have the one body of every router (`hotline.api_errors`):
    {"error_id": "dialplan_invalid", "message": "...", "details": {"problems": ["file:3:5: ..."]}}
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from hotline.api_errors import ApiError, ErrorRoute
from hotline.yamlsrc import DEFAULT_LIMITS
from ivr.check import DialplanError
from ivr.registry import DialplanRegistry, VersionNotFound

# characters; the YAML reader then checks the size in bytes (hotline.yamlsrc.YamlLimits)
MAX_CONTENT = DEFAULT_LIMITS.max_bytes


class UploadIn(BaseModel):
    content: str = Field(max_length=MAX_CONTENT)
    by: str | None = Field(None, max_length=64)


class ValidateIn(BaseModel):
    content: str = Field(max_length=MAX_CONTENT)


class RollbackIn(BaseModel):
    id: int | None = None  # default: the version before the active one


def _invalid(exc: DialplanError) -> ApiError:
    return ApiError(422, "dialplan_invalid", "the dialplan has problems; nothing changed",
                    {"problems": [str(p) for p in exc.problems]})


def _not_found(exc: VersionNotFound) -> ApiError:
    return ApiError(404, "version_not_found", str(exc))


def build_router(registry: DialplanRegistry, prefix: str = "/api/dialplans") -> APIRouter:
    r = APIRouter(prefix=prefix, tags=["dialplans"], route_class=ErrorRoute)

    @r.get("/versions")
    async def versions() -> Any:
        return [v.summary() for v in await registry.versions()]

    @r.get("/versions/{id_}")
    async def version(id_: int) -> Any:
        for v in await registry.versions():
            if v.id == id_:
                return {**v.summary(), "content": v.content}
        raise _not_found(VersionNotFound(f"no dialplan version {id_}"))

    @r.get("/active")
    async def active() -> Any:
        return registry.health()

    @r.post("/validate")
    async def validate(body: ValidateIn) -> Any:
        dp, problems = await registry.validate(body.content)  # in a worker thread
        return {"ok": not problems, "version_id": dp.version_id if dp else None,
                "problems": [str(p) for p in problems]}

    @r.post("/upload", status_code=201)
    async def upload(body: UploadIn) -> Any:
        try:
            v = await registry.upload(body.content, body.by)
        except DialplanError as exc:
            raise _invalid(exc) from None
        return v.summary()

    @r.post("/activate/{id_}")
    async def activate(id_: int) -> Any:
        try:
            return (await registry.activate(id_)).summary()
        except VersionNotFound as exc:
            raise _not_found(exc) from None
        except DialplanError as exc:
            raise _invalid(exc) from None

    @r.post("/rollback")
    async def rollback(body: RollbackIn = Body(default_factory=RollbackIn)) -> Any:  # noqa: B008
        try:
            return (await registry.rollback(body.id)).summary()
        except VersionNotFound as exc:
            raise _not_found(exc) from None
        except DialplanError as exc:
            raise _invalid(exc) from None

    @r.get("/diff")
    async def diff(a: int, b: int) -> Any:
        try:
            return {"a": a, "b": b, "diff": await registry.diff(a, b)}
        except VersionNotFound as exc:
            raise _not_found(exc) from None

    return r
