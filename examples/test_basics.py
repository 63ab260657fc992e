"""Basic async tests: async setup and teardown, async resources, exceptions.

What pytest-asyncio users write as async fixtures is ``asyncSetUp`` plus
``enterAsyncContext`` (the resource is closed as a cleanup, however the test
ends) or ``addAsyncCleanup``.
"""

from __future__ import annotations

import asyncio
import unittest

from asynctestkit import AsyncTestCase, ClockedTestCase
from examples.inventory import Database, Inventory, OutOfStock


class TestInventory(ClockedTestCase):
    """On the virtual clock: the database's latency costs no real time, and is exact."""

    def setUp(self) -> None:
        # Sync setup runs first, on the test's loop (it is current already).
        self.db = Database("postgres://db.test/shop", latency=0.002)
        self.events: list[str] = []

    async def asyncSetUp(self) -> None:
        # An "async fixture": entered now, exited (db.close()) as a cleanup.
        await self.enterAsyncContext(self.db)
        self.inventory = Inventory(self.db)
        await self.inventory.restock("espresso-beans", 10)
        self.addAsyncCleanup(self.record, "cleanup")  # cleanups may be async too

    async def asyncTearDown(self) -> None:
        self.events.append("asyncTearDown")
        self.assertTrue(self.db.connected)  # teardown runs before the cleanups

    async def record(self, event: str) -> None:
        self.events.append(event)
        # Cleanups run last-in first-out: ours before the database closes.
        self.assertEqual(self.events, ["asyncTearDown", "cleanup"])
        self.assertTrue(self.db.connected)

    async def test_setup_ran_on_the_virtual_clock(self) -> None:
        # connect: 25 round trips (0.05 s); restock: a read and a write (0.004 s).
        # Sums of decimal fractions are floats: compare them to the microsecond.
        self.assertAlmostEqual(self.clock.now, 0.054, places=6)
        self.assertTrue(self.db.connected)

    async def test_reserve(self) -> None:
        left = await self.inventory.reserve("espresso-beans", 3)
        self.assertEqual(left, 7)
        self.assertEqual(await self.db.get_stock("espresso-beans"), 7)
        self.assertAlmostEqual(self.clock.now, 0.054 + 0.006, places=6)

    async def test_out_of_stock(self) -> None:
        with self.assertRaises(OutOfStock) as caught:
            await self.inventory.reserve("espresso-beans", 11)
        self.assertEqual((caught.exception.wanted, caught.exception.available), (11, 10))

    async def test_concurrent_buyers_never_oversell(self) -> None:
        buyers = [self.inventory.reserve("espresso-beans", 4) for _ in range(3)]
        results = await asyncio.gather(*buyers, return_exceptions=True)
        self.assertEqual(results[:2], [6, 2])
        self.assertIsInstance(results[2], OutOfStock)
        # The lock serialises the buyers: 2 + 2 + 1 round trips after setup.
        self.assertAlmostEqual(self.clock.now, 0.054 + 0.010, places=6)

    async def test_queries_fail_after_close(self) -> None:
        await self.db.close()
        with self.assertRaisesRegex(ConnectionError, "not connected"):
            await self.inventory.reserve("espresso-beans", 1)
        await self.db.connect()  # the cleanup closes it again


class TestOnARealLoop(AsyncTestCase):
    """AsyncTestCase runs on the platform's real event loop; nothing here sleeps."""

    async def asyncSetUp(self) -> None:
        self.db = await self.enterAsyncContext(Database("sqlite://:memory:", latency=0))

    async def test_restock_then_reserve(self) -> None:
        inventory = Inventory(self.db)
        await inventory.restock("filter-papers", 100)
        self.assertEqual(await inventory.reserve("filter-papers", 40), 60)
        self.assertEqual(self.db.queries, 4)

    def test_a_sync_test_may_live_beside_async_ones(self) -> None:
        self.assertEqual(str(OutOfStock("cups", 2, 1)), "cups: wanted 2, 1 in stock")


if __name__ == "__main__":
    unittest.main()
