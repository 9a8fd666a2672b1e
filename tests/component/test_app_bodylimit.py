"""hotline/app/bodylimit.py: request bodies are limited per route before routing and
authentication, as the bytes arrive, on the real uvicorn (tests.support.live_http).

A 300 MB login body, declared or chunked, is refused with 413 after a few MB at most, the
server's memory does not grow by it and /health answers at once; a body that trickles is
refused with 408 at its deadline; the dialplan routes take larger bodies than the JSON APIs;
JSON nested deeply or with very long strings is a 4xx, never a 5xx.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from hotline.app.http import DIALPLAN_BODY_BYTES
from hotline.pbx.settings import HttpLimits
from tests.support.hostile_http import chunked, read_response, request, stream_body
from tests.support.live_http import LiveHttp, live_http
from tests.support.qa_env import PASSWORDS

pytestmark = pytest.mark.component

MB = 1 << 20
BODY_TIMEOUT = 2.0
JSON_LIMIT = HttpLimits().max_body_bytes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHttp]:
    with live_http(tmp_path_factory.mktemp("body"), http={"body_timeout": BODY_TIMEOUT}) as s:
        yield s


async def health(s: LiveHttp) -> int:
    async with httpx.AsyncClient(base_url=s.url, timeout=1.0) as c:  # within 1 s
        return (await c.get("/health")).status_code


def head(path: str, extra: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: hotline\r\nContent-Type: application/json\r\n".encode()
            + extra + b"\r\n")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_300_mb_login_body_is_refused_while_it_streams(server: LiveHttp, framing: str) -> None:
    total, piece = 300 * MB, b'{"username": "' + b"a" * 65_000
    if framing == "content-length":
        start, chunk = head("/api/auth/login", b"Content-Length: %d\r\n" % total), piece
    else:
        start, chunk = head("/api/auth/login", b"Transfer-Encoding: chunked\r\n"), chunked(piece)
    rss_before = server.rss_bytes()
    result = await stream_body(server.host, server.port, start, chunk, total)
    grown = server.rss_bytes() - rss_before
    r = result.response
    assert r.status == 413 and r.headers["connection"] == "close" and r.closed
    assert r.json() == {"error_id": "body_too_large",
                        "message": f"the request body exceeds {JSON_LIMIT} bytes",
                        "details": {"limit_bytes": JSON_LIMIT}}
    # the server stopped reading: the client was cut off after the socket buffers' worth
    # and what the server drops while it lingers (hotline.app.httpserver.LINGER_BYTES)
    assert result.refused_by_peer and result.sent < 32 * MB, result.sent
    assert grown < 32 * MB, grown  # loosely: the 300 MB never reached memory
    assert await health(server) == 200
    refused = [e for e in server.log_events() if e.get("event") == "http.body_refused"]
    assert refused[-1]["path"] == "/api/auth/login" and refused[-1]["status"] == 413


async def test_roles_and_limits_come_before_the_body(server: LiveHttp) -> None:
    """Nobody logged in: 401 before any body is read (backoffice.access.AccessFirst), even
    one over the limit. An admin: a dialplan under its limit is read, one over it is refused
    unread (413); the same size to a JSON API is over the JSON limit."""
    big = {"content": "a" * (DIALPLAN_BODY_BYTES + 1)}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post("/api/dialplans/validate", content=b"{not json")
        assert r.status_code == 401 and r.json()["error_id"] == "not_authenticated"
        r = await c.post("/api/dialplans/validate", json=big)
        assert r.status_code == 401
        r = await c.post("/api/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]})
        auth = {"Authorization": "Bearer " + r.json()["access_token"]}
        r = await c.post("/api/dialplans/validate", json={"content": "a" * (DIALPLAN_BODY_BYTES - 100)},
                         headers=auth)
        assert r.status_code == 422, r.text  # read; then over the YAML reader's 512 KiB
        r = await c.post("/api/dialplans/validate", json=big, headers=auth)
        assert r.status_code == 413 and r.json()["details"]["limit_bytes"] == DIALPLAN_BODY_BYTES
        r = await c.post("/api/admin/teams", json={"name": "a" * JSON_LIMIT}, headers=auth)
        assert r.status_code == 413 and r.json()["details"]["limit_bytes"] == JSON_LIMIT
        # just under the JSON limit: read, and refused by the model, not the limit
        r = await c.post("/api/auth/login", json={"username": "qa", "password": "p" * (JSON_LIMIT - 100)})
        assert r.status_code == 422


async def test_a_trickling_body_is_refused_at_its_deadline(server: LiveHttp) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(head("/api/auth/login", b"Content-Length: 1000\r\n") + b'{"username": ')
    answer = asyncio.create_task(read_response(reader))
    sent = 0
    while not answer.done() and sent < 100:
        writer.write(b"a")
        sent += 1
        await asyncio.wait([answer], timeout=0.5)
    r = await asyncio.wait_for(answer, 10)
    writer.close()
    assert r.status == 408 and r.closed and r.json()["error_id"] == "request_timeout"
    assert BODY_TIMEOUT * 2 - 2 <= sent < 100  # at the deadline, not before it
    assert await health(server) == 200


async def test_an_answer_before_the_body_closes_the_connection(server: LiveHttp) -> None:
    """A route that reads no body (404 here) answers at once; the connection is closed
    rather than kept for whatever the client might still send."""
    r = await request(server.host, server.port,
                      head("/no/such/route", b"Content-Length: 60000\r\n") + b"x" * 100)
    assert r.status == 404 and r.closed and r.headers["connection"] == "close"


@pytest.mark.parametrize("body", [
    "[" * 30_000 + "]" * 30_000,
    '{"username": ' + "[" * 30_000 + "]" * 30_000 + "}",
    '{"username": ' + '{"a": ' * 6_000 + "1" + "}" * 6_000 + ', "password": "x"}',
    '{"username": "' + "u" * 60_000 + '", "password": "x"}',
    '{"username": "qa", "password": "' + "\\ud800" * 10_000 + '"}',
], ids=["nested-list", "nested-field", "nested-object", "long-string", "lone-surrogates"])
async def test_hostile_json_is_a_client_error(server: LiveHttp, body: str) -> None:
    raw = head("/api/auth/login", b"Content-Length: %d\r\n" % len(body)) + body.encode()
    r = await request(server.host, server.port, raw)
    assert r.status in (400, 422), (r.status, r.body[:300])
    assert "error_id" in r.json()
    assert await health(server) == 200


async def test_long_strings_in_admin_fields_are_refused(server: LiveHttp) -> None:
    """Every string an admin sends has a length limit in its model (the fuzz test checks the
    schema; here the values are sent)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post("/api/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]})
        auth = {"Authorization": "Bearer " + r.json()["access_token"]}
        long = "x" * 20_000
        for path, body in [("/api/admin/teams", {"name": long}),
                           ("/api/admin/callers", {"number": "+79001234567", "name": long}),
                           ("/api/admin/users", {"username": long, "password": long, "role": "qa"}),
                           ("/api/dialplans/upload", {"content": "a: 1", "by": long})]:
            r = await c.post(path, json=body, headers=auth)
            assert r.status_code == 422, (path, r.status_code, r.text[:200])
