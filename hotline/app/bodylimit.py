"""Request bodies: a size limit per route and a deadline, enforced as the bytes arrive.

FastAPI reads a route's whole body before any dependency runs, so before
`backoffice.access` has authenticated anyone. This ASGI middleware sits in front of
routing: a declared `Content-Length` over the route's limit is refused at once (413, the
body never read); a chunked body is counted as it is received and refused as soon as it
passes the limit; a body still incomplete `timeout` seconds after the request's head is
refused with 408. Each refusal has the one error body (`hotline.api_errors`) and
`Connection: close`, so the server stops reading the rest. An answer given before the body
was read to its end (a 404, a 401 of a route that reads no body) closes the connection too,
instead of draining whatever the client still sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import structlog

from hotline.api_errors import ApiError

log = structlog.get_logger("hotline.app.bodylimit")

Scope = dict[str, Any]
Message = dict[str, Any]

_CLOSE = (b"connection", b"close")


class _Refused(Exception):
    """Raised into the app by `receive` once the body is refused."""


def _declared_length(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """(Content-Length, chunked) from the request headers (h11 has validated them)."""
    length, chunked = None, False
    for name, value in headers:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return length, chunked


def too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"the request body exceeds {limit} bytes",
                    {"limit_bytes": limit}, headers={"Connection": "close"})


def too_slow(timeout: float) -> ApiError:
    return ApiError(408, "request_timeout",
                    f"the request body did not arrive within {timeout:g} s",
                    {"timeout_seconds": timeout}, headers={"Connection": "close"})


class BodyLimit:
    """ASGI middleware: `limits` maps exact paths to their byte limit, others get `default`."""

    def __init__(self, app: Any, *, default: int, limits: Mapping[str, int] | None = None,
                 timeout: float = 30.0) -> None:
        if default < 0 or timeout <= 0:
            raise ValueError("the body limit must be >= 0 and the timeout positive")
        self.app = app
        self.default = default
        self.limits = dict(limits or {})
        self.timeout = timeout

    def limit_for(self, path: str) -> int:
        return self.limits.get(path, self.default)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _Request(self, scope, receive, send).run()


class _Request:
    def __init__(self, mw: BodyLimit, scope: Scope, receive: Any, send: Any) -> None:
        self.mw, self.scope, self._receive, self._send = mw, scope, receive, send
        self.limit = mw.limit_for(scope["path"])
        self.length, chunked = _declared_length(scope["headers"])
        self.body_done = not chunked and not self.length  # nothing to read
        self.received = 0
        self.refusal: ApiError | None = None
        self.started = False
        self.deadline = asyncio.get_running_loop().time() + mw.timeout

    async def run(self) -> None:
        if self.length is not None and self.length > self.limit:
            self._refuse(too_large(self.limit), declared=self.length)
        else:
            try:
                await self.mw.app(self.scope, self.receive, self.send)
            except Exception:
                if self.refusal is None:
                    raise
        if self.refusal is not None and not self.started:
            self.started = True
            await self.refusal.response()(self.scope, self._receive, self._send)

    def _refuse(self, refusal: ApiError, **fields: Any) -> None:
        self.refusal = refusal
        log.info("http.body_refused", status=refusal.status, error_id=refusal.error_id,
                 method=self.scope["method"], path=self.scope["path"], limit_bytes=self.limit,
                 received_bytes=self.received,
                 client=(self.scope.get("client") or (None,))[0], **fields)

    async def receive(self) -> Message:
        if self.refusal is not None:
            raise _Refused()
        if self.body_done:  # after the body (a handler listening for disconnect): no deadline
            return await self._receive()  # type: ignore[no-any-return]
        try:
            async with asyncio.timeout_at(self.deadline):
                message: Message = await self._receive()
        except TimeoutError:
            self._refuse(too_slow(self.mw.timeout))
            raise _Refused() from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self._refuse(too_large(self.limit))
                raise _Refused()
            if not message.get("more_body", False):
                self.body_done = True
        else:
            self.body_done = True  # http.disconnect
        return message

    async def send(self, message: Message) -> None:
        if self.refusal is not None:
            return  # the app's answer to a body it could not read: ours goes out instead
        if message["type"] == "http.response.start":
            self.started = True
            if not self.body_done:
                message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
        await self._send(message)
