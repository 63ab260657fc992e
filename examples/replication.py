"""A leader that replicates writes to a follower, and a follower that reconnects after failures.

The leader keeps a log of ``SET key value`` entries and serves it on a port:
a follower connects, says ``FROM n`` (how many entries it has) and gets every
entry from there on, then each new one as it is written. The follower applies
them and, if the connection fails, reconnects with backoff and resumes from
what it has.
"""

from __future__ import annotations

import asyncio
import contextlib


class Leader:
    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self._changed = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._replicate, host, port)

    def set(self, key: str, value: str) -> None:
        self.log.append((key, value))
        self._changed.set()
        self._changed = asyncio.Event()

    async def _replicate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        gone: asyncio.Future[bytes] | None = None
        try:
            position = int((await reader.readline()).split()[1])
            # The follower sends nothing more: a read ends when it goes away.
            gone = asyncio.ensure_future(reader.read())
            while not gone.done():
                changed = asyncio.ensure_future(self._changed.wait())
                for key, value in self.log[position:]:
                    writer.write(f"SET {key} {value}\n".encode())
                position = len(self.log)
                await writer.drain()
                await asyncio.wait({changed, gone}, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
        except (ConnectionError, IndexError, ValueError):
            pass
        finally:
            if gone is not None:
                gone.cancel()
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class Follower:
    def __init__(self, leader: str, port: int) -> None:
        self.leader = leader
        self.port = port
        self.data: dict[str, str] = {}
        self.applied = 0
        self.connections = 0
        self.caught_up = asyncio.Event()

    async def run(self) -> None:
        """Follow the leader forever: reconnect with backoff (0.5 s, doubling to 8 s)."""
        delay = 0.5
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.leader, self.port)
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 8)
                continue
            delay = 0.5
            self.connections += 1
            try:
                writer.write(f"FROM {self.applied}\n".encode())
                while line := await reader.readline():
                    _, key, value = line.decode().split()
                    self.data[key] = value
                    self.applied += 1
                    self.caught_up.set()
            except ConnectionError:
                pass
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

    async def wait_for(self, count: int) -> None:
        while self.applied < count:
            self.caught_up.clear()
            await self.caught_up.wait()
