"""AsyncTestCase and ClockedTestCase: lifecycle, loop, version differences, helpers.

Each feature is tested the way CPython tests IsolatedAsyncioTestCase
(Lib/test/test_unittest/test_async_case.py): an inner test class records
what happens into ``events`` and runs into a ``unittest.TestResult``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import os
import re
import sys
import unittest
import warnings
from time import monotonic as bound_monotonic  # an alias patch_time rebinds only by target
from typing import Any
from unittest import mock

import asynctestkit
from asynctestkit import AsyncTestCase, ClockedTestCase, configure, virtual_event_loop
from asynctestkit._compat import current_loop
from asynctestkit._testcase import _case
from tests._support import assert_refused, only_failure, run_test

PY311 = sys.version_info >= (3, 11)
var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


run = run_test


async def forever_event() -> None:
    await asyncio.Event().wait()


class _Resource:
    def close(self) -> None:
        """A sync method that create_autospec copies."""


class LifecycleTest(unittest.TestCase):
    """The stdlib lifecycle, step by step, on every version."""

    def test_full_cycle_order(self) -> None:
        """setUp, asyncSetUp, the test, asyncTearDown, tearDown, then cleanups LIFO, async ones too."""
        events: list[str] = []

        class Test(AsyncTestCase):
            def setUp(self) -> None:
                events.append("setUp")
                self.addCleanup(events.append, "cleanup sync (setUp)")

            async def asyncSetUp(self) -> None:
                events.append("asyncSetUp")
                self.addAsyncCleanup(self.on_cleanup, "cleanup async (asyncSetUp)")

            async def test_it(self) -> None:
                events.append("test")
                self.addAsyncCleanup(self.on_cleanup, "cleanup async (test)")
                self.addCleanup(events.append, "cleanup sync (test)")

            async def asyncTearDown(self) -> None:
                events.append("asyncTearDown")

            def tearDown(self) -> None:
                events.append("tearDown")

            async def on_cleanup(self, what: str) -> None:
                await asyncio.sleep(0)
                events.append(what)

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(events, [
            "setUp", "asyncSetUp", "test", "asyncTearDown", "tearDown",
            "cleanup sync (test)", "cleanup async (test)",
            "cleanup async (asyncSetUp)", "cleanup sync (setUp)",
        ])

    def test_failure_still_tears_down(self) -> None:
        """A failing test still runs asyncTearDown, tearDown and cleanups, and is reported."""
        events: list[str] = []

        class Test(AsyncTestCase):
            async def asyncSetUp(self) -> None:
                self.addAsyncCleanup(self.on_cleanup)

            async def test_it(self) -> None:
                events.append("test")
                self.fail("boom")

            async def asyncTearDown(self) -> None:
                events.append("asyncTearDown")

            def tearDown(self) -> None:
                events.append("tearDown")

            async def on_cleanup(self) -> None:
                events.append("cleanup")

        text = only_failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^AssertionError: boom$")
        self.assertEqual(events, ["test", "asyncTearDown", "tearDown", "cleanup"])

    def test_failure_traceback_points_at_the_test(self) -> None:
        """The failure's traceback shows the test's line, not asyncio's or asynctestkit's frames."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                await asyncio.sleep(0)
                self.assertEqual(1, 2)

        text = only_failure(self, run(Test("test_it")))
        self.assertIn("self.assertEqual(1, 2)", text)
        # Compare the frames' files with directories, not the text with a name: the checkout
        # itself may live in a directory called "asynctestkit".
        dirs = {os.path.dirname(os.path.abspath(path)) for path in re.findall(r'(?m)^  File "(.*)", line \d+', text)}
        self.assertEqual(dirs, {os.path.dirname(os.path.abspath(__file__))}, text)
        self.assertNotIn(os.path.dirname(os.path.abspath(asynctestkit.__file__)), dirs)

    def test_error_in_async_set_up_skips_test_but_runs_cleanups(self) -> None:
        """An error in asyncSetUp is the test's error; the test body and tearDown do not run."""
        events: list[str] = []

        class Test(AsyncTestCase):
            async def asyncSetUp(self) -> None:
                self.addCleanup(events.append, "cleanup")
                raise ValueError("set-up failed")

            async def test_it(self) -> None:
                events.append("test")

            def tearDown(self) -> None:
                events.append("tearDown")

        result = run(Test("test_it"))
        self.assertEqual(len(result.errors), 1)
        self.assertRegex(result.errors[0][1], r"(?m)^ValueError: set-up failed$")
        self.assertEqual(events, ["cleanup"])

    def test_contextvars_flow_from_set_up_to_cleanups(self) -> None:
        """A context variable set in setUp is seen in asyncSetUp, the test, tearDown and cleanups."""
        events: list[str] = []

        class Test(AsyncTestCase):
            def setUp(self) -> None:
                var.set("setUp")
                self.addCleanup(lambda: events.append(f"sync cleanup sees {var.get()}"))

            async def asyncSetUp(self) -> None:
                events.append(f"asyncSetUp sees {var.get()}")
                var.set("asyncSetUp")
                self.addAsyncCleanup(self.on_cleanup)

            async def test_it(self) -> None:
                events.append(f"test sees {var.get()}")
                var.set("test")

            async def asyncTearDown(self) -> None:
                events.append(f"asyncTearDown sees {var.get()}")

            def tearDown(self) -> None:
                events.append(f"tearDown sees {var.get()}")

            async def on_cleanup(self) -> None:
                events.append(f"async cleanup sees {var.get()}")

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(events, [
            "asyncSetUp sees setUp", "test sees asyncSetUp", "asyncTearDown sees test",
            "tearDown sees test", "async cleanup sees test", "sync cleanup sees test",
        ])
        self.assertEqual(var.get(), "unset")  # nothing leaked into the caller's context

    def test_debug_raises_the_first_error(self) -> None:
        """debug() runs the steps without a result and raises the test's error itself."""
        events: list[str] = []

        class Test(AsyncTestCase):
            async def asyncSetUp(self) -> None:
                events.append("asyncSetUp")

            async def test_fails(self) -> None:
                events.append("test")
                raise ValueError("first")

            async def test_passes(self) -> None:
                self.addAsyncCleanup(self.on_cleanup)

            async def on_cleanup(self) -> None:
                events.append("cleanup")

        failing = Test("test_fails")
        with self.assertRaisesRegex(ValueError, r"^first$"):
            failing.debug()
        self.assertEqual(events, ["asyncSetUp", "test"])
        failing.doCleanups()
        self.assertIsNone(current_loop())
        Test("test_passes").debug()
        self.assertEqual(events, ["asyncSetUp", "test", "asyncSetUp", "cleanup"])
        self.assertIsNone(current_loop())

    def test_debug_of_a_skipped_test_raises_skip(self) -> None:
        """debug() of a skipped test raises SkipTest and makes no loop."""

        class Test(AsyncTestCase):
            @unittest.skip("not today")
            async def test_it(self) -> None:
                raise AssertionError("unreachable")

        with self.assertRaisesRegex(unittest.SkipTest, r"^not today$"):
            Test("test_it").debug()

    def test_subtest_failures_are_reported(self) -> None:
        """Each failing subTest is a failure of its own; the passing ones are not."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                for i in range(4):
                    with self.subTest(i=i):
                        await asyncio.sleep(0)
                        self.assertEqual(i % 2, 0)

        result = run(Test("test_it"))
        self.assertEqual(len(result.failures), 2)
        self.assertEqual([str(f[0]) for f in result.failures], [
            "test_it (tests.test_case.LifecycleTest.test_subtest_failures_are_reported."
            "<locals>.Test" + (".test_it" if sys.version_info >= (3, 11) else "") + ") (i=1)",
            "test_it (tests.test_case.LifecycleTest.test_subtest_failures_are_reported."
            "<locals>.Test" + (".test_it" if sys.version_info >= (3, 11) else "") + ") (i=3)",
        ])

    def test_skips(self) -> None:
        """@skip runs no step; skipTest() inside the async test skips it after asyncSetUp."""
        events: list[str] = []

        class Test(AsyncTestCase):
            async def asyncSetUp(self) -> None:
                events.append("asyncSetUp")

            @unittest.skip("decorated")
            async def test_decorated(self) -> None:
                events.append("decorated")

            async def test_inside(self) -> None:
                await asyncio.sleep(0)
                self.skipTest("inside")

        result = run(Test("test_decorated"))
        self.assertEqual([why for _, why in result.skipped], ["decorated"])
        self.assertEqual(events, [])
        result = run(Test("test_inside"))
        self.assertEqual([why for _, why in result.skipped], ["inside"])
        self.assertEqual(events, ["asyncSetUp"])

    def test_expected_failure_and_unexpected_success(self) -> None:
        """@expectedFailure counts a failing async test as expected, a passing one as unexpected."""

        class Test(AsyncTestCase):
            @unittest.expectedFailure
            async def test_fails(self) -> None:
                await asyncio.sleep(0)
                self.fail("as expected")

            @unittest.expectedFailure
            async def test_passes(self) -> None:
                await asyncio.sleep(0)

        result = run(Test("test_fails"))
        self.assertEqual(len(result.expectedFailures), 1)
        self.assertTrue(result.wasSuccessful())
        result = run(Test("test_passes"))
        self.assertEqual(len(result.unexpectedSuccesses), 1)
        self.assertFalse(result.wasSuccessful())

    def test_keyboard_interrupt_propagates_and_cleans_up(self) -> None:
        """Ctrl-C in an async test propagates out of run(); the loop is closed and no longer current."""
        loops: list[asyncio.AbstractEventLoop] = []

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                loops.append(asyncio.get_running_loop())
                await asyncio.sleep(0)
                raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            run(Test("test_it"))
        self.assertTrue(loops[0].is_closed())
        self.assertIsNone(current_loop())

    def test_cancelled_error_in_test_is_an_error(self) -> None:
        """CancelledError raised by the test is reported, and the run goes on."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                raise asyncio.CancelledError

        result = run(Test("test_it"))
        self.assertFalse(result.wasSuccessful())
        self.assertEqual(len(result.errors), 1)
        self.assertIn("CancelledError", result.errors[0][1])

    @unittest.skipUnless(PY311, "3.10's TestCase does not warn about returned values")
    def test_returning_a_value_is_deprecated(self) -> None:
        """An async test returning non-None warns, as TestCase does on 3.11+."""

        class Test(AsyncTestCase):
            async def test_it(self) -> int:
                return 1

        with self.assertWarnsRegex(DeprecationWarning, r"^It is deprecated to return a value that is not None"):
            result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful())


class LoopTest(unittest.TestCase):
    """The test's loop: current during every step, gone afterwards, made by loop_factory."""

    def test_loop_is_current_in_every_step_and_not_after(self) -> None:
        """get_event_loop() in sync steps and get_running_loop() in async ones give the test's loop."""
        seen: list[tuple[str, asyncio.AbstractEventLoop]] = []

        class Test(AsyncTestCase):
            def setUp(self) -> None:
                seen.append(("setUp", asyncio.get_event_loop()))
                self.addCleanup(lambda: seen.append(("cleanup", asyncio.get_event_loop())))

            async def asyncSetUp(self) -> None:
                seen.append(("asyncSetUp", asyncio.get_running_loop()))

            async def test_it(self) -> None:
                seen.append(("test", asyncio.get_running_loop()))

            async def asyncTearDown(self) -> None:
                seen.append(("asyncTearDown", asyncio.get_running_loop()))

            def tearDown(self) -> None:
                seen.append(("tearDown", asyncio.get_event_loop()))

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(
            [step for step, _ in seen],
            ["setUp", "asyncSetUp", "test", "asyncTearDown", "tearDown", "cleanup"],
        )
        loop = seen[0][1]
        self.assertTrue(all(other is loop for _, other in seen))
        self.assertTrue(loop.is_closed())
        self.assertIsNone(current_loop())

    def test_previous_current_loop_is_restored(self) -> None:
        """A loop that was current before the test is current again after it."""
        outer = asyncio.SelectorEventLoop()
        self.addCleanup(outer.close)
        asyncio.set_event_loop(outer)
        self.addCleanup(asyncio.set_event_loop, None)

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                self.assertIsNot(asyncio.get_running_loop(), outer)

        self.assertTrue(run(Test("test_it")).wasSuccessful())
        self.assertIs(current_loop(), outer)

    def test_policy_api_is_never_called(self) -> None:
        """No get/set_event_loop_policy, no new_event_loop: the API 3.14 deprecates stays unused."""
        trap = mock.Mock(side_effect=AssertionError("policy API called"))

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                await asyncio.sleep(0)

        with mock.patch.object(asyncio, "get_event_loop_policy", trap), \
                mock.patch.object(asyncio, "set_event_loop_policy", trap), \
                mock.patch.object(asyncio, "new_event_loop", trap):
            result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors)
        trap.assert_not_called()

    def test_loop_factory_as_a_class(self) -> None:
        """loop_factory = a loop class gives each test a new instance of it."""
        loops: list[asyncio.AbstractEventLoop] = []

        class MyLoop(asyncio.SelectorEventLoop):
            pass

        class Test(AsyncTestCase):
            loop_factory = MyLoop

            async def test_a(self) -> None:
                loops.append(asyncio.get_running_loop())

            async def test_b(self) -> None:
                loops.append(asyncio.get_running_loop())

        self.assertTrue(run(Test("test_a")).wasSuccessful())
        self.assertTrue(run(Test("test_b")).wasSuccessful())
        self.assertEqual([type(loop) for loop in loops], [MyLoop, MyLoop])
        self.assertIsNot(loops[0], loops[1])

    def test_loop_factory_as_a_plain_function_or_staticmethod(self) -> None:
        """A plain function is not bound as a method; a staticmethod works too."""
        made: list[str] = []

        def make_loop() -> asyncio.AbstractEventLoop:
            made.append("function")
            return asyncio.SelectorEventLoop()

        class Plain(AsyncTestCase):
            loop_factory = make_loop

            async def test_it(self) -> None:
                pass

        class Static(AsyncTestCase):
            @staticmethod
            def loop_factory() -> asyncio.AbstractEventLoop:
                made.append("staticmethod")
                return virtual_event_loop()

            async def test_it(self) -> None:
                self.assertTrue(hasattr(asyncio.get_running_loop(), "clock"))

        self.assertTrue(run(Plain("test_it")).wasSuccessful())
        result = run(Static("test_it"))
        self.assertTrue(result.wasSuccessful(), result.failures)
        self.assertEqual(made, ["function", "staticmethod"])

    def test_bad_loop_factory_is_the_tests_error(self) -> None:
        """A loop_factory that is not callable (set after the class was made), or returns no loop, errors the test."""

        class NotCallable(AsyncTestCase):
            async def test_it(self) -> None:
                pass

        NotCallable.loop_factory = 42  # type: ignore[assignment]  # past the check at class creation

        class NoLoop(AsyncTestCase):
            @staticmethod
            def loop_factory() -> Any:
                return "a string"

            async def test_it(self) -> None:
                pass

        result = run(NotCallable("test_it"))
        self.assertRegex(
            result.errors[0][1], r"(?m)^TypeError: loop_factory must be a class or a function; got 42$"
        )
        result = run(NoLoop("test_it"))
        self.assertRegex(
            result.errors[0][1],
            r"(?m)^TypeError: loop_factory must return a new event loop; .* returned 'a string'$",
        )
        self.assertIsNone(current_loop())

    def test_clocked_test_case_refuses_a_loop_factory(self) -> None:
        """ClockedTestCase makes its own virtual loop and says so."""

        message = r"^Test sets loop_factory, but ClockedTestCase makes its own virtual loop"
        with assert_refused(self, TypeError, message):

            class Test(ClockedTestCase):  # refused when the class is made: each test errors
                loop_factory = asyncio.SelectorEventLoop

        class Later(ClockedTestCase):
            async def test_it(self) -> None:
                pass

        Later.loop_factory = asyncio.SelectorEventLoop  # set after: refused when the test starts
        result = run(Later("test_it"))
        self.assertRegex(
            result.errors[0][1],
            r"(?m)^TypeError: Later sets loop_factory, but ClockedTestCase makes its own virtual loop",
        )

    def test_debug_attribute_switches_debug_mode(self) -> None:
        """`debug = True` turns asyncio's debug mode on; off by default; @configure per test."""
        modes: list[bool] = []

        class Off(AsyncTestCase):
            async def test_it(self) -> None:
                modes.append(asyncio.get_running_loop().get_debug())

            @configure(debug=True)
            async def test_on(self) -> None:
                modes.append(asyncio.get_running_loop().get_debug())

        class On(AsyncTestCase):
            debug = True

            async def test_it(self) -> None:
                modes.append(asyncio.get_running_loop().get_debug())

        run(Off("test_it"))
        run(Off("test_on"))
        run(On("test_it"))
        On("test_it").debug()  # the method is still there
        self.assertEqual(modes, [False, True, True, True])

    def test_no_loop_for_a_skipped_test(self) -> None:
        """A skipped test makes no loop: loop_factory is not called."""
        factory = mock.Mock(side_effect=asyncio.SelectorEventLoop)

        class Test(AsyncTestCase):
            loop_factory = factory

            @unittest.skip("no")
            async def test_it(self) -> None:
                pass

        run(Test("test_it"))
        factory.assert_not_called()


class VersionDifferencesTest(unittest.TestCase):
    """What IsolatedAsyncioTestCase does differently across versions, flattened."""

    def test_add_async_cleanup_awaits_what_a_plain_function_returns(self) -> None:
        """A plain function returning an awaitable is awaited; stdlib 3.11+ drops it (gh-101486)."""
        events: list[str] = []

        async def close() -> None:
            events.append("awaited")

        def returns_awaitable() -> Any:
            return close()

        def body(self: unittest.IsolatedAsyncioTestCase) -> Any:
            async def test_it() -> None:
                self.addAsyncCleanup(returns_awaitable)
            return test_it()

        class Ours(AsyncTestCase):
            def test_it(self) -> Any:
                return body(self)

        class Stdlib(unittest.IsolatedAsyncioTestCase):
            def test_it(self) -> Any:
                return body(self)

        self.assertTrue(run(Ours("test_it")).wasSuccessful())
        self.assertEqual(events, ["awaited"])
        events.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # stdlib's dropped coroutine
            run(Stdlib("test_it"))
            gc.collect()
        self.assertEqual(events, [] if PY311 else ["awaited"])

    def test_add_cleanup_of_an_autospecced_sync_method(self) -> None:
        """addCleanup(autospecced sync method) works; stdlib 3.11+ errors (gh-85794)."""
        events: list[str] = []

        def body(self: unittest.TestCase) -> None:
            res = mock.create_autospec(_Resource, instance=True)
            res.close.side_effect = lambda: events.append("closed")
            self.addCleanup(res.close)

        class Ours(AsyncTestCase):
            async def test_it(self) -> None:
                body(self)

        class Stdlib(unittest.IsolatedAsyncioTestCase):
            async def test_it(self) -> None:
                body(self)

        self.assertTrue(run(Ours("test_it")).wasSuccessful())
        self.assertEqual(events, ["closed"])
        events.clear()
        result = run(Stdlib("test_it"))
        # 3.11+ calls the mock (iscoroutinefunction() is true for it), then hands its None to
        # the runner, which raises (ValueError up to 3.13, TypeError from 3.14: not pinned).
        self.assertEqual(events, ["closed"])
        if PY311:
            self.assertEqual((len(result.errors), len(result.failures)), (1, 0), result.errors)
        else:
            self.assertTrue(result.wasSuccessful())

    def test_enter_context_and_enter_async_context_on_every_version(self) -> None:
        """enterContext/enterAsyncContext exist (3.10's stdlib has neither) and exit as cleanups."""
        events: list[str] = []

        @contextlib.contextmanager
        def sync_cm() -> Any:
            events.append("enter")
            yield "sync value"
            events.append("exit")

        @contextlib.asynccontextmanager
        async def async_cm() -> Any:
            events.append("aenter")
            yield "async value"
            await asyncio.sleep(0)
            events.append("aexit")

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                self.assertEqual(self.enterContext(sync_cm()), "sync value")
                self.assertEqual(await self.enterAsyncContext(async_cm()), "async value")
                events.append("test")

        self.assertEqual(
            hasattr(unittest.IsolatedAsyncioTestCase, "enterAsyncContext"), PY311
        )
        self.assertTrue(run(Test("test_it")).wasSuccessful())
        self.assertEqual(events, ["enter", "aenter", "test", "aexit", "exit"])

    def test_enter_context_rejects_what_is_not_a_context_manager(self) -> None:
        """A non-context-manager is a TypeError naming its type and the protocol."""

        class Test(AsyncTestCase):
            async def test_sync(self) -> None:
                self.enterContext(object())  # type: ignore[arg-type]

            async def test_async(self) -> None:
                await self.enterAsyncContext(object())  # type: ignore[arg-type]

        result = run(Test("test_sync"))
        self.assertRegex(
            result.errors[0][1],
            r"(?m)^TypeError: 'builtins.object' object does not support the context manager protocol$",
        )
        result = run(Test("test_async"))
        self.assertRegex(
            result.errors[0][1],
            r"(?m)^TypeError: 'builtins.object' object does not support the asynchronous "
            r"context manager protocol$",
        )


class CreateTaskTest(unittest.TestCase):
    """self.create_task(): a task the test owns."""

    def test_pending_task_is_cancelled_and_awaited(self) -> None:
        """A task still pending at the end is cancelled, awaited, and not reported as a leak."""
        events: list[str] = []

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                async def worker() -> None:
                    try:
                        await asyncio.Event().wait()
                    finally:
                        await asyncio.sleep(0)
                        events.append("worker cleaned up")

                task = self.create_task(worker(), name="worker")
                self.assertEqual(task.get_name(), "worker")
                await asyncio.sleep(0)

            async def asyncTearDown(self) -> None:
                events.append("asyncTearDown")

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.failures)
        self.assertEqual(events, ["asyncTearDown", "worker cleaned up"])

    def test_task_that_raised_fails_the_test_with_its_traceback(self) -> None:
        """An exception nobody retrieved fails the test, with the line that raised it."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                async def crash() -> None:
                    raise LookupError("worker crashed")

                self.create_task(crash())
                await asyncio.sleep(0)

        result = run(Test("test_it"))
        self.assertEqual(len(result.errors), 1)
        self.assertRegex(result.errors[0][1], r"(?m)^LookupError: worker crashed$")
        self.assertIn('raise LookupError("worker crashed")', result.errors[0][1])

    def test_task_whose_exception_was_retrieved_does_not_fail(self) -> None:
        """If the test awaited the task and handled its exception, that is the test's business."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                async def crash() -> None:
                    raise LookupError("handled")

                task = self.create_task(crash())
                with self.assertRaises(LookupError):
                    await task

        self.assertTrue(run(Test("test_it")).wasSuccessful())

    def test_task_that_raises_on_cancel_fails_the_test(self) -> None:
        """A pending task that raises while being cancelled at the end fails the test."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                async def stubborn() -> None:
                    try:
                        await asyncio.Event().wait()
                    except asyncio.CancelledError:
                        raise RuntimeError("failed to stop") from None

                self.create_task(stubborn())
                await asyncio.sleep(0)

        result = run(Test("test_it"))
        self.assertRegex(result.errors[0][1], r"(?m)^RuntimeError: failed to stop$")


class RunUntilIdleTest(unittest.TestCase):
    """self.run_until_idle(): run what is ready, move no time."""

    def body(self, events: list[str]) -> Any:
        async def chain(n: int) -> None:
            for _ in range(n):
                await asyncio.sleep(0)
            events.append(f"chain {n}")

        async def test_it(case: AsyncTestCase) -> None:
            loop = asyncio.get_running_loop()
            start = loop.time()
            task = asyncio.ensure_future(chain(5))
            loop.call_soon(loop.call_soon, events.append, "callback")
            loop.call_later(0, events.append, "due now")
            handle = loop.call_later(3600, events.append, "later")
            await case.run_until_idle()
            handle.cancel()
            case.assertDone(task)
            events.append(f"time moved: {loop.time() - start >= 3600}")

        return test_it

    def test_on_the_default_loop(self) -> None:
        """Tasks, chained callbacks and due timers all ran; a far timer did not."""
        events: list[str] = []
        body = self.body(events)

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                await body(self)

        self.assertTrue(run(Test("test_it")).wasSuccessful())
        self.assertEqual(sorted(events), ["callback", "chain 5", "due now", "time moved: False"])

    def test_on_the_virtual_loop(self) -> None:
        """The same on ClockedTestCase: the clock stays where it was."""
        events: list[str] = []
        body = self.body(events)

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                await body(self)

        result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.failures + result.errors)
        self.assertEqual(sorted(events), ["callback", "chain 5", "due now", "time moved: False"])

    def test_never_idle_is_an_error(self) -> None:
        """A callback that reschedules itself forever makes run_until_idle() give up, saying why."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                loop = asyncio.get_running_loop()

                def again() -> None:
                    self.handle = loop.call_soon(again)

                again()
                try:
                    with mock.patch.object(_case, "_IDLE_ROUNDS", 50):
                        await self.run_until_idle()
                finally:
                    self.handle.cancel()

        result = run(Test("test_it"))
        self.assertRegex(
            result.errors[0][1],
            r"(?m)^RuntimeError: run_until_idle\(\): the loop never became idle: some task or "
            r"callback reschedules itself forever \(50 rounds\)$",
        )


class HooksTest(unittest.TestCase):
    """The hooks class-scoped loops build on: a lent loop, its baseline, the class loop makers."""

    def test_lent_loop_keeps_its_tasks_and_is_not_closed(self) -> None:
        """On a loop the test does not own, earlier tasks are not its leaks and the loop stays open."""
        shared = asyncio.SelectorEventLoop()
        self.addCleanup(shared.close)
        earlier = shared.create_task(forever_event())
        events: list[str] = []

        class Test(AsyncTestCase):
            check_tasks = False

            def _asynctestkit_acquire_loop(self) -> tuple[asyncio.AbstractEventLoop, bool]:
                return shared, False

            async def test_clean(self) -> None:
                self.assertIs(asyncio.get_running_loop(), shared)

            async def test_leaks(self) -> None:
                async def leaked() -> None:
                    try:
                        await forever_event()
                    finally:
                        events.append("leaked task cancelled")

                asyncio.ensure_future(leaked())  # noqa: RUF006
                await asyncio.sleep(0)

        self.assertTrue(run(Test("test_clean")).wasSuccessful())
        self.assertTrue(run(Test("test_leaks")).wasSuccessful())
        self.assertEqual(events, ["leaked task cancelled"])
        self.assertFalse(shared.is_closed())
        self.assertFalse(earlier.done())
        earlier.cancel()
        shared.run_until_complete(asyncio.wait({earlier}))

    def test_class_loop_makers(self) -> None:
        """_asynctestkit_make_class_loop honours loop_factory; ClockedTestCase's keeps its clock."""

        class Plain(AsyncTestCase):
            loop_factory = asyncio.SelectorEventLoop

        loop = Plain._asynctestkit_make_class_loop()
        self.addCleanup(loop.close)
        self.assertIs(type(loop), asyncio.SelectorEventLoop)
        virtual = ClockedTestCase._asynctestkit_make_class_loop()
        self.addCleanup(virtual.close)
        self.assertIs(virtual.clock, ClockedTestCase._asynctestkit_class_clock)  # type: ignore[attr-defined]


class ShutdownTest(unittest.TestCase):
    """What the end of a test closes: async generators, tasks made late, a user's task factory."""

    def test_async_generators_are_finalized(self) -> None:
        """An async generator left open is closed (its finally runs) before the loop closes."""
        events: list[str] = []

        async def numbers() -> Any:
            try:
                yield 1
                yield 2
            finally:
                events.append("generator closed")

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                self.gen = numbers()
                self.assertEqual(await self.gen.__anext__(), 1)

        self.assertTrue(run(Test("test_it")).wasSuccessful())
        self.assertEqual(events, ["generator closed"])

    def test_task_made_while_cancelling_is_cancelled_too(self) -> None:
        """A task spawned by a leaked task's cancellation is cancelled at shutdown."""
        events: list[str] = []

        async def late() -> None:
            try:
                await forever_event()
            finally:
                events.append("late task cancelled")

        async def spawner() -> None:
            try:
                await forever_event()
            finally:
                asyncio.ensure_future(late())  # noqa: RUF006

        class Test(AsyncTestCase):
            check_tasks = False

            async def test_it(self) -> None:
                asyncio.ensure_future(spawner())  # noqa: RUF006
                await asyncio.sleep(0)

        self.assertTrue(run(Test("test_it")).wasSuccessful())
        self.assertEqual(events, ["late task cancelled"])

    def test_users_task_factory_is_kept(self) -> None:
        """A loop_factory's task factory makes every task, steps included; leaks are still found."""
        made: list[str] = []

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            made.append(getattr(coro, "__qualname__", "?"))
            return asyncio.Task(coro, loop=loop, **kwargs)

        def make_loop() -> asyncio.AbstractEventLoop:
            loop = asyncio.SelectorEventLoop()
            loop.set_task_factory(factory)
            return loop

        class Test(AsyncTestCase):
            loop_factory = make_loop

            async def test_it(self) -> None:
                asyncio.ensure_future(forever_event())  # noqa: RUF006
                await asyncio.sleep(0)

        text = only_failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^- task '.*' running forever_event\(\)$")
        step = "_in_a_copy" if sys.version_info < (3, 11) else "test_it"  # 3.10: a wrapper hands back the context
        self.assertTrue(any(name.endswith(step) for name in made), made)
        self.assertIn("forever_event", made)


class ClockElapsedTest(unittest.TestCase):
    """ClockedTestCase.clock_started_at and clock_elapsed, per test."""

    def test_started_at_and_elapsed(self) -> None:
        """clock_started_at is clock_start (also from @configure); clock_elapsed counts from it."""
        seen: list[tuple[str, float, float]] = []

        class Test(ClockedTestCase):
            clock_start = 100.0

            async def asyncSetUp(self) -> None:
                await asyncio.sleep(1)

            async def test_class_start(self) -> None:
                await asyncio.sleep(90)
                seen.append(("class", self.clock_started_at, self.clock_elapsed))

            @configure(clock_start=5)
            async def test_own_start(self) -> None:
                seen.append(("own", self.clock_started_at, self.clock_elapsed))

        for name in ("test_class_start", "test_own_start"):
            result = run(Test(name))
            self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(seen, [("class", 100.0, 91.0), ("own", 5.0, 1.0)])

    def test_elapsed_is_exact(self) -> None:
        """clock_elapsed subtracts nanoseconds: 3.1 s after 100 s is 3.1, not 3.0999999999999943."""
        seen: list[float] = []

        class Test(ClockedTestCase):
            clock_start = 100.0

            async def test_it(self) -> None:
                await asyncio.sleep(3.1)
                seen.append(self.clock_elapsed)
                seen.append(self.clock.now - self.clock_started_at)

        for scope in ("test", "class"):
            with self.subTest(loop_scope=scope):
                seen.clear()
                case = type("Scoped", (Test,), {"loop_scope": scope})
                result = unittest.TestResult()
                unittest.defaultTestLoader.loadTestsFromTestCase(case).run(result)
                self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
                self.assertEqual(seen[0], 3.1)
                self.assertNotEqual(seen[1], 3.1)  # the float subtraction this avoids

    def test_elapsed_is_read_only(self) -> None:
        """Assigning clock_elapsed is an AttributeError: it is derived from the clock."""

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                with self.assertRaises(AttributeError):
                    self.clock_elapsed = 3  # type: ignore[misc]

        self.assertTrue(run(Test("test_it")).wasSuccessful())


class BudgetTest(unittest.TestCase):
    """clock_budget: the failure says what to check."""

    def test_a_deadline_on_real_time_exhausts_the_budget_and_is_named(self) -> None:
        """A poll whose deadline reads an unpatched alias never ends; the report names time_targets."""

        class Test(ClockedTestCase):
            clock_budget = 3600

            async def test_it(self) -> None:
                deadline = bound_monotonic() + 60
                while bound_monotonic() < deadline:  # real time: barely moves
                    await asyncio.sleep(1)

        result = run(Test("test_it"))
        self.assertEqual((len(result.errors), len(result.failures)), (1, 0), result.failures)
        text = result.errors[0][1]
        self.assertRegex(text, r"(?m)^asynctestkit\.LivelockError: Virtual-time budget exhausted: ")
        self.assertIn("`from time import monotonic` before the test reads real time unless its module is in time_targets", text)


class ConfigureTest(unittest.TestCase):
    """@configure(...): per-test options."""

    def test_unknown_option_suggests_close_names(self) -> None:
        """A misspelt option is a TypeError that suggests the right one and lists all."""
        with self.assertRaisesRegex(
            TypeError,
            r"^configure\(\) got an unknown option 'timout'; did you mean 'timeout'\?; "
            r"known options: autojump, busy_poll_limit, check_coroutines, .*, timeout$",
        ):
            configure(timout=1)
        with self.assertRaisesRegex(TypeError, r"^configure\(\) got an unknown option 'zzz'; known options: "):
            configure(zzz=1)

    def test_stacked_decorators_merge(self) -> None:
        """Two @configure decorators on one method combine their options; the inner one wins on a clash."""

        class Test(AsyncTestCase):
            @configure(check_timers=False, timeout=1)
            @configure(timeout=2, debug=True)
            async def test_it(self) -> None:
                pass

        options = Test.test_it._asynctestkit_options  # type: ignore[attr-defined]
        self.assertEqual(options, {"check_timers": False, "timeout": 1, "debug": True})
        case = Test("test_it")
        self.assertEqual(case._asynctestkit_option("timeout"), 1)
        self.assertEqual(case._asynctestkit_option("check_tasks"), True)


if __name__ == "__main__":
    unittest.main()
