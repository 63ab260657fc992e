"""A client that retries across a network partition, on the virtual network (examples/kvclient.py)."""

from __future__ import annotations

import asyncio
import unittest

from asynctestkit import ClockedTestCase
from examples.kvclient import RetryingClient, serve_kv


class TestRetryAcrossPartition(ClockedTestCase):
    network = "virtual"  # every connection in memory, on the virtual clock

    async def asyncSetUp(self) -> None:
        self.network.set_link(latency=0.02)  # 20 ms each way
        with self.network.host("kv"):
            self.server = await serve_kv({"colour": "blue"}, "kv", 6379)
        with self.network.host("app"):
            self.client = RetryingClient("kv", 6379, timeout=2.0)

    async def asyncTearDown(self) -> None:
        await self.client.close()
        self.server.close()
        await self.server.wait_closed()
        await asyncio.sleep(1)  # let the server's handlers see the close

    async def test_answer_takes_one_round_trip(self) -> None:
        with self.network.host("app"):
            self.assertEqual(await self.client.get("colour"), "blue")
        self.assertAlmostEqual(self.clock_elapsed, 0.08)  # connect + request, 2 x 40 ms

    async def test_retries_until_the_partition_heals(self) -> None:
        with self.network.host("app"):
            await self.client.get("colour")
            self.network.partition("app", "kv")
            # The network heals 10 s from now, while the client is backing off.
            asyncio.get_running_loop().call_later(10, self.network.heal)
            start = self.clock.now
            self.assertEqual(await self.client.get("colour"), "blue")
        # Timeouts of 2 s and waits of 1, 2, 4 s: the 4th attempt, at 2+1+2+2+2+4 = 13 s, succeeds.
        self.assertAlmostEqual(self.clock.now - start, 13 + 0.08, places=6)
        self.assertEqual(self.client.reconnects, 2)

    async def test_gives_up_when_the_partition_lasts(self) -> None:
        with self.network.host("app"):
            await self.client.get("colour")
            self.network.partition("app", "kv")
            with self.assertRaises(asyncio.TimeoutError):
                await self.client.get("colour")
        self.network.heal()


if __name__ == "__main__":
    unittest.main()
