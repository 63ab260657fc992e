"""ClockedTestCase patches time for the whole test: monotonic deadlines meet asyncio.sleep."""

from __future__ import annotations

import asyncio
import threading
import time
import unittest
from typing import Any

from asynctestkit import ClockedTestCase, configure
from tests._support import run_test
from tests.timepatch_fixtures import aliases

REAL_MONOTONIC = time.monotonic
REAL_PERF_COUNTER = time.perf_counter
REAL_TIME = time.time


run = run_test


def problems(result: unittest.TestResult) -> str:
    return "\n".join(text for _, text in result.failures + result.errors)


async def retry_with_budget(attempt: Any, budget: float, backoff: float) -> int:
    """Retry ``attempt`` with a fixed backoff until ``budget`` monotonic seconds are spent."""
    deadline = time.monotonic() + budget
    tries = 0
    while True:
        tries += 1
        if await attempt():
            return tries
        if time.monotonic() + backoff > deadline:
            raise TimeoutError(f"gave up after {tries} tries")
        await asyncio.sleep(backoff)


class TestMonotonicIsVirtual(unittest.TestCase):
    """time.monotonic() and perf_counter() read the test's clock on the loop's thread."""

    def test_monotonic_and_perf_counter_follow_sleeps_exactly(self) -> None:
        """An hour of sleeps is an hour of monotonic time, equal to loop.time(), in no real time."""
        seen: dict[str, float] = {}

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                loop = asyncio.get_running_loop()
                m0, p0 = time.monotonic(), time.perf_counter()
                await asyncio.sleep(3600)
                seen["monotonic"] = time.monotonic() - m0
                seen["perf_counter"] = time.perf_counter() - p0
                seen["equal_to_loop_time"] = float(time.monotonic() == loop.time())

        real0 = REAL_MONOTONIC()
        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(seen, {"monotonic": 3600.0, "perf_counter": 3600.0, "equal_to_loop_time": 1.0})
        # The hour was virtual: it did not pass on the real clock (a liveness
        # fact, not a timing check: a real sleep would take the whole hour).
        self.assertLess(REAL_MONOTONIC() - real0, 3600.0)

    def test_time_is_patched_in_sync_setup_and_cleanups_too(self) -> None:
        """setUp, asyncSetUp, the test, tearDown and cleanups all read the same clock."""
        readings: list[tuple[str, float]] = []

        class Test(ClockedTestCase):
            clock_start = 100.0

            def setUp(self) -> None:
                readings.append(("setUp", time.monotonic()))
                self.addCleanup(lambda: readings.append(("cleanup", time.monotonic())))

            async def asyncSetUp(self) -> None:
                await asyncio.sleep(1)
                readings.append(("asyncSetUp", time.monotonic()))

            async def test_it(self) -> None:
                await asyncio.sleep(2)
                readings.append(("test", time.monotonic()))

            def tearDown(self) -> None:
                readings.append(("tearDown", time.monotonic()))

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(
            readings,
            [("setUp", 100.0), ("asyncSetUp", 101.0), ("test", 103.0), ("tearDown", 103.0), ("cleanup", 103.0)],
        )

    def test_the_real_functions_are_back_after_the_test(self) -> None:
        """After a passing and a failing test, time.* are the very same objects again."""

        class Test(ClockedTestCase):
            async def test_passes(self) -> None:
                await asyncio.sleep(1)

            async def test_fails(self) -> None:
                await asyncio.sleep(1)
                self.fail("on purpose")

        run(Test("test_passes"))
        run(Test("test_fails"))
        self.assertIs(time.monotonic, REAL_MONOTONIC)
        self.assertIs(time.perf_counter, REAL_PERF_COUNTER)
        self.assertIs(time.time, REAL_TIME)

    def test_other_threads_keep_real_time(self) -> None:
        """A worker thread (to_thread) reads real monotonic time while the test's is virtual."""
        seen: dict[str, float] = {}

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                await asyncio.sleep(10_000)
                seen["loop"] = time.monotonic()
                seen["worker"] = await asyncio.to_thread(time.monotonic)
                seen["worker_is_other_thread"] = float(
                    await asyncio.to_thread(threading.get_ident) != threading.get_ident()
                )

        before = REAL_MONOTONIC()
        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(seen["loop"], 10_000.0)
        self.assertEqual(seen["worker_is_other_thread"], 1.0)
        self.assertGreaterEqual(seen["worker"], before)
        self.assertLess(seen["worker"], REAL_MONOTONIC())


class TestDeadlinesMeetSleeps(unittest.TestCase):
    """Code that budgets with time.monotonic() and waits with asyncio.sleep runs exactly."""

    def test_retry_loop_with_a_total_time_budget(self) -> None:
        """A 60 s budget with a 7 s backoff gives up after 9 tries, at exactly 56 s."""
        seen: dict[str, Any] = {}

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                async def never() -> bool:
                    return False

                with self.assertRaisesRegex(TimeoutError, r"^gave up after 9 tries$"):
                    await retry_with_budget(never, budget=60, backoff=7)
                seen["elapsed"] = self.clock_elapsed

        started = REAL_MONOTONIC()
        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(seen["elapsed"], 56.0)
        self.assertLess(REAL_MONOTONIC() - started, 56.0)  # the retries' waits were virtual

    def test_retry_succeeds_when_the_service_comes_back(self) -> None:
        """The third try succeeds after two backoffs: 14 s of virtual time."""
        seen: dict[str, Any] = {}

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                calls = []

                async def flaky() -> bool:
                    calls.append(time.monotonic())
                    return len(calls) == 3

                seen["tries"] = await retry_with_budget(flaky, budget=60, backoff=7)
                seen["calls"] = calls

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(seen, {"tries": 3, "calls": [0.0, 7.0, 14.0]})


class TestTargetsAndWall(unittest.TestCase):
    """time_targets and time_wall reach code that took its own references to the clock."""

    def test_time_targets_rebind_aliases_for_the_test(self) -> None:
        """`from time import monotonic` and default arguments in a target see virtual time."""
        seen: dict[str, float] = {}

        class Test(ClockedTestCase):
            time_targets = ("tests.timepatch_fixtures.aliases",)

            async def test_it(self) -> None:
                cache = aliases.TTLCache(ttl=30)  # timer=time.monotonic default argument
                start = aliases.monotonic()  # module-level alias
                await asyncio.sleep(30)
                seen["alias_elapsed"] = aliases.elapsed_since(start)
                seen["cache_expired"] = float(cache.expired())

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(seen, {"alias_elapsed": 30.0, "cache_expired": 1.0})
        self.assertIs(aliases.monotonic, REAL_MONOTONIC)
        self.assertIs(aliases.TTLCache.__init__.__defaults__[0], REAL_MONOTONIC)  # type: ignore[index]

    def test_without_targets_aliases_stay_real(self) -> None:
        """Without time_targets, an alias taken at import time keeps reading real time."""
        seen: dict[str, float] = {}

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                start = aliases.monotonic()
                await asyncio.sleep(3600)
                seen["alias_elapsed"] = aliases.elapsed_since(start)

        before = REAL_MONOTONIC()
        result = run(Test("test_it"))
        outside = REAL_MONOTONIC() - before
        self.assertTrue(result.wasSuccessful(), problems(result))
        # The alias measured real time, within the run's: not the virtual hour.
        self.assertGreaterEqual(seen["alias_elapsed"], 0.0)
        self.assertLessEqual(seen["alias_elapsed"], outside)

    def test_time_wall_moves_the_wall_clock(self) -> None:
        """With time_wall, time.time() moves with the clock from the chosen start."""
        seen: dict[str, float] = {}

        class Test(ClockedTestCase):
            time_wall = 1_700_000_000.0

            async def test_it(self) -> None:
                seen["start"] = time.time()
                await asyncio.sleep(86_400)
                seen["a_day_later"] = time.time()

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(seen, {"start": 1_700_000_000.0, "a_day_later": 1_700_086_400.0})
        self.assertIs(time.time, REAL_TIME)

    def test_configure_sets_targets_for_one_test(self) -> None:
        """@configure(time_targets=...) patches the aliases for that test only."""
        seen: dict[str, float] = {}

        class Test(ClockedTestCase):
            @configure(time_targets=("tests.timepatch_fixtures.aliases",))
            async def test_targeted(self) -> None:
                start = aliases.monotonic()
                await asyncio.sleep(5)
                seen["targeted"] = aliases.elapsed_since(start)

        result = run(Test("test_targeted"))
        self.assertTrue(result.wasSuccessful(), problems(result))
        self.assertEqual(seen["targeted"], 5.0)


if __name__ == "__main__":
    unittest.main()
