"""A loopback TCP proxy whose link can be cut: connections dropped and new ones refused."""

from __future__ import annotations

import asyncio
import contextlib


class CuttableProxy:
    """Listens on `port` (0: any free one) and forwards each connection to `target_port`.

    `cut()` closes every forwarded connection and the listener (connects are refused, as
    when the peer's process is gone); `restore()` listens again on the same port."""

    def __init__(self, target_port: int, port: int = 0, host: str = "127.0.0.1"):
        self.host, self.target_port, self.port = host, target_port, port
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self.connections = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    restore = start

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for t in list(self._links):
            t.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)

    stop = cut

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)  # type: ignore[arg-type]
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()
            self._links.discard(task)  # type: ignore[arg-type]
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()
            self._links.discard(task)  # type: ignore[arg-type]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()
