"""A keepalive client: heartbeats, dead-peer detection, reconnects with backoff (tested in test_keepalive_service.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)


class Connection(Protocol):
    async def send(self, message: str) -> None: ...
    async def recv(self) -> str: ...
    async def close(self) -> None: ...


@dataclass
class Stats:
    connects: int = 0
    failed_connects: int = 0
    pings: int = 0
    missed_pongs: int = 0
    downtime: float = 0.0  # seconds without a connection, by time.monotonic()
    outages: list[tuple[float, float]] = field(default_factory=list)  # (start, end), monotonic


class KeepaliveClient:
    """Keep a connection alive: ping every ``interval`` s, reconnect when a pong is late.

    Reconnects back off exponentially (1, 2, 4, ... up to ``max_backoff`` s).
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[Connection]],
        *,
        interval: float = 30.0,
        pong_timeout: float = 10.0,
        max_backoff: float = 60.0,
    ) -> None:
        self._connect = connect
        self.interval = interval
        self.pong_timeout = pong_timeout
        self.max_backoff = max_backoff
        self.stats = Stats()
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Run until cancelled."""
        down_since: float | None = None
        while True:
            conn = await self._reconnect()
            if down_since is not None:
                now = time.monotonic()
                self.stats.outages.append((down_since, now))
                self.stats.downtime += now - down_since
            self.connected.set()
            try:
                await self._heartbeat(conn)
            except (ConnectionError, asyncio.TimeoutError) as exc:
                log.warning("connection lost: %r", exc)
            finally:
                self.connected.clear()
                down_since = time.monotonic()
                await conn.close()

    async def _reconnect(self) -> Connection:
        delay = 1.0
        while True:
            try:
                conn = await self._connect()
            except OSError as exc:
                self.stats.failed_connects += 1
                log.info("connect failed (%r); next try in %g s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
            else:
                self.stats.connects += 1
                return conn

    async def _heartbeat(self, conn: Connection) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await conn.send("ping")
            self.stats.pings += 1
            try:
                reply = await asyncio.wait_for(conn.recv(), self.pong_timeout)
            except asyncio.TimeoutError:
                self.stats.missed_pongs += 1
                raise
            if reply != "pong":
                raise ConnectionError(f"unexpected reply {reply!r}")
