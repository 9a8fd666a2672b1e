"""AgiChannel and FastAgiServer on loopback: every read is bounded in size and time."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from hotline.pbx.agi import ENV_LINES, LINE_LIMIT, USAGE_LINES, AgiChannel, AgiError, FastAgiServer

pytestmark = pytest.mark.component

ENV = b"agi_network: yes\nagi_network_script: route\nagi_uniqueid: 1700000000.1\n\n"


async def connect(server: FastAgiServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


@contextlib.asynccontextmanager
async def serving(handler):  # type: ignore[no-untyped-def]
    server = FastAgiServer("127.0.0.1", 0, handler)
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
