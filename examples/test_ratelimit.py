"""A token bucket that reads time.monotonic(): bursts, refill, fairness, an hour of traffic."""

from __future__ import annotations

import asyncio
import time
import unittest

from asynctestkit import ClockedTestCase
from examples.ratelimit import TokenBucket


class TestTokenBucket(ClockedTestCase):
    async def test_burst_then_refill(self) -> None:
        bucket = TokenBucket(rate=2, capacity=5)
        self.assertEqual([bucket.try_acquire() for _ in range(6)], [True] * 5 + [False])
        await asyncio.sleep(0.5)  # time.monotonic() moves with the clock
        self.assertTrue(bucket.try_acquire())
        self.assertFalse(bucket.try_acquire())
        self.assertEqual(time.monotonic(), 0.5)

    async def test_refill_is_capped_at_capacity(self) -> None:
        bucket = TokenBucket(rate=10, capacity=3)
        await asyncio.sleep(3600)  # idle for an hour
        self.assertEqual(sum(bucket.try_acquire() for _ in range(10)), 3)

    async def test_acquire_waits_for_the_next_token(self) -> None:
        bucket = TokenBucket(rate=4, capacity=1)
        await bucket.acquire()
        await bucket.acquire()
        self.assertEqual(self.clock.now, 0.25)

    async def test_waiters_are_served_in_order(self) -> None:
        bucket = TokenBucket(rate=1, capacity=1)
        served: list[tuple[str, float]] = []

        async def client(name: str) -> None:
            await bucket.acquire()
            served.append((name, time.monotonic()))

        await asyncio.gather(*(client(name) for name in "abcd"))
        self.assertEqual(served, [("a", 0), ("b", 1), ("c", 2), ("d", 3)])

    async def test_an_hour_of_traffic_stays_under_the_limit(self) -> None:
        bucket = TokenBucket(rate=1, capacity=10)
        sent = 0

        async def flood() -> None:
            nonlocal sent
            while True:
                await bucket.acquire()
                sent += 1

        task = self.create_task(flood())  # owned: cancelled when the test ends
        await asyncio.sleep(3600.5)
        self.assertEqual(sent, 10 + 3600)  # the burst, then one a second
        self.assertEqual(self.clock.now, 3600.5)
        task.cancel()


if __name__ == "__main__":
    unittest.main()
