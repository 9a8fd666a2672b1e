"""hotline/app/httpserver.py: the HTTP port as uvicorn really serves it, on loopback, sent
hostile input for real (tests.support.live_http runs the service's app and uvicorn
configuration in a process of its own).

- X-Forwarded-For is believed only from `service.trusted_proxies`: forged values, empty or
  not, do not get a client past the per-address login limit; from a configured proxy the
  header names the client.
- A request's head has a deadline: 200 clients trickling a header byte a second do not stop
  /health, and each gets 408 and is closed at the deadline; idle and kept-alive connections
  are closed too; the connection cap answers 503 and frees itself as the deadline closes.
- Heads larger than `max_header_bytes` (one big header, a huge query string) get 431.
- A route serving files gives nothing outside its list for any spelling of "..".
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.hostile_http import RawResponse, read_response, request
from tests.support.live_http import LiveHttp, live_http
from tests.support.qa_env import PASSWORDS

pytestmark = pytest.mark.component

HEADER_TIMEOUT = 3.0
KEEP_ALIVE = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHttp]:
    """Default limits but a short head deadline and keep-alive, no trusted proxy."""
    with live_http(tmp_path_factory.mktemp("http"),
                   http={"header_timeout": HEADER_TIMEOUT, "keep_alive_timeout": KEEP_ALIVE}) as s:
        yield s


async def health(s: LiveHttp) -> int:
    """/health's status, asked on a new connection; it must answer within 1 s."""
    async with httpx.AsyncClient(base_url=s.url, timeout=1.0) as c:
        return (await c.get("/health")).status_code


def login_body(username: str) -> dict[str, str]:
    return {"username": username, "password": "wrong-password"}


# -- proxy headers and the login throttle ---------------------------------------------------

FORGED = ["10.1.2.3", "", "garbage", "1.2.3.4, 5.6.7.8", "::1", "127.0.0.2", ",", "unknown"]


async def test_forged_forwarded_for_is_one_address(tmp_path: Path) -> None:
    """No trusted proxy: 30 failed logins, each with another forged X-Forwarded-For (empty
    ones too) and another username, count as one address: 20 x 401, then 429."""
    with live_http(tmp_path) as s:
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as c:
            statuses = []
            for i in range(30):
                forged = FORGED[i % len(FORGED)] if i % 3 else f"10.0.{i}.1"
                r = await c.post("/api/auth/login", json=login_body(f"user{i}"),
                                 headers={"X-Forwarded-For": forged, "X-Forwarded-Proto": "https"})
                statuses.append(r.status_code)
            assert statuses == [401] * 20 + [429] * 10
            assert r.json()["error_id"] == "too_many_attempts" and int(r.headers["Retry-After"]) > 0
            # the right password from "another address" is refused too: it is the same one
            r = await c.post("/api/auth/login", json={"username": "qa", "password": PASSWORDS["qa"]},
                             headers={"X-Forwarded-For": "192.0.2.77"})
            assert r.status_code == 429
        tripped = [e for e in s.log_events() if e.get("event") == "auth.login_throttled"]
        assert tripped and {e["client"] for e in tripped} == {"127.0.0.1"}


async def test_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    """127.0.0.1 configured as a proxy: each address it names has its own limit; malformed
    names share one ("unknown"), so they never skip it."""
    with live_http(tmp_path, trusted_proxies=["127.0.0.1"]) as s:
        async with httpx.AsyncClient(base_url=s.url, timeout=30) as c:
            async def fail(username: str, forwarded: str) -> int:
                r = await c.post("/api/auth/login", json=login_body(username),
                                 headers={"X-Forwarded-For": forwarded})
                return r.status_code

            # 30 failures from 30 addresses: none reaches the per-address limit
            assert [await fail(f"a{i}", f"198.51.100.{i}") for i in range(30)] == [401] * 30
            # 20 from one address fill its limit; that address is refused, the others are not
            assert [await fail(f"b{i}", "203.0.113.9") for i in range(20)] == [401] * 20
            assert await fail("c0", "203.0.113.9") == 429
            assert await fail("c1", "203.0.113.10") == 401
            # the proxy appends the real client: the right-most untrusted entry counts
            assert await fail("c2", "203.0.113.10, 203.0.113.9") == 429
            # garbage from the proxy: one shared key, limited like any address
            assert [await fail(f"d{i}", "not-an-address") for i in range(20)] == [401] * 20
            assert await fail("d20", "still-not-one") == 429
        clients = {e["client"] for e in s.log_events() if e.get("event") == "auth.login_throttled"}
        assert {"203.0.113.9", "not-an-address"} <= clients


# -- heads: deadline, idle, keep-alive, cap, size --------------------------------------------

async def _trickle(s: LiveHttp, head: bytes, opened: asyncio.Event | None = None) -> tuple[RawResponse, int]:
    """Send `head` a byte a second until the server answers or closes: (answer, bytes sent)."""
    reader, writer = await asyncio.open_connection(s.host, s.port)
    answer = asyncio.create_task(read_response(reader))
    sent = 0
    try:
        for byte in head:
            if answer.done():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1
            await asyncio.wait([answer], timeout=1.0)
        return await asyncio.wait_for(answer, 30), sent
    except (ConnectionResetError, BrokenPipeError):
        return await asyncio.wait_for(answer, 30), sent
    finally:
        writer.close()


SLOW_HEAD = b"GET /health HTTP/1.1\r\nHost: hotline\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"


async def test_slow_heads_do_not_stop_health_and_are_closed_at_the_deadline(server: LiveHttp) -> None:
    slow = [asyncio.create_task(_trickle(server, SLOW_HEAD)) for _ in range(200)]
    await asyncio.sleep(1.0)
    answers = []
    while not all(t.done() for t in slow):
        answers.append(await health(server))  # within 1 s each, while 200 clients trickle
        await asyncio.sleep(0.5)
    assert len(answers) >= 3 and set(answers) == {200}
    results = [t.result() for t in slow]
    for response, sent in results:
        assert response.status == 408 and response.closed
        assert response.json()["error_id"] == "request_timeout"
        # closed at the deadline, not before (a byte a second) and long before the head's end
        assert HEADER_TIMEOUT - 1 <= sent <= HEADER_TIMEOUT + 3
    assert await health(server) == 200


async def test_idle_and_kept_alive_connections_are_closed(server: LiveHttp) -> None:
    # a connection that never sends a byte: closed without an answer
    reader, writer = await asyncio.open_connection(server.host, server.port)
    idle = await asyncio.wait_for(read_response(reader), HEADER_TIMEOUT + 10)
    writer.close()
    assert idle.status is None and idle.closed
    # a kept-alive connection after its answer: closed after the keep-alive timeout
    r = await request(server.host, server.port, b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
    assert r.status == 200 and r.closed and "close" not in r.headers.get("connection", "")
    # the second request on a kept-alive connection has the same head deadline
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
    first = b""
    while b"\r\n\r\n" not in first or not first.endswith(b"}"):
        first += await asyncio.wait_for(reader.read(65536), 10)
    assert first.startswith(b"HTTP/1.1 200")
    answer = asyncio.create_task(read_response(reader))
    for byte in SLOW_HEAD:
        if answer.done():
            break
        writer.write(bytes([byte]))
        await asyncio.wait([answer], timeout=0.5)  # faster than the keep-alive timeout
    second = await asyncio.wait_for(answer, 10)
    writer.close()
    assert second.status == 408 and second.closed


async def test_the_connection_cap_answers_503_and_frees_itself(tmp_path: Path) -> None:
    with live_http(tmp_path, http={"max_connections": 20, "header_timeout": 2}) as s:
        held = [await asyncio.open_connection(s.host, s.port) for _ in range(25)]
        r = await request(s.host, s.port, b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
        assert r.status == 503 and r.closed  # uvicorn's limit_concurrency: refused, not queued
        closed = await asyncio.gather(*(asyncio.wait_for(read_response(rd), 15) for rd, _ in held))
        assert all(c.closed for c in closed)  # the head deadline closes the idle ones
        for _, w in held:
            w.close()
        assert await health(s) == 200


@pytest.mark.parametrize("raw", [
    b"GET /health HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
    b"GET /health?q=" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: h\r\n" + b"".join(b"X-H%d: 1234567890\r\n" % i for i in range(1200)) + b"\r\n",
], ids=["big-header", "huge-query", "many-headers"])
async def test_heads_over_the_limit_get_431(server: LiveHttp, raw: bytes) -> None:
    r = await request(server.host, server.port, raw)
    assert r.status == 431 and r.closed
    assert r.json()["error_id"] == "request_head_too_large"
    assert await health(server) == 200


async def test_malformed_request_gets_the_error_body(server: LiveHttp) -> None:
    r = await request(server.host, server.port, b"GET /health HTTP/1.1\r\nHost h\r\n\r\n")
    assert r.status == 400 and r.closed and r.json()["error_id"] == "bad_request"


async def test_many_query_parameters_are_a_plain_answer(server: LiveHttp) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post("/api/auth/login", json={"username": "qa", "password": PASSWORDS["qa"]})
        auth = {"Authorization": "Bearer " + r.json()["access_token"]}
        many = "&".join(f"intent=i{i}" for i in range(900))
        r = await c.get("/api/calls?" + many, headers=auth)
        assert r.status_code in (200, 422), r.text
        r = await c.get("/api/calls?" + "&".join(f"k{i}=1" for i in range(2000)), headers=auth)
        assert r.status_code == 200, r.text
    assert await health(server) == 200


@pytest.mark.parametrize("path", [
    "/qa/static/..%2f..%2fweb.py", "/qa/static/%2e%2e%2fweb.py", "/qa/static/..%252fweb.py",
    "/qa/static/..%5c..%5cweb.py", "/qa/static/app.js%00.py", "/qa/static/%2fetc%2fpasswd",
    "/qa/%2e%2e/static/app.js", "/qa/static/./app.js/../../web.py",
])
async def test_static_files_never_leave_their_list(server: LiveHttp, path: str) -> None:
    r = await request(server.host, server.port, f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
    assert r.status == 404, (path, r.status, r.body[:200])
    assert b"import" not in r.body and b"root:" not in r.body
