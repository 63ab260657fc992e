"""The tests of `NaiveRefreshingValue`, kept out of discovery: exploring them finds its race.

``test_schedule_exploration.py`` runs them. Run them yourself to see the
failure that ``explore`` finds, then replay it with the line it prints::

    python -m unittest examples.naive_refresh_checks
"""

from __future__ import annotations

import asyncio
import itertools
import unittest

from asynctestkit import ClockedTestCase
from examples.cache_refresh import NaiveRefreshingValue


class TestNaiveRefresh(ClockedTestCase):
    explore = 100

    async def test_reader_gets_the_next_version_after_the_ttl(self) -> None:
        """Once the TTL has passed, a reader gets the value fetched when it expired."""
        versions = itertools.count(1)

        async def fetch() -> int:
            return next(versions)  # the backend answers at once

        value = NaiveRefreshingValue(fetch, ttl=10)
        await value.start()
        self.addAsyncCleanup(value.aclose)
        self.assertEqual(value.get(), 1)
        await asyncio.sleep(10)
        self.assertEqual(value.get(), 2)


if __name__ == "__main__":
    unittest.main()
