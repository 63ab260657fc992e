"""Assertions on tasks and loop time: pass paths, fail paths and their messages.

These run on ClockedTestCase, so waiting costs no real time; one class checks
the time assertions on the default loop too.
"""

from __future__ import annotations

import asyncio
import unittest

from asynctestkit import AsyncTestCase, ClockedTestCase


async def forever() -> None:
    await asyncio.Event().wait()


async def answer(after: float) -> int:
    await asyncio.sleep(after)
    return 42


class AssertDoneTest(ClockedTestCase):
    """assertDone(task)."""

    async def test_passes_when_done(self) -> None:
        """A finished task or future passes."""
        task = asyncio.ensure_future(answer(0))
        await task
        self.assertDone(task)
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        self.assertDone(fut)

    async def test_fails_with_where_the_task_waits(self) -> None:
        """A pending task fails, naming it and showing where it waits."""
        task = self.create_task(forever(), name="stuck")
        await asyncio.sleep(0)
        with self.assertRaisesRegex(
            AssertionError,
            r"^Expected task 'stuck' to be done\.\nIt is still pending \(1\):\n"
            r"- task 'stuck' running forever\(\)\n    waiting at \(outermost first\):\n"
            r'.*\n        await asyncio\.Event\(\)\.wait\(\)',
        ):
            self.assertDone(task)

    async def test_fails_for_a_pending_future_with_msg(self) -> None:
        """A pending future fails with its repr; msg is appended as unittest does."""
        fut = asyncio.get_running_loop().create_future()
        with self.assertRaisesRegex(
            AssertionError, r"^Expected <Future pending> to be done\.\nIt is <Future pending> : because$"
        ):
            self.assertDone(fut, msg="because")
        fut.cancel()


class AssertNotDoneTest(ClockedTestCase):
    """assertNotDone(task)."""

    async def test_passes_when_pending(self) -> None:
        """A pending task passes."""
        self.assertNotDone(self.create_task(forever()))

    async def test_fails_saying_how_it_ended(self) -> None:
        """A done task fails with its result, exception or cancellation."""
        loop = asyncio.get_running_loop()
        done = asyncio.ensure_future(answer(0), loop=loop)
        await done
        done.set_name("ok")
        with self.assertRaisesRegex(AssertionError, r"^Expected task 'ok' to be pending; it is done, result 42$"):
            self.assertNotDone(done)
        raised = loop.create_future()
        raised.set_exception(KeyError("k"))
        with self.assertRaisesRegex(
            AssertionError, r"^Expected <Future finished exception=KeyError\('k'\)> to be pending; "
                            r"it is done, raised KeyError\('k'\)$",
        ):
            self.assertNotDone(raised)
        cancelled = loop.create_future()
        cancelled.cancel()
        with self.assertRaisesRegex(AssertionError, r"^Expected <Future cancelled> to be pending; it is cancelled$"):
            self.assertNotDone(cancelled)


class AssertTimesOutTest(ClockedTestCase):
    """await assertTimesOut(awaitable, seconds)."""

    async def test_passes_and_returns_the_time_waited(self) -> None:
        """A hanging awaitable passes after exactly ``seconds`` of loop time, and is cancelled."""
        task = asyncio.ensure_future(forever())
        self.assertEqual(await self.assertTimesOut(task, 30), 30)
        self.assertTrue(task.cancelled())

    async def test_fails_when_it_completes(self) -> None:
        """An awaitable that completes in time fails, with when and with what."""
        with self.assertRaisesRegex(
            AssertionError,
            r"^Expected to time out after 10\.0 s, but it completed after 2 s \(loop time\) with result 42$",
        ):
            await self.assertTimesOut(answer(2), 10)

    async def test_bad_seconds(self) -> None:
        """Negative, infinite or non-number seconds are refused, naming the value; the coroutine is closed."""
        with self.assertRaisesRegex(
            ValueError, r"^assertTimesOut\(\) needs a finite, non-negative number of seconds; got -1$"
        ):
            await self.assertTimesOut(forever(), -1)
        with self.assertRaisesRegex(
            ValueError, r"^assertTimesOut\(\) needs a finite, non-negative number of seconds; got inf$"
        ):
            await self.assertTimesOut(forever(), float("inf"))
        with self.assertRaisesRegex(TypeError, r"^assertTimesOut\(\) needs a number of seconds; got True$"):
            await self.assertTimesOut(forever(), True)
        coro = forever()
        with self.assertRaisesRegex(TypeError, r"^assertCompletesWithin\(\) needs a number of seconds; got '1'$"):
            await self.assertCompletesWithin(coro, "1")  # type: ignore[arg-type]
        self.assertIsNone(coro.cr_frame)  # closed


class AssertCompletesWithinTest(ClockedTestCase):
    """await assertCompletesWithin(awaitable, seconds)."""

    async def test_passes_and_returns_the_result(self) -> None:
        """An awaitable done in time passes; its result is returned."""
        self.assertEqual(await self.assertCompletesWithin(answer(4), 5), 42)
        self.assertEqual(self.clock.now, 4)

    async def test_fails_showing_where_it_waited(self) -> None:
        """A late awaitable fails at the deadline with where it was waiting, then is cancelled."""
        with self.assertRaisesRegex(
            AssertionError,
            r"^Expected completion within 5\.0 s \(loop time\); it did not\.\n"
            r"At the deadline it was \(1\):\n- task '.*' running answer\(\)\n"
            r"    waiting at \(outermost first\):\n"
            r'      File ".*test_asserts\.py", line \d+, in answer\n'
            r"        await asyncio\.sleep\(after\)",
        ):
            await self.assertCompletesWithin(answer(60), 5)
        self.assertEqual(self.clock.now, 5)


class AssertEventuallyTest(ClockedTestCase):
    """await assertEventually(predicate, timeout=..., interval=...)."""

    async def test_returns_the_first_true_value(self) -> None:
        """Polls until the predicate is true, in loop time, and returns what it returned."""
        loop = asyncio.get_running_loop()
        self.assertEqual(await self.assertEventually(lambda: loop.time() >= 3 and "yes", interval=1), "yes")
        self.assertEqual(self.clock.now, 3)

    async def test_async_predicate(self) -> None:
        """A predicate returning an awaitable is awaited each time."""
        calls: list[int] = []

        async def ready() -> bool:
            calls.append(1)
            return len(calls) == 3

        self.assertIs(await self.assertEventually(ready, timeout=1, interval=0.1), True)
        self.assertEqual(len(calls), 3)

    async def test_fails_with_the_lambda_source_and_the_count(self) -> None:
        """A predicate never true fails after timeout, quoting the lambda's line and its last value."""
        with self.assertRaisesRegex(
            AssertionError,
            r"^Expected the lambda in `await self\.assertEventually\(lambda: \[\], timeout=1, interval=0\.1\)` "
            r"to become true within 1\.0 s \(loop time\); it was still \[\] after 11 checks$",
        ):
            await self.assertEventually(lambda: [], timeout=1, interval=0.1)

    async def test_fails_naming_a_function(self) -> None:
        """A named predicate is named by its qualified name; msg is appended."""

        def never() -> bool:
            return False

        with self.assertRaisesRegex(
            AssertionError,
            r"^Expected AssertEventuallyTest\.test_fails_naming_a_function\.<locals>\.never\(\) to become "
            r"true within 0\.0 s \(loop time\); it was still False after 1 checks : why$",
        ):
            await self.assertEventually(never, timeout=0, msg="why")

    async def test_bad_arguments(self) -> None:
        """A zero or negative interval and a bad timeout are refused."""
        with self.assertRaisesRegex(ValueError, r"^assertEventually\(\) needs interval > 0; got 0$"):
            await self.assertEventually(lambda: True, interval=0)
        with self.assertRaisesRegex(
            ValueError,
            r"^assertEventually\(timeout=\.\.\.\) needs a finite, non-negative number of seconds; got nan$",
        ):
            await self.assertEventually(lambda: True, timeout=float("nan"))


class DefaultLoopTimeTest(AsyncTestCase):
    """The time assertions on the default (real-time) loop, with tiny durations."""

    async def test_times_out_and_completes_within(self) -> None:
        """assertTimesOut waits ~seconds; assertCompletesWithin returns a quick result."""
        waited = await self.assertTimesOut(forever(), 0.02)
        self.assertGreaterEqual(waited, 0.02)
        self.assertEqual(await self.assertCompletesWithin(answer(0), 1), 42)
        with self.assertRaisesRegex(AssertionError, r"^Expected completion within 0\.01 s"):
            await self.assertCompletesWithin(answer(5), 0.01)

    async def test_eventually(self) -> None:
        """assertEventually polls in real time too."""
        flag: list[bool] = []
        asyncio.get_running_loop().call_later(0.02, flag.append, True)
        self.assertEqual(await self.assertEventually(lambda: flag, timeout=1, interval=0.005), [True])


if __name__ == "__main__":
    unittest.main()
