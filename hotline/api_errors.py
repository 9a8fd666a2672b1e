"""API errors with one body for every router: {error_id, message, details}.

The app installs `install_error_handlers`, so every answer of an error has this body: an
`ApiError`, a request validation error or an `HTTPException` raised in any route or its
dependencies, and routing's own 404 and 405. Feature routers also use `ErrorRoute`, so the
body is the same when a test mounts one on a bare FastAPI app without the handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException


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
    """The one error body for the whole app: routes not built with `ErrorRoute` (the health
    check, the web page), app-level dependencies, and paths or methods no route matches."""

    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def invalid(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _from_validation(exc).response()

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _from_http(exc).response()

    async def overflow(_request: Request, exc: Exception) -> Response:
        # an id or number beyond what the database stores (SQLite: 64-bit): the request's
        # fault, found by the fuzz test (tests/component/test_app_http_fuzz.py)
        return ApiError(422, "number_out_of_range",
                        "a number in the request is larger than the database can store").response()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(OverflowError, overflow)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
