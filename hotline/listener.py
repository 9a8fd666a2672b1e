"""A loopback TCP listener that keeps the task of every open connection, so the service can
count them, wait for them to finish (draining) and cancel them on stop. The FastAGI and the
AudioSocket servers both stand on it; what each says on the wire stays in its own module."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Listener:
    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def open(self, handler: Handler, host: str, port: int, **kw: object) -> int:
        """Listen; the port bound (port 0 picks a free one)."""
        self._server = await asyncio.start_server(handler, host, port, **kw)  # type: ignore[arg-type]
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    def stop_accepting(self) -> None:
        if self._server is not None and self._server.is_serving():
            self._server.close()

    @contextlib.contextmanager
    def connection(self) -> Iterator[None]:
        """Around one connection's handler: its task counts as open until it returns."""
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)  # type: ignore[arg-type]
        try:
            yield
        finally:
            self.tasks.discard(task)  # type: ignore[arg-type]

    async def close(self) -> None:
        """Stop listening and cancel every open connection; waits for them to end."""
        if self._server is None:
            return
        self._server.close()
        for t in list(self.tasks):
            t.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
