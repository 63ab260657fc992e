"""A broadcast server under slow readers, on the virtual network (examples/ticker.py).

Flow control is real: a subscriber that stops reading fills the network's
buffers, the server's ``drain()`` waits, and the ticker drops it after its
``drain_timeout``, in virtual time, while fast subscribers keep getting ticks.
"""

from __future__ import annotations

import asyncio
import contextlib
import unittest

from asynctestkit import ClockedTestCase
from examples.ticker import Ticker


async def subscribe(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("ticker", port)


class TestSlowReaders(ClockedTestCase):
    network = "virtual"

    async def asyncSetUp(self) -> None:
        self.network.set_link(latency=0.005, bandwidth=10_000_000)  # 5 ms, 10 MB/s
        self.ticker = Ticker(interval=0.01, payload=4096, drain_timeout=1.0)
        with self.network.host("ticker"):
            await self.ticker.start("ticker", 9000)
        self.addAsyncCleanup(self.ticker.stop)

    async def close(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def test_a_slow_reader_is_dropped_and_a_fast_one_keeps_up(self) -> None:
        fast_reader, fast = await subscribe(9000)
        _slow_reader, slow = await subscribe(9000)  # never reads
        received = 0
        while self.clock_elapsed < 10:
            line = await fast_reader.readline()
            self.assertTrue(line.startswith(b"tick "))
            received += 1
        self.assertEqual(self.ticker.dropped, ["{}:{}".format(*slow.get_extra_info("sockname")[:2])])
        self.assertEqual(len(self.ticker.subscribers), 1)
        # Ticks every 10 ms for 10 s: the fast reader missed none (the tick
        # during which the slow one was dropped was late by its 1 s timeout).
        self.assertGreater(received, 850)
        await self.close(fast)
        await self.close(slow)

    async def test_a_reader_that_catches_up_is_kept(self) -> None:
        reader, writer = await subscribe(9000)
        await asyncio.sleep(0.5)  # buffers fill, but under the drain timeout
        while self.clock_elapsed < 3:
            await reader.readline()
        self.assertEqual(self.ticker.dropped, [])
        await self.close(writer)


if __name__ == "__main__":
    unittest.main()
