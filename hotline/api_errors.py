"""API errors with a stable body: {error_id, message, details}.

Routers built here use `ErrorRoute`, so the body is the same whether or not the app that
mounts them installs exception handlers: `ApiError`, request validation errors and
`HTTPException`s raised inside a route (including its dependencies) become this body.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel


class ErrorBody(BaseModel):
    error_id: str
    message: str
    details: dict[str, Any] = {}


class ApiError(Exception):
    def __init__(self, status: int, error_id: str, message: str,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message
        self.details = details or {}
        self.headers = headers

    def response(self) -> JSONResponse:
        body = ErrorBody(error_id=self.error_id, message=self.message, details=self.details)
        return JSONResponse(jsonable_encoder(body), status_code=self.status, headers=self.headers)


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, f"{what}_not_found", f"no {what} {ident}", {"id": ident})


def _from_http(exc: HTTPException) -> ApiError:
    return ApiError(exc.status_code, f"http_{exc.status_code}", str(exc.detail), {},
                    dict(exc.headers) if exc.headers else None)


def _from_validation(exc: RequestValidationError) -> ApiError:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return ApiError(422, "invalid_request", "the request is not valid", {"errors": errors})


class ErrorRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return exc.response()
            except RequestValidationError as exc:
                return _from_validation(exc).response()
            except HTTPException as exc:
                return _from_http(exc).response()

        return route


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "not logged in, or the session expired"},
    403: {"model": ErrorBody, "description": "the user's role may not do this"},
    422: {"model": ErrorBody, "description": "invalid request"},
}


def install_error_handlers(app: Any) -> None:
    """For routers that are not built with `ErrorRoute` but use `Authenticator.require`
    (e.g. `app.include_router(ivr_router, dependencies=[Depends(auth.require(Role.ADMIN))])`)."""

    async def handle(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    app.add_exception_handler(ApiError, handle)
