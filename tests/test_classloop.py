"""Tests for class-scoped loops: ``loop_scope = "class"``, asyncSetUpClass and friends."""

from __future__ import annotations

import asyncio
import contextvars
import signal
import time
import unittest
from typing import Any

from asynctestkit import AsyncTestCase, ClockedTestCase, LivelockError, configure
from asynctestkit._compat import current_loop, default_loop_factory, set_current_loop

REAL_MONOTONIC = time.monotonic
REAL_PERF_COUNTER = time.perf_counter

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def run(*classes: type[unittest.TestCase]) -> unittest.TestResult:
    """Run the classes through a suite (class setup only runs through one)."""
    suite = unittest.TestSuite()
    for cls in classes:
        suite.addTests(unittest.TestLoader().loadTestsFromTestCase(cls))
    result = unittest.TestResult()
    suite.run(result)
    return result


def texts(pairs: list[tuple[Any, str]]) -> list[str]:
    return [text for _, text in pairs]


class GlobalStateMixin(unittest.TestCase):
    def assertNothingLeaked(self) -> None:
        self.assertIsNone(current_loop())
        self.assertIs(time.monotonic, REAL_MONOTONIC)
        self.assertIs(time.perf_counter, REAL_PERF_COUNTER)
        if hasattr(signal, "SIGALRM"):
            self.assertIs(signal.getsignal(signal.SIGALRM), signal.SIG_DFL)
            self.assertEqual(signal.getitimer(signal.ITIMER_REAL), (0.0, 0.0))


class TestLifecycle(GlobalStateMixin):
    def test_order_of_every_step(self) -> None:
        """Class steps wrap the per-test steps; class cleanups run LIFO, then the loop closes."""
        events: list[str] = []

        class Resource:
            async def __aenter__(self) -> str:
                events.append("resource enter")
                return "resource"

            async def __aexit__(self, *exc: object) -> None:
                events.append("resource exit")

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            def setUpClass(cls) -> None:
                events.append("setUpClass")
                super().setUpClass()
                events.append("setUpClass done")

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                events.append("asyncSetUpClass")
                cls.addClassCleanup(events.append, "sync class cleanup")
                cls.resource = await cls.enterAsyncClassContext(Resource())
                cls.addAsyncClassCleanup(cls.async_cleanup, "async class cleanup")

            @classmethod
            async def async_cleanup(cls, name: str) -> None:
                await asyncio.sleep(0)
                events.append(name)

            def setUp(self) -> None:
                events.append("setUp")

            async def asyncSetUp(self) -> None:
                events.append("asyncSetUp")
                self.addAsyncCleanup(self.cleanup)

            async def cleanup(self) -> None:
                events.append("cleanup")

            async def test_1(self) -> None:
                events.append(f"test_1 {self.resource}")

            async def test_2(self) -> None:
                events.append(f"test_2 {self.resource}")

            async def asyncTearDown(self) -> None:
                events.append("asyncTearDown")

            def tearDown(self) -> None:
                events.append("tearDown")

            @classmethod
            async def asyncTearDownClass(cls) -> None:
                events.append("asyncTearDownClass")

            @classmethod
            def tearDownClass(cls) -> None:
                events.append("tearDownClass")
                super().tearDownClass()

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(result.testsRun, 2)
        per_test = ["setUp", "asyncSetUp", "asyncTearDown", "tearDown", "cleanup"]
        self.assertEqual(events, [
            "setUpClass", "asyncSetUpClass", "resource enter", "setUpClass done",
            *per_test[:2], "test_1 resource", *per_test[2:],
            *per_test[:2], "test_2 resource", *per_test[2:],
            "tearDownClass", "asyncTearDownClass",
            "async class cleanup", "resource exit", "sync class cleanup",
        ])
        self.assertNothingLeaked()

    def test_one_loop_for_the_class_current_while_it_runs(self) -> None:
        """Every step of every test runs on the same loop, current then, closed at the end."""
        loops: list[asyncio.AbstractEventLoop | None] = []

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                loops.append(asyncio.get_running_loop())
                loops.append(current_loop())

            def setUp(self) -> None:
                loops.append(current_loop())

            async def test_1(self) -> None:
                loops.append(asyncio.get_running_loop())

            async def test_2(self) -> None:
                loops.append(asyncio.get_running_loop())

            @classmethod
            async def asyncTearDownClass(cls) -> None:
                loops.append(asyncio.get_running_loop())

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(len(loops), 7)
        first = loops[0]
        assert first is not None
        for loop in loops:
            self.assertIs(loop, first)
        self.assertTrue(first.is_closed())
        self.assertNothingLeaked()

    def test_the_loop_current_before_is_current_again_after(self) -> None:
        """Class steps put back the loop that was current before them, as tests do."""
        outside = default_loop_factory()
        self.addCleanup(outside.close)
        seen: list[asyncio.AbstractEventLoop | None] = []

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.addClassCleanup(lambda: seen.append(current_loop()))

            async def test_it(self) -> None:
                seen.append(current_loop())

        set_current_loop(outside)
        try:
            result = run(Inner)
            self.assertIs(current_loop(), outside)
        finally:
            set_current_loop(None)
        self.assertEqual(result.errors + result.failures, [])
        self.assertIsNot(seen[0], outside)
        self.assertIs(seen[1], outside)  # a sync class cleanup runs between class steps

    def test_resources_made_in_asyncSetUpClass_work_in_every_test(self) -> None:
        """A future, a queue and a lock made once are used across tests (no 'different loop')."""

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.future = asyncio.get_running_loop().create_future()
                cls.queue: asyncio.Queue[int] = asyncio.Queue()
                cls.lock = asyncio.Lock()
                await cls.lock.acquire()

            async def test_1_produce(self) -> None:
                self.future.set_result("from test 1")
                await self.queue.put(1)
                self.lock.release()

            async def test_2_consume(self) -> None:
                self.assertEqual(await self.future, "from test 1")
                self.assertEqual(await self.queue.get(), 1)
                async with self.lock:
                    pass

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(result.testsRun, 2)

    def test_the_default_test_scope_gives_each_test_its_own_loop(self) -> None:
        """Without loop_scope = "class" each test still gets a new loop."""
        loops: list[asyncio.AbstractEventLoop] = []

        class Inner(AsyncTestCase):
            async def test_1(self) -> None:
                loops.append(asyncio.get_running_loop())

            async def test_2(self) -> None:
                loops.append(asyncio.get_running_loop())

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertIsNot(loops[0], loops[1])

    def test_a_subclass_gets_its_own_loop(self) -> None:
        """The class loop is not inherited: each class of a hierarchy has one."""
        loops: dict[str, asyncio.AbstractEventLoop] = {}

        class Base(AsyncTestCase):
            loop_scope = "class"

            async def test_it(self) -> None:
                loops[type(self).__name__] = asyncio.get_running_loop()

        class Child(Base):
            pass

        result = run(Base, Child)
        self.assertEqual(result.errors + result.failures, [])
        self.assertIsNot(loops["Base"], loops["Child"])
        self.assertTrue(loops["Base"].is_closed() and loops["Child"].is_closed())

    def test_background_task_lives_across_tests_and_is_cancelled_at_the_end(self) -> None:
        """A task started in asyncSetUpClass keeps running between tests, then is cancelled."""
        events: list[str] = []

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.inbox: asyncio.Queue[str] = asyncio.Queue()
                cls.outbox: asyncio.Queue[str] = asyncio.Queue()
                cls.worker = asyncio.create_task(cls.work())

            @classmethod
            async def work(cls) -> None:
                try:
                    while True:
                        await cls.outbox.put((await cls.inbox.get()).upper())
                except asyncio.CancelledError:
                    events.append("worker cancelled")
                    raise

            async def test_1(self) -> None:
                await self.inbox.put("a")
                self.assertEqual(await self.outbox.get(), "A")

            async def test_2(self) -> None:
                await self.inbox.put("b")
                self.assertEqual(await self.outbox.get(), "B")

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(events, ["worker cancelled"])
        self.assertTrue(Inner.worker.cancelled())

    def test_enterAsyncClassContext_on_another_loop_is_refused(self) -> None:
        """Awaited on a loop other than the class's, enterAsyncClassContext raises and does not
        enter the context manager (it would be bound to the wrong loop)."""
        entered: list[bool] = []
        errors: list[str] = []

        class Resource:
            async def __aenter__(self) -> None:
                entered.append(True)

            async def __aexit__(self, *exc: object) -> None:
                pass

        class Inner(AsyncTestCase):
            loop_scope = "class"

            async def test_it(self) -> None:
                def elsewhere() -> None:
                    try:
                        asyncio.run(type(self).enterAsyncClassContext(Resource()))
                    except RuntimeError as error:
                        errors.append(str(error))

                await asyncio.to_thread(elsewhere)

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(entered, [])
        self.assertEqual(len(errors), 1)
        self.assertRegex(
            errors[0],
            r"^enterAsyncClassContext\(\) must be awaited on the loop of .*Inner \(in asyncSetUpClass "
            r"or a test\), not on another loop$",
        )
        self.assertNothingLeaked()

    def test_a_background_task_that_fails_when_cancelled_is_reported(self) -> None:
        """A class task that raises instead of ending when the class's loop closes reaches the
        loop's exception handler, with its exception and the task."""
        seen: list[dict[str, Any]] = []

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                asyncio.get_running_loop().set_exception_handler(lambda loop, context: seen.append(context))
                cls.worker = asyncio.create_task(cls.work())

            @classmethod
            async def work(cls) -> None:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    raise ValueError("broke on the way out") from None

            async def test_it(self) -> None:
                await asyncio.sleep(0)

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(len(seen), 1)
        self.assertEqual(seen[0]["message"], "unhandled exception in a task cancelled when the class's loop closed")
        self.assertIsInstance(seen[0]["exception"], ValueError)
        self.assertIs(seen[0]["task"], Inner.worker)
        self.assertNothingLeaked()

    def test_skipped_class_is_reported_as_skipped(self) -> None:
        """unittest skips setUpClass for a skipped class; its tests are skips, not errors."""
        events: list[str] = []

        @unittest.skip("not today")
        class Inner(ClockedTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                events.append("asyncSetUpClass")

            async def test_it(self) -> None:
                events.append("test")

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual([why for _, why in result.skipped], ["not today"])
        self.assertEqual(events, [])
        self.assertNothingLeaked()


class TestScopeValidation(GlobalStateMixin):
    def test_unknown_loop_scope(self) -> None:
        """Any loop_scope but "test" and "class" fails setUpClass, naming the value (set after the class was made)."""

        class Inner(AsyncTestCase):
            async def test_it(self) -> None:
                pass

        Inner.loop_scope = "session"  # past the check at class creation (see test_options)
        result = run(Inner)
        self.assertEqual(result.testsRun, 0)
        [(holder, text)] = result.errors
        self.assertRegex(str(holder), r"^setUpClass \(.*Inner\)$")
        self.assertRegex(
            text,
            r"ValueError: .*Inner\.loop_scope must be 'test' \(a new loop per test\) or 'class' "
            r"\(one loop for the whole class\); got 'session' \(str\)\n$",
        )

    def test_asyncSetUpClass_without_class_scope_is_refused(self) -> None:
        """Defining asyncSetUpClass on a test-scoped class is an error, not a silent no-op."""

        class Inner(AsyncTestCase):
            @classmethod
            async def asyncSetUpClass(cls) -> None:
                pass

            async def test_it(self) -> None:
                pass

        result = run(Inner)
        self.assertEqual(result.testsRun, 0)
        self.assertRegex(
            texts(result.errors)[0],
            r"TypeError: .*Inner defines asyncSetUpClass, which runs only on a loop shared by "
            r"the class, but its loop_scope is 'test'; add loop_scope = \"class\"",
        )

    def test_setUpClass_without_super(self) -> None:
        """Overriding setUpClass without super() makes each test error with what to do."""

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            def setUpClass(cls) -> None:
                pass

            async def test_it(self) -> None:
                pass

        result = run(Inner)
        self.assertEqual(result.testsRun, 1)
        self.assertEqual(len(result.errors), 1)
        self.assertRegex(
            texts(result.errors)[0],
            r"RuntimeError: .*test_it: cannot start the test: .*Inner has no class loop\. It "
            r"is made by setUpClass: if you override setUpClass, call super\(\)\.setUpClass\(\) "
            "first",
        )
        self.assertNothingLeaked()

    def test_running_one_class_scoped_test_outside_a_suite(self) -> None:
        """TestCase.run() on a single class-scoped test explains that it needs a suite."""

        class Inner(AsyncTestCase):
            loop_scope = "class"

            async def test_it(self) -> None:
                pass

        result = unittest.TestResult()
        Inner("test_it").run(result)
        self.assertRegex(texts(result.errors)[0], r"RuntimeError: .*through a unittest suite")
        self.assertNothingLeaked()

    def test_async_class_cleanup_needs_a_class_loop(self) -> None:
        """addAsyncClassCleanup on a test-scoped class says to set loop_scope."""

        class Inner(AsyncTestCase):
            async def test_it(self) -> None:
                type(self).addAsyncClassCleanup(asyncio.sleep, 0)

        result = run(Inner)
        self.assertRegex(
            texts(result.errors)[0],
            r"RuntimeError: addAsyncClassCleanup\(\) needs a class-scoped loop, but "
            r".*Inner\.loop_scope is 'test'; set loop_scope = \"class\" on the class",
        )

    def test_enterAsyncClassContext_needs_an_async_context_manager(self) -> None:
        """A plain context manager is a TypeError, as with enterAsyncContext."""

        class Plain:
            def __enter__(self) -> None:
                pass

            def __exit__(self, *exc: object) -> None:
                pass

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                await cls.enterAsyncClassContext(Plain())  # type: ignore[arg-type]

            async def test_it(self) -> None:
                pass

        result = run(Inner)
        self.assertRegex(
            texts(result.errors)[0],
            r"TypeError: '.*Plain' object does not support the asynchronous "
            r"context manager protocol\n$",
        )


class TestFailurePaths(GlobalStateMixin):
    def test_failing_asyncSetUpClass(self) -> None:
        """It reports as setUpClass, runs no test, runs the class cleanups and closes the loop."""
        events: list[str] = []

        class Failing(ClockedTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.loop = asyncio.get_running_loop()
                cls.addAsyncClassCleanup(cls.cleanup)
                await asyncio.sleep(5)
                raise OSError("cannot bind")

            @classmethod
            async def cleanup(cls) -> None:
                await asyncio.sleep(1)
                events.append(f"cleanup at {asyncio.get_running_loop().time()}")

            @classmethod
            async def asyncTearDownClass(cls) -> None:
                events.append("asyncTearDownClass")

            async def test_it(self) -> None:
                events.append("test")

        class Next(ClockedTestCase):
            loop_scope = "class"

            async def test_it(self) -> None:
                events.append(f"next class at {self.clock.now}")

        result = run(Failing, Next)
        self.assertEqual(result.testsRun, 1)
        [(holder, text)] = result.errors
        self.assertRegex(str(holder), r"^setUpClass \(.*Failing\)$")
        self.assertRegex(text, r"OSError: cannot bind\n$")
        self.assertEqual(result.failures, [])
        self.assertEqual(events, ["cleanup at 6.0", "next class at 0.0"])
        self.assertTrue(Failing.loop.is_closed())
        self.assertNothingLeaked()

    def test_failing_asyncTearDownClass_still_runs_cleanups(self) -> None:
        """asyncTearDownClass errors as tearDownClass; the class cleanups still close the loop."""
        events: list[str] = []

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.loop = asyncio.get_running_loop()
                cls.addAsyncClassCleanup(events.append, "cleanup")

            @classmethod
            async def asyncTearDownClass(cls) -> None:
                raise RuntimeError("teardown broke")

            async def test_it(self) -> None:
                events.append("test")

        result = run(Inner)
        [(holder, text)] = result.errors
        self.assertRegex(str(holder), r"^tearDownClass \(.*Inner\)$")
        self.assertRegex(text, r"RuntimeError: teardown broke\n$")
        self.assertEqual(events, ["test", "cleanup"])
        self.assertTrue(Inner.loop.is_closed())
        self.assertNothingLeaked()

    def test_failing_async_class_cleanup(self) -> None:
        """An async class cleanup that raises is reported; the others and the close still run."""
        events: list[str] = []

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.loop = asyncio.get_running_loop()
                cls.addAsyncClassCleanup(events.append, "first registered")
                cls.addAsyncClassCleanup(cls.broken)

            @classmethod
            async def broken(cls) -> None:
                raise ValueError("cleanup broke")

            async def test_it(self) -> None:
                pass

        result = run(Inner)
        self.assertEqual(len(result.errors), 1)
        self.assertRegex(texts(result.errors)[0], r"ValueError: cleanup broke\n$")
        self.assertEqual(events, ["first registered"])
        self.assertTrue(Inner.loop.is_closed())

    def test_hanging_asyncSetUpClass_is_stopped_by_the_timeout(self) -> None:
        """The class's real-time timeout covers asyncSetUpClass, with the task report."""

        class Hangs(AsyncTestCase):
            loop_scope = "class"
            timeout = 0.1

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                await asyncio.Event().wait()

            async def test_it(self) -> None:
                pass

        class Next(AsyncTestCase):
            loop_scope = "class"

            async def test_it(self) -> None:
                pass

        result = run(Hangs, Next)
        self.assertEqual(result.testsRun, 1)
        [(holder, text)] = result.errors
        self.assertRegex(str(holder), r"^setUpClass \(.*Hangs\)$")
        self.assertRegex(
            text,
            r"TimeoutError: .*Hangs\.asyncSetUpClass ran longer than the class's timeout of "
            r"0\.1 s \(real time\) and was stopped\.",
        )
        self.assertIn("await asyncio.Event().wait()", text)
        self.assertNothingLeaked()


class TestLeakAttribution(unittest.TestCase):
    def test_a_leaked_task_fails_the_test_that_leaked_it(self) -> None:
        """Test A leaks a task: A fails with the report, B (run after) passes."""

        async def forever() -> None:
            await asyncio.Event().wait()

        class Inner(AsyncTestCase):
            loop_scope = "class"

            async def test_a_leaks(self) -> None:
                self.leaked = asyncio.create_task(forever(), name="leaky")

            async def test_b_clean(self) -> None:
                await asyncio.sleep(0)

        result = run(Inner)
        self.assertEqual(result.errors, [])
        [(case, text)] = result.failures
        self.assertEqual(case.id().rsplit(".", 1)[-1], "test_a_leaks")
        self.assertIn("Tasks still pending at the end of the test", text)
        self.assertIn("leaky", text)

    def test_a_leaked_timer_fails_the_test_that_armed_it(self) -> None:
        """A timer armed in one test fails that test and is cancelled before the next."""
        fired: list[str] = []

        class Inner(ClockedTestCase):
            loop_scope = "class"

            async def test_a_leaks(self) -> None:
                asyncio.get_running_loop().call_later(5, fired.append, "timer")

            async def test_b_clean(self) -> None:
                await asyncio.sleep(10)

        result = run(Inner)
        [(case, text)] = result.failures
        self.assertEqual(case.id().rsplit(".", 1)[-1], "test_a_leaks")
        self.assertIn("Timers still pending at the end of the test (1)", text)
        self.assertEqual(fired, [])

    def test_what_asyncSetUpClass_made_is_not_a_leak(self) -> None:
        """Tasks and timers from asyncSetUpClass are not reported by any test."""
        fired: list[str] = []

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.task = asyncio.create_task(asyncio.Event().wait())
                cls.timer = asyncio.get_running_loop().call_later(3600, fired.append, "timer")

            async def test_1(self) -> None:
                self.assertFalse(self.task.done())

            async def test_2(self) -> None:
                self.assertFalse(self.task.done())
                self.assertFalse(self.timer.cancelled())

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertTrue(Inner.task.cancelled())
        self.assertEqual(fired, [])

    def test_a_class_heartbeat_is_not_a_tests_timer(self) -> None:
        """A task from asyncSetUpClass re-arms timers during every test: none are the test's leaks."""
        timeout = getattr(asyncio, "timeout", None)  # 3.11+

        async def tick(period: float) -> None:
            if timeout is None:
                await asyncio.sleep(period)
            else:
                async with timeout(3600):  # its timer is bound to the Timeout, not a future
                    await asyncio.sleep(period)

        for base in (AsyncTestCase, ClockedTestCase):
            with self.subTest(base=base.__name__):

                class Inner(base):  # type: ignore[valid-type, misc]
                    loop_scope = "class"
                    beats: list[float] = []

                    @classmethod
                    async def asyncSetUpClass(cls) -> None:
                        cls.heart = asyncio.create_task(cls.beat())

                    @classmethod
                    async def beat(cls) -> None:
                        while True:
                            await tick(0.001)
                            await asyncio.wait_for(asyncio.sleep(0.001), 3600)
                            cls.beats.append(time.monotonic())

                    async def until_three_more_beats(self) -> None:
                        # Wait for beats, not for a time: a loaded machine beats slower.
                        target = len(self.beats) + 3
                        while len(self.beats) < target:
                            await asyncio.sleep(0.001)

                    async def test_1(self) -> None:
                        await self.until_three_more_beats()

                    async def test_2(self) -> None:
                        await self.until_three_more_beats()

                result = run(Inner)
                self.assertEqual(result.errors + result.failures, [])
                self.assertGreaterEqual(len(Inner.beats), 6)  # it kept beating through both tests
                self.assertTrue(Inner.heart.cancelled())

    def test_a_timer_armed_after_the_class_timer_fired_is_the_tests(self) -> None:
        """A timer made after a class timer fired, perhaps at its address, is still reported."""

        class Inner(ClockedTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                for _ in range(20):
                    asyncio.get_running_loop().call_later(1, int)

            async def test_it(self) -> None:
                await asyncio.sleep(2)  # the class's timers fire and are freed
                for _ in range(20):
                    asyncio.get_running_loop().call_later(10, int)

        result = run(Inner)
        [(_, text)] = result.failures
        self.assertRegex(text, r"(?m)^Timers still pending at the end of the test \(20\); cancel them:$")

    def test_tasks_a_test_owns_end_with_it(self) -> None:
        """self.create_task in one test is cancelled when that test ends, not at class end."""
        states: list[bool] = []

        class Inner(AsyncTestCase):
            loop_scope = "class"

            async def test_1(self) -> None:
                type(self).owned = self.create_task(asyncio.Event().wait())

            async def test_2(self) -> None:
                states.append(self.owned.cancelled())

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(states, [True])

    def test_hygiene_still_sees_exceptions_per_test(self) -> None:
        """An exception reaching the loop's handler fails the test it happened in."""

        class Inner(AsyncTestCase):
            loop_scope = "class"

            async def test_a_raises_in_callback(self) -> None:
                asyncio.get_running_loop().call_soon(lambda: 1 / 0)
                await asyncio.sleep(0)

            async def test_b_clean(self) -> None:
                await asyncio.sleep(0)

        result = run(Inner)
        [(case, text)] = result.failures
        self.assertEqual(case.id().rsplit(".", 1)[-1], "test_a_raises_in_callback")
        self.assertIn("ZeroDivisionError", text)


class TestContextVars(unittest.TestCase):
    def test_each_test_starts_from_the_class_context(self) -> None:
        """Values set in asyncSetUpClass are seen by every test; a test's changes stay in it."""
        seen: list[tuple[str, str]] = []

        class Inner(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                var.set("class")

            def setUp(self) -> None:
                if self._testMethodName == "test_1":
                    var.set("test_1 setUp")

            async def asyncSetUp(self) -> None:
                seen.append((self._testMethodName, var.get()))

            async def test_1(self) -> None:
                var.set("test_1")

            async def test_2(self) -> None:
                seen.append(("test_2 body", var.get()))
                var.set("test_2")

            @classmethod
            async def asyncTearDownClass(cls) -> None:
                seen.append(("asyncTearDownClass", var.get()))

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(seen, [
            ("test_1", "test_1 setUp"), ("test_2", "class"), ("test_2 body", "class"),
            ("asyncTearDownClass", "class"),
        ])
        self.assertEqual(var.get(), "unset")


class TestVirtualClockAcrossTheClass(GlobalStateMixin):
    def test_one_clock_that_keeps_moving_forward(self) -> None:
        """asyncSetUpClass and each test share one clock; each test knows when it started (clock_elapsed)."""
        seen: list[tuple[str, float, float]] = []
        clocks: list[Any] = []

        class Inner(ClockedTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                start = time.monotonic()
                await asyncio.sleep(10)
                seen.append(("asyncSetUpClass", time.monotonic() - start, asyncio.get_running_loop().time()))

            async def test_1(self) -> None:
                clocks.append(self.clock)
                await asyncio.sleep(5)
                seen.append(("test_1", self.clock_started_at, self.clock_elapsed))

            async def test_2(self) -> None:
                clocks.append(self.clock)
                await asyncio.sleep(2)
                self.assertEqual(time.monotonic(), self.clock.now)
                seen.append(("test_2", self.clock_started_at, self.clock_elapsed))

            @classmethod
            async def asyncTearDownClass(cls) -> None:
                seen.append(("asyncTearDownClass", time.monotonic(), 0.0))

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(seen, [
            ("asyncSetUpClass", 10.0, 10.0), ("test_1", 10.0, 5.0), ("test_2", 15.0, 2.0),
            ("asyncTearDownClass", 17.0, 0.0),
        ])
        self.assertIs(clocks[0], clocks[1])
        self.assertNothingLeaked()

    def test_loop_factory_is_refused(self) -> None:
        """A class-scoped ClockedTestCase with loop_factory fails in setUpClass, as a test-scoped one does."""

        class Inner(ClockedTestCase):
            loop_scope = "class"

            async def test_it(self) -> None:
                pass

        Inner.loop_factory = asyncio.SelectorEventLoop  # past the check at class creation
        result = run(Inner)
        [(case, text)] = result.errors
        self.assertIn("setUpClass", str(case))
        self.assertRegex(text, r"(?m)^TypeError: Inner sets loop_factory, but ClockedTestCase makes its own "
                               r"virtual loop; use AsyncTestCase with loop_factory=virtual_event_loop")
        self.assertNothingLeaked()

    def test_configure_clock_start_on_a_test_is_refused(self) -> None:
        """@configure(clock_start=...) cannot move the class's clock: that test errors, saying why."""

        class Inner(ClockedTestCase):
            loop_scope = "class"

            @configure(clock_start=100)
            async def test_a_own_start(self) -> None:
                pass

            @configure(clock_budget=10)
            async def test_b_other_options_apply(self) -> None:
                self.assertEqual(self.clock.budget, 10)

        result = run(Inner)
        self.assertEqual(result.failures, [])
        [(case, text)] = result.errors
        self.assertEqual(case.id().rsplit(".", 1)[-1], "test_a_own_start")
        self.assertRegex(text, r"(?m)^TypeError: .*test_a_own_start: @configure\(clock_start=\.\.\.\) cannot "
                               r'apply with loop_scope = "class": the tests of the class share its clock, .*'
                               r"set clock_start on the class, or move time in the test with self\.clock\.jump\(\)$")
        self.assertNothingLeaked()

    def test_clock_start_applies_to_the_class(self) -> None:
        """clock_start sets where the class's clock starts, once."""
        starts: list[float] = []

        class Inner(ClockedTestCase):
            loop_scope = "class"
            clock_start = 1000.0

            async def test_1(self) -> None:
                starts.append(self.clock_started_at)
                await asyncio.sleep(1)

            async def test_2(self) -> None:
                starts.append(self.clock_started_at)

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(starts, [1000.0, 1001.0])

    def test_budget_is_per_test(self) -> None:
        """Each test gets the whole clock_budget; one that overruns it fails alone."""

        class Inner(ClockedTestCase):
            loop_scope = "class"
            clock_budget = 100.0

            async def test_1(self) -> None:
                await asyncio.sleep(80)

            async def test_2(self) -> None:
                await asyncio.sleep(80)

            async def test_3_overruns(self) -> None:
                await asyncio.sleep(150)

        result = run(Inner)
        self.assertEqual(result.failures, [])
        self.assertEqual(result.testsRun, 3)
        [(case, text)] = result.errors
        self.assertEqual(case.id().rsplit(".", 1)[-1], "test_3_overruns")
        self.assertIn(f"{LivelockError.__module__}.LivelockError: Virtual-time budget exhausted", text)

    def test_autojump_is_reset_per_test(self) -> None:
        """A test that turns autojump off does not leave the next test in manual mode."""
        modes: list[bool] = []

        class Inner(ClockedTestCase):
            loop_scope = "class"

            async def test_1(self) -> None:
                self.clock.autojump = False

            async def test_2(self) -> None:
                modes.append(self.clock.autojump)
                await asyncio.sleep(1)

        result = run(Inner)
        self.assertEqual(result.errors + result.failures, [])
        self.assertEqual(modes, [True])

    def test_failing_clocked_asyncSetUpClass_restores_time(self) -> None:
        """time.monotonic is virtual during asyncSetUpClass and real again after it failed."""
        inside: list[float] = []

        class Inner(ClockedTestCase):
            loop_scope = "class"
            clock_start = 500.0

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                inside.append(time.monotonic())
                raise RuntimeError("boom")

            async def test_it(self) -> None:
                pass

        result = run(Inner)
        self.assertEqual(len(result.errors), 1)
        self.assertEqual(inside, [500.0])
        self.assertNothingLeaked()


if __name__ == "__main__":
    unittest.main()
