"""FastAGI: a small asyncio server and a typed channel for one call.

Own implementation (a few dozen lines of protocol) so that quoting, timeouts and hang-up
handling are under our control.  Every value that goes into a command passes through
`quote()`, which refuses control characters: caller-supplied digits or caller IDs can
never add a line or a second command.  docs/decisions/0001-ami-and-fastagi-transport.md
records why this is not panoramisk's FastAGI (tests/component/test_agi_panoramisk.py).
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from hotline.listener import Listener
from hotline.metrics import Metrics

log = structlog.get_logger("hotline.pbx.agi")

# Every read is bounded: a line by LINE_LIMIT bytes (the StreamReader limit), the environment by
# ENV_LINES lines and its timeout, a `520-` usage text by USAGE_LINES lines, and a command by its
# timeout (`exec` defaults to none: an EXEC Dial/Queue lasts as long as the call).
LINE_LIMIT = 1 << 16
ENV_LINES = 256
USAGE_LINES = 200

# Only sessions Asterisk starts are served. The instance's key is in a config file of its own,
# readable by the owner only (KEY_FILE, written by hotline.pbx.asterisk); the server reads it
# back through Asterisk (GET VARIABLE of AST_CONFIG()) before it runs the call flow. It is in no
# AGI URL, argument or global variable: Asterisk prints those (the URL at verbosity 3, in
# Newexten events and the CDR's lastdata; globals at verbosity 2 on every dialplan load),
# while AGI replies and AST_CONFIG() reads are printed nowhere.
KEY_FILE = "hotline-agi.conf"
KEY_VARIABLE = f"AST_CONFIG({KEY_FILE},agi,key)"
HANDSHAKE_TIMEOUT = 5.0  # for the environment and for the key's reply
# The dialplan guards the service's first answer with TIMEOUT(absolute) (and AGIEXITONHANGUP,
# so that AGI() gives up on a silent peer): the server's first command after the key clears it.
GUARD_VARIABLE = "TIMEOUT(absolute)"

_RESPONSE = re.compile(r"^(\d{3})(?:[ -]result=(\S*))?(?:\s+\((.*)\))?(?:\s+(.*))?$")
DIGITS = "0123456789*#"
DTMF_KEYS = DIGITS + "ABCD"


class AgiError(Exception):
    """Asterisk refused a command or the connection broke."""


class AgiHangup(AgiError):
    """The channel hung up (or the connection closed)."""


def quote(value: str) -> str:
    """Quote one AGI command argument; refuse what could break the command line."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"control character in AGI argument {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def digits_only(value: str, allowed: str = DIGITS) -> str:
    if not value or any(c not in allowed for c in value):
        raise ValueError(f"not DTMF digits: {value!r}")
    return value


@dataclass(frozen=True)
class AgiResponse:
    code: int
    result: int
    data: str | None
    extra: str | None
    result_text: str = ""  # as sent: GET DATA's digits keep leading zeros and *

    @property
    def digit(self) -> str | None:
        """For STREAM FILE / WAIT FOR DIGIT: the key pressed, if any (a result that is no DTMF
        key's code, such as 10 or 2000000, is none: it could not even be given to chr())."""
        return chr(self.result) if 0 < self.result < 128 and chr(self.result) in DTMF_KEYS else None


def parse_response(line: str) -> AgiResponse:
    m = _RESPONSE.match(line.strip())
    if not m:
        raise AgiError(f"unparseable AGI response {line!r}")
    code, result, data, extra = m.groups()
    result = result or ""
    number = int(result) if re.fullmatch(r"-?\d+", result) else 0
    return AgiResponse(int(code), number, data, extra, result)


class AgiChannel:
    """One FastAGI connection: the channel's variables and commands on it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 metrics: Metrics | None = None):
        self._reader = reader
        self._writer = writer
        self.metrics = metrics  # None: commands are not timed
        self.env: dict[str, str] = {}
        self.hung_up = False
        self._lock = asyncio.Lock()

    async def read_env(self, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            for _ in range(ENV_LINES):
                line = (await self._readline()).decode("utf-8", "replace")
                if not line:
                    raise AgiHangup("connection closed before the AGI environment")
                line = line.rstrip("\r\n")
                if not line:
                    return
                key, _, value = line.partition(":")
                self.env[key.strip()] = value.strip()
        raise AgiError(f"AGI environment longer than {ENV_LINES} lines")

    async def _readline(self) -> bytes:
        """One line (b"" at end of stream); a line over the reader's limit is an AgiError."""
        try:
            return await self._reader.readline()
        except ConnectionError:  # reset by Asterisk as the channel goes: the end of the stream
            self.hung_up = True
            return b""
        except ValueError:  # asyncio's LimitOverrunError, re-raised by readline as ValueError
            self.hung_up = True  # the rest of the line would be read as replies: stop here
            self._writer.close()
            raise AgiError("AGI line longer than the reader's limit") from None

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    @property
    def script(self) -> str:
        return self.env.get("agi_network_script", "")

    async def command_line(self, cmd: str, timeout: float | None = 60) -> str:
        """Send one command and return Asterisk's raw reply line (hang-ups raise AgiHangup)."""
        if "\n" in cmd or "\r" in cmd:
            raise ValueError("AGI command contains a newline")
        if self.hung_up:
            raise AgiHangup("channel hung up")
        async with self._lock:
            sent = time.perf_counter()
            try:
                self._writer.write(cmd.encode() + b"\n")
                await self._writer.drain()
            except ConnectionError:  # reset or broken pipe: Asterisk closed the session
                self.hung_up = True
                raise AgiHangup("connection closed") from None
            async with asyncio.timeout(timeout):
                while True:
                    line = await self._reply_line()
                    if line == "HANGUP":  # AGISIGHUP notice; the reply still follows
                        self.hung_up = True
                        continue
                    if line.startswith("100 "):  # GOSUB's "100 result=0 Trying...": interim
                        continue
                    if line.startswith("520-"):  # multi-line usage text up to "520 End ..."
                        for _ in range(USAGE_LINES):
                            if (await self._reply_line()).startswith("520 "):
                                raise AgiError(f"invalid AGI command syntax: {cmd}")
                        self.hung_up = True  # out of step with Asterisk from here on
                        self._writer.close()
                        raise AgiError(f"AGI usage text longer than {USAGE_LINES} lines")
                    if self.metrics is not None:
                        self.metrics.agi_replied(cmd, time.perf_counter() - sent)
                    return line

    async def _reply_line(self) -> str:
        raw = await self._readline()
        if not raw:
            self.hung_up = True
            raise AgiHangup("connection closed")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def command(self, cmd: str, timeout: float | None = 60) -> AgiResponse:
        line = await self.command_line(cmd, timeout)
        resp = parse_response(line)
        if resp.code == 511:
            self.hung_up = True
            raise AgiHangup("command on a dead channel")
        if resp.code != 200:
            raise AgiError(f"AGI {cmd.split()[0]} failed: {line}")
        if resp.result == -1 and not cmd.startswith(("GET VARIABLE", "GET FULL VARIABLE")):
            self.hung_up = True
            raise AgiHangup(f"channel hung up during {cmd.split()[0]}")
        return resp

    # --- typed helpers ------------------------------------------------------------------------

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def stream_file(self, name: str, escape: str = "") -> str | None:
        """Play a sound; returns the key that interrupted it (DTMF barge-in), if any."""
        esc = digits_only(escape) if escape else ""
        resp = await self.command(f"STREAM FILE {quote(name)} {quote(esc)}")
        return resp.digit

    async def get_data(self, name: str, timeout_ms: int, max_digits: int) -> str | None:
        """Play a prompt (interruptible) and collect up to max_digits (ends on #/timeout).

        Returns the keys as text (leading zeros and * kept), or None when nothing was typed.
        """
        resp = await self.command(
            f"GET DATA {quote(name)} {int(timeout_ms)} {int(max_digits)}",
            timeout=timeout_ms / 1000 * (max_digits + 1) + 120,
        )
        digits = "".join(c for c in resp.result_text if c in DIGITS)
        return digits or None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        resp = await self.command(f"WAIT FOR DIGIT {int(timeout_ms)}", timeout=timeout_ms / 1000 + 30)
        return resp.digit

    async def set_variable(self, name: str, value: str) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_-]*\))?", name):
            raise ValueError(f"bad channel variable name {name!r}")
        await self.command(f"SET VARIABLE {name} {quote(value)}")

    async def get_variable(self, name: str) -> str | None:
        resp = await self.command(f"GET VARIABLE {quote(name)}")
        return resp.data if resp.result == 1 else None

    async def exec(self, app: str, args: str = "", timeout: float | None = None) -> AgiResponse:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", app):
            raise ValueError(f"bad application name {app!r}")
        return await self.command(f"EXEC {app} {quote(args)}", timeout=timeout)

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command(f"VERBOSE {quote(message)} {int(level)}")

    async def hangup(self) -> None:
        if not self.hung_up:
            try:
                await self.command("HANGUP")
            except AgiHangup:
                pass
            self.hung_up = True

    def close(self) -> None:
        self._writer.close()


Handler = Callable[[AgiChannel], Awaitable[None]]


class FastAgiServer:
    """Accepts FastAGI connections and runs `handler` per call; keeps every task.

    With a `key`, a session is served only if Asterisk reads the same key from `KEY_FILE`
    (`KEY_VARIABLE`, compared in constant time); any other session is closed before the
    handler runs, with one warning naming the peer. With `guard`, the first command after the
    key clears the dialplan's first-answer guard (`GUARD_VARIABLE`), so that a call being
    served has no time limit. docs/decisions/0003-fastagi-key-and-first-answer-guard.md.
    """

    def __init__(self, host: str, port: int, handler: Handler, *, key: str | None = None,
                 guard: bool = False, handshake_timeout: float = HANDSHAKE_TIMEOUT,
                 metrics: Metrics | None = None):
        if key is not None and not key:
            raise ValueError("an empty FastAGI key would accept any session")
        self.host, self.port, self.handler = host, port, handler
        self._key = key.encode() if key is not None else None
        self.guard = guard
        self.handshake_timeout = handshake_timeout
        self.metrics = metrics  # times every channel's commands (None: not timed)
        self.refused = 0  # sessions closed before the handler: no environment, wrong key
        self._listener = Listener()
        self._tasks = self._listener.tasks

    async def start(self) -> None:
        self.port = await self._listener.open(self._on_connect, self.host, self.port,
                                              limit=LINE_LIMIT)
        log.info("agi.listening", host=self.host, port=self.port, keyed=self._key is not None,
                 guard=self.guard)

    @property
    def active_calls(self) -> int:
        return len(self._tasks)

    @property
    def listening(self) -> bool:
        return self._listener.serving

    def close_listener(self) -> None:
        """Take no new sessions (draining): Asterisk's connect is refused at once, AGI() fails
        and its dialplan puts the caller into the operator pool. Sessions in progress go on."""
        if self._listener.serving:
            self._listener.stop_accepting()
            log.info("agi.listener_closed", calls_in_progress=len(self._tasks))

    async def wait_idle(self, timeout: float, hurry: asyncio.Event | None = None) -> bool:  # noqa: ASYNC109
        """Wait until no session is in progress, at most `timeout` s (or until `hurry` is set);
        True if none is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        hurried = asyncio.ensure_future(hurry.wait()) if hurry is not None else None
        try:
            while self._tasks:
                left = deadline - loop.time()
                if left <= 0 or (hurried is not None and hurried.done()):
                    return False
                waiting: set[asyncio.Future[Any]] = set(self._tasks)
                if hurried is not None:
                    waiting.add(hurried)
                await asyncio.wait(waiting, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if hurried is not None:
                hurried.cancel()
        return True

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._listener.connection():
            await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        chan = AgiChannel(reader, writer, self.metrics)
        try:
            if await self._handshake(chan, writer):
                await self.handler(chan)
        except AgiHangup:
            pass
        except asyncio.CancelledError:
            # service shutting down: closing the socket makes Asterisk continue its
            # dialplan, which puts the caller into the operator pool
            log.info("agi.session_cancelled", uniqueid=chan.uniqueid)
        except Exception:
            log.exception("agi.session_failed", uniqueid=chan.uniqueid)
        finally:
            chan.close()

    async def _handshake(self, chan: AgiChannel, writer: asyncio.StreamWriter) -> bool:
        """Read the environment, check the key, clear the guard: True if the call is served.

        A peer that sends no environment in time, a broken one or the wrong key is refused
        (one warning with its address, closed, the handler never runs); a peer that hangs up
        raises AgiHangup.
        """
        try:
            await chan.read_env(self.handshake_timeout)
        except AgiHangup:
            raise
        except (AgiError, TimeoutError) as exc:
            return self._refuse(writer, "no environment" if isinstance(exc, TimeoutError)
                                else "bad environment")
        if self._key is not None:
            try:
                reply = await chan.command(f"GET VARIABLE {quote(KEY_VARIABLE)}",
                                           timeout=self.handshake_timeout)
            except AgiHangup:
                raise
            except (AgiError, TimeoutError) as exc:
                return self._refuse(writer, "no answer" if isinstance(exc, TimeoutError)
                                    else "bad reply")
            given = (reply.data or "").encode() if reply.result == 1 else b""
            # compare_digest on the whole value: the time taken says nothing of the key
            if not hmac.compare_digest(given, self._key):
                return self._refuse(writer, "wrong key" if given else "no key")
        if self.guard:
            await chan.set_variable(GUARD_VARIABLE, "0")
        return True

    def _refuse(self, writer: asyncio.StreamWriter, reason: str) -> bool:
        self.refused += 1
        peer = writer.get_extra_info("peername")
        log.warning("agi.refused", reason=reason,
                    peer=f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer))
        return False

    async def stop(self) -> None:
        await self._listener.close()
