"""Schedule exploration: a race that the default order hides, found by seeds and replayed.

`examples.cache_refresh.NaiveRefreshingValue` renews its value the instant it
expires, and its test passes on the virtual clock's one default order.
``explore = 100`` runs that test under 100 seeds, each ordering what asyncio
leaves open (here: two timers due at the same instant) its own way, and
reports the first seed under which it fails with the line that replays it.
`RefreshingValue`, the fix, passes 1,000 seeds.

`examples.shutdown.Server` gives requests in flight a grace period at
shutdown; a request and the grace period that end at the same instant race.
The failure explains the race in one line: the fewest departures from the
default order that still fail the test (found by re-running it with the
others reverted), each naming the two source lines whose order decides it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import unittest
from unittest import mock

from asynctestkit import ClockedTestCase, configure
from examples import naive_refresh_checks, shutdown_checks
from examples.cache_refresh import RefreshingValue

NAIVE_TEST = "test_reader_gets_the_next_version_after_the_ttl"


def run_naive(**environ: str) -> unittest.TestResult:
    """Run the naive value's test (explore = 100) into a fresh result, with ``environ`` set."""
    result = unittest.TestResult()
    with mock.patch.dict(os.environ, environ):
        naive_refresh_checks.TestNaiveRefresh(NAIVE_TEST).run(result)
    return result


class TestExplorationFindsTheRace(unittest.TestCase):
    def test_the_default_order_passes(self) -> None:
        """Without exploring (ASYNCTESTKIT_EXPLORE=0), the naive test passes: the race hides."""
        result = run_naive(ASYNCTESTKIT_EXPLORE="0")
        self.assertTrue(result.wasSuccessful(), result.errors)

    def test_exploring_finds_it_and_the_seed_replays_it(self) -> None:
        """explore = 100 fails the test under a seed and prints the line that replays it."""
        result = run_naive()
        self.assertEqual(len(result.errors), 1, result.failures)
        report = result.errors[0][1]
        self.assertRegex(report, r"StaleValueError: read at 10\.\d+s")
        found = re.search(
            r"Failed under schedule seed (\d+) \(found exploring 100 seeds: \d+ run, \d+ distinct "
            r"schedules?; the default order passes\)\. Replay it with:\n    ASYNCTESTKIT_SEED=(\d+) python -m unittest "
            + re.escape(f"examples.naive_refresh_checks.TestNaiveRefresh.{NAIVE_TEST}") + "$",
            report,
            re.MULTILINE,
        )
        assert found is not None, report
        seed = found.group(1)
        self.assertEqual(found.group(2), seed)
        failure = report.splitlines()
        stale = next(line for line in failure if line.startswith("examples.cache_refresh.StaleValueError"))

        # The printed seed replays it: the same failure at the same virtual instant, every time.
        for _ in range(3):
            replay = run_naive(ASYNCTESTKIT_SEED=seed)
            self.assertEqual(len(replay.errors), 1)
            self.assertIn(stale, replay.errors[0][1].splitlines())


class TestTheRaceIsExplained(unittest.TestCase):
    def run_shutdown(self, **environ: str) -> str:
        result = unittest.TestResult()
        clean = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTESTKIT_")}
        with mock.patch.dict(os.environ, {**clean, **environ}, clear=True):
            shutdown_checks.TestShutdown("test_a_request_ending_with_the_grace_period_completes").run(result)
        problems = result.failures + result.errors
        self.assertEqual(len(problems), 1 if environ else 0, problems)
        return problems[0][1] if problems else ""

    def test_the_explanation_names_both_lines(self) -> None:
        """The report says which two steps raced, where each was scheduled, and at what virtual time."""
        self.assertEqual(self.run_shutdown(), "")  # the default order passes
        report = self.run_shutdown(ASYNCTESTKIT_EXPLORE="100")
        # e.g. "at t=10.0 the timeout of asyncio.wait() in Server.shutdown (examples/shutdown.py:43)
        # fired before the sleep in Server._handle (examples/shutdown.py:27) ended (made 0.6 s late);
        # the default order runs them the other way"
        self.assertRegex(
            report,
            r"(?m)^  - at t=10\.0 the timeout of asyncio\.wait\(\) in Server\.shutdown \(examples/shutdown\.py:\d+\) "
            r"fired before the sleep in Server\._handle \(examples/shutdown\.py:\d+\) ended"
            r"( \(made [\d.e-]+ s late\))?; the default order runs them the other way$",
        )
        self.assertRegex(report, r"found exploring 100 seeds: \d+ run, \d+ distinct schedules?;")
        self.assertRegex(report, r"(?m)^Timeline, from the first step that differs from the default order's run")

        # The seed replays the failure, and so does the minimized schedule (the seed with
        # only the departures the explanation lists), when it differs.
        seed = re.search(r"(?m)^    ASYNCTESTKIT_SEED=(\d+) python -m unittest ", report)
        assert seed is not None, report
        replay = self.run_shutdown(ASYNCTESTKIT_SEED=seed.group(1))
        self.assertIn("AssertionError: Lists differ: [] != ['report']", replay)
        minimized = re.search(r"(?m)^    ASYNCTESTKIT_SEED=(\d+) ASYNCTESTKIT_CHOICES=([\d,]+) python", report)
        if minimized is not None:
            replay = self.run_shutdown(ASYNCTESTKIT_SEED=minimized.group(1), ASYNCTESTKIT_CHOICES=minimized.group(2))
            self.assertIn("AssertionError: Lists differ: [] != ['report']", replay)


class TestTheFixHoldsUnderEverySeed(ClockedTestCase):
    @configure(explore=1000)
    async def test_reader_gets_the_next_version_after_the_ttl(self) -> None:
        """Under 1,000 seeds and the default order, a reader at the expiry gets the next version."""
        versions = itertools.count(1)

        async def fetch() -> int:
            return next(versions)

        value = RefreshingValue(fetch, ttl=10)
        await value.start()
        self.addAsyncCleanup(value.aclose)
        self.assertEqual(await value.read(), 1)
        await asyncio.sleep(10)
        self.assertEqual(await value.read(), 2)
        self.assertLessEqual(self.clock.now, 11)  # at most 10% late (schedule_jitter)


if __name__ == "__main__":
    unittest.main()
