"""A key-value client that retries: reconnects with backoff when the network fails it.

The protocol is one line each way: ``GET key\\n`` answered by ``value\\n``.
"""

from __future__ import annotations

import asyncio


async def serve_kv(data: dict[str, str], host: str, port: int) -> asyncio.AbstractServer:
    """Start a server answering ``GET key`` lines from ``data``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                key = line.decode().removeprefix("GET ").strip()
                writer.write(data.get(key, "").encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


class RetryingClient:
    """Get values over one connection; on a timeout or a network error, reconnect and retry."""

    def __init__(self, host: str, port: int, *, timeout: float = 2.0, attempts: int = 6) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.attempts = attempts
        self.reconnects = 0
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, key: str) -> str:
        """Return the value of ``key``, retrying with backoff (1, 2, 4 ... s)."""
        delay = 1.0
        for attempt in range(self.attempts):
            try:
                return await asyncio.wait_for(self._ask(key), self.timeout)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                await self._drop()
                if attempt == self.attempts - 1:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    async def _ask(self, key: str) -> str:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
            self.reconnects += 1
        reader, writer = self._streams
        writer.write(f"GET {key}\n".encode())
        await writer.drain()
        line = await reader.readline()
        if not line:
            raise asyncio.IncompleteReadError(line, None)
        return line.decode().strip()

    async def _drop(self) -> None:
        streams, self._streams = self._streams, None
        if streams is not None:
            streams[1].transport.abort()  # a stuck connection is not worth a goodbye

    async def close(self) -> None:
        streams, self._streams = self._streams, None
        if streams is not None:
            streams[1].close()
            try:
                await streams[1].wait_closed()
            except ConnectionError:
                pass
