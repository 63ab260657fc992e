"""A test's async step runs as a task of its own coroutine, as under IsolatedAsyncioTestCase."""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
import unittest
import warnings
from typing import TYPE_CHECKING, Any

import asynctestkit
from asynctestkit import AsyncTestCase, ClockedTestCase
from tests._support import only_failure, run_test
from tests.test_interrupts import PythonSigint, snapshot, warm_up

if TYPE_CHECKING:
    from types import FrameType

PY311 = sys.version_info >= (3, 11)
VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def reaches_caller() -> bool:
    """Whether current_task().get_coro(), followed down cr_await, reaches the caller's frame (test_taskgroups' walk)."""
    coro: Any = asyncio.current_task().get_coro()  # type: ignore[union-attr]
    frame = sys._getframe(1)
    while coro is not None:
        if getattr(coro, "cr_frame", None) is frame:
            return True
        coro = getattr(coro, "cr_await", None)
    return False


@unittest.skipUnless(PY311, "on 3.10 IsolatedAsyncioTestCase's task runs its runner's coroutine too")
class TaskCoroutineTest(unittest.TestCase):
    """The running task's coroutine is the step's own coroutine, in every async step."""

    def test_every_step_on_both_bases(self) -> None:
        """asyncSetUp, the test, an async cleanup and asyncTearDown each find their own frame."""
        for base in (AsyncTestCase, ClockedTestCase):
            self.check_every_step(base)

    def check_every_step(self, base: type) -> None:
        seen: list[tuple[str, bool]] = []

        class Test(base):  # type: ignore[valid-type,misc]
            async def asyncSetUp(self) -> None:
                seen.append(("asyncSetUp", reaches_caller()))
                self.addAsyncCleanup(self.cleanup)

            async def cleanup(self) -> None:
                seen.append(("cleanup", reaches_caller()))

            async def test_it(self) -> None:
                await asyncio.sleep(0)
                seen.append(("test", reaches_caller()))

            async def asyncTearDown(self) -> None:
                seen.append(("asyncTearDown", reaches_caller()))

        with self.subTest(base=base.__name__):
            self.assertTrue(run_test(Test("test_it")).wasSuccessful())
            self.assertEqual(
                seen, [("asyncSetUp", True), ("test", True), ("asyncTearDown", True), ("cleanup", True)]
            )

    def test_class_steps(self) -> None:
        """With loop_scope = "class", asyncSetUpClass's task runs its own coroutine too."""
        seen: list[bool] = []

        class Test(ClockedTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                seen.append(reaches_caller())

            async def test_it(self) -> None:
                seen.append(reaches_caller())

        suite = unittest.TestSuite([Test("test_it")])
        result = unittest.TestResult()
        suite.run(result)
        self.assertTrue(result.wasSuccessful(), result.errors)
        self.assertEqual(seen, [True, True])

    def test_the_watchdog_names_the_test_not_a_wrapper(self) -> None:
        """A hung test's report names the test's coroutine as the task's."""

        class Test(AsyncTestCase):
            timeout = 0.05

            async def test_hangs(self) -> None:
                await asyncio.Event().wait()

        text = only_failure(self, run_test(Test("test_hangs")))
        self.assertRegex(text, r"(?m)^- task '.*test_hangs: test_hangs' running .*Test\.test_hangs\(\)$")
        self.assertNotIn("guarded_step", text)


class ContextTest(unittest.TestCase):
    """What a step sets in its context is what the next step sees (every version)."""

    def test_context_flows_from_step_to_step(self) -> None:
        """setUp -> asyncSetUp -> test -> asyncTearDown -> tearDown see each other's values."""
        for base in (AsyncTestCase, ClockedTestCase):
            self.check_flow(base)

    def check_flow(self, base: type) -> None:
        seen: list[str] = []

        class Test(base):  # type: ignore[valid-type,misc]
            def setUp(self) -> None:
                VAR.set("setUp")

            async def asyncSetUp(self) -> None:
                seen.append(VAR.get())
                VAR.set("asyncSetUp")

            async def test_it(self) -> None:
                seen.append(VAR.get())
                VAR.set("test")

            async def asyncTearDown(self) -> None:
                seen.append(VAR.get())
                VAR.set("asyncTearDown")

            def tearDown(self) -> None:
                seen.append(VAR.get())

        with self.subTest(base=base.__name__):
            self.assertTrue(run_test(Test("test_it")).wasSuccessful())
            self.assertEqual(seen, ["setUp", "asyncSetUp", "test", "asyncTearDown"])
            self.assertEqual(VAR.get(), "unset")  # never the caller's context

    def test_a_failing_step_keeps_its_context_for_the_cleanups(self) -> None:
        """A test that sets a variable and then fails: the cleanups still see the value."""
        seen: list[str] = []

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                VAR.set("test")
                self.addCleanup(lambda: seen.append(VAR.get()))
                raise ValueError("boom")

        result = run_test(Test("test_it"))
        self.assertEqual(len(result.errors), 1)
        self.assertEqual(seen, ["test"])


class TracebackTest(unittest.TestCase):
    """A step's exception reads as the user's: no asyncio frame, no asynctestkit frame."""

    def test_failure_traceback_starts_at_the_test(self) -> None:
        """The failure's first frame is the test method's; asyncio's run_until_complete is not shown."""
        for base in (AsyncTestCase, ClockedTestCase):

            class Test(base):  # type: ignore[valid-type,misc]
                async def test_it(self) -> None:
                    await asyncio.sleep(0)
                    self.assertEqual(1, 2)

            with self.subTest(base=base.__name__):
                text = only_failure(self, run_test(Test("test_it")))
                self.assertRegex(
                    text, r"^Traceback \(most recent call last\):\n  File \"[^\"]*test_step\.py\", line \d+, in test_it\n"
                )
                self.assertNotIn("base_events.py", text)
                # No frame of the package (the checkout itself may live in a folder of that name).
                self.assertNotIn(os.path.dirname(asynctestkit.__file__) + os.sep, text)

    def test_an_error_keeps_its_type_and_message(self) -> None:
        """A RuntimeError raised by the test is the test's error, as is (not a watchdog matter)."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                raise RuntimeError("the test's own")

        result = run_test(Test("test_it"))
        self.assertEqual(len(result.errors), 1)
        self.assertRegex(result.errors[0][1], r"(?m)^RuntimeError: the test's own$")


@unittest.skipUnless(PY311, "3.11+ warns about a test method that returns a value")
class ReturnValueWarningTest(unittest.TestCase):
    """The DeprecationWarning for a test returning a value names the code that ran the test."""

    def test_it_names_the_caller_of_run(self) -> None:
        """As IsolatedAsyncioTestCase's: the file that called run(), for both bases and under explore."""

        class Async(AsyncTestCase):
            async def test_it(self) -> int:
                return 1

        class Clocked(ClockedTestCase):
            async def test_it(self) -> int:
                return 1

        class Explored(ClockedTestCase):
            explore = 2

            async def test_it(self) -> int:
                return 1

        for cls in (Async, Clocked, Explored):
            with self.subTest(cls=cls.__name__):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    cls("test_it").run()
                self.assertTrue(caught)
                for warning in caught:
                    self.assertIs(warning.category, DeprecationWarning)
                    self.assertRegex(str(warning.message), r"^It is deprecated to return a value that is not None")
                    self.assertEqual(warning.filename, __file__)


class _Interrupted:
    class Test(AsyncTestCase):
        async def asyncSetUp(self) -> None:
            # Left pending: ending the test after the interrupt runs the loop again.
            self.background = asyncio.ensure_future(asyncio.sleep(10))
            await asyncio.sleep(0)

        async def test_it(self) -> None:
            await asyncio.sleep(0)

    class Clocked(ClockedTestCase):
        async def asyncSetUp(self) -> None:
            self.background = asyncio.ensure_future(asyncio.sleep(10))
            await asyncio.sleep(1)

        async def test_it(self) -> None:
            await asyncio.sleep(1)


def _run_forever_cleanup_code() -> Any:
    # Where asyncio puts back what run_forever changed: its own finally
    # (3.10-3.12) or _run_forever_cleanup (3.13+).
    cleanup = getattr(asyncio.BaseEventLoop, "_run_forever_cleanup", None)
    return (cleanup or asyncio.BaseEventLoop.run_forever).__code__


class LoopRunInterruptTest(PythonSigint):
    """A Ctrl-C inside asyncio's own setup or cleanup of a run leaves nothing changed, and reads as itself."""

    def setUp(self) -> None:
        warm_up()

    def interrupt_at(self, when: Any) -> list[bool]:
        """Raise KeyboardInterrupt from a trace function at the first line event ``when(frame)`` accepts."""
        fired: list[bool] = []

        def local(frame: FrameType, event: str, arg: object) -> Any:
            if event == "line" and not fired and when(frame):
                fired.append(True)
                raise KeyboardInterrupt("forced")
            return local

        def global_(frame: FrameType, event: str, arg: object) -> Any:
            return local if frame.f_code is _run_forever_cleanup_code() or frame.f_code.co_name == "_run_forever_setup" else None

        # A coverage run traces too: its tracer is put back after.
        self.addCleanup(sys.settrace, sys.gettrace())
        sys.settrace(global_)
        return fired

    def check(self, when: Any) -> None:
        for cls in (_Interrupted.Test, _Interrupted.Clocked):
            with self.subTest(cls=cls.__name__):
                before = snapshot()
                fired = self.interrupt_at(when)
                try:
                    with self.assertRaises(KeyboardInterrupt):
                        cls("test_it").run(unittest.TestResult())
                finally:
                    self.doCleanups()  # put the previous tracer back
                self.assertEqual(fired, [True])
                self.assertEqual(snapshot(), before)

    def test_interrupt_at_the_start_of_the_cleanup(self) -> None:
        """At `self._stopping = False` (the loop still marked stopping): KeyboardInterrupt, not "Event loop stopped"."""

        def at_cleanup(frame: FrameType) -> bool:
            return "self._stopping = False" in _line(frame)

        self.check(at_cleanup)

    def test_interrupt_after_the_hooks_are_set(self) -> None:
        """After run_forever set the async generator hooks, before its try (3.13+: in _run_forever_setup)."""

        def after_hooks(frame: FrameType) -> bool:
            return "_set_running_loop(self)" in _line(frame)

        self.check(after_hooks)


def _line(frame: FrameType) -> str:
    import linecache

    return linecache.getline(frame.f_code.co_filename, frame.f_lineno)


if __name__ == "__main__":
    unittest.main()
