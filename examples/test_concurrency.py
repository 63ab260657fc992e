"""Concurrency: gather (also with return_exceptions) and TaskGroup with its ExceptionGroup.

A fake service answers each symbol after its own latency. On the virtual clock
the test can assert that the fetches ran concurrently: the time taken is the
slowest latency, not the sum.
"""

from __future__ import annotations

import asyncio
import sys
import unittest

from asynctestkit import ClockedTestCase
from examples.quotes import all_or_nothing, available_prices, prices


class FakeQuotes:
    """Answers after a per-symbol latency; unknown symbols fail after 1 s."""

    def __init__(self, latencies: dict[str, float]) -> None:
        self.latencies = latencies
        self.cancelled: list[str] = []

    async def price(self, symbol: str) -> float:
        try:
            await asyncio.sleep(self.latencies.get(symbol, 1.0))
        except asyncio.CancelledError:
            self.cancelled.append(symbol)
            raise
        if symbol not in self.latencies:
            raise LookupError(f"unknown symbol {symbol}")
        return 100.0 + len(symbol)


class TestGather(ClockedTestCase):
    async def asyncSetUp(self) -> None:
        self.service = FakeQuotes({"ACME": 2.0, "INITECH": 5.0, "UMBRELLA": 3.0})

    async def test_fetches_run_concurrently(self) -> None:
        result = await prices(self.service, ["ACME", "INITECH", "UMBRELLA"])
        self.assertEqual(result, {"ACME": 104.0, "INITECH": 107.0, "UMBRELLA": 108.0})
        self.assertEqual(self.clock.now, 5.0)  # max(2, 5, 3), not 2 + 5 + 3

    async def test_first_failure_propagates(self) -> None:
        fetch = asyncio.ensure_future(prices(self.service, ["INITECH", "NOPE"]))
        with self.assertRaisesRegex(LookupError, "NOPE"):
            await fetch
        self.assertEqual(self.clock.now, 1.0)  # it failed at once, at 1 s...
        # ...but gather does not cancel the others: INITECH is still being
        # fetched. Let it finish, or the hygiene checks report a leaked task.
        await asyncio.sleep(4.0)
        self.assertEqual(self.service.cancelled, [])
        self.assertEqual(self.clock.now, 5.0)

    async def test_return_exceptions_collects_failures(self) -> None:
        found, failed = await available_prices(self.service, ["ACME", "NOPE", "UMBRELLA"])
        self.assertEqual(found, {"ACME": 104.0, "UMBRELLA": 108.0})
        self.assertEqual(list(failed), ["NOPE"])
        self.assertIsInstance(failed["NOPE"], LookupError)
        self.assertEqual(self.clock.now, 3.0)


@unittest.skipUnless(sys.version_info >= (3, 11), "asyncio.TaskGroup and ExceptionGroup are new in Python 3.11")
class TestTaskGroup(ClockedTestCase):
    async def test_all_succeed(self) -> None:
        service = FakeQuotes({"ACME": 2.0, "INITECH": 5.0})
        self.assertEqual(await all_or_nothing(service, ["ACME", "INITECH"]), {"ACME": 104.0, "INITECH": 107.0})
        self.assertEqual(self.clock.now, 5.0)

    async def test_one_failure_cancels_the_rest(self) -> None:
        service = FakeQuotes({"ACME": 2.0, "INITECH": 5.0})
        with self.assertRaises(ExceptionGroup) as caught:  # noqa: F821 (3.11+)
            await all_or_nothing(service, ["ACME", "NOPE", "INITECH"])
        group = caught.exception
        # split() is the 3.10-safe spelling of `except* LookupError`.
        lookups, rest = group.split(LookupError)
        self.assertIsNotNone(lookups)
        self.assertIsNone(rest)
        self.assertEqual([str(e) for e in lookups.exceptions], ["unknown symbol NOPE"])
        # NOPE failed at 1 s: the group cancelled the two others then and there.
        self.assertCountEqual(service.cancelled, ["ACME", "INITECH"])  # in no set order
        self.assertEqual(self.clock.now, 1.0)


if __name__ == "__main__":
    unittest.main()
