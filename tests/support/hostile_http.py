"""Raw HTTP/1.1 clients that misbehave on purpose: bodies larger than any limit, heads sent a
byte at a time, connections left idle. Plain asyncio streams, so a test sees exactly what the
server sent and when it closed."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawResponse:
    status: int | None  # None: the server closed without an answer
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    closed: bool = False  # the server closed the connection after it (EOF or reset)

    def json(self) -> Any:
        return json.loads(self.body)


def parse_response(data: bytes, closed: bool) -> RawResponse:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return RawResponse(None, closed=closed)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return RawResponse(status, headers, rest[:length], closed)


async def read_response(reader: asyncio.StreamReader, limit: int = 1 << 20) -> RawResponse:
    """Everything the server sends until it closes (or `limit` bytes), parsed as one response."""
    data = bytearray()
    closed = False
    try:
        while len(data) < limit:
            chunk = await reader.read(65536)
            if not chunk:
                closed = True
                break
            data += chunk
            parsed = parse_response(bytes(data), False)
            if parsed.status is not None and len(parsed.body) >= int(
                    parsed.headers.get("content-length", 1 << 62)):
                # the whole answer is here; see whether the server closes after it
                try:
                    closed = not await asyncio.wait_for(reader.read(1), 5)
                except TimeoutError:
                    closed = False
                break
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    return parse_response(bytes(data), closed)


@dataclass
class StreamResult:
    response: RawResponse
    sent: int  # body bytes the client managed to hand to the kernel
    refused_by_peer: bool  # the server closed/reset the connection while we were still sending


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def stream_body(host: str, port: int, head: bytes, chunk: bytes, total: int) -> StreamResult:
    """Send `head`, then `chunk` again and again up to `total` body bytes, whatever the server
    answers meanwhile, until the server closes the connection; read its answer meanwhile."""
    reader, writer = await asyncio.open_connection(host, port)
    answer = asyncio.create_task(read_response(reader))
    sent, refused = 0, False
    try:
        writer.write(head)
        while sent < total:
            writer.write(chunk)
            await writer.drain()  # returns without yielding while the buffer has room:
            await asyncio.sleep(0)  # let the reader take the answer as it comes (a reset
            sent += len(chunk)  # later would throw away what is still unread)
    except (ConnectionResetError, BrokenPipeError):
        refused = True
    try:
        response = await asyncio.wait_for(answer, 30)
    finally:
        writer.close()
    return StreamResult(response, sent, refused)


async def request(host: str, port: int, raw: bytes, timeout: float = 30) -> RawResponse:
    """One raw request; the server's answer (read until it closes or answers in full)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(read_response(reader), timeout)
    finally:
        writer.close()
