"""A producer/consumer pool over asyncio.Queue: throughput, backpressure, failures, shutdown."""

from __future__ import annotations

import asyncio
import unittest
import unittest.mock

from asynctestkit import ClockedTestCase, latency
from examples.crawler import crawl

URLS = [f"https://example.test/page/{n}" for n in range(12)]


class TestCrawler(ClockedTestCase):
    async def test_workers_share_the_load(self) -> None:
        fetch = unittest.mock.AsyncMock(side_effect=latency(2.0, b"<html></html>"))
        sizes = await crawl(URLS, fetch, workers=3)
        self.assertEqual(sizes, dict.fromkeys(URLS, 13))
        self.assertEqual(fetch.await_count, 12)
        # 12 pages, 3 at a time, 2 s each: 4 rounds.
        self.assertEqual(self.clock.now, 8.0)

    async def test_backlog_pushes_back_on_the_producer(self) -> None:
        queued_at: list[float] = []

        async def fetch(url: str) -> bytes:
            queued_at.append(asyncio.get_running_loop().time())
            await asyncio.sleep(10)
            return b"ok"

        await crawl(URLS[:6], fetch, workers=1, backlog=2)
        # One worker, 10 s a page: page n starts at 10 * n, whatever the backlog.
        self.assertEqual(queued_at, [0.0, 10.0, 20.0, 30.0, 40.0, 50.0])
        self.assertEqual(self.clock.now, 60.0)

    async def test_a_failed_fetch_does_not_stop_the_pool(self) -> None:
        async def fetch(url: str) -> bytes:
            await asyncio.sleep(1)
            if url.endswith("/3"):
                raise ConnectionResetError(url)
            return b"x" * 100

        sizes = await crawl(URLS[:5], fetch, workers=5)
        self.assertEqual(list(sizes.values()).count(-1), 1)
        self.assertEqual(sizes[URLS[3]], -1)
        self.assertEqual(self.clock.now, 1.0)

    async def test_cancelling_the_crawl_stops_its_workers(self) -> None:
        fetch = unittest.mock.AsyncMock(side_effect=latency(60.0, b""))
        crawling = self.create_task(crawl(URLS, fetch, workers=2))
        await asyncio.sleep(90)  # two rounds started, the second is half done
        crawling.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await crawling
        self.assertEqual(fetch.await_count, 4)
        self.assertEqual(self.clock.now, 90.0)
        # No worker is left behind: the hygiene checks would fail the test.


if __name__ == "__main__":
    unittest.main()
