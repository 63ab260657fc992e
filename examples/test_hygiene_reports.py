"""What the hygiene checks, the deadlock detector and the watchdog report.

Each test here defines a small test case that makes a classic mistake with the
example code, runs it into a ``unittest.TestResult`` and asserts on the report
it produced, so this module itself passes. To read the reports as you would
see them in your own runs:

    python -m examples.test_hygiene_reports --show
"""

from __future__ import annotations

import asyncio
import sys
import unittest
from unittest.mock import AsyncMock

from asynctestkit import AsyncTestCase, ClockedTestCase, configure
from examples.batchwriter import BatchWriter
from examples.inventory import Database, Inventory

REPORTS: dict[str, str] = {}


def run(case: unittest.TestCase) -> tuple[str, str]:
    """Run one test into a TestResult; return ("failure" | "error", report)."""
    result = unittest.TestResult()
    case.run(result)
    problems = [("failure", text) for _, text in result.failures] + [("error", text) for _, text in result.errors]
    assert len(problems) == 1, f"expected one problem, got {problems!r}"
    REPORTS[case.id().rpartition(".")[2]] = problems[0][1]
    return problems[0]


class TestHygieneReports(unittest.TestCase):
    """A plain TestCase: it runs the inner cases, each on its own loop."""

    def test_a_leaked_task(self) -> None:
        class Leaky(ClockedTestCase):
            async def test_forgets_to_close(self) -> None:
                writer = BatchWriter(AsyncMock())
                writer.start()  # and never writer.close(): its flush task leaks

        kind, report = run(Leaky("test_forgets_to_close"))
        self.assertEqual(kind, "failure")
        self.assertIn("Tasks still pending at the end of the test", report)
        self.assertIn("BatchWriter._run()", report)  # which task
        self.assertIn("await asyncio.sleep(self.interval)", report)  # where it waits
        self.assertIn("writer.start()", report)  # where it was started

    def test_a_coroutine_never_awaited(self) -> None:
        class Forgetful(ClockedTestCase):
            async def test_forgets_await(self) -> None:
                writer = BatchWriter(AsyncMock())
                writer.add("record")
                writer.flush()  # missing `await`: nothing is written

        kind, report = run(Forgetful("test_forgets_await"))
        self.assertEqual(kind, "failure")
        self.assertIn("Coroutines never awaited (1)", report)
        self.assertRegex(report, r"coroutine '?BatchWriter.flush.* was never awaited")
        self.assertIn("writer.flush()  # missing `await`", report)  # where it was created

    def test_a_deadlock(self) -> None:
        class Stuck(ClockedTestCase):
            async def test_takes_the_lock_twice(self) -> None:
                async with Database("sqlite://:memory:") as db:
                    inventory = Inventory(db)
                    async with inventory._lock:  # asyncio.Lock is not re-entrant...
                        await inventory.restock("mugs", 1)  # ...so this waits forever

        kind, report = run(Stuck("test_takes_the_lock_twice"))
        self.assertEqual(kind, "error")  # raised at once, in no real time
        self.assertIn("DeadlockError: Deadlock: every task waits and nothing can ever wake them", report)
        self.assertIn("async with self._lock:", report)  # where the task waits
        self.assertIn("await inventory.restock(\"mugs\", 1)", report)

    def test_the_watchdog(self) -> None:
        class Hung(AsyncTestCase):  # a real loop cannot know nothing will wake it
            timeout = 0.1  # real seconds; the default is 60

            async def test_waits_for_a_reply_that_never_comes(self) -> None:
                reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
                await reply

        kind, report = run(Hung("test_waits_for_a_reply_that_never_comes"))
        self.assertEqual(kind, "failure")
        self.assertIn("ran longer than its timeout of 0.1 s (real time) and was stopped", report)
        self.assertIn("await reply", report)

    def test_an_exception_nobody_retrieved(self) -> None:
        class Unheard(ClockedTestCase):
            async def test_fire_and_forget(self) -> None:
                writer = BatchWriter(AsyncMock(side_effect=OSError("disk full")))
                writer.add("record")
                asyncio.ensure_future(writer.close())  # fire and forget: who sees the error?  # noqa: RUF006 - the lost reference is the point
                await asyncio.sleep(1)

        kind, report = run(Unheard("test_fire_and_forget"))
        self.assertEqual(kind, "failure")
        self.assertIn("Exceptions reached the loop's exception handler (1)", report)
        self.assertIn("Task exception was never retrieved", report)
        self.assertIn("OSError: disk full", report)

    def test_a_timer_left_armed(self) -> None:
        class Forgotten(ClockedTestCase):
            async def test_schedules_a_reminder(self) -> None:
                asyncio.get_running_loop().call_later(3600, print, "reminder")

        _kind, report = run(Forgotten("test_schedules_a_reminder"))
        self.assertIn("Timers still pending at the end of the test (1); cancel them", report)
        self.assertIn("due in 3600.000 s", report)

    def test_each_check_can_be_turned_off(self) -> None:
        class Relaxed(ClockedTestCase):
            check_timers = False  # for the whole class

            @configure(check_tasks=False)  # for one test
            async def test_leaves_a_task_on_purpose(self) -> None:
                BatchWriter(AsyncMock()).start()
                asyncio.get_running_loop().call_later(3600, print, "reminder")

        result = unittest.TestResult()
        Relaxed("test_leaves_a_task_on_purpose").run(result)
        self.assertTrue(result.wasSuccessful(), result.failures)


if __name__ == "__main__":
    if "--show" in sys.argv:
        sys.argv.remove("--show")
        unittest.main(exit=False)
        for name, report in REPORTS.items():
            print(f"\n{'=' * 70}\n{name}\n{'-' * 70}\n{report}")
    else:
        unittest.main()
