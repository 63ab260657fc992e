"""Async generators and async iterators: pagination, a drift-free ticker, early exit and aclose()."""

from __future__ import annotations

import asyncio
import contextlib
import unittest
from unittest.mock import AsyncMock, call

from asynctestkit import AsyncIteratorMock, ClockedTestCase
from examples.feeds import Ticker, batched, paginate

PAGES = {
    None: {"items": [1, 2, 3], "next": "p2"},
    "p2": {"items": [4, 5], "next": "p3"},
    "p3": {"items": [6], "next": None},
}


class TestPaginate(ClockedTestCase):
    async def asyncSetUp(self) -> None:
        async def fetch_page(cursor: str | None) -> dict:
            await asyncio.sleep(0.25)  # one request
            return PAGES[cursor]

        self.fetch_page = AsyncMock(side_effect=fetch_page)

    async def test_yields_every_item_of_every_page(self) -> None:
        self.assertEqual([item async for item in paginate(self.fetch_page)], [1, 2, 3, 4, 5, 6])
        self.assertEqual(self.fetch_page.await_args_list, [call(None), call("p2"), call("p3")])
        self.assertEqual(self.clock.now, 0.75)

    async def test_fetches_lazily(self) -> None:
        async with contextlib.aclosing(paginate(self.fetch_page)) as items:
            async for item in items:
                if item == 3:
                    break
        self.fetch_page.assert_awaited_once_with(None)  # page 2 was never requested
        self.assertEqual(self.clock.now, 0.25)

    async def test_a_failing_page_propagates(self) -> None:
        self.fetch_page.side_effect = [PAGES[None], ConnectionResetError("p2")]
        items = []
        with self.assertRaises(ConnectionResetError):
            async for item in paginate(self.fetch_page):
                items.append(item)
        self.assertEqual(items, [1, 2, 3])


class TestTicker(ClockedTestCase):
    async def test_ticks_every_interval(self) -> None:
        seen = [(tick, self.clock.now) async for tick in Ticker(60, limit=3)]
        self.assertEqual(seen, [(1, 60.0), (2, 120.0), (3, 180.0)])

    async def test_a_slow_consumer_skips_ticks_instead_of_drifting(self) -> None:
        seen = []
        async for tick in Ticker(10, limit=5):
            seen.append((tick, self.clock.now))
            if tick == 2:
                await asyncio.sleep(25)  # busy until 45 s: ticks 3 and 4 are missed
        self.assertEqual(seen, [(1, 10.0), (2, 20.0), (5, 50.0)])

    async def test_a_day_of_minutes(self) -> None:
        count = 0
        async for _ in Ticker(60, limit=24 * 60):
            count += 1
        self.assertEqual(count, 1440)
        self.assertEqual(self.clock.now, 86400)


class TestBatched(ClockedTestCase):
    async def test_groups_items(self) -> None:
        source = AsyncIteratorMock(range(7))
        self.assertEqual([b async for b in batched(source, 3)], [[0, 1, 2], [3, 4, 5], [6]])
        source.assert_consumed()

    async def test_closing_early_closes_the_source(self) -> None:
        source = AsyncIteratorMock(range(100))
        async with contextlib.aclosing(batched(source, 10)) as batches:
            first = await batches.__anext__()  # anext(batches) on 3.10+
        self.assertEqual(first, list(range(10)))
        self.assertTrue(source.closed)
        self.assertEqual(source.yielded, 10)

    async def test_an_error_midway_keeps_what_was_batched(self) -> None:
        source = AsyncIteratorMock(range(5), raises=OSError("disk"), at=4)
        got = []
        with self.assertRaises(OSError):
            async for batch in batched(source, 2):
                got.append(batch)
        self.assertEqual(got, [[0, 1], [2, 3]])

    async def test_batches_of_a_slow_source(self) -> None:
        async def slow_numbers():
            for n in range(6):
                await asyncio.sleep(30)
                yield n

        stamps = [(batch, self.clock.now) async for batch in batched(slow_numbers(), 3)]
        self.assertEqual(stamps, [([0, 1, 2], 90.0), ([3, 4, 5], 180.0)])


if __name__ == "__main__":
    unittest.main()
