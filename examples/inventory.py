"""An inventory service over an async database connection (tested in test_basics.py)."""

from __future__ import annotations

import asyncio


class OutOfStock(Exception):
    """A reservation asked for more than is in stock."""

    def __init__(self, sku: str, wanted: int, available: int) -> None:
        super().__init__(f"{sku}: wanted {wanted}, {available} in stock")
        self.sku = sku
        self.wanted = wanted
        self.available = available


class Database:
    """A stand-in for an async driver (asyncpg, aiosqlite): connect, query, close.

    Every call costs a network round trip (``latency`` seconds).
    """

    def __init__(self, url: str, *, latency: float = 0.002) -> None:
        self.url = url
        self.latency = latency
        self.connected = False
        self.queries = 0
        self._stock: dict[str, int] = {}

    async def connect(self) -> None:
        await asyncio.sleep(25 * self.latency)  # TCP + TLS + auth: many round trips
        self.connected = True

    async def close(self) -> None:
        await asyncio.sleep(self.latency)
        self.connected = False

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def get_stock(self, sku: str) -> int:
        await self._round_trip()
        return self._stock.get(sku, 0)

    async def set_stock(self, sku: str, quantity: int) -> None:
        await self._round_trip()
        self._stock[sku] = quantity

    async def _round_trip(self) -> None:
        if not self.connected:
            raise ConnectionError(f"not connected to {self.url}")
        self.queries += 1
        await asyncio.sleep(self.latency)


class Inventory:
    """Reserve and restock items; reservations of one process never oversell."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = asyncio.Lock()

    async def restock(self, sku: str, quantity: int) -> int:
        async with self._lock:
            level = await self.db.get_stock(sku) + quantity
            await self.db.set_stock(sku, level)
            return level

    async def reserve(self, sku: str, quantity: int) -> int:
        """Take ``quantity`` items out of stock; return what is left.

        Raises:
            OutOfStock: fewer than ``quantity`` items are in stock.
        """
        async with self._lock:  # read-modify-write: without the lock two buyers both win
            available = await self.db.get_stock(sku)
            if quantity > available:
                raise OutOfStock(sku, quantity, available)
            await self.db.set_stock(sku, available - quantity)
            return available - quantity
