"""A small line-based TCP service on asyncio streams, and its client.

The server answers each line it receives with one line:

    ECHO <text>    ->  <text>
    UPPER <text>   ->  <TEXT>
    STATS          ->  connections=<n> lines=<n>
    QUIT           ->  BYE, then it closes the connection
    anything else  ->  ERR unknown command '<word>'

A connection that sends nothing for ``idle_timeout`` seconds is closed.
`EchoServer` tracks its connection handlers, so that closing it is graceful
and a caller can wait until every connection has been served (`wait_idle`).
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType


class EchoServer:
    """A line-based echo server on ``host``; ``port=0`` picks a free port.

    Example:
        >>> async with EchoServer() as server:
        ...     async with await EchoClient.connect(*server.address) as client:
        ...         await client.request("ECHO hi")
        'hi'
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, idle_timeout: float = 60.0) -> None:
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout
        self.connections = 0
        self.lines = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` the server listens on."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    async def start(self) -> None:
        """Start listening."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    async def aclose(self) -> None:
        """Stop accepting, close the open connections and wait for their handlers."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._handlers):
            task.cancel()
        await self.wait_idle()
        await server.wait_closed()

    async def wait_idle(self) -> None:
        """Wait until no connection is open (every handler has finished)."""
        await self._idle.wait()

    async def __aenter__(self) -> EchoServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def answer(self, line: str) -> tuple[str, bool]:
        """Return the reply to one request line, and whether to close the connection."""
        command, _, argument = line.partition(" ")
        if command == "ECHO":
            return argument, False
        if command == "UPPER":
            return argument.upper(), False
        if command == "STATS":
            return f"connections={self.connections} lines={self.lines}", False
        if command == "QUIT":
            return "BYE", True
        return f"ERR unknown command {command!r}", False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._idle.clear()
        self.connections += 1
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(reader.readline(), self.idle_timeout)
                except asyncio.TimeoutError:
                    writer.write(b"ERR idle timeout\n")
                    break
                if not raw:  # the client closed its side
                    break
                self.lines += 1
                reply, done = self.answer(raw.decode().rstrip("\r\n"))
                writer.write(reply.encode() + b"\n")
                await writer.drain()
                if done:
                    break
        except ConnectionError:
            pass
        finally:
            try:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
            finally:
                # Even when cancelled while closing: aclose() waits for this.
                self._handlers.discard(task)
                if not self._handlers:
                    self._idle.set()


class EchoClient:
    """One connection to an `EchoServer`; use `connect` to make one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, host: str, port: int) -> EchoClient:
        """Open a connection to the server at ``host:port``."""
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, line: str) -> str:
        """Send one request line and return the reply line.

        Raises:
            ValueError: ``line`` contains a newline.
            ConnectionError: the server closed the connection.
        """
        if "\n" in line:
            raise ValueError(f"a request is one line; got {line!r}")
        self._writer.write(line.encode() + b"\n")
        await self._writer.drain()
        return await self.read_line()

    async def read_line(self) -> str:
        """Read one line the server sent.

        Raises:
            ConnectionError: the server closed the connection.
        """
        reply = await self._reader.readline()
        if not reply:
            raise ConnectionResetError("the server closed the connection")
        return reply.decode().rstrip("\n")

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    async def __aenter__(self) -> EchoClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
