"""Where AsyncTestCase must behave as IsolatedAsyncioTestCase does, beyond the step order.

debug() and doCleanups(), the event loop policy, async generators left
unfinished, how long objects live while the loop times callbacks, and the
durations unittest measures (``--durations``, 3.12+).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
import unittest
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asynctestkit import AsyncTestCase, ClockedTestCase, configure
from asynctestkit._compat import current_loop
from tests._support import only_failure, run_test

BASES = (AsyncTestCase, ClockedTestCase)


class Boom(Exception):
    pass


@contextlib.contextmanager
def gc_disabled() -> Iterator[None]:
    """Turn the cyclic garbage collector off for the block: only reference counts free objects."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class DebugThenDoCleanupsTest(unittest.TestCase):
    """After debug() raised, doCleanups() runs the cleanups left, on the test's own loop."""

    def make(self, base: type[AsyncTestCase], events: list[str]) -> type[AsyncTestCase]:
        class Test(base):  # type: ignore[valid-type, misc]
            async def asyncSetUp(self) -> None:
                self.loop = asyncio.get_running_loop()
                # A future of this loop: awaiting it on another loop raises.
                self.fut = self.loop.create_future()
                self.loop.call_soon(self.fut.set_result, "done")
                self.addAsyncCleanup(self.on_cleanup)

            async def test_fails(self) -> None:
                events.append("test")
                raise Boom("from the test")

            async def on_cleanup(self) -> None:
                events.append(f"cleanup got {await self.fut}")
                events.append(f"same loop: {asyncio.get_running_loop() is self.loop}")

        return Test

    def check(self, base: type[AsyncTestCase]) -> None:
        events: list[str] = []
        test = self.make(base, events)("test_fails")
        with self.assertRaisesRegex(Boom, r"^from the test$"):
            test.debug()
        self.assertEqual(events, ["test"])
        # Still open and current until the cleanups have run, as with IsolatedAsyncioTestCase.
        self.assertFalse(test.loop.is_closed())
        self.assertIs(current_loop(), test.loop)
        self.assertTrue(test.doCleanups())
        self.assertEqual(events, ["test", "cleanup got done", "same loop: True"])
        self.assertTrue(test.loop.is_closed())
        self.assertIsNone(current_loop())

    def test_async_cleanup_runs_on_the_same_loop(self) -> None:
        """An async cleanup awaits a future of the test's loop after debug() raised (AsyncTestCase)."""
        self.check(AsyncTestCase)

    def test_async_cleanup_runs_on_the_same_loop_clocked(self) -> None:
        """The same on ClockedTestCase; time is real again once doCleanups() ended the test."""
        real = time.monotonic
        self.check(ClockedTestCase)
        self.assertIs(time.monotonic, real)

    def test_the_verdict_still_runs_last(self) -> None:
        """A task the test leaked is still judged when doCleanups() runs: it returns False."""

        class Test(AsyncTestCase):
            async def test_fails(self) -> None:
                asyncio.get_running_loop().create_task(asyncio.Event().wait())
                raise Boom("first")

        test = Test("test_fails")
        with self.assertRaises(Boom):
            test.debug()
        self.assertFalse(test.doCleanups())
        self.assertIsNone(current_loop())

    def test_a_failing_cleanup_leaves_the_next_ones_to_doCleanups(self) -> None:
        """debug() raises the first failing cleanup; doCleanups() runs the ones before it (LIFO)."""
        events: list[str] = []

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                self.addAsyncCleanup(self.on_cleanup, "first", False)
                self.addAsyncCleanup(self.on_cleanup, "second", True)

            async def on_cleanup(self, name: str, fail: bool) -> None:
                await asyncio.sleep(0)
                events.append(name)
                if fail:
                    raise Boom(name)

        test = Test("test_it")
        with self.assertRaisesRegex(Boom, r"^second$"):
            test.debug()
        self.assertEqual(events, ["second"])
        self.assertTrue(test.doCleanups())
        self.assertEqual(events, ["second", "first"])
        self.assertIsNone(current_loop())

    def test_a_test_left_paused_ends_when_collected(self) -> None:
        """A test whose debug() raised and whose cleanups never ran is ended when it is collected."""
        loops: list[asyncio.AbstractEventLoop] = []

        class Test(AsyncTestCase):
            async def test_fails(self) -> None:
                loops.append(asyncio.get_running_loop())
                self.addAsyncCleanup(asyncio.sleep, 0)
                raise Boom

        test = Test("test_fails")
        with self.assertRaises(Boom):
            test.debug()
        del test
        gc.collect()
        self.assertTrue(loops[0].is_closed())
        self.assertIsNone(current_loop())

    def test_run_after_a_paused_debug(self) -> None:
        """run() on a test that debug() left paused first ends the paused run."""
        loops: list[asyncio.AbstractEventLoop] = []

        class Test(AsyncTestCase):
            async def test_fails(self) -> None:
                loops.append(asyncio.get_running_loop())
                if len(loops) == 1:
                    self.addAsyncCleanup(asyncio.sleep, 0)
                    raise Boom

        test = Test("test_fails")
        with self.assertRaises(Boom):
            test.debug()
        test._cleanups.clear()  # what a caller that gave up on the cleanups would do
        self.assertTrue(run_test(test).wasSuccessful())
        self.assertEqual(len(loops), 2)
        self.assertTrue(all(loop.is_closed() for loop in loops))
        self.assertIsNone(current_loop())

    def test_ctrl_c_in_debug_ends_the_test(self) -> None:
        """A KeyboardInterrupt out of debug() leaves nothing open or current."""
        loops: list[asyncio.AbstractEventLoop] = []

        class Test(AsyncTestCase):
            async def test_interrupted(self) -> None:
                loops.append(asyncio.get_running_loop())
                self.addAsyncCleanup(asyncio.sleep, 0)
                raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            Test("test_interrupted").debug()
        self.assertTrue(loops[0].is_closed())
        self.assertIsNone(current_loop())

    def test_cpython_teardown_hooks_end_the_test(self) -> None:
        """_tearDownAsyncioRunner() / _tearDownAsyncioLoop(), which CPython's own tests call, end it."""
        for name in ("_tearDownAsyncioRunner", "_tearDownAsyncioLoop"):
            with self.subTest(name=name):

                class Test(AsyncTestCase):
                    async def test_fails(self) -> None:
                        self.loop = asyncio.get_running_loop()
                        self.addAsyncCleanup(asyncio.sleep, 0)
                        raise Boom

                test = Test("test_fails")
                with self.assertRaises(Boom):
                    test.debug()
                getattr(test, name)()
                self.assertTrue(test.loop.is_closed())
                self.assertIsNone(current_loop())
                test._cleanups.clear()


class EventLoopPolicyTest(unittest.TestCase):
    """A test leaves the event loop policy as it found it (CPython checks this on 3.13+)."""

    def setUp(self) -> None:
        policy = asyncio.events._event_loop_policy  # type: ignore[attr-defined]
        self.addCleanup(setattr, asyncio.events, "_event_loop_policy", policy)

    def test_no_policy_is_created_with_a_loop_factory(self) -> None:
        """With no policy before and a loop_factory, there is none after; the loop was current during."""
        asyncio.events._event_loop_policy = None  # type: ignore[attr-defined]
        seen: list[object] = []

        class Test(AsyncTestCase):
            loop_factory = asyncio.SelectorEventLoop

            def setUp(self) -> None:
                seen.append(current_loop())

            async def test_it(self) -> None:
                seen.append(asyncio.get_running_loop())

        result = run_test(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertIs(seen[0], seen[1])
        self.assertIsNone(asyncio.events._event_loop_policy)  # type: ignore[attr-defined]

    def test_no_policy_is_left_by_a_clocked_test(self) -> None:
        """The same for ClockedTestCase's virtual loop."""
        asyncio.events._event_loop_policy = None  # type: ignore[attr-defined]

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                await asyncio.sleep(1)

        self.assertTrue(run_test(Test("test_it")).wasSuccessful())
        self.assertIsNone(asyncio.events._event_loop_policy)  # type: ignore[attr-defined]

    def test_an_existing_policy_is_kept(self) -> None:
        """A policy that existed before the test is the one after it."""
        policy = asyncio.events._get_event_loop_policy() if hasattr(  # type: ignore[attr-defined]
            asyncio.events, "_get_event_loop_policy"
        ) else asyncio.get_event_loop_policy()

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                pass

        self.assertTrue(run_test(Test("test_it")).wasSuccessful())
        self.assertIs(asyncio.events._event_loop_policy, policy)  # type: ignore[attr-defined]


class AsyncGeneratorTest(unittest.TestCase):
    """Async generators left unfinished are closed before the verdict, as asyncio.Runner does."""

    def cases(self, base: type[AsyncTestCase], closed: list[str]) -> type[AsyncTestCase]:
        async def ticks() -> AsyncIterator[int]:
            try:
                for i in range(10):
                    yield i
            finally:
                await asyncio.sleep(0)  # an async finally: closing it needs the loop
                closed.append("closed")

        class Test(base):  # type: ignore[valid-type, misc]
            async def test_dropped(self) -> None:
                gen = ticks()
                self.assertEqual(await gen.__anext__(), 0)
                del gen  # the garbage collector hook makes asyncio start an aclose() task

            async def test_kept(self) -> None:
                self.gen = ticks()
                self.assertEqual(await self.gen.__anext__(), 0)

            async def test_dropped_in_a_cleanup(self) -> None:
                self.gen = ticks()
                self.assertEqual(await self.gen.__anext__(), 0)
                # A sync cleanup: the hook's create_task(aclose()) is still queued at the verdict.
                self.addCleanup(delattr, self, "gen")

            async def test_iterated_by_a_leaked_task(self) -> None:
                async def consume() -> None:
                    async for _ in ticks():
                        await asyncio.Event().wait()

                self.consumer = asyncio.get_running_loop().create_task(consume())
                gen = ticks()
                self.assertEqual(await gen.__anext__(), 0)
                del gen
                await asyncio.sleep(0)

        return Test

    def check(self, name: str) -> None:
        for base in BASES:
            with self.subTest(base=base.__name__):
                closed: list[str] = []
                result = run_test(self.cases(base, closed)(name))
                self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
                self.assertEqual(closed, ["closed"])

    def test_a_generator_dropped_unfinished_is_no_leaked_task(self) -> None:
        """The aclose() task asyncio starts for a dropped generator runs; no "pending task" finding."""
        self.check("test_dropped")

    def test_a_generator_kept_unfinished_is_closed(self) -> None:
        """A generator the test keeps is closed (its finally runs) on the test's loop."""
        self.check("test_kept")

    def test_a_generator_dropped_in_the_last_cleanup_is_closed(self) -> None:
        """Dropped in a cleanup just before the verdict: closed too, no finding."""
        self.check("test_dropped_in_a_cleanup")

    def test_a_leaked_task_is_reported_alone(self) -> None:
        """A leaked task iterating a generator is the one finding; both generators are closed."""
        for base in BASES:
            with self.subTest(base=base.__name__):
                closed: list[str] = []
                test = self.cases(base, closed)("test_iterated_by_a_leaked_task")
                text = only_failure(self, run_test(test))
                self.assertRegex(text, r"(?m)^Tasks still pending at the end of the test")
                self.assertEqual(text.count("running "), 1, text)
                self.assertRegex(text, r"running .*consume\(\)")
                self.assertNotIn("athrow", text)
                self.assertEqual(closed, ["closed", "closed"])

    def test_an_error_while_closing_a_kept_generator_is_reported(self) -> None:
        """A generator the test keeps, whose finally raises, fails the test with that error."""

        async def bad() -> AsyncIterator[int]:
            try:
                yield 1
            finally:
                raise Boom("in finally")

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                self.gen = bad()
                await self.gen.__anext__()

        text = only_failure(self, run_test(Test("test_it")))
        self.assertRegex(
            text, r"(?m)^- an error occurred during closing of asynchronous generator <async_generator"
        )
        self.assertRegex(text, r"(?m)^  .*Boom: in finally$")

    def test_a_class_generator_outlives_each_test(self) -> None:
        """With loop_scope = "class", a generator asyncSetUpClass made is not closed after a test."""
        closed: list[str] = []

        async def ticks() -> AsyncIterator[int]:
            try:
                for i in range(10):
                    yield i
            finally:
                closed.append("closed")

        class Test(AsyncTestCase):
            loop_scope = "class"
            seen: list[int] = []

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.gen = ticks()
                cls.seen.append(await cls.gen.__anext__())

            async def test_1(self) -> None:
                self.seen.append(await self.gen.__anext__())

            async def test_2(self) -> None:
                self.seen.append(await self.gen.__anext__())

        result = unittest.TestResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(Test).run(result)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(Test.seen, [0, 1, 2])
        self.assertEqual(closed, ["closed"])  # once, with the class's loop

    def test_an_error_while_closing_is_reported(self) -> None:
        """A generator whose finally raises fails the test with that error."""

        async def bad() -> AsyncIterator[int]:
            try:
                yield 1
            finally:
                raise Boom("in finally")

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                gen = bad()
                await gen.__anext__()
                del gen

        text = only_failure(self, run_test(Test("test_it")))
        self.assertRegex(text, r"(?m)^Exceptions reached the loop's exception handler \(1\):$")
        self.assertRegex(text, r"(?m)^  .*Boom: in finally$")


async def fail() -> None:
    raise Boom("dropped")


class LifetimeTest(unittest.TestCase):
    """Timing callbacks (slow_callback_duration, on by default) keeps no object alive."""

    def test_a_dropped_failed_task_dies_at_once(self) -> None:
        """Without the gc, a failed task nobody holds is freed when dropped and reported in its test."""
        for base in BASES:
            with self.subTest(base=base.__name__):

                class Test(base):  # type: ignore[valid-type, misc]
                    alive: list[bool] = []

                    async def test_it(self) -> None:
                        task = asyncio.get_running_loop().create_task(fail())
                        await asyncio.sleep(0)  # it fails in this iteration
                        self.assertTrue(task.done())
                        ref = weakref.ref(task)
                        del task
                        self.alive.append(ref() is not None)

                with gc_disabled():
                    text = only_failure(self, run_test(Test("test_it")))
                self.assertEqual(Test.alive, [False])
                self.assertRegex(text, r"(?m)^- Task exception was never retrieved$")
                self.assertRegex(text, r"(?m)^  .*Boom: dropped$")

    def test_a_future_failed_as_the_test_ends_is_reported_in_its_test(self) -> None:
        """A future failed by a callback in the loop's last iteration is reported by its own test."""
        for base in BASES:
            with self.subTest(base=base.__name__):

                class Test(base):  # type: ignore[valid-type, misc]
                    async def test_it(self) -> None:
                        loop = asyncio.get_running_loop()
                        fut = loop.create_future()
                        # Runs in the same iteration as the callback that stops the loop.
                        loop.call_soon(fut.set_exception, Boom("lost"))

                with gc_disabled():
                    text = only_failure(self, run_test(Test("test_it")))
                self.assertRegex(text, r"(?m)^- Future exception was never retrieved$")
                self.assertRegex(text, r"(?m)^  .*Boom: lost$")


    def test_a_pending_task_lost_to_the_collector_is_a_leaked_task(self) -> None:
        """A pending task that only a cycle held, collected mid-test, is a check_tasks finding."""

        class Test(AsyncTestCase):
            slow_callback_duration = None  # a full collection may take a while

            async def test_it(self) -> None:
                asyncio.ensure_future(asyncio.Event().wait())  # noqa: RUF006 - nothing holds it
                await asyncio.sleep(0)
                gc.collect()

            @configure(check_tasks=False)
            async def test_unchecked(self) -> None:
                await self.test_it()

        text = only_failure(self, run_test(Test("test_it")))
        self.assertRegex(
            text,
            r"(?m)^Tasks destroyed while still pending \(1\): nothing but a reference cycle held them",
        )
        self.assertRegex(text, r"(?m)^- task: <Task pending name=.*Event\.wait\(\)")
        self.assertNotIn("Exceptions reached", text)
        result = run_test(Test("test_unchecked"))
        self.assertTrue(result.wasSuccessful(), result.failures + result.errors)


class SlowCallbackTimingTest(unittest.TestCase):
    """Each callback is timed on its own: the report names the one that blocked."""

    def test_the_blocking_callback_is_named_not_its_neighbours(self) -> None:
        """Of three callbacks run in one iteration, only the middle one, which blocks, is reported."""
        for base in BASES:
            with self.subTest(base=base.__name__):

                def before() -> None:
                    pass

                def block() -> None:
                    time.sleep(0.3)  # long enough for the sampler to see, under load

                def after() -> None:
                    pass

                class Test(base):  # type: ignore[valid-type, misc]
                    slow_callback_duration = 0.05
                    slow_callback_fails = True

                    async def test_it(self) -> None:
                        loop = asyncio.get_running_loop()
                        for callback in (before, block, after):
                            loop.call_soon(callback)
                        await asyncio.sleep(0)

                text = only_failure(self, run_test(Test("test_it")))
                # ", at:" and the line: where the sampler saw it, if it did.
                self.assertRegex(
                    text, r"(?m)^- .*\.block\(\) blocked the loop for \d\.\d\d\d s \(real time\)(?:, at:)?$"
                )
                self.assertEqual(text.count("blocked the loop for"), 1, text)


@unittest.skipIf(sys.version_info < (3, 12), "unittest measures durations from 3.12 on")
class DurationsTest(unittest.TestCase):
    """The durations unittest records (``--durations``) are real seconds, not virtual ones."""

    def test_a_clocked_test_has_a_real_duration(self) -> None:
        """A test that sleeps a virtual day, from a clock at 1e6 s, lasts well under a real second."""

        class Test(ClockedTestCase):
            clock_start = 1e6

            async def test_it(self) -> None:
                await asyncio.sleep(86400)

        result = unittest.TestResult()
        result.collectedDurations = []  # type: ignore[attr-defined]  # what TextTestResult sets
        before = time.perf_counter()
        Test("test_it").run(result)
        outside = time.perf_counter() - before
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        (name, elapsed), = result.collectedDurations  # type: ignore[attr-defined]
        self.assertIn("test_it", name)
        # Within the real time the run took around it (a virtual duration would be a day).
        self.assertGreaterEqual(elapsed, 0.0)
        self.assertLessEqual(elapsed, outside)

    def test_the_durations_report(self) -> None:
        """``TextTestRunner(durations=N)`` lists the test with a small, non-negative duration."""
        import io
        import re

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                await asyncio.sleep(3600)

        stream = io.StringIO()
        runner = unittest.TextTestRunner(stream=stream, durations=1, verbosity=2)
        before = time.perf_counter()
        self.assertTrue(runner.run(Test("test_it")).wasSuccessful())
        outside = time.perf_counter() - before
        match = re.search(r"(?m)^(-?\d+\.\d+)s\s+test_it", stream.getvalue())
        self.assertIsNotNone(match, stream.getvalue())
        assert match is not None
        # Within the real time the run took around it (printed to 3 decimals),
        # where a virtual duration would be an hour.
        self.assertGreaterEqual(float(match.group(1)), 0.0)
        self.assertLessEqual(float(match.group(1)), outside + 0.0005)


class ObjectsLeftTest(unittest.TestCase):
    """Nothing of a test outlives it in the toolkit's hands."""

    def test_the_test_loop_is_closed_before_the_result_hears_of_it(self) -> None:
        """By addSuccess the loop is closed and no longer current (the test ended in doCleanups)."""
        seen: list[Any] = []

        class Result(unittest.TestResult):
            def addSuccess(self, test: unittest.TestCase) -> None:
                seen.append((test.loop.is_closed(), current_loop()))  # type: ignore[attr-defined]
                super().addSuccess(test)

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                self.loop = asyncio.get_running_loop()

        Test("test_it").run(Result())
        self.assertEqual(seen, [(True, None)])


if __name__ == "__main__":
    unittest.main()
