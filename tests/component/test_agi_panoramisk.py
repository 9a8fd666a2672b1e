"""panoramisk's FastAGI `Application` and our `AgiChannel` against the same fake Asterisk peer.

The evidence behind docs/decisions/0001-ami-and-fastagi-transport.md. The test plays Asterisk
on one end of a loopback TCP connection; the other end is read by panoramisk 1.4 (its
`Application.handler` and `Request.send_command`) or by `AgiChannel`. Each test asserts what
panoramisk was observed to do and that ours handles the same bytes.

panoramisk reads the AGI environment with `reader.read(100)` until it sees a blank line; at end
of stream that read returns b"" at once without suspending, so a peer that closes early would
freeze the event loop (and this suite). Its reader is therefore wrapped by `EofGuard`, which
raises after 1,000 empty reads and records whether the loop ran anything in between.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from panoramisk.fast_agi import Application

from hotline.pbx.agi import LINE_LIMIT, AgiChannel, AgiError, AgiHangup

pytestmark = pytest.mark.component

ENV = (
    b"agi_network: yes\n"
    b"agi_network_script: route\n"
    b"agi_request: agi://127.0.0.1:4573/route\n"
    b"agi_channel: PJSIP/caller-00000001\n"
    b"agi_uniqueid: 1700000000.1\n"
    b"agi_callerid: +15550001\n"
    b"\n"
)
# res_agi's answer to a command with bad arguments: "520-" line, the usage text, "520 End".
USAGE = (
    b"520-Invalid command syntax.  Proper usage follows:\n"
    b" Usage: STREAM FILE <filename> <escape_digits> [sample offset]\n"
    b" Send the given file, allowing playback to be interrupted by the given digits, if any.\n"
    b"520 End of proper usage.\n"
)


@dataclass
class Link:
    """Both ends of one loopback connection: `ours_*` is read by the code under test."""

    ours_reader: asyncio.StreamReader
    ours_writer: asyncio.StreamWriter
    peer_reader: asyncio.StreamReader
    peer_writer: asyncio.StreamWriter

    def channel(self) -> AgiChannel:
        return AgiChannel(self.ours_reader, self.ours_writer)

    async def send(self, data: bytes) -> None:
        self.peer_writer.write(data)
        await self.peer_writer.drain()


@contextlib.asynccontextmanager
async def loopback() -> AsyncIterator[Link]:
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    server = await asyncio.start_server(
        lambda r, w: accepted.put_nowait((r, w)), "127.0.0.1", 0, limit=LINE_LIMIT
    )
    port = server.sockets[0].getsockname()[1]
    peer_reader, peer_writer = await asyncio.open_connection("127.0.0.1", port)
    ours_reader, ours_writer = await asyncio.wait_for(accepted.get(), 5)
    link = Link(ours_reader, ours_writer, peer_reader, peer_writer)
    try:
        yield link
    finally:
        for w in (peer_writer, ours_writer):
            w.close()
        server.close()
        await server.wait_closed()


class EofGuard:
    """Wraps `reader.read`: counts bytes and empty reads, raises after `limit` empty reads."""

    class Tripped(Exception):
        pass

    def __init__(self, reader: asyncio.StreamReader, limit: int = 1000) -> None:
        self.bytes = 0
        self.empty_reads = 0
        self.limit = limit
        self.loop_ran_meanwhile: bool | None = None
        self._ran: list[int] = []
        self._read = reader.read
        reader.read = self.read  # type: ignore[method-assign]

    async def read(self, n: int = -1) -> bytes:
        data = await self._read(n)
        self.bytes += len(data)
        if not data:
            self.empty_reads += 1
            if self.empty_reads == 1:
                asyncio.get_running_loop().call_soon(self._ran.append, 1)
            if self.empty_reads >= self.limit:
                self.loop_ran_meanwhile = bool(self._ran)
                raise EofGuard.Tripped
        return data


async def noop(_request: Any) -> None:
    pass


def panoramisk_app(route: Any) -> Application:
    """panoramisk 1.4 on Python 3.11 takes `async def` routes only (a plain function would be
    wrapped with asyncio.coroutine, which 3.11 removed)."""
    app = Application(loop=asyncio.get_running_loop())
    app.add_route("route", route)
    return app


# ---- where panoramisk does the job


async def test_both_read_the_environment_and_replies_of_a_well_behaved_peer() -> None:
    replies: list[dict[str, Any]] = []
    headers: dict[str, str] = {}

    async def route(request: Any) -> None:
        headers.update(request.headers)
        for cmd in ("ANSWER", 'GET VARIABLE "X"', "GOSUB sub s 1", 'STREAM FILE "a" ""'):
            replies.append(await request.send_command(cmd))

    async def play_asterisk(link: Link) -> list[bytes]:
        commands = []
        for answer in (
            b"200 result=0\n",
            b"200 result=1 (abc)\n",
            b"100 result=0 Trying...\n200 result=0 Gosub complete\n",  # GOSUB's interim line
            b"200 result=-1 endpos=0\n",
        ):
            commands.append(await link.peer_reader.readline())
            await link.send(answer)
        return commands

    async with loopback() as link:
        guard = EofGuard(link.ours_reader)
        handler = asyncio.create_task(panoramisk_app(route).handler(link.ours_reader, link.ours_writer))
        await link.send(ENV)
        sent = await asyncio.wait_for(play_asterisk(link), 5)
        await asyncio.wait_for(handler, 5)
    assert guard.empty_reads == 0
    assert headers["agi_uniqueid"] == "1700000000.1" and headers["agi_callerid"] == "+15550001"
    assert sent[0] == b"ANSWER\n" and sent[3] == b'STREAM FILE "a" ""\n'
    assert [r.get("status_code") for r in replies[:3]] == [200, 200, 200]
    assert replies[1]["result"] == ("1", "abc")
    assert replies[2]["result"] == ("0", "")  # the 100 line was skipped
    # result=-1 comes back as an error dict without the code (ours keeps code and result)
    assert replies[3] == {"error": "AGIAppError", "msg": "Error executing application, or hangup"}

    async with loopback() as link:
        chan = link.channel()
        await link.send(ENV)
        await chan.read_env()
        assert chan.uniqueid == "1700000000.1" and chan.env["agi_callerid"] == "+15550001"

        async def ours() -> list[Any]:
            out: list[Any] = [await chan.command("ANSWER"), await chan.get_variable("X")]
            out.append(await chan.command("GOSUB sub s 1"))
            with pytest.raises(AgiHangup):
                await chan.stream_file("a")
            return out

        task = asyncio.create_task(ours())
        sent = await asyncio.wait_for(play_asterisk(link), 5)
        answer, value, gosub = await asyncio.wait_for(task, 5)
    assert (answer.code, answer.result) == (200, 0) and value == "abc"
    assert (gosub.code, gosub.result, gosub.extra) == (200, 0, "Gosub complete")
    assert sent[1] == b'GET VARIABLE "X"\n' and chan.hung_up


# ---- where panoramisk fails


async def test_panoramisk_spins_without_yielding_when_the_peer_closes_inside_the_environment() -> None:
    async with loopback() as link:
        guard = EofGuard(link.ours_reader)
        await link.send(b"agi_network: yes\nagi_network_script: route\n")
        link.peer_writer.close()
        with pytest.raises(EofGuard.Tripped):
            await asyncio.wait_for(
                panoramisk_app(noop).handler(
                    link.ours_reader, link.ours_writer
                ),
                5,
            )
    # 1,000 reads of b"" in a row and the event loop never got to run a callback in between:
    # without the guard it would loop like this forever, and wait_for's timeout could not fire
    assert guard.empty_reads == 1000 and guard.loop_ran_meanwhile is False

    async with loopback() as link:
        chan = link.channel()
        await link.send(b"agi_network: yes\nagi_network_script: route\n")
        link.peer_writer.close()
        with pytest.raises(AgiHangup, match="before the AGI environment"):
            await asyncio.wait_for(chan.read_env(), 5)
        assert chan.env["agi_network_script"] == "route"


async def test_panoramisk_environment_read_has_no_size_limit() -> None:
    endless = b"agi_x: " + b"x" * (256 * 1024)  # one 256 KiB line, no newline, no blank line
    async with loopback() as link:
        guard = EofGuard(link.ours_reader)
        handler = asyncio.create_task(
            panoramisk_app(noop).handler(link.ours_reader, link.ours_writer)
        )
        await link.send(endless)
        async with asyncio.timeout(10):
            while guard.bytes < len(endless):
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert guard.bytes == len(endless) > 4 * LINE_LIMIT  # all of it buffered...
        assert not handler.done()  # ...and still reading
        handler.cancel()
        await asyncio.gather(handler, return_exceptions=True)

    async with loopback() as link:
        chan = link.channel()
        reading = asyncio.create_task(chan.read_env())
        with contextlib.suppress(ConnectionError):
            await link.send(endless)
        with pytest.raises(AgiError, match="limit"):
            await asyncio.wait_for(reading, 5)


async def test_panoramisk_environment_read_has_no_timeout() -> None:
    async with loopback() as link:
        EofGuard(link.ours_reader)
        handler = asyncio.create_task(
            panoramisk_app(noop).handler(link.ours_reader, link.ours_writer)
        )
        await asyncio.sleep(0.5)  # a peer that connects and says nothing
        assert not handler.done()  # no timeout of its own (the code sets none)
        handler.cancel()
        await asyncio.gather(handler, return_exceptions=True)

    async with loopback() as link:
        with pytest.raises(TimeoutError):
            await link.channel().read_env(timeout=0.2)


async def test_panoramisk_usage_error_then_close_gives_valueerror_not_a_hangup() -> None:
    outcome: list[Any] = []

    async def route(request: Any) -> None:
        outcome.append(await request.send_command("STREAM FILE"))
        try:
            await request.send_command('GET VARIABLE "X"')
        except Exception as exc:  # what the next command gets on the closed connection
            outcome.append(exc)

    async with loopback() as link:
        EofGuard(link.ours_reader)
        handler = asyncio.create_task(panoramisk_app(route).handler(link.ours_reader, link.ours_writer))
        await link.send(ENV)
        await link.peer_reader.readline()
        await link.send(USAGE.splitlines(keepends=True)[0])
        link.peer_writer.close()
        await asyncio.wait_for(handler, 5)
    assert outcome[0]["error"] == "AGIUsageError"
    assert isinstance(outcome[1], ValueError) and "invalid literal for int()" in str(outcome[1])

    async with loopback() as link:
        chan = link.channel()
        await link.send(ENV)
        await chan.read_env()
        task = asyncio.create_task(chan.command("STREAM FILE"))
        await link.peer_reader.readline()
        await link.send(USAGE.splitlines(keepends=True)[0])
        link.peer_writer.close()
        with pytest.raises(AgiHangup):
            await asyncio.wait_for(task, 2)  # the usage text ended with the connection
        with pytest.raises(AgiHangup):
            await chan.get_variable("X")


async def test_panoramisk_reads_the_rest_of_a_usage_text_as_the_next_reply() -> None:
    outcome: list[Any] = []

    async def route(request: Any) -> None:
        outcome.append(await request.send_command("STREAM FILE"))
        try:
            outcome.append(await request.send_command('GET VARIABLE "X"'))
        except Exception as exc:
            outcome.append(exc)

    async def play_asterisk(link: Link) -> None:
        await link.peer_reader.readline()
        await link.send(USAGE)
        await link.peer_reader.readline()
        await link.send(b"200 result=1 (abc)\n")

    async with loopback() as link:
        EofGuard(link.ours_reader)
        handler = asyncio.create_task(panoramisk_app(route).handler(link.ours_reader, link.ours_writer))
        await link.send(ENV)
        await asyncio.wait_for(play_asterisk(link), 5)
        await asyncio.wait_for(handler, 5)
    assert outcome[0]["error"] == "AGIUsageError"
    # the GET VARIABLE got a line of the usage text as its reply, which it cannot parse
    assert isinstance(outcome[1], ValueError)

    async with loopback() as link:
        chan = link.channel()

        async def ours() -> str | None:
            with pytest.raises(AgiError, match="invalid AGI command syntax"):
                await chan.command("STREAM FILE")
            return await chan.get_variable("X")

        await link.send(ENV)
        await chan.read_env()
        task = asyncio.create_task(ours())
        await asyncio.wait_for(play_asterisk(link), 5)
        assert await asyncio.wait_for(task, 5) == "abc"


async def test_panoramisk_takes_a_hangup_notice_for_the_reply_and_falls_one_behind() -> None:
    """res_agi writes "HANGUP" when the channel hangs up (AGISIGHUP); the reply to the next
    command still follows it on the socket."""
    outcome: list[Any] = []

    async def route(request: Any) -> None:
        for cmd in ("ANSWER", 'GET VARIABLE "X"', 'VERBOSE "bye" 1'):
            outcome.append(await request.send_command(cmd))

    async def play_asterisk(link: Link) -> None:
        await link.peer_reader.readline()
        await link.send(b"200 result=0\nHANGUP\n")
        await link.peer_reader.readline()
        await link.send(b"200 result=1 (abc)\n")
        await link.peer_reader.readline()
        await link.send(b"200 result=1\n")

    async with loopback() as link:
        EofGuard(link.ours_reader)
        handler = asyncio.create_task(panoramisk_app(route).handler(link.ours_reader, link.ours_writer))
        await link.send(ENV)
        await asyncio.wait_for(play_asterisk(link), 5)
        await asyncio.wait_for(handler, 5)
    assert outcome[0]["status_code"] == 200
    assert outcome[1] == {"error": "AGIResultHangup", "msg": "User hungup during execution"}
    assert outcome[2]["result"] == ("1", "abc")  # VERBOSE got GET VARIABLE's reply

    async with loopback() as link:
        chan = link.channel()
        await link.send(ENV)
        await chan.read_env()

        async def ours() -> str | None:
            await chan.answer()
            value = await chan.get_variable("X")
            with pytest.raises(AgiHangup):
                await chan.verbose("bye")  # not sent: the channel is known to be gone
            return value

        task = asyncio.create_task(ours())
        await link.peer_reader.readline()
        await link.send(b"200 result=0\nHANGUP\n")
        await link.peer_reader.readline()
        await link.send(b"200 result=1 (abc)\n")
        assert await asyncio.wait_for(task, 5) == "abc" and chan.hung_up
