"""Explaining a failing seed, replaying it, and sweeping seeds over processes and machines."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest
from typing import Any, ClassVar

from asynctestkit import ClockedTestCase, VirtualClock, virtual_event_loop
from asynctestkit._testcase import _explore, _sweep
from asynctestkit._testcase._explain import ddmin
from asynctestkit._virtual._choices import Choices
from tests import _raceset
from tests._support import run_test
from tests.test_schedule import env

PY312 = sys.version_info >= (3, 12)


def failure_text(result: unittest.TestResult) -> str:
    problems = result.errors + result.failures
    assert len(problems) == 1, problems
    return problems[0][1]


def seed_of(text: str) -> str:
    found = re.search(r"(?m)^Failed under schedule seed (\d+)", text)
    assert found is not None, text
    return found.group(1)


def why(text: str) -> list[str]:
    return [line[4:] for line in text.splitlines() if line.startswith("  - ")]


class TwoTies(ClockedTestCase):
    """Fails only when two separate pairs of timers both run in the other order; noise besides."""

    explore = 200

    async def test_both_pairs_swapped(self) -> None:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        for at, names in ((1, ("a1", "b1")), (2, ("a2", "b2")), (3, ("n1", "n2", "n3"))):
            for name in names:
                loop.call_later(at, order.append, name)
        for delay in (0.5, 1.5, 2.5):
            await asyncio.sleep(delay)
        swapped = [order.index(f"b{i}") < order.index(f"a{i}") for i in (1, 2)]
        self.assertFalse(all(swapped), order)


class DdminTest(unittest.TestCase):
    def test_finds_the_needed_items(self) -> None:
        """ddmin returns exactly the items the failure needs, however many others there are."""
        calls: list[frozenset[int]] = []

        def fails(keep: frozenset[int]) -> bool:
            calls.append(keep)
            return {3, 17, 40} <= keep

        self.assertEqual(sorted(ddmin(range(50), fails)), [3, 17, 40])
        self.assertLess(len(calls), 150)

    def test_budget_bounds_the_runs(self) -> None:
        """Past its budget of runs ddmin returns what it has: a set that still fails."""
        got = ddmin(range(64), lambda keep: {1, 62} <= keep, budget=3)
        self.assertTrue({1, 62} <= set(got))


class MinimizationTest(unittest.TestCase):
    """The minimized departures still fail the test; reverting any one of them passes."""

    def test_two_needed_departures(self) -> None:
        with env():
            text = failure_text(run_test(TwoTies("test_both_pairs_swapped")))
        seed = seed_of(text)
        lines = why(text)
        self.assertEqual(len(lines), 2, text)
        for line in lines:
            self.assertRegex(line, r"^at t=[12]\.0 .+ before .+; the default order runs them the other way$")
        found = re.search(r"ASYNCTESTKIT_CHOICES=([\d,]+) python -m unittest", text)
        assert found is not None, text
        kept = found.group(1).split(",")
        self.assertEqual(len(kept), 2)
        with env(ASYNCTESTKIT_SEED=seed, ASYNCTESTKIT_CHOICES=",".join(kept)):
            self.assertFalse(run_test(TwoTies("test_both_pairs_swapped")).wasSuccessful())
        for dropped in kept:
            rest = ",".join(k for k in kept if k != dropped)
            with env(ASYNCTESTKIT_SEED=seed, ASYNCTESTKIT_CHOICES=rest):
                self.assertTrue(run_test(TwoTies("test_both_pairs_swapped")).wasSuccessful(), dropped)

    def test_replay_is_exact(self) -> None:
        """The seed's replay line gives the same failure, explanation included, 3 times of 3."""
        with env():
            text = failure_text(run_test(TwoTies("test_both_pairs_swapped")))
        seed = seed_of(text)
        error = text.split("\nFailed under")[0].splitlines()[-1]
        for _ in range(3):
            with env(ASYNCTESTKIT_SEED=seed):
                replay = failure_text(run_test(TwoTies("test_both_pairs_swapped")))
            self.assertEqual(replay.split("\nFailed under")[0].splitlines()[-1], error)

    def test_no_choices_is_the_default_order(self) -> None:
        """A seed with every departure reverted runs the default order: same steps, same times."""

        async def main() -> list[tuple[float, str]]:
            loop = asyncio.get_running_loop()
            seen: list[tuple[float, str]] = []
            for i, delay in enumerate((1, 1, 2, 2.5, 2.5)):
                loop.call_later(delay, lambda i=i: seen.append((loop.time(), f"t{i}")))
            await asyncio.sleep(3)
            return seen

        def run(seed: int | None, choices: Choices | None) -> Any:
            loop = virtual_event_loop(VirtualClock(), seed=seed) if choices is None else (
                _explore.seeded_loop(VirtualClock(), seed, {"schedule_jitter": 0.1, "schedule_eager": True}.get,
                                     None, choices)
            )
            try:
                return loop.run_until_complete(main())
            finally:
                loop.close()

        default = run(None, None)
        for seed in range(30):
            self.assertEqual(run(seed, Choices(())), default)
        self.assertGreater(len({repr(run(seed, None)) for seed in range(30)}), 2)

    def test_bad_choices_variable(self) -> None:
        """A malformed ASYNCTESTKIT_CHOICES fails the test with what it needs."""
        with env(ASYNCTESTKIT_SEED="1", ASYNCTESTKIT_CHOICES="a,b"):
            result = run_test(TwoTies("test_both_pairs_swapped"))
        self.assertRegex(
            failure_text(result), r"(?m)^ValueError: ASYNCTESTKIT_CHOICES needs the choice points to keep"
        )


class ExplanationTest(unittest.TestCase):
    """Each kind of departure is explained in one line naming the user's source lines."""

    def test_a_late_timer_names_both_lines(self) -> None:
        with env(ASYNCTESTKIT_EXPLORE="100"):
            text = failure_text(run_test(_raceset.Bugs("test_grace_period")))
        (line,) = why(text)
        self.assertRegex(
            line,
            r"^at t=10\.0 the timeout of asyncio\.wait\(\) in Server\.shutdown \(tests/_raceset\.py:\d+\) fired "
            r"before the sleep in Server\._handle \(tests/_raceset\.py:\d+\) ended \(made [\d.e-]+ s late\); "
            r"the default order runs them the other way$"
            r"|^at t=10\.0 the timeout of asyncio\.wait\(\) .+ fired before the sleep in Server\._handle .+ ended; "
            r"the default order runs them the other way$",
        )
        self.assertRegex(text, r"(?m)^Timeline, from the first step that differs")
        self.assertRegex(text, r"(?m)^  t=10\.0 +the timeout of asyncio\.wait\(\)")

    def test_a_tie_names_both_lines(self) -> None:
        class Test(TwoTies):
            schedule_jitter = 0

        with env():
            text = failure_text(run_test(Test("test_both_pairs_swapped")))
        self.assertRegex(
            why(text)[0],
            r"^at t=1\.0 the timer list\.append\(\) in TwoTies\.test_both_pairs_swapped \(tests/test_explain\.py:\d+\) "
            r"fired before the timer list\.append\(\) in .+ fired; the default order runs them the other way$",
        )
        self.assertNotIn("schedule_jitter", text)

    def test_an_outside_event_moved(self) -> None:
        class Test(ClockedTestCase):
            explore = 100

            async def test_it(self) -> None:
                loop = asyncio.get_running_loop()
                order: list[str] = []

                def at_one_second() -> None:
                    # What another thread's call does (the loop's own thread here, so that
                    # no real thread's timing can change the run): a callback marked as from
                    # outside, ready with a timer due at the same instant.
                    loop.call_soon_threadsafe(order.append, "thread")
                    loop.call_at(loop.time(), order.append, "timer")

                loop.call_later(1, at_one_second)
                await asyncio.sleep(2)
                self.assertEqual(order, ["thread", "timer"])

        with env():
            text = failure_text(run_test(Test("test_it")))
        self.assertRegex(
            why(text)[0],
            r"^at t=1\.0 the timer list\.append\(\) in (.+\.)?at_one_second \(tests/test_explain\.py:\d+\) fired before "
            r"list\.append\(\) called in from another thread ran; the default order runs the outside event first$",
        )

    @unittest.skipUnless(PY312, "eager task start is 3.12+")
    def test_eager_start(self) -> None:
        with env(ASYNCTESTKIT_EXPLORE="100"):
            text = failure_text(run_test(_raceset.EagerBugs("test_eager_start")))
        self.assertEqual(
            why(text),
            ["the loop started its tasks eagerly (as under asyncio.eager_task_factory): each new task ran up to "
             "its first await inside create_task(); the default order starts it at the loop's next iteration"],
        )

    def test_how_much_was_explored(self) -> None:
        with env(ASYNCTESTKIT_EXPLORE="100"):
            text = failure_text(run_test(_raceset.Bugs("test_grace_period")))
        found = re.search(r"found exploring 100 seeds: (\d+) run, (\d+) distinct schedules?;", text)
        assert found is not None, text
        self.assertEqual(found.group(1), seed_of(text))
        self.assertLessEqual(int(found.group(2)), int(found.group(1)))


class JitterTest(unittest.TestCase):
    class Exact(ClockedTestCase):
        explore = 50

        async def test_exact_time(self) -> None:
            await asyncio.sleep(5)
            self.assertEqual(self.clock.now, 5.0)

    def test_a_failure_comparing_times_mentions_jitter(self) -> None:
        with env():
            text = failure_text(run_test(self.Exact("test_exact_time")))
        self.assertIn("schedule_jitter = 0 on the test, or ASYNCTESTKIT_JITTER=0 for the whole suite", text)
        self.assertRegex(why(text)[0], r"made [\d.e-]+ s late")

    def test_env_jitter_zero_keeps_exact_times(self) -> None:
        with env(ASYNCTESTKIT_JITTER="0"):
            self.assertTrue(run_test(self.Exact("test_exact_time")).wasSuccessful())

    def test_bad_env_jitter(self) -> None:
        with env(ASYNCTESTKIT_JITTER="-1", ASYNCTESTKIT_SEED="1"):
            text = failure_text(run_test(self.Exact("test_exact_time")))
        self.assertRegex(text, r"(?m)^ValueError: ASYNCTESTKIT_JITTER needs a finite, non-negative fraction")


class Counted(ClockedTestCase):
    """Passes; each run writes its pid to `log` (a file: forked runs write too)."""

    log: ClassVar[str] = ""

    async def test_it(self) -> None:
        with open(self.log, "a") as out:
            out.write(f"{os.getpid()}\n")
        await asyncio.sleep(1)


class SweepTest(unittest.TestCase):
    def setUp(self) -> None:
        fd, Counted.log = tempfile.mkstemp()
        os.close(fd)
        self.addCleanup(os.unlink, Counted.log)

    def runs(self) -> list[str]:
        with open(Counted.log) as log:
            return log.read().split()

    def test_jobs_report_the_lowest_failing_seed(self) -> None:
        """However many processes sweep, the lowest failing seed is the one reported."""
        texts = {}
        for jobs in ("1", "2", "3"):
            with env(ASYNCTESTKIT_EXPLORE="100", ASYNCTESTKIT_EXPLORE_JOBS=jobs):
                texts[jobs] = failure_text(run_test(_raceset.Bugs("test_grace_period")))
        self.assertEqual({seed_of(text) for text in texts.values()}, {seed_of(texts["1"])})
        self.assertNotEqual(seed_of(texts["1"]), "1")

    def test_jobs_run_in_other_processes(self) -> None:
        if not _sweep._can_fork():  # pragma: no cover - a thread of another test still runs
            self.skipTest("another thread runs: the sweep stays in this process")
        with env(ASYNCTESTKIT_EXPLORE="20", ASYNCTESTKIT_EXPLORE_JOBS="2"):
            self.assertTrue(run_test(Counted("test_it")).wasSuccessful())
        pids = self.runs()
        self.assertEqual(len(pids), 21)  # 20 seeds, then the default order here
        self.assertEqual(len(set(pids[:-1])), 2)
        self.assertEqual(pids[-1], str(os.getpid()))

    def test_option_explore_jobs(self) -> None:
        class Test(Counted):
            explore = 6
            explore_jobs = 3

        with env():
            self.assertTrue(run_test(Test("test_it")).wasSuccessful())
        self.assertEqual(len(self.runs()), 7)

    def test_shard_takes_every_nth_seed(self) -> None:
        """ASYNCTESTKIT_EXPLORE_SHARD=i/n runs seeds i, i+n, ...; together the shards run them all."""
        with env(ASYNCTESTKIT_EXPLORE_SHARD="2/3"):
            self.assertEqual(_sweep.shard(), (2, 3))
        with env(ASYNCTESTKIT_EXPLORE="10", ASYNCTESTKIT_EXPLORE_SHARD="2/3"):
            self.assertTrue(run_test(Counted("test_it")).wasSuccessful())
        self.assertEqual(len(self.runs()), 4)  # seeds 2, 5, 8, then the default order
        seeds = set()
        for i in (1, 2, 3):
            with env(ASYNCTESTKIT_EXPLORE_SHARD=f"{i}/3"):
                first, step = _sweep.shard()
                seeds.update(range(first, 11, step))
        self.assertEqual(seeds, set(range(1, 11)))

    def test_bad_shard_and_jobs(self) -> None:
        for variable, value, pattern in (
            ("ASYNCTESTKIT_EXPLORE_SHARD", "0/3", r"ASYNCTESTKIT_EXPLORE_SHARD needs i/n, .+; got '0/3'"),
            ("ASYNCTESTKIT_EXPLORE_SHARD", "x", r"ASYNCTESTKIT_EXPLORE_SHARD needs i/n, .+; got 'x'"),
            ("ASYNCTESTKIT_EXPLORE_JOBS", "0", r"ASYNCTESTKIT_EXPLORE_JOBS needs a positive int, .+; got '0'"),
        ):
            with self.subTest(variable=variable, value=value), env(ASYNCTESTKIT_EXPLORE="3", **{variable: value}):
                self.assertRegex(failure_text(run_test(Counted("test_it"))), rf"(?m)^ValueError: {pattern}$")


SCRIPT = textwrap.dedent('''
    import asyncio
    import unittest

    from asynctestkit import ClockedTestCase


    class Race(ClockedTestCase):
        async def test_race(self):
            order = []
            loop = asyncio.get_running_loop()
            loop.call_later(5, order.append, "first")
            loop.call_later(5, order.append, "second")
            await asyncio.sleep(6)
            self.assertEqual(order, ["first", "second"])


    if __name__ == "__main__":
        unittest.main()
''')


class ReplayLineTest(unittest.TestCase):
    def test_a_script_gets_a_line_that_runs(self) -> None:
        """A test module run as a script prints `python that_script.py Class.test`, which replays it."""
        with tempfile.TemporaryDirectory() as directory:
            script = os.path.join(directory, "test_race_script.py")
            with open(script, "w") as out:
                out.write(SCRIPT)
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            environ = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTESTKIT_")}
            environ["PYTHONPATH"] = root
            first = subprocess.run(
                [sys.executable, "test_race_script.py"], cwd=directory, capture_output=True, text=True,
                env={**environ, "ASYNCTESTKIT_EXPLORE": "100"}, check=False,
            )
            found = re.search(r"(?m)^    ASYNCTESTKIT_SEED=(\d+) python (\S+) (\S+)$", first.stderr)
            assert found is not None, first.stderr
            self.assertEqual(found.group(2, 3), ("test_race_script.py", "Race.test_race"))
            again = subprocess.run(
                [sys.executable, found.group(2), found.group(3)], cwd=directory, capture_output=True,
                text=True, env={**environ, "ASYNCTESTKIT_SEED": found.group(1)}, check=False,
            )
        self.assertEqual(again.returncode, 1, again.stderr)
        self.assertRegex(again.stderr, r"(?m)^FAIL: test_race \(__main__\.Race(\.test_race)?\)$")
        self.assertIn(f"Failed under schedule seed {found.group(1)}.", again.stderr)

    def test_pytest_gets_a_node_id_line(self) -> None:
        with env(PYTEST_CURRENT_TEST="tests/test_x.py::TwoTies::test_both_pairs_swapped (call)"):
            text = failure_text(run_test(TwoTies("test_both_pairs_swapped")))
        self.assertRegex(
            text, r"(?m)^    ASYNCTESTKIT_SEED=\d+ python -m pytest 'tests/test_x\.py::TwoTies::test_both_pairs_swapped'$"
        )


def load_tests(loader: unittest.TestLoader, tests: Any, pattern: Any) -> unittest.TestSuite:
    # TwoTies and Counted are subjects, not tests of their own.
    suite = unittest.TestSuite()
    for case in (DdminTest, MinimizationTest, ExplanationTest, JitterTest, SweepTest, ReplayLineTest):
        suite.addTests(loader.loadTestsFromTestCase(case))
    return suite


if __name__ == "__main__":
    unittest.main()
