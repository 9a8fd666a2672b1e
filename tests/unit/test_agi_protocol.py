"""FastAGI reply parsing and argument quoting (caller data never breaks a command line)."""

from __future__ import annotations

import pytest

from hotline.pbx.agi import digits_only, parse_response, quote


@pytest.mark.parametrize(
    ("line", "code", "result", "text", "data"),
    [
        ("200 result=0", 200, 0, "0", None),
        ("200 result=49 endpos=1234", 200, 49, "49", None),
        ("200 result=-1", 200, -1, "-1", None),
        ("200 result=0123456 (timeout)", 200, 123456, "0123456", "timeout"),
        ("200 result=12*3", 200, 0, "12*3", None),
        ("200 result=1 (some value)", 200, 1, "1", "some value"),
        ("510 Invalid or unknown command", 510, 0, "", None),
    ],
)
def test_parse_response(line: str, code: int, result: int, text: str, data: str | None) -> None:
    r = parse_response(line)
    assert (r.code, r.result, r.result_text, r.data) == (code, result, text, data)


def test_digit_of_stream_file() -> None:
    assert parse_response("200 result=53 endpos=800").digit == "5"
    assert parse_response("200 result=0 endpos=800").digit is None


@pytest.mark.parametrize("bad", ["x\nHANGUP", "a\rb", "nul\x00", "esc\x1b"])
def test_quote_refuses_control_characters(bad: str) -> None:
    with pytest.raises(ValueError):
        quote(bad)


def test_quote_escapes_quotes_and_backslashes() -> None:
    assert quote('Ivanova "VIP" \\ test') == '"Ivanova \\"VIP\\" \\\\ test"'


@pytest.mark.parametrize("bad", ["", "12a", "1 2", "0;", "#\n"])
def test_digits_only(bad: str) -> None:
    with pytest.raises(ValueError):
        digits_only(bad)
    assert digits_only("0123*#") == "0123*#"


# --- fuzzing: any bytes from the peer, cut anywhere ---------------------------------------------
#
# Whatever Asterisk (or anything on the port) sends, in whatever TCP chunks, the environment
# read and every command end in a value or a clean AgiError / AgiHangup: never another
# exception, never a hang (tests.support.agi_fuzz.time_limit also stops a loop that never
# yields, like the old `520-` bug, which no asyncio timeout could interrupt).

import asyncio  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hotline.pbx.agi import LINE_LIMIT, AgiChannel, AgiError, AgiHangup, AgiResponse  # noqa: E402
from tests.support.agi_fuzz import (  # noqa: E402
    ENV_FRAGMENTS,
    EXAMPLE_LIMIT,
    FRAGMENTS,
    REPLY_FRAGMENTS,
    time_limit,
)

noise = st.binary(max_size=40)


@st.composite
def conversation(draw: st.DrawFn) -> tuple[list[bytes], list[Step]]:
    """Commands, and one byte stream cut into TCP reads at arbitrary points: mostly an
    environment (real and broken lines), its end, then a reply per command (real, broken,
    noise, several lines or none); sometimes anything at all."""
    steps = draw(st.lists(st.sampled_from(COMMANDS), min_size=1, max_size=6))
    if draw(st.integers(0, 9)) == 0:
        data = b"".join(draw(st.lists(st.one_of(st.sampled_from(FRAGMENTS), noise), max_size=24)))
    else:
        env = draw(st.lists(st.one_of(st.sampled_from(ENV_FRAGMENTS), noise), max_size=6))
        end = draw(st.sampled_from([b"\n", b"\r\n", b""]))
        reply = st.lists(st.one_of(st.sampled_from(REPLY_FRAGMENTS), noise), min_size=1, max_size=3)
        data = b"".join(env) + end + b"".join(b"".join(draw(reply)) for _ in steps)
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=12))))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)], steps


Step = Callable[[AgiChannel], Awaitable[object]]
COMMANDS: list[Step] = [
    lambda c: c.answer(),
    lambda c: c.get_variable("DIALSTATUS"),
    lambda c: c.stream_file("hello-world", "0123456789*#"),
    lambda c: c.get_data("enter-digits", 3000, 6),
    lambda c: c.wait_for_digit(1000),
    lambda c: c.set_variable("TIMEOUT(absolute)", "0"),
    lambda c: c.exec("Dial", "PJSIP/1001,15,g"),
    lambda c: c.verbose("fuzz"),
    lambda c: c.command_line("GET VARIABLE X"),
    lambda c: c.hangup(),
]


class _Sink:
    """The server's side of the socket: takes the commands, remembers close()."""

    def __init__(self) -> None:
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        await asyncio.sleep(0)

    def close(self) -> None:
        self.closed = True


async def _converse(chunks: list[bytes], steps: list[Step], limit: int, eof: bool,
                    timeout: float | None) -> list[object]:
    """Feed the chunks (yielding between them) while the channel reads the environment and
    runs the steps; returns what each call gave: a value or the exception it raised."""
    reader = asyncio.StreamReader(limit=limit)
    chan = AgiChannel(reader, _Sink())  # type: ignore[arg-type]

    async def peer() -> None:
        for chunk in chunks:
            reader.feed_data(chunk)
            await asyncio.sleep(0)
        if eof:
            reader.feed_eof()

    feeding = asyncio.create_task(peer())
    outcomes: list[object] = []
    try:
        try:
            await chan.read_env(timeout=timeout or 5)
            outcomes.append(dict(chan.env))
        except Exception as exc:  # judged by the caller
            outcomes.append(exc)
        for step in steps:
            try:
                if timeout is None:
                    outcomes.append(await step(chan))
                else:
                    outcomes.append(await chan.command("GET VARIABLE X", timeout=timeout))
            except Exception as exc:
                outcomes.append(exc)
    finally:
        await feeding
    return outcomes


def _clean(outcome: object, allow_timeout: bool = False) -> bool:
    if isinstance(outcome, AgiError):
        return True
    if isinstance(outcome, TimeoutError):
        return allow_timeout
    return not isinstance(outcome, BaseException)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(talk=conversation(), limit=st.sampled_from([32, 256, LINE_LIMIT]))
# what the fuzzer found, or would find, kept as examples: a STREAM FILE result that is no key's
# code (chr() raised OverflowError), a usage text cut by a close (the old spin), a hang-up notice
@example(talk=([b"\n200 result=99999999999999999999\n"], [COMMANDS[2]]), limit=LINE_LIMIT)
@example(talk=([b"\n200 result=1114112\n"], [COMMANDS[4]]), limit=LINE_LIMIT)
@example(talk=([b"agi_network: yes\n\n520-Invalid command syntax.  Proper usage follows:\n"],
               [COMMANDS[2], COMMANDS[0]]), limit=LINE_LIMIT)
@example(talk=([b"\nHANGUP\n200 result=1 (x)\n"], [COMMANDS[1], COMMANDS[7]]), limit=LINE_LIMIT)
def test_any_bytes_in_any_chunks_give_a_result_or_a_clean_agi_error(
    talk: tuple[list[bytes], list[Step]], limit: int,
) -> None:
    chunks, steps = talk
    with time_limit(EXAMPLE_LIMIT):
        outcomes = asyncio.run(_converse(chunks, steps, limit, eof=True, timeout=None))
    assert all(_clean(o) for o in outcomes), outcomes
    env = outcomes[0]
    if isinstance(env, dict):  # a parsed environment holds only what was sent, trimmed
        assert all(k == k.strip() and v == v.strip() for k, v in env.items())
    # once hung up, every later command is a hang-up without touching the peer again
    for i, o in enumerate(outcomes[1:], 1):
        if isinstance(o, AgiHangup):
            assert all(isinstance(x, AgiHangup) or x is None for x in outcomes[i + 1:]), outcomes
            break


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(talk=conversation(), limit=st.sampled_from([32, 256, LINE_LIMIT]))
def test_a_peer_that_goes_silent_costs_only_the_timeouts(
    talk: tuple[list[bytes], list[Step]], limit: int,
) -> None:
    """No end of stream after the bytes: each read ends by its own timeout at the latest."""
    chunks, steps = talk
    with time_limit(EXAMPLE_LIMIT):
        outcomes = asyncio.run(_converse(chunks, steps, limit, eof=False, timeout=0.02))
    assert all(_clean(o, allow_timeout=True) for o in outcomes), outcomes


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=80),
                 st.sampled_from(FRAGMENTS).map(lambda b: b.decode("utf-8", "replace"))))
def test_parse_response_takes_any_text(line: str) -> None:
    try:
        r = parse_response(line)
    except AgiError:
        return
    assert isinstance(r, AgiResponse) and 0 <= r.code <= 999
    assert r.digit is None or r.digit in "0123456789*#ABCD"  # a key, or none


class _ResetWriter(_Sink):
    async def drain(self) -> None:
        raise ConnectionResetError(104, "Connection reset by peer")


def test_a_peer_that_closed_makes_writing_a_hang_up_not_a_crash() -> None:
    """Asterisk gave up on the session (e.g. its first-answer guard) before the command went
    out: the reset is the hang-up it is, and nothing more is sent."""

    async def run() -> tuple[AgiChannel, _ResetWriter]:
        w = _ResetWriter()
        chan = AgiChannel(asyncio.StreamReader(), w)  # type: ignore[arg-type]
        with pytest.raises(AgiHangup, match="connection closed"):
            await chan.command("ANSWER")
        assert chan.hung_up
        with pytest.raises(AgiHangup):
            await chan.command("ANSWER")
        return chan, w

    chan, w = asyncio.run(run())
    assert w.data == b"ANSWER\n"  # once
