"""The HTTP port's server: uvicorn on h11, with the limits a hostile client meets.

uvicorn gives the keep-alive idle timeout, the header size limit (h11's incomplete-event
size), the concurrency cap and proxy headers; it has no deadline for a request's headers
(a client trickling a byte a second holds its connection for ever), so `GuardedH11Protocol`
adds one (docs/decisions/0004-http-limits.md). Body size and body time are the app's
`hotline.app.bodylimit` middleware: it knows the routes.

Proxy headers (X-Forwarded-For/-Proto) are believed only from `service.trusted_proxies`;
with none configured uvicorn's proxy middleware is off and the peer address is the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import h11
import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from hotline.pbx.settings import ServiceSettings

log = structlog.get_logger("hotline.app.httpserver")

# After refusing a body the client is still sending, read and drop at most this much of it
# before closing, so that the client sees the refusal instead of a reset.
LINGER_SECONDS = 2.0
LINGER_BYTES = 4 * 1024 * 1024


def _raw_error(status: int, reason: str, error_id: str, message: str) -> bytes:
    """A whole HTTP/1.1 response with the project's error body (hotline.api_errors), for
    answers given before any request exists for h11 to answer."""
    body = json.dumps({"error_id": error_id, "message": message, "details": {}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class _HeadLimitedConnection(h11.Connection):
    """h11's server connection with a hard limit on a request's line plus headers.

    h11's own limit (`max_incomplete_event_size`) binds only while a head is incomplete: a
    head that arrives in one read (asyncio reads up to 256 KiB) passes whatever its size."""

    def __init__(self, max_head: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head)
        self.max_head = max_head
        self.head_too_large = False

    def next_event(self) -> Any:
        event = super().next_event()
        if isinstance(event, h11.Request):
            size = len(event.method) + len(event.target) + sum(
                len(name) + len(value) + 4 for name, value in event.headers.raw_items())
            if size > self.max_head:
                self.head_too_large = True
                raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
        return event


class _LingeringTransport:
    """The connection's transport as uvicorn sees it: `close()` lingers while the client is
    still sending a body (see `GuardedH11Protocol`); everything else is the real one's."""

    def __init__(self, real: asyncio.Transport, protocol: GuardedH11Protocol) -> None:
        self._real = real
        self._protocol = protocol

    def close(self) -> None:
        self._protocol._close_lingering()

    def is_closing(self) -> bool:
        return self._protocol._lingering or self._real.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class HttpConfig(uvicorn.Config):
    """uvicorn's Config plus the header deadline `GuardedH11Protocol` reads."""

    def __init__(self, app: Any, *, timeout_header: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.timeout_header = timeout_header


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers.

    The timer starts when the connection is made and again when a response is complete on
    a kept-alive connection; it is cancelled once h11 has the whole request head (the body
    has its own deadline in the app). Bytes arriving do not extend it. It also runs while a
    client goes on sending a body that was answered without being read. At the deadline a
    connection that sent part of a request gets 408; an idle one is just closed (uvicorn's
    keep-alive timer usually closes those first). Malformed requests get the project's
    error body: 431 when the head outgrew `max_header_bytes`, else 400.

    Closing a connection whose client is still sending a body lingers (`_close_lingering`),
    bounded in time and bytes, so the client reads the answer (413, 408) before the close.
    """

    def __init__(self, config: uvicorn.Config, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.timeout_header: float = getattr(config, "timeout_header", 10.0)
        self._max_head = (config.h11_max_incomplete_event_size
                          or h11._connection.DEFAULT_MAX_INCOMPLETE_EVENT_SIZE)
        self.conn: _HeadLimitedConnection = _HeadLimitedConnection(self._max_head)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._real_transport = transport
        self._lingering = False
        self._linger_timer: asyncio.TimerHandle | None = None
        self._discarded = 0
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                self._real_transport.close()
            return
        super().data_received(data)
        self._watch_head()

    # -- closing while the client still sends: linger, bounded

    def _close_lingering(self) -> None:
        """Close the connection; if the client is still sending a body (it was refused, or
        answered without being read), first send our FIN and read and drop what it sends for
        at most LINGER_SECONDS and LINGER_BYTES. Closing at once with unread bytes makes the
        kernel reset the connection, and a client still writing then loses the answer
        (a 413 it never sees)."""
        real = self._real_transport
        if self._lingering or real.is_closing():
            return
        if self.conn.their_state is not h11.SEND_BODY or not real.can_write_eof():
            real.close()
            return
        self._lingering = True
        self._stop_timer()
        real.write_eof()
        real.resume_reading()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, real.close)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        if self.conn.head_too_large or len(self.conn.trailing_data[0]) > self._max_head:
            status, error_id, text = 431, "request_head_too_large", (
                f"the request line and headers exceed {self._max_head} bytes")
        else:
            status, error_id, text = 400, "bad_request", "the request is not valid HTTP/1.1"
        self._stop_timer()
        if not self.transport.is_closing():
            reason = "Request Header Fields Too Large" if status == 431 else "Bad Request"
            self.transport.write(_raw_error(status, reason, error_id, text))
            self.transport.close()

    # -- the header deadline

    def _waiting_for_client(self) -> bool:
        """No handler is at work and the connection waits on the client: for a request's
        head, or for the rest of a body that was answered without being read."""
        if self.transport.is_closing():
            return False
        theirs, ours = self.conn.their_state, self.conn.our_state
        return theirs is h11.IDLE or (theirs is h11.SEND_BODY and ours in (h11.DONE, h11.MUST_CLOSE))

    def _watch_head(self) -> None:
        if not self._waiting_for_client():
            self._stop_timer()
        elif self._header_timer is None:
            self._header_timer = self.loop.call_later(self.timeout_header, self._head_timed_out)

    def _stop_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _head_timed_out(self) -> None:
        self._header_timer = None
        if not self._waiting_for_client():
            return
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:  # part of a head
            log.info("http.header_timeout", client=self.client[0] if self.client else None,
                     timeout_s=self.timeout_header)
            self.transport.write(_raw_error(
                408, "Request Timeout", "request_timeout",
                f"the request's headers did not arrive within {self.timeout_header:g} s"))
        self.transport.close()


def http_config(app: Any, service: ServiceSettings, **overrides: Any) -> HttpConfig:
    """The one uvicorn configuration of the HTTP port (the service and the tests use it)."""
    limits = service.http
    proxies = list(service.trusted_proxies)
    kwargs: dict[str, Any] = dict(
        host=service.http_host or service.host, port=service.http_port, http=GuardedH11Protocol, ws="none",
        log_config=None, lifespan="off", access_log=False,
        proxy_headers=bool(proxies), forwarded_allow_ips=proxies,
        timeout_keep_alive=limits.keep_alive_timeout, timeout_header=limits.header_timeout,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        limit_concurrency=limits.max_connections,
    )
    kwargs.update(overrides)
    return HttpConfig(app, **kwargs)


class HttpServer(uvicorn.Server):
    """uvicorn inside the service's loop: the service owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
