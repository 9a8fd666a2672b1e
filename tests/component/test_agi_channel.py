"""AgiChannel and FastAgiServer on loopback: every read is bounded in size and time, and a
keyed server serves only sessions that give its key back (a fake peer plays Asterisk)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
import structlog
from sqlalchemy import func, select

from hotline.db.base import make_engine, make_sessionmaker
from hotline.db.calls import CallRow, CallStore
from hotline.pbx import agi
from hotline.pbx.agi import (
    ENV_LINES,
    LINE_LIMIT,
    USAGE_LINES,
    AgiChannel,
    AgiError,
    FastAgiServer,
)
from tests.support.callflow import FoundationCallFlow
from tests.support.databases import DbBackend

pytestmark = pytest.mark.component

ENV = b"agi_network: yes\nagi_network_script: route\nagi_uniqueid: 1700000000.1\n\n"


async def connect(server: FastAgiServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


@contextlib.asynccontextmanager
async def serving(handler, **kwargs):  # type: ignore[no-untyped-def]
    server = FastAgiServer("127.0.0.1", 0, handler, **kwargs)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_server_runs_the_handler_with_the_environment() -> None:
    seen: list[tuple[str, str | None]] = []

    async def handler(chan: AgiChannel) -> None:
        seen.append((chan.uniqueid, await chan.get_variable("X")))

    async with serving(handler) as server:
        reader, writer = await connect(server)
        writer.write(ENV)
        assert await asyncio.wait_for(reader.readline(), 5) == b'GET VARIABLE "X"\n'
        writer.write(b"200 result=1 (abc)\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed after the handler
        writer.close()
    assert seen == [("1700000000.1", "abc")]


async def test_environment_without_end_is_refused_after_env_lines() -> None:
    errors: list[BaseException] = []

    async def handler(chan: AgiChannel) -> None:  # never reached
        errors.append(AssertionError("handler ran"))

    async with serving(handler) as server:
        reader, writer = await connect(server)
        writer.write(b"".join(b"agi_arg_%d: x\n" % i for i in range(ENV_LINES + 10)))
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the server hung up on us
        writer.close()
    assert errors == []

    r = asyncio.StreamReader()
    r.feed_data(b"".join(b"agi_arg_%d: x\n" % i for i in range(ENV_LINES + 10)))
    chan = AgiChannel(r, _NullWriter())  # type: ignore[arg-type]
    with pytest.raises(AgiError, match=f"longer than {ENV_LINES} lines"):
        await chan.read_env()
    assert len(chan.env) == ENV_LINES


async def test_endless_reply_line_is_an_agi_error_and_ends_the_channel() -> None:
    r = asyncio.StreamReader(limit=LINE_LIMIT)
    w = _NullWriter()
    chan = AgiChannel(r, w)  # type: ignore[arg-type]
    r.feed_data(b"2" * (LINE_LIMIT + 10))
    with pytest.raises(AgiError, match="limit"):
        await asyncio.wait_for(chan.command("ANSWER"), 2)
    assert chan.hung_up and w.closed


async def test_usage_text_is_bounded() -> None:
    r = asyncio.StreamReader()
    w = _NullWriter()
    chan = AgiChannel(r, w)  # type: ignore[arg-type]
    r.feed_data(b"520-Invalid command syntax.  Proper usage follows:\n")
    r.feed_data(b" more usage\n" * (USAGE_LINES + 5))
    with pytest.raises(AgiError, match=f"longer than {USAGE_LINES} lines"):
        await asyncio.wait_for(chan.command("STREAM FILE"), 2)
    assert chan.hung_up and w.closed


async def test_command_timeout() -> None:
    r = asyncio.StreamReader()
    chan = AgiChannel(r, _NullWriter())  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        await chan.command("WAIT FOR DIGIT 100", timeout=0.1)


# --- only sessions Asterisk starts: the key ---------------------------------------------------

KEY = "k3y-for-the-component-test-0123456789"
ASK_KEY = b'GET VARIABLE "AST_CONFIG(hotline-agi.conf,agi,key)"\n'  # KEY_VARIABLE, quoted
CALL_ENV = (b"agi_network: yes\nagi_network_script: call\nagi_uniqueid: 1700000000.7\n"
            b"agi_channel: PJSIP/test-00000007\nagi_callerid: 89161234567\n\n")


async def line(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readline(), 5)


async def closed(reader: asyncio.StreamReader) -> bool:
    """True if the server closes the connection within a second, sending nothing more."""
    return await asyncio.wait_for(reader.read(), 1) == b""


@pytest.fixture
async def calls(tmp_path: Path, db_backend: DbBackend):  # type: ignore[no-untyped-def]
    """A migrated database and the foundation call flow, which stores every call it serves."""
    async with db_backend.migrated(tmp_path, "calls") as url:
        engine = make_engine(url)
        store = CallStore(make_sessionmaker(engine))

        async def count() -> int:
            async with store.sm() as s:
                return int(await s.scalar(select(func.count()).select_from(CallRow)) or 0)

        try:
            yield FoundationCallFlow(store, country="RU"), count
        finally:
            await engine.dispose()


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"200 result=1 (not-the-key-but-long-enough)\n", "wrong key"),
        (b"200 result=1 (" + KEY[:-1].encode() + b")\n", "wrong key"),  # a prefix is not the key
        (b"200 result=1 (" + KEY.encode() + b"x)\n", "wrong key"),  # nor the key and more
        (b"200 result=1 ()\n", "no key"),
        (b"200 result=0\n", "no key"),  # the variable is not set: not our Asterisk
        (b"510 Invalid or unknown command\n", "bad reply"),
    ],
)
async def test_a_session_without_the_key_is_refused_and_stores_no_call(
    calls, reply: bytes, reason: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]
    flow, count = calls
    compared: list[tuple[bytes, bytes]] = []
    real = agi.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(agi.hmac, "compare_digest", spy)
    with structlog.testing.capture_logs() as logs:
        async with serving(flow, key=KEY, guard=True) as server:
            reader, writer = await connect(server)
            writer.write(CALL_ENV)
            assert await line(reader) == ASK_KEY
            writer.write(reply)
            assert await closed(reader)  # no ANSWER, no guard lifted: closed at once
            assert server.active_calls == 0 and server.refused == 1
            local = writer.get_extra_info("sockname")
            writer.close()
    assert await count() == 0  # the call flow never ran
    refused = [e for e in logs if e["event"] == "agi.refused"]
    assert refused == [{"event": "agi.refused", "log_level": "warning", "reason": reason,
                        "peer": f"127.0.0.1:{local[1]}"}]
    assert not any(KEY in repr(e) for e in logs)  # the key is never logged
    if reason != "bad reply":  # the whole values, compared in constant time
        assert compared and all(b == KEY.encode() for _, b in compared)


async def test_a_session_with_the_key_lifts_the_guard_and_is_served(calls) -> None:  # type: ignore[no-untyped-def]
    flow, count = calls
    with structlog.testing.capture_logs() as logs:
        async with serving(flow, key=KEY, guard=True) as server:
            reader, writer = await connect(server)
            writer.write(CALL_ENV)
            assert await line(reader) == ASK_KEY
            writer.write(b"200 result=1 (" + KEY.encode() + b")\n")
            # the first command after the key lifts the dialplan's first-answer guard
            assert await line(reader) == b'SET VARIABLE TIMEOUT(absolute) "0"\n'
            writer.write(b"200 result=1\n")
            for expected in (b"ANSWER\n", b'STREAM FILE "hello-world" ""\n',
                             b'SET VARIABLE HOTLINE_DONE "1"\n', b"HANGUP\n"):
                assert await line(reader) == expected
                writer.write(b"200 result=0 endpos=100\n" if b"STREAM" in expected else b"200 result=1\n")
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            assert server.refused == 0
    assert await count() == 1
    assert not any(e["event"] == "agi.refused" for e in logs)
    assert not any(KEY in repr(e) for e in logs)


async def test_peers_that_never_give_the_key_cost_only_the_handshake_timeout() -> None:
    ran: list[str] = []

    async def handler(chan: AgiChannel) -> None:
        ran.append(chan.uniqueid)

    with structlog.testing.capture_logs() as logs:
        async with serving(handler, key=KEY, handshake_timeout=0.3) as server:
            silent_r, silent_w = await connect(server)  # connects, says nothing
            mute_r, mute_w = await connect(server)  # environment, then no reply to the key
            mute_w.write(CALL_ENV)
            assert await line(mute_r) == ASK_KEY
            gone_r, gone_w = await connect(server)  # environment, then hangs up
            gone_w.write(CALL_ENV)
            assert await line(gone_r) == ASK_KEY
            gone_w.close()
            t0 = asyncio.get_running_loop().time()
            assert await closed(silent_r) and await closed(mute_r)
            assert asyncio.get_running_loop().time() - t0 < 1
            for _ in range(50):
                if server.active_calls == 0:
                    break
                await asyncio.sleep(0.02)
            assert server.active_calls == 0
            silent_w.close()
            mute_w.close()
    assert ran == []
    reasons = sorted(e["reason"] for e in logs if e["event"] == "agi.refused")
    assert reasons == ["no answer", "no environment"]  # the hang-up is no refusal
    assert not any(e["event"] == "agi.session_failed" for e in logs)


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        FastAgiServer("127.0.0.1", 0, lambda chan: asyncio.sleep(0), key="")


class _NullWriter:
    """Enough of a StreamWriter for AgiChannel: takes the bytes, remembers close()."""

    def __init__(self) -> None:
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


# --- any bytes from a local process: never served without the key, never a failure ---------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.support.agi_fuzz import EXAMPLE_LIMIT, FRAGMENTS, time_limit  # noqa: E402


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.one_of(st.sampled_from([CALL_ENV, b"200 result=1 (guess-the-key-000000)\n",
                                                 *FRAGMENTS]), st.binary(max_size=40)), max_size=16),
       cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_a_keyed_server_serves_no_bytes_without_the_key(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts)
    edges = [0, *sorted({c for c in cuts if c < len(data)}), len(data)]
    chunks = [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]
    ran: list[str] = []

    async def handler(chan: AgiChannel) -> None:
        ran.append(chan.uniqueid)

    async def run() -> tuple[bytes, int]:
        async with serving(handler, key=KEY, guard=True, handshake_timeout=0.2) as server:
            reader, writer = await connect(server)
            got = b""
            try:
                for chunk in chunks:
                    writer.write(chunk)
                    await writer.drain()
                    await asyncio.sleep(0)
                writer.write_eof()
                while block := await asyncio.wait_for(reader.read(1024), 3):  # no hang
                    got += block
            except OSError:  # closed with our bytes unread: the kernel reset the connection
                pass
            writer.close()
            for _ in range(100):
                if server.active_calls == 0:
                    break
                await asyncio.sleep(0.01)
            return got, server.active_calls

    with structlog.testing.capture_logs() as logs, time_limit(EXAMPLE_LIMIT):
        got, active = asyncio.run(run())
    assert ran == [] and active == 0
    assert set(got.splitlines()) <= {ASK_KEY.rstrip(b"\n")}  # nothing but the question
    assert not any(e["event"] == "agi.session_failed" for e in logs), logs


async def test_a_connection_reset_while_waiting_for_a_reply_is_a_hangup() -> None:
    """Asterisk resets the FastAGI socket as a channel goes (seen after Queue() returned for a
    caller who hung up): the command raises AgiHangup, not ConnectionResetError."""
    import socket
    import struct

    outcome: list[BaseException] = []

    async def handler(chan: AgiChannel) -> None:
        try:
            await chan.get_variable("QUEUESTATUS")
        except BaseException as exc:
            outcome.append(exc)

    async with serving(handler) as server:
        reader, writer = await connect(server)
        writer.write(ENV)
        assert await asyncio.wait_for(reader.readline(), 5) == b'GET VARIABLE "QUEUESTATUS"\n'
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST instead of FIN
        async with asyncio.timeout(5):
            while not outcome:
                await asyncio.sleep(0.01)
    assert isinstance(outcome[0], agi.AgiHangup), repr(outcome[0])
