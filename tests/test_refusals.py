"""Options and helpers either do what they were given or refuse it at once, saying what to do."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import inspect
import threading
import types
import unittest
from collections.abc import Awaitable
from typing import Any
from unittest import mock

from asynctestkit import AsyncTestCase, ClockedTestCase, configure
from asynctestkit._mock._autospec import autospec
from tests._support import assert_refused, only_failure, run_test

HAS_AIOSQLITE = importlib.util.find_spec("aiosqlite") is not None
if HAS_AIOSQLITE:
    import aiosqlite  # here, not in the test: a first import can block its loop > 0.1 s


class ConfigureOnAClassTest(unittest.TestCase):
    """@configure(...) on a class sets the options for its tests; on a class that would ignore them, it refuses."""

    def test_a_timeout_on_the_class_stops_its_tests(self) -> None:
        """@configure(timeout=0.05) on the class: the hanging test is stopped with the watchdog's report."""

        @configure(timeout=0.05)
        class Test(AsyncTestCase):
            async def test_hangs(self) -> None:
                await asyncio.Event().wait()

        self.assertEqual(Test.timeout, 0.05)
        text = only_failure(self, run_test(Test("test_hangs")))
        self.assertRegex(text, r"(?m)^AssertionError: The test ran longer than its timeout of 0\.05 s \(real time\)")

    def test_a_clocked_option_on_an_async_test_case_class_is_refused(self) -> None:
        """configure(autojump=False) on an AsyncTestCase class: each test errors, naming where it belongs."""
        with assert_refused(self, TypeError, r"^Test\.autojump: autojump is an option of ClockedTestCase"):

            @configure(autojump=False)
            class Test(AsyncTestCase):
                pass

    def test_a_plain_test_case_class_is_refused(self) -> None:
        """On a class that is not an AsyncTestCase, configure raises TypeError at once."""
        with self.assertRaisesRegex(
            TypeError,
            r"^@configure\(\.\.\.\) on .*Test: only an AsyncTestCase or ClockedTestCase reads these options, "
            r"and .*Test is neither; derive it from one of them$",
        ):

            @configure(timeout=1)
            class Test(unittest.IsolatedAsyncioTestCase):
                pass


class ConfigureOnAPlainMethodTest(unittest.TestCase):
    """@configure on a method of a plain unittest.TestCase is refused when the class is made."""

    def test_refused(self) -> None:
        """IsolatedAsyncioTestCase would run the test with the options ignored: TypeError, naming the method."""
        pattern = (
            r"^@configure\(\.\.\.\) on .*Test\.test_it: only an AsyncTestCase or ClockedTestCase reads "
            r"these options, and .*Test is neither \(they would be ignored\); derive the class from one of them$"
        )
        # 3.10-3.11 wrap an error raised by __set_name__ in a RuntimeError.
        with self.assertRaises((TypeError, RuntimeError)) as caught:

            class Test(unittest.IsolatedAsyncioTestCase):
                @configure(timeout=0.3)
                async def test_it(self) -> None:
                    await asyncio.sleep(2)

        error = caught.exception
        if isinstance(error, RuntimeError):
            error = error.__cause__  # type: ignore[assignment]
        self.assertIsInstance(error, TypeError)
        self.assertRegex(str(error), pattern)

    def test_on_an_async_test_case_the_method_is_the_function(self) -> None:
        """On an AsyncTestCase the method is the plain coroutine function again, options attached."""

        class Test(AsyncTestCase):
            @configure(timeout=3)
            async def test_it(self) -> None:
                pass

        self.assertTrue(inspect.iscoroutinefunction(vars(Test)["test_it"]))
        self.assertEqual(vars(Test)["test_it"]._asynctestkit_options, {"timeout": 3})
        self.assertTrue(run_test(Test("test_it")).wasSuccessful())

    def test_on_a_mixin_the_options_reach_the_test_case(self) -> None:
        """A mixin's configured test (as CPython's test_taskgroups mixes its tests in) keeps its options."""

        class Mixin:
            @configure(timeout=0.05)
            async def test_hangs(self) -> None:
                await asyncio.Event().wait()

        class Test(Mixin, AsyncTestCase):
            pass

        text = only_failure(self, run_test(Test("test_hangs")))
        self.assertRegex(text, r"(?m)^AssertionError: The test ran longer than its timeout of 0\.05 s")

    def test_a_patch_stacked_above_still_patches_the_async_test(self) -> None:
        """@mock.patch above @configure still sees an async test, and patches while it runs."""
        seen: list[object] = []

        class Test(AsyncTestCase):
            @mock.patch("tests.test_refusals.HAS_AIOSQLITE", "patched")
            @configure(timeout=3)
            async def test_it(self, *_: object) -> None:
                await asyncio.sleep(0)
                seen.append(HAS_AIOSQLITE)

        self.assertTrue(run_test(Test("test_it")).wasSuccessful())
        self.assertEqual(seen, ["patched"])


class ClassOptionsRefusedTest(unittest.TestCase):
    """Values the README says are refused when the class is made: each test of the class errors."""

    def test_a_time_target_that_is_no_module(self) -> None:
        """time_targets = ["no.such.module"]: refused, naming the module."""
        with assert_refused(
            self, ValueError,
            r"^Test\.time_targets must be .*; got \['no\.such\.module'\] \(list\): there is no module "
            r"'no\.such\.module' to patch; name the modules of the code under test, as `import` would$",
        ):

            class Test(ClockedTestCase):
                time_targets = ["no.such.module"]

    def test_explore_on_a_class_scoped_loop(self) -> None:
        """loop_scope = "class" with explore = 5 cannot explore: refused, saying what to do."""
        with assert_refused(
            self, ValueError,
            r"^Test\.explore = 5: exploring runs each test on a new loop per seed, and Test shares one loop "
            r"between its tests \(loop_scope = \"class\"\); explore a class with loop_scope = \"test\", ",
        ):

            class Test(ClockedTestCase):
                loop_scope = "class"
                explore = 5

    def test_explore_configured_on_a_test_of_a_class_scoped_loop(self) -> None:
        """The same for @configure(explore=...) on one of its tests."""
        with assert_refused(self, ValueError, r"^Test\.test_it: @configure\(explore=3\): exploring runs each"):

            class Test(ClockedTestCase):
                loop_scope = "class"

                @configure(explore=3)
                async def test_it(self) -> None:
                    pass


class AttributeHintsTest(unittest.TestCase):
    """Attributes users reach for that are not there say what to use instead."""

    def test_clock_before_the_test_runs(self) -> None:
        """self.clock before the test's loop exists."""

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                pass

        with self.assertRaisesRegex(
            AttributeError,
            r"^'Test' object has no attribute 'clock': a test's clock is made with its loop, when the test "
            r"starts: use self\.clock in setUp, asyncSetUp, the test and its cleanups",
        ):
            Test("test_it").clock  # noqa: B018

    def test_clock_on_an_async_test_case(self) -> None:
        """AsyncTestCase has no clock: derive from ClockedTestCase."""
        with self.assertRaisesRegex(
            AttributeError, r"^'AsyncTestCase' object has no attribute 'clock': only ClockedTestCase has a "
        ):
            AsyncTestCase().clock  # noqa: B018

    def test_asynctest_names(self) -> None:
        """asynctest's self.loop and self.advance name their replacements; other names read as usual."""
        case = AsyncTestCase()
        with self.assertRaisesRegex(AttributeError, r"^'AsyncTestCase' object has no attribute 'loop': .*"
                                                    r"asyncio\.get_running_loop\(\)"):
            case.loop  # noqa: B018
        with self.assertRaisesRegex(AttributeError, r"^'AsyncTestCase' object has no attribute 'advance': .*"
                                                    r"`await self\.clock\.advance\(t\)`"):
            case.advance  # noqa: B018
        with self.assertRaisesRegex(AttributeError, r"^'AsyncTestCase' object has no attribute 'nothing'$"):
            case.nothing  # noqa: B018
        self.assertFalse(hasattr(case, "loop"))


class HelperArgumentsTest(ClockedTestCase):
    """Helpers refuse what they would only fail on later."""

    async def test_assert_completes_within_a_function(self) -> None:
        """assertCompletesWithin(asyncio.sleep, 1): a TypeError that says to call it."""
        with self.assertRaisesRegex(
            TypeError,
            r"^assertCompletesWithin\(\) needs an awaitable \(a coroutine, task or future\); got <function "
            r"sleep at .*> \(call it: assertCompletesWithin\(f\(\.\.\.\), seconds\)\)$",
        ):
            await self.assertCompletesWithin(asyncio.sleep, 1)  # type: ignore[arg-type]

    def test_autospec_side_effect_that_is_no_side_effect(self) -> None:
        """side_effects={"f": 5}: refused at once, not at the first await."""

        class Service:
            async def f(self) -> int:
                return 1

        with self.assertRaisesRegex(
            TypeError,
            r"^autospec\(.*Service\): side_effects\['f'\] must be a callable, an exception \(class or instance\) "
            r"or an iterable of results; got 5 \(int\)\. To set what it returns, use returns= ",
        ):
            autospec(Service, side_effects={"f": 5})
        with self.assertRaisesRegex(TypeError, r"^autospec\(.*\): side_effect must be a callable, "):
            autospec(Service.f, side_effect=5)
        mocked = autospec(Service, side_effects={"f": [1, ValueError("x")]})
        self.assertEqual(mocked.f.side_effect is not None, True)


# A stand-in shaped like aiosqlite.Connection: `execute` is a plain def (made by
# a decorator with functools.wraps) returning a Result that is awaitable.
class Result:
    def __init__(self, coro: Awaitable[Any]) -> None:
        self._coro = coro

    def __await__(self) -> Any:
        return self._coro.__await__()


def contextmanager(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Result:
        return Result(method(self, *args, **kwargs))

    return wrapper


class Connection:
    @contextmanager
    async def execute(self, sql: str, parameters: Any = None) -> int:
        return 1

    def fetch_later(self) -> Awaitable[int]:  # annotated as returning an awaitable
        raise NotImplementedError

    def result(self) -> Result:  # returns a class with __await__
        raise NotImplementedError

    def later_text(self) -> Awaitable[int]:  # the annotation, as text, below
        raise NotImplementedError

    later_text.__annotations__["return"] = "Awaitable[int]"

    def close_now(self) -> None:
        pass


class AwaitableAutospecTest(ClockedTestCase):
    """Methods that say they return an awaitable autospec to AsyncMock; plain ones stay plain."""

    async def test_a_stand_in_shaped_like_aiosqlite(self) -> None:
        """execute (wraps an async def), fetch_later/result/later_text (annotations) are awaitable mocks."""
        db = autospec(Connection)
        await db.execute("select 1")
        db.execute.assert_awaited_once_with("select 1")
        for name in ("fetch_later", "result", "later_text"):
            with self.subTest(name=name):
                await getattr(db, name)()
                getattr(db, name).assert_awaited_once_with()
        self.assertIsInstance(db.close_now, mock.MagicMock)
        self.assertNotIsInstance(db.close_now, mock.AsyncMock)
        self.assertFalse(inspect.isawaitable(db.close_now()))
        with self.assertRaisesRegex(TypeError, r"missing a required argument: 'sql'"):
            db.execute()
        self.assertIn(mock.call.execute("select 1"), db.mock_calls)

    async def test_on_the_class_mock_too(self) -> None:
        """autospec(Connection, instance=False)(): the instance's execute is awaitable."""
        factory = autospec(Connection, instance=False)
        db = factory()
        await db.execute("x")
        db.execute.assert_awaited_once_with("x")

    @unittest.skipUnless(HAS_AIOSQLITE, "aiosqlite is not installed")
    @configure(slow_callback_duration=None)  # specs a large class: slow on a loaded machine, not a bug
    async def test_the_real_aiosqlite(self) -> None:
        """autospec(aiosqlite.Connection).execute is awaitable, and checks its signature."""
        db = autospec(aiosqlite.Connection)
        db.execute.return_value = "cursor"
        self.assertEqual(await db.execute("select 1"), "cursor")
        db.execute.assert_awaited_once_with("select 1")
        with self.assertRaises(TypeError):
            db.execute()


class Generators:
    @types.coroutine
    def legacy(self) -> Any:  # a generator-based coroutine: its code flags say so
        yield

    def named(self) -> Result:  # the annotation, as text naming a class with __await__, below
        raise NotImplementedError

    named.__annotations__["return"] = "Result[int]"

    def unknown(self) -> int:  # an annotation naming nothing: a plain mock, no error
        raise NotImplementedError

    unknown.__annotations__["return"] = "NoSuchName"


class MoreAwaitableAutospecTest(ClockedTestCase):
    """The other signs of a method that returns an awaitable."""

    async def test_code_flags_and_text_annotations(self) -> None:
        """@types.coroutine and a text annotation naming an awaitable class: AsyncMock; an unknown name: not."""
        mocked = autospec(Generators)
        self.assertIsInstance(mocked.legacy, mock.AsyncMock)
        self.assertIsInstance(mocked.named, mock.AsyncMock)
        self.assertNotIsInstance(mocked.unknown, mock.AsyncMock)
        await mocked.named()
        mocked.named.assert_awaited_once_with()

    async def test_a_step_returning_a_future(self) -> None:
        """An async cleanup that returns a Future (not a coroutine) is awaited as the step's task."""
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        awaited: list[bool] = []

        def cleanup() -> asyncio.Future[None]:
            awaited.append(True)
            return future

        self.addCleanup(self.assertEqual, awaited, [True])  # runs last (cleanups are LIFO)
        self.addCleanup(cleanup)


class AssertEventuallyPollingTest(ClockedTestCase):
    """On a virtual clock, assertEventually polls when something can have changed."""

    async def test_a_long_wait_takes_few_polls(self) -> None:
        """Waiting 3000 virtual seconds for a timer: a handful of polls, true right after the timer."""
        done: list[bool] = []
        polls: list[float] = []

        async def later() -> None:
            await asyncio.sleep(3000)
            done.append(True)

        task = asyncio.ensure_future(later())

        def predicate() -> bool:
            polls.append(self.clock.now)
            return bool(done)

        await self.assertEventually(predicate, timeout=4000)
        await task
        self.assertLess(len(polls), 10, polls)
        self.assertLessEqual(self.clock.now, 3000.01)

    async def test_an_explicit_interval_polls_every_interval(self) -> None:
        """interval=1: a predicate that reads the clock is polled every second, as asked."""
        polls: list[float] = []

        def predicate() -> bool:
            polls.append(self.clock.now)
            return self.clock.now >= 3

        await self.assertEventually(predicate, interval=1)
        self.assertEqual(polls, [0, 1, 2, 3])

    async def test_a_thread_at_work_is_polled_for(self) -> None:
        """While a thread works, polls come every 0.01 s: its result is seen soon after it lands."""
        release = threading.Event()
        done: list[bool] = []

        def work() -> None:
            release.wait(5)
            done.append(True)

        future = asyncio.get_running_loop().run_in_executor(None, work)
        release.set()
        await self.assertEventually(lambda: done, timeout=60)
        await future
        self.assertLess(self.clock.now, 1)

    async def test_a_timeout_still_fails(self) -> None:
        """A predicate never true fails at the deadline, with no timer pending meanwhile."""
        with self.assertRaisesRegex(AssertionError, r"to become true within 3000\.0 s \(loop time\)"):
            await self.assertEventually(lambda: False, timeout=3000)
        self.assertEqual(self.clock.now, 3000)


if __name__ == "__main__":
    unittest.main()
