"""Timeouts (wait_for, asyncio.timeout) and retries with backoff, on the virtual clock.

Every test asserts the exact virtual time that passed: the backoff schedule
itself is under test, and it costs no real time.
"""

from __future__ import annotations

import asyncio
import sys
import time
import unittest
from unittest.mock import AsyncMock

from asynctestkit import ClockedTestCase, latency
from examples import retry as retry_module
from examples.retry import first_of, retry, retry_for, with_timeout


class TestRetry(ClockedTestCase):
    async def test_fails_twice_then_succeeds(self) -> None:
        fetch = AsyncMock(side_effect=[ConnectionResetError(), ConnectionResetError(), "payload"])
        with self.assertLogs("examples.retry", "WARNING") as logs:
            self.assertEqual(await retry(fetch), "payload")
        self.assertEqual(fetch.await_count, 3)
        self.assertEqual(self.clock.now, 1 + 2)  # slept 1 s, then 2 s
        self.assertIn("retrying in 2 s", logs.output[-1])

    async def test_gives_up_after_the_last_attempt(self) -> None:
        fetch = AsyncMock(side_effect=ConnectionRefusedError("db:5432"))
        with self.assertLogs("examples.retry", "WARNING"), self.assertRaises(ConnectionRefusedError):
            await retry(fetch, attempts=8)
        self.assertEqual(fetch.await_count, 8)
        self.assertEqual(self.clock.now, 1 + 2 + 4 + 8 + 16 + 30 + 30)  # capped at max_delay

    async def test_does_not_retry_other_errors(self) -> None:
        fetch = AsyncMock(side_effect=PermissionError("403"))
        with self.assertRaises(PermissionError):
            await retry(fetch)
        fetch.assert_awaited_once()
        self.assertEqual(self.clock.now, 0)

    async def test_each_attempt_takes_time_too(self) -> None:
        outcomes = iter([asyncio.TimeoutError(), asyncio.TimeoutError(), "ok"])

        async def slow_fetch() -> str:
            await asyncio.sleep(10)  # every try takes 10 s, then times out or answers
            outcome = next(outcomes)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        with self.assertLogs("examples.retry", "WARNING"):
            self.assertEqual(await retry(slow_fetch), "ok")
        self.assertEqual(self.clock.now, 10 + 1 + 10 + 2 + 10)


class TestTimeouts(ClockedTestCase):
    async def test_wait_for_gives_up_at_the_timeout(self) -> None:
        never = AsyncMock(side_effect=latency(3600, b"late"))
        self.assertEqual(await with_timeout(never, 5, default=b""), b"")
        self.assertEqual(self.clock.now, 5)

    async def test_wait_for_returns_in_time(self) -> None:
        quick = AsyncMock(side_effect=latency(4.5, b"data"))
        self.assertEqual(await with_timeout(quick, 5, default=b""), b"data")
        self.assertEqual(self.clock.now, 4.5)

    async def test_the_assertions_say_the_same(self) -> None:
        elapsed = await self.assertTimesOut(asyncio.sleep(3600), 30)
        self.assertEqual(elapsed, 30)
        self.assertEqual(await self.assertCompletesWithin(asyncio.sleep(29, "done"), 30), "done")
        self.assertEqual(self.clock.now, 30 + 29)

    @unittest.skipUnless(sys.version_info >= (3, 11), "asyncio.timeout is new in Python 3.11")
    async def test_asyncio_timeout_per_try_and_overall(self) -> None:
        mirrors = [AsyncMock(side_effect=latency(s, f"mirror {s}")) for s in (60, 20, 5)]
        self.assertEqual(await first_of(mirrors, per_try=10, overall=30), "mirror 5")
        self.assertEqual(self.clock.now, 10 + 10 + 5)

    @unittest.skipUnless(sys.version_info >= (3, 11), "asyncio.timeout is new in Python 3.11")
    async def test_asyncio_timeout_overall_deadline(self) -> None:
        mirrors = [AsyncMock(side_effect=latency(s)) for s in (60, 60, 60, 60)]
        with self.assertRaises(TimeoutError):
            await first_of(mirrors, per_try=10, overall=25)
        self.assertEqual(self.clock.now, 25)
        self.assertEqual([m.await_count for m in mirrors], [1, 1, 1, 0])


class TestDeadline(ClockedTestCase):
    # retry_for() reads `monotonic` imported from time: rebind that alias as well.
    time_targets = (retry_module,)

    async def test_stops_when_the_deadline_leaves_no_room(self) -> None:
        # Every try takes 2 s and fails, then it pauses 5 s: tries start at 0, 7, 14, ...
        fetch = AsyncMock(side_effect=latency(2, raises=ConnectionResetError))
        with self.assertRaises(ConnectionResetError):
            await retry_for(fetch, deadline=60)
        self.assertEqual(fetch.await_count, 9)  # the 9th try starts at 56 s
        self.assertEqual(self.clock.now, 58)
        self.assertEqual(time.monotonic(), 58)  # the loop and time.monotonic() agree

    async def test_succeeds_before_the_deadline(self) -> None:
        fetch = AsyncMock(side_effect=[ConnectionResetError()] * 3 + ["ok"])
        self.assertEqual(await retry_for(fetch, deadline=60), "ok")
        self.assertEqual(self.clock.now, 15)


if __name__ == "__main__":
    unittest.main()
