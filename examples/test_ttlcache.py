"""A TTL cache whose clock is a default argument (``timer=time.monotonic``): time_targets."""

from __future__ import annotations

import asyncio
import unittest
from unittest.mock import AsyncMock

from asynctestkit import ClockedTestCase, latency, patch_time
from examples import ttlcache
from examples.ttlcache import TTLCache


class TestTTLCache(ClockedTestCase):
    # The default `timer=time.monotonic` was bound at import: rebind it for the test.
    time_targets = (ttlcache,)

    async def asyncSetUp(self) -> None:
        self.load = AsyncMock(side_effect=latency(0.5, {"plan": "pro"}))
        self.cache: TTLCache[str, dict[str, str]] = TTLCache(self.load, ttl=300)

    async def test_hit_within_the_ttl(self) -> None:
        await self.cache.get("user:1")
        await asyncio.sleep(299)
        await self.cache.get("user:1")
        self.load.assert_awaited_once_with("user:1")
        self.assertEqual((self.cache.hits, self.cache.misses), (1, 1))

    async def test_expires_exactly_at_the_ttl(self) -> None:
        await self.cache.get("user:1")  # loaded at 0.5 s, fresh until 300.5 s
        await asyncio.sleep(300)
        self.assertEqual(self.clock.now, 300.5)
        await self.cache.get("user:1")
        self.assertEqual(self.load.await_count, 2)

    async def test_concurrent_misses_share_one_load(self) -> None:
        results = await asyncio.gather(*(self.cache.get("user:1") for _ in range(50)))
        self.assertEqual(len(results), 50)
        self.load.assert_awaited_once()
        self.assertEqual(self.clock.now, 0.5)

    async def test_purge_over_a_day(self) -> None:
        for n in range(24):  # one new key an hour
            await self.cache.get(f"user:{n}")
            await asyncio.sleep(3600 - 0.5)
        self.assertEqual(self.clock.now, 24 * 3600)
        self.assertEqual(self.cache.purge(), 24)
        self.assertEqual(len(self.cache), 0)


class TestWithoutTargets(unittest.TestCase):
    """What patch_time rebinds, and what goes wrong without it."""

    def test_the_report_names_the_default(self) -> None:
        from asynctestkit import VirtualClock

        clock = VirtualClock(autojump=False)
        with patch_time(clock, targets=[ttlcache]) as patch:
            self.assertIn("examples.ttlcache.TTLCache.__init__() default 'timer' (time.monotonic)", patch.patched)
            cache = TTLCache(AsyncMock(), ttl=60)
            start = cache._timer()
            clock.jump(60)
            self.assertEqual(cache._timer() - start, 60)
        self.assertEqual(clock.now, 60)


if __name__ == "__main__":
    unittest.main()
