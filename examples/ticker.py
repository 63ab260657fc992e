"""A ticker server that broadcasts to many subscribers, and drops the ones that cannot keep up.

Each subscriber gets every tick as a line. A subscriber whose connection does
not drain within ``drain_timeout`` (a slow reader: its socket buffers are
full) is disconnected, so it never holds back the others.
"""

from __future__ import annotations

import asyncio
import contextlib


class Ticker:
    """Broadcast ``tick N`` lines to every connected subscriber every ``interval`` seconds."""

    def __init__(self, *, interval: float = 0.1, payload: int = 1024, drain_timeout: float = 1.0) -> None:
        self.interval = interval
        self.payload = b"x" * payload
        self.drain_timeout = drain_timeout
        self.subscribers: set[asyncio.StreamWriter] = set()
        self.dropped: list[str] = []
        self._server: asyncio.AbstractServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._subscribe, host, port)
        self._task = asyncio.create_task(self._broadcast())

    async def _subscribe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.subscribers.add(writer)

    async def _broadcast(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(self.interval)
            n += 1
            line = b"tick %d " % n + self.payload + b"\n"
            for writer in list(self.subscribers):
                writer.write(line)
            await asyncio.gather(*(self._drain(w) for w in list(self.subscribers)))

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(writer.drain(), self.drain_timeout)
        except (asyncio.TimeoutError, ConnectionError):
            self.subscribers.discard(writer)
            self.dropped.append("{}:{}".format(*writer.get_extra_info("peername")[:2]))
            writer.transport.abort()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for writer in self.subscribers:
            writer.close()
        self.subscribers.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
