"""AudioSocket TCP server: one session per connection, matched by the UUID Asterisk sends first.

Per connection: a reader task decodes frames (audio -> session, DTMF -> session, hang-up or
error -> end) and the connection's own task paces output: exactly one 320-byte frame every
20 ms in real time, silence when the bot has nothing to say (Asterisk hangs up after 2 s without
frames). When the session has finished, the server sends a hang-up frame, which makes
`AudioSocket()` return 0 so the dialplan (or the AGI session) carries on. Bad bytes never crash
the server: a `CodecError` is logged and that one connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from hotline.listener import Listener
from voicebot.codec import (
    AudioFrame,
    CodecError,
    DtmfFrame,
    ErrorFrame,
    FrameDecoder,
    HangupFrame,
    UuidFrame,
    encode,
)

log = structlog.get_logger("voicebot.server")

__all__ = ["AudioSocketServer", "SocketSession"]

FRAME_SECONDS = 0.02
UUID_TIMEOUT = 5.0
MAX_WRITE_BUFFER = 64 * 1024  # ~4 s of audio not taken by Asterisk: the peer is gone


class SocketSession(Protocol):
    """What the server drives (voicebot.session.BotSession implements it)."""

    finished: asyncio.Event

    async def start(self, send: Callable[[bytes], Any]) -> None: ...

    async def audio(self, pcm: bytes, at: float | None = None) -> None: ...

    async def dtmf(self, digit: str, at: float | None = None) -> None: ...

    @property
    def next_due(self) -> float | None: ...

    async def tick(self, now: float) -> None: ...

    async def close(self, reason: str = "hangup", error: str | None = None) -> Any: ...


SessionFactory = Callable[[uuid.UUID], SocketSession | None]


class _PeerGone(Exception):
    pass


class AudioSocketServer:
    def __init__(self, host: str, port: int, sessions: SessionFactory) -> None:
        self.host, self.port = host, port
        self.sessions = sessions
        self._listener = Listener()

    @property
    def active(self) -> int:
        return len(self._listener.tasks)

    async def start(self) -> None:
        self.port = await self._listener.open(self._on_connect, self.host, self.port)
        log.info("audiosocket.listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        await self._listener.close()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with self._listener.connection():
                await self._serve(reader, writer)
        except Exception:
            log.exception("audiosocket.connection_failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        try:
            async with asyncio.timeout(UUID_TIMEOUT):
                first = await _first_frame(reader, decoder)
        except (TimeoutError, CodecError, _PeerGone) as exc:
            log.warning("audiosocket.no_uuid", error=str(exc) or type(exc).__name__)
            return
        if not isinstance(first[0], UuidFrame):
            log.warning("audiosocket.bad_start", frame=type(first[0]).__name__)
            return
        call = first[0].uuid
        session = self.sessions(call)
        clog = log.bind(uuid=str(call))
        if session is None:
            clog.warning("audiosocket.unknown_uuid")
            writer.write(encode(HangupFrame()))
            return
        loop = asyncio.get_running_loop()

        def send(pcm: bytes) -> None:
            if writer.is_closing():
                raise _PeerGone("socket closed")
            if writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
                raise _PeerGone("Asterisk is not reading")
            writer.write(encode(AudioFrame(pcm)))

        reason, error = "hangup", None
        reading = asyncio.create_task(self._read(reader, decoder, session, first[1:]),
                                      name=f"audiosocket-read-{call}")  # fmt: skip
        finished = asyncio.create_task(session.finished.wait(), name=f"audiosocket-end-{call}")
        try:
            await session.start(send)
            clog.info("audiosocket.session_started")
            while not reading.done() and not finished.done():
                await session.tick(loop.time())
                due = session.next_due
                delay = FRAME_SECONDS if due is None else due - loop.time()
                if delay > 0:
                    await asyncio.wait({reading, finished}, timeout=delay)
            if finished.done():
                reason = "finished"
                writer.write(encode(HangupFrame()))
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
            else:
                reason, error = reading.result()
        except _PeerGone as exc:
            reason, error = "failed", str(exc)
        except ConnectionError as exc:
            reason, error = "hangup", str(exc)
        except Exception as exc:
            clog.exception("audiosocket.session_error")
            reason, error = "failed", f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                writer.write(encode(HangupFrame()))
        finally:
            for t in (reading, finished):
                t.cancel()
            await asyncio.gather(reading, finished, return_exceptions=True)
            await session.close(reason, error)
            clog.info("audiosocket.session_ended", reason=reason, error=error)

    async def _read(self, reader: asyncio.StreamReader, decoder: FrameDecoder,
                    session: SocketSession, pending: list[Any]) -> tuple[str, str | None]:  # fmt: skip
        """Returns (reason, error) when the stream ends."""
        loop = asyncio.get_running_loop()
        frames = pending
        while True:
            for frame in frames:
                if isinstance(frame, AudioFrame):
                    await session.audio(frame.pcm, loop.time())
                elif isinstance(frame, DtmfFrame):
                    await session.dtmf(frame.digit, loop.time())
                elif isinstance(frame, HangupFrame):
                    return "hangup", None
                elif isinstance(frame, ErrorFrame):
                    log.warning("audiosocket.error_frame", code=frame.code)
                    return "failed", f"Asterisk sent an error frame (code {frame.code})"
            data = await reader.read(8192)
            if not data:
                return "hangup", "connection closed"
            try:
                frames = decoder.feed(data)
            except CodecError as exc:
                log.warning("audiosocket.bad_bytes", error=str(exc))
                return "failed", f"bad AudioSocket bytes: {exc}"


async def _first_frame(reader: asyncio.StreamReader, decoder: FrameDecoder) -> list[Any]:
    while True:
        data = await reader.read(4096)
        if not data:
            raise _PeerGone("closed before the UUID frame")
        frames = decoder.feed(data)
        if frames:
            return frames
