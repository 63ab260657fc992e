"""Hypothesis ``@given`` on async test methods: every example on the test's loop, judged alone."""

from __future__ import annotations

import asyncio
import contextvars
import importlib.util
import subprocess
import sys
import unittest
from typing import Any

from asynctestkit import AsyncTestCase, ClockedTestCase
from tests._runner_support import env

HAVE_HYPOTHESIS = importlib.util.find_spec("hypothesis") is not None
needs_hypothesis = unittest.skipUnless(HAVE_HYPOTHESIS, "Hypothesis is not installed (pip install hypothesis)")

if HAVE_HYPOTHESIS:
    from hypothesis import Phase, given, settings
    from hypothesis import strategies as st

    quick = settings(
        max_examples=25, database=None, deadline=None, derandomize=True,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),  # no "explain" phase: slow
    )


def tearDownModule() -> None:
    """Take out the garbage collector callback Hypothesis leaves installed for the process.

    Hypothesis times collections with a ``gc.callbacks`` entry it installs at
    its first example and never removes. A later test whose watchdog
    interrupts the loop's thread (tests/test_watchdog.py) can have that
    interrupt land inside the callback, where Python swallows it ("Exception
    ignored in gc_callback"): the rest of the suite must not depend on
    whether this module ran first.
    """
    if not HAVE_HYPOTHESIS:
        return
    import gc

    from hypothesis.internal.conjecture import junkdrawer

    for callback in list(gc.callbacks):
        if getattr(callback, "__module__", "") == junkdrawer.__name__:
            gc.callbacks.remove(callback)
    if hasattr(junkdrawer, "_gc_initialized"):
        junkdrawer._gc_initialized = False


def run(case: unittest.TestCase) -> unittest.TestResult:
    result = unittest.TestResult()
    case.run(result)
    return result


class ImportTest(unittest.TestCase):
    """The package never imports Hypothesis unless the test does."""

    def test_import_leaves_hypothesis_out(self) -> None:
        """`import asynctestkit` (and the runner) leaves 'hypothesis' out of sys.modules."""
        code = (
            "import sys, asynctestkit, asynctestkit._runner._cli; "
            "sys.exit('hypothesis' in sys.modules)"
        )
        proc = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)


@needs_hypothesis
class GivenOnAsyncTest(unittest.TestCase):
    """Examples run on the test's loop; each gets its own verdict; failures shrink."""

    def test_examples_run_on_the_tests_loop(self) -> None:
        """Every example awaits on the loop asyncSetUp ran on; context variables do not leak between them."""
        loops: list[Any] = []
        var: contextvars.ContextVar[int] = contextvars.ContextVar("var", default=0)
        seen: list[int] = []

        class Test(AsyncTestCase):
            async def asyncSetUp(self) -> None:
                loops.append(asyncio.get_running_loop())

            @quick
            @given(st.integers(1, 1000))
            async def test_it(self, n: int) -> None:
                await asyncio.sleep(0)
                loops.append(asyncio.get_running_loop())
                seen.append(var.get())
                var.set(n)

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertGreater(len(loops), 2)
        self.assertEqual({id(loop) for loop in loops}, {id(loops[0])})
        self.assertEqual(set(seen), {0})

    def test_leaked_task_fails_the_example_and_shrinks(self) -> None:
        """A task left pending fails its example; Hypothesis shrinks to the smallest such n."""
        seen: list[int] = []

        class Test(AsyncTestCase):
            @quick
            @given(st.integers(0, 100))
            async def test_it(self, n: int) -> None:
                seen.append(n)
                if n > 10:
                    asyncio.get_running_loop().create_task(asyncio.sleep(1000), name="left-behind")

        result = run(Test("test_it"))
        self.assertEqual(len(result.failures), 1, result.errors)
        text = result.failures[0][1]
        self.assertEqual(seen[-1], 11)  # the shrunk example, run last
        self.assertIn("This Hypothesis example left a mess behind", text)
        self.assertIn("Tasks still pending at the end of the example", text)
        self.assertEqual(text.count("task 'left-behind'"), 1)  # not again at the test's verdict

    def test_never_awaited_coroutine_fails_the_example(self) -> None:
        """A coroutine never awaited fails its example; the smallest is found."""
        seen: list[int] = []

        class Test(AsyncTestCase):
            @quick
            @given(st.integers(0, 100))
            async def test_it(self, n: int) -> None:
                seen.append(n)
                if n >= 5:
                    asyncio.sleep(1)  # never awaited

        result = run(Test("test_it"))
        self.assertEqual(len(result.failures), 1, result.errors)
        self.assertEqual(seen[-1], 5)
        self.assertIn("coroutine sleep() was never awaited", result.failures[0][1])

    def test_owned_tasks_are_not_the_examples(self) -> None:
        """A task the test owns (self.create_task in asyncSetUp) is not an example's leak."""

        class Test(AsyncTestCase):
            async def asyncSetUp(self) -> None:
                self.ticker = self.create_task(asyncio.sleep(3600))

            @quick
            @given(st.integers(0, 10))
            async def test_it(self, n: int) -> None:
                await asyncio.sleep(0)

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)

    def test_sync_given_still_works(self) -> None:
        """@given on a plain method of an AsyncTestCase runs as Hypothesis runs it."""
        calls: list[int] = []

        class Test(AsyncTestCase):
            @quick
            @given(st.integers())
            def test_it(self, n: int) -> None:
                calls.append(n)

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertGreater(len(calls), 1)


@needs_hypothesis
class GivenOnClockedTest(unittest.TestCase):
    """On ClockedTestCase each example starts at the same virtual time."""

    def test_each_example_starts_at_the_same_time(self) -> None:
        """Every example sees clock.now == clock_start, however long the one before slept."""
        starts: list[float] = []

        class Test(ClockedTestCase):
            clock_start = 100.0

            @quick
            @given(st.floats(0, 3600))
            async def test_it(self, seconds: float) -> None:
                starts.append(self.clock.now)
                await asyncio.sleep(seconds)
                self.assertGreaterEqual(self.clock.now, 100.0 + seconds - 1e-6)

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertGreater(len(starts), 2)
        self.assertEqual(set(starts), {100.0})

    def test_each_example_gets_the_same_budget(self) -> None:
        """The autojump budget is not shared: examples that each sleep most of it all pass."""

        class Test(ClockedTestCase):
            clock_budget = 100.0

            @quick
            @given(st.floats(50, 90))
            async def test_it(self, seconds: float) -> None:
                await asyncio.sleep(seconds)

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)

    def test_a_timer_left_fails_the_example(self) -> None:
        """A call_later left armed fails the example (and is cancelled before the next)."""
        seen: list[float] = []

        class Test(ClockedTestCase):
            @quick
            @given(st.integers(0, 50))
            async def test_it(self, n: int) -> None:
                seen.append(n)
                if n >= 3:
                    asyncio.get_running_loop().call_later(n, print)

        result = run(Test("test_it"))
        self.assertEqual(len(result.failures), 1, result.errors)
        self.assertEqual(seen[-1], 3)
        self.assertIn("Timers still pending", result.failures[0][1])


if __name__ == "__main__":
    unittest.main()
