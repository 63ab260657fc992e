"""The hygiene checks: what a test leaves behind fails it, each check can be turned off."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
import unittest
import warnings
from typing import Any
from unittest import mock

from asynctestkit import AsyncTestCase, ClockedTestCase, SlowCallbackWarning, configure
from asynctestkit._compat import BLOCKED_IS_CPU_OR_WAIT
from asynctestkit._verdict import _hygiene as _hygiene_module
from asynctestkit._verdict._hygiene import Hygiene
from asynctestkit._virtual import _loop as _loop_module
from tests._support import only_failure, run_test

HEAD = r"^AssertionError: The test left a mess behind \(asynctestkit hygiene checks"


run = run_test


# The end of a slow callback's line: where the sampler saw it, if it did
# (a block just over the threshold may be over before it looks).
SAMPLED = r"(?:, at(?: \(innermost first\))?:)?$"


def no_sampler() -> Any:
    """Keep the sampler from seeing the test's callbacks (the report's wording without it)."""
    return mock.patch.object(_hygiene_module.Hygiene, "_sample", lambda self, watch: None)


def failure(test: unittest.TestCase, result: unittest.TestResult) -> str:
    """Return the text of the single failure in ``result``, a hygiene report."""
    text = only_failure(test, result)
    test.assertRegex(text, "(?m)" + HEAD)
    return text


async def forever() -> None:
    await asyncio.Event().wait()


async def nap() -> None:
    await asyncio.sleep(60)


def schedule_at(loop: asyncio.AbstractEventLoop) -> None:
    loop.call_at(loop.time() + 5, print, "at")  # at made here


async def stubborn(swallowed: list[float]) -> None:
    """Go on after the first cancellation, as 3.10-3.11's wait_for() may (gh-86296)."""
    while True:
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed.append(asyncio.get_running_loop().time())


class LeakedTaskTest(unittest.TestCase):
    """check_tasks: a task not owned through create_task still pending at the end."""

    def test_report_names_task_coroutine_waiting_line_and_creation_line(self) -> None:
        """The failure names the task, its coroutine, the line it waits at and where it was made."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                asyncio.get_running_loop().create_task(forever(), name="orphan")  # made here
                await asyncio.sleep(0)

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^Tasks still pending at the end of the test; own them with "
                               r"self\.create_task\(\) .* \(1\):$")
        self.assertRegex(text, r"(?m)^- task 'orphan' running forever\(\)$")
        self.assertRegex(text, r"(?m)^    waiting at \(outermost first\):\n"
                               r'      File ".*test_hygiene\.py", line \d+, in forever\n'
                               r"        await asyncio\.Event\(\)\.wait\(\)$")
        self.assertRegex(text, r"(?m)^    created at \(innermost first\):\n"
                               r'      File ".*test_hygiene\.py", line \d+, in test_it\n'
                               r".*# made here$")
        self.assertNotIn("unittest", text.split("created at")[1])  # ends at the test, not the runner

    def test_leaked_task_is_cancelled(self) -> None:
        """The leaked task is cancelled and awaited before the loop closes."""
        events: list[str] = []

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                async def worker() -> None:
                    try:
                        await forever()
                    except asyncio.CancelledError:
                        events.append("cancelled")
                        raise

                asyncio.ensure_future(worker())  # noqa: RUF006
                await asyncio.sleep(0)

        failure(self, run(Test("test_it")))
        self.assertEqual(events, ["cancelled"])

    def test_turned_off_by_class_attribute_and_configure(self) -> None:
        """check_tasks = False, or @configure(check_tasks=False), lets the test pass."""

        class Off(AsyncTestCase):
            check_tasks = False

            async def test_it(self) -> None:
                asyncio.ensure_future(forever())  # noqa: RUF006
                await asyncio.sleep(0)

        class OffForOne(AsyncTestCase):
            @configure(check_tasks=False)
            async def test_it(self) -> None:
                asyncio.ensure_future(forever())  # noqa: RUF006
                await asyncio.sleep(0)

        self.assertTrue(run(Off("test_it")).wasSuccessful())
        self.assertTrue(run(OffForOne("test_it")).wasSuccessful())

    def test_leaked_task_survives_a_collection_until_it_is_cancelled(self) -> None:
        """A leaked task held only by a reference cycle is not collected (and reported
        "destroyed but pending") before the verdict cancels it, even with the check off."""
        all_tasks = asyncio.all_tasks

        def collecting_all_tasks(loop: asyncio.AbstractEventLoop | None = None) -> set[asyncio.Task[Any]]:
            gc.collect()  # the worst moment: while the verdict looks for leaks
            return all_tasks(loop)

        class OffForOne(AsyncTestCase):
            @configure(check_tasks=False)
            async def test_it(self) -> None:
                asyncio.ensure_future(forever())  # noqa: RUF006 - only a cycle holds it
                await asyncio.sleep(0)

        with mock.patch("asyncio.all_tasks", collecting_all_tasks):
            result = run(OffForOne("test_it"))
        self.assertEqual(result.failures + result.errors, [])


class PendingTimerTest(unittest.TestCase):
    """check_timers: a call_later/call_at timer still pending at the end."""

    def test_pending_timer_fails_the_test(self) -> None:
        """The failure says when the timer is due and what it calls; the timer is cancelled."""
        handles: list[asyncio.TimerHandle] = []

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                handles.append(asyncio.get_running_loop().call_later(10, print, "late"))

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^Timers still pending at the end of the test \(1\); cancel them:\n"
                               r"- due in (10\.000|9\.\d{3}) s: print\('late'\)$")
        self.assertTrue(handles[0].cancelled())

    def test_report_names_where_each_timer_was_made(self) -> None:
        """call_later and call_at timers name the line that made them, on the platform and virtual loops."""
        for base in (AsyncTestCase, ClockedTestCase):

            class Test(base):  # type: ignore[valid-type, misc]
                async def test_it(self) -> None:
                    loop = asyncio.get_running_loop()
                    loop.call_later(10, print, "later")  # later made here
                    schedule_at(loop)

            with self.subTest(base=base.__name__):
                text = failure(self, run(Test("test_it")))
                self.assertRegex(text, r"(?m)^- due in \S+ s: print\('later'\)\n"
                                       r"    created at \(innermost first\):\n"
                                       r'      File ".*test_hygiene\.py", line \d+, in test_it\n'
                                       r"        loop\.call_later\(10, print, \"later\"\)  # later made here$")
                self.assertRegex(text, r"(?m)^- due in \S+ s: print\('at'\)\n"
                                       r"    created at \(innermost first\):\n"
                                       r'      File ".*test_hygiene\.py", line \d+, in schedule_at\n'
                                       r".*# at made here\n"
                                       r'      File ".*test_hygiene\.py", line \d+, in test_it\n'
                                       r"        schedule_at\(loop\)$")

    def test_a_leaked_tasks_own_sleep_is_part_of_its_entry(self) -> None:
        """The timer behind a leaked task's sleep shows in the task's entry, not as a second finding."""

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                asyncio.get_running_loop().create_task(nap(), name="napper")
                await asyncio.sleep(1)

        text = failure(self, run(Test("test_it")))
        self.assertNotIn("Timers still pending", text)
        self.assertRegex(text, r"(?m)^- task 'napper' running nap\(\)\n"
                               r"    waiting at \(outermost first\):\n.*\n.*\n(.*\n)*"
                               r"    woken by a timer due in 59\.000 s: _set_result_unless_cancelled\(")

    @unittest.skipUnless(hasattr(asyncio, "timeout"), "asyncio.timeout() is 3.11+")
    def test_a_leaked_tasks_timeout_and_a_timer_cancelling_it_are_part_of_its_entry(self) -> None:
        """asyncio.timeout()'s timer and a call_later(task.cancel) belong to the task too."""

        async def guarded() -> None:
            async with asyncio.timeout(3600):  # type: ignore[attr-defined]
                await asyncio.sleep(60)

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                loop = asyncio.get_running_loop()
                task = loop.create_task(guarded(), name="guarded")
                loop.call_later(5, task.cancel)
                await asyncio.sleep(1)

        text = failure(self, run(Test("test_it")))
        self.assertNotIn("Timers still pending", text)
        self.assertRegex(text, r"(?m)^    woken by a timer due in 59\.000 s: _set_result_unless_cancelled\(")
        self.assertRegex(text, r"(?m)^    woken by a timer due in 3599\.000 s: Timeout\._on_timeout\(\)$")
        self.assertRegex(text, r"(?m)^    woken by a timer due in 4\.000 s: Task\.cancel\(\)$")

    def test_sites_are_noted_only_while_the_check_is_on(self) -> None:
        """With check_timers off no creation site is taken (no cost); with it on, one per timer."""
        loop = asyncio.SelectorEventLoop()
        self.addCleanup(loop.close)
        for on in (False, True):
            hygiene = Hygiene(loop, slow_threshold=None, coroutines=False, threads=False, timers=on)
            hygiene.install()
            handle = loop.call_later(10, print)
            sites = dict(hygiene.timer_sites)
            hygiene.uninstall()
            handle.cancel()
            self.assertEqual(list(sites), [id(handle)] if on else [])

    def test_turned_off_by_class_attribute_and_configure(self) -> None:
        """check_timers = False, or @configure(check_timers=False), lets the test pass."""

        class Off(ClockedTestCase):
            check_timers = False

            async def test_it(self) -> None:
                asyncio.get_running_loop().call_at(100, print)

        class OffForOne(AsyncTestCase):
            @configure(check_timers=False)
            async def test_it(self) -> None:
                asyncio.get_running_loop().call_later(10, print)

        self.assertTrue(run(Off("test_it")).wasSuccessful())
        self.assertTrue(run(OffForOne("test_it")).wasSuccessful())


class LoopExceptionTest(unittest.TestCase):
    """check_exceptions: an exception reached the loop's exception handler."""

    def test_unretrieved_task_exception_fails_the_test(self) -> None:
        """A task's exception nobody retrieved is reported with its traceback."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                async def boom() -> None:
                    raise ValueError("lost")

                asyncio.ensure_future(boom())  # noqa: RUF006
                await asyncio.sleep(0)
                await asyncio.sleep(0)

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^Exceptions reached the loop's exception handler \(1\):\n"
                               r"- Task exception was never retrieved$")
        self.assertRegex(text, r"(?m)^  ValueError: lost$")
        self.assertIn('raise ValueError("lost")', text)

    def test_unretrieved_exception_of_a_task_in_a_reference_cycle_fails_the_test(self) -> None:
        """A failed task that only the garbage collector would free is reported at the verdict, once."""

        async def boom(box: list[object]) -> None:
            box.append(asyncio.current_task())  # the task -> traceback -> frame -> box -> the task
            raise ValueError("lost in a cycle")

        for base in (AsyncTestCase, ClockedTestCase):
            with self.subTest(base=base.__name__):

                class Test(base):  # type: ignore[valid-type, misc]
                    async def test_it(self) -> None:
                        asyncio.ensure_future(boom([]))  # noqa: RUF006
                        await asyncio.sleep(0)

                gc.disable()  # no collection before the verdict, as when the heap is quiet
                try:
                    with self.assertNoLogs("asyncio"):  # not reported again when collected
                        text = failure(self, run(Test("test_it")))
                        gc.collect()
                finally:
                    gc.enable()
                self.assertRegex(text, r"(?m)^Exceptions reached the loop's exception handler \(1\):\n"
                                       r"- Task exception was never retrieved\n"
                                       r"  task: <Task finished name='Task-\d+' coro=<.*boom\(\) done")
                self.assertRegex(text, r"(?m)^  ValueError: lost in a cycle$")

    def test_retrieved_and_cancelled_tasks_are_not_reported(self) -> None:
        """Tasks whose exception was retrieved, or that were cancelled, pass the unretrieved check."""

        async def boom() -> None:
            raise ValueError("seen")

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                seen = asyncio.ensure_future(boom())
                cancelled = asyncio.ensure_future(asyncio.sleep(1))
                await asyncio.sleep(0)
                cancelled.cancel()
                await asyncio.wait({seen, cancelled})
                self.assertIsInstance(seen.exception(), ValueError)

        self.assertTrue(run(Test("test_it")).wasSuccessful())

    def test_exception_in_a_callback_fails_the_test(self) -> None:
        """An exception raised by a call_soon callback is reported with the handle."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                asyncio.get_running_loop().call_soon(int, "x")
                await asyncio.sleep(0)

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^- Exception in callback int\(.*\)$")
        self.assertRegex(text, r"(?m)^  handle: int\('x'\)$")
        self.assertRegex(text, r"(?m)^  ValueError: invalid literal for int\(\) with base 10: 'x'$")

    def test_turned_off_by_class_attribute_and_configure(self) -> None:
        """check_exceptions = False, or @configure(check_exceptions=False), lets the test pass."""

        class Off(AsyncTestCase):
            check_exceptions = False

            async def test_it(self) -> None:
                asyncio.get_running_loop().call_soon(int, "x")
                await asyncio.sleep(0)

        class OffForOne(AsyncTestCase):
            @configure(check_exceptions=False)
            async def test_it(self) -> None:
                asyncio.get_running_loop().call_soon(int, "x")
                await asyncio.sleep(0)

        self.assertTrue(run(Off("test_it")).wasSuccessful())
        self.assertTrue(run(OffForOne("test_it")).wasSuccessful())

    def test_context_without_an_exception(self) -> None:
        """A call_exception_handler() with only a message is reported by its message."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                asyncio.get_running_loop().call_exception_handler({"message": "something odd"})

        self.assertRegex(failure(self, run(Test("test_it"))), r"(?m)^- something odd$")

    def test_handler_is_restored(self) -> None:
        """A loop_factory's own exception handler is back in place after the test."""
        loops: list[asyncio.AbstractEventLoop] = []

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            pass  # pragma: no cover - never called

        def factory() -> asyncio.AbstractEventLoop:
            loop = asyncio.SelectorEventLoop()
            loop.set_exception_handler(handler)
            loops.append(loop)
            return loop

        class Test(AsyncTestCase):
            loop_factory = factory

            async def test_it(self) -> None:
                self.assertIsNot(asyncio.get_running_loop().get_exception_handler(), handler)

        self.assertTrue(run(Test("test_it")).wasSuccessful())
        self.assertIs(loops[0].get_exception_handler(), handler)


class NeverAwaitedTest(unittest.TestCase):
    """check_coroutines: a coroutine was never awaited."""

    def test_never_awaited_coroutine_fails_the_test(self) -> None:
        """The failure names the coroutine and the line that made it."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                asyncio.sleep(1)  # forgot the await

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^Coroutines never awaited \(1\); await them or close\(\) them:\n"
                               r"- coroutine sleep\(\) was never awaited, created at \(most recent call last\):\n"
                               r'    File ".*test_hygiene\.py", line \d+, in test_it\n'
                               r"        asyncio\.sleep\(1\)  # forgot the await$")

    def test_sync_set_up_is_watched_too(self) -> None:
        """A coroutine dropped in a sync setUp is caught as well."""

        class Test(AsyncTestCase):
            def setUp(self) -> None:
                asyncio.sleep(0)

            async def test_it(self) -> None:
                pass

        self.assertRegex(failure(self, run(Test("test_it"))), r"(?m)^- coroutine sleep\(\) was never awaited")

    def test_turned_off_by_class_attribute_and_configure(self) -> None:
        """check_coroutines = False, or @configure(check_coroutines=False), lets the test pass."""

        class Off(AsyncTestCase):
            check_coroutines = False

            async def test_it(self) -> None:
                asyncio.sleep(0)

        class OffForOne(AsyncTestCase):
            @configure(check_coroutines=False)
            async def test_it(self) -> None:
                asyncio.sleep(0)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # Python's own warning, now unhooked
            self.assertTrue(run(Off("test_it")).wasSuccessful())
            self.assertTrue(run(OffForOne("test_it")).wasSuccessful())

    def test_deeper_origin_tracking_is_left_alone(self) -> None:
        """A program tracking deeper origins keeps its depth during and after the test."""
        depth = sys.get_coroutine_origin_tracking_depth()
        sys.set_coroutine_origin_tracking_depth(20)
        self.addCleanup(sys.set_coroutine_origin_tracking_depth, depth)
        seen: list[int] = []

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                seen.append(sys.get_coroutine_origin_tracking_depth())

        self.assertTrue(run(Test("test_it")).wasSuccessful())
        self.assertEqual(seen, [20])
        self.assertEqual(sys.get_coroutine_origin_tracking_depth(), 20)

    def test_hooks_are_restored(self) -> None:
        """warnings' hook and the origin tracking depth are back after the test."""
        hook = warnings._warn_unawaited_coroutine  # type: ignore[attr-defined]
        depth = sys.get_coroutine_origin_tracking_depth()

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                self.assertIsNot(warnings._warn_unawaited_coroutine, hook)  # type: ignore[attr-defined]
                self.assertGreater(sys.get_coroutine_origin_tracking_depth(), depth)

        self.assertTrue(run(Test("test_it")).wasSuccessful())
        self.assertIs(warnings._warn_unawaited_coroutine, hook)  # type: ignore[attr-defined]
        self.assertEqual(sys.get_coroutine_origin_tracking_depth(), depth)


class CancelledStillRunningTest(unittest.TestCase):
    """A task that was cancelled and went on is named as such."""

    def test_leak_report_says_cancelled_and_when(self) -> None:
        """The leaked task's entry says how long ago it was cancelled, and that it still runs."""

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                task = asyncio.get_running_loop().create_task(stubborn([]), name="stubborn")
                await asyncio.sleep(0)
                task.cancel()  # like a service's stop() that never returns
                await asyncio.sleep(2.5)

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^- task 'stubborn' running stubborn\(\)\n"
                               r"    cancelled 2\.500 s ago, still running \(it caught or swallowed the "
                               r"CancelledError, or is still unwinding; on 3\.10-3\.11 wait_for\(\) can "
                               r"swallow one, gh-86296\)$")

    @unittest.skipUnless(hasattr(asyncio, "timeout"), "asyncio.timeout() is 3.11+")
    def test_a_timeout_that_was_handled_is_not_a_cancellation(self) -> None:
        """asyncio.timeout() cancels and takes the request back: the task rightly goes on."""

        async def poller() -> None:
            while True:
                try:
                    async with asyncio.timeout(1):  # type: ignore[attr-defined]
                        await asyncio.Event().wait()
                except TimeoutError:
                    continue

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                asyncio.get_running_loop().create_task(poller(), name="poller")
                await asyncio.sleep(3.5)

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^- task 'poller' running .*poller\(\)\n    waiting at")
        self.assertNotIn("cancelled", text)

    @unittest.skipIf(sys.version_info >= (3, 12), "3.12+'s wait_for() does not swallow it")
    def test_the_cancellation_wait_for_swallows(self) -> None:
        """3.10-3.11: a reply and a stop() in one step: wait_for() returns the reply, the task goes on (gh-86296)."""

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                loop = asyncio.get_running_loop()
                replies = [loop.create_future(), loop.create_future()]

                async def client() -> None:
                    for reply in replies:
                        await asyncio.wait_for(reply, 10)

                task = loop.create_task(client(), name="client")
                await asyncio.sleep(0)
                replies[0].set_result("ok")
                task.cancel()  # the stop, in the same step as the reply
                await asyncio.sleep(1)

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^- task 'client' running .*client\(\)\n"
                               r"    cancelled 1\.000 s ago, still running \(.*gh-86296\)$")

    def test_watchdog_report_says_it_too(self) -> None:
        """The watchdog's list of pending tasks names the cancelled task that went on."""

        class Test(AsyncTestCase):
            timeout = 0.2

            async def test_it(self) -> None:
                task = asyncio.get_running_loop().create_task(stubborn([]), name="stubborn")
                await asyncio.sleep(0)
                task.cancel()
                await asyncio.sleep(0)
                await task  # never returns: the task swallowed its cancellation

        text = only_failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^AssertionError: The test ran longer than its timeout of 0\.2 s")
        self.assertRegex(text, r"(?m)^- task 'stubborn' running stubborn\(\)\n"
                               r"    cancelled \d+\.\d{3} s ago, still running ")


class NeverAwaitedInCycleTest(unittest.TestCase):
    """A never-awaited coroutine that a reference cycle keeps alive is its own test's finding."""

    def test_blamed_on_the_test_that_made_it(self) -> None:
        """The test that dropped it fails; a later test that runs the collector does not."""
        if not gc.isenabled():  # pragma: no cover - the suite runs with the collector on
            self.skipTest("needs the garbage collector")

        class Maker(AsyncTestCase):
            async def test_it(self) -> None:
                holder: list[Any] = []
                holder.append(holder)
                holder.append(asyncio.sleep(1))  # never awaited, in a cycle
                for _ in range(3):
                    gc.collect(0)  # the cycle survives young collections: now older
                [[] for _ in range(20_000)]  # enough to run the collector on its own

        class Collector(AsyncTestCase):
            # A full collection of the whole suite's heap is real work that a
            # loaded machine can stretch past the slow-callback threshold: not
            # what this test is about.
            slow_callback_duration = None

            async def test_it(self) -> None:
                gc.collect()

        text = failure(self, run(Maker("test_it")))
        self.assertRegex(text, r"(?m)^- coroutine sleep\(\) was never awaited, created at \(most recent call last\):\n"
                               r'    File ".*test_hygiene\.py", line \d+, in test_it\n'
                               r"        holder\.append\(asyncio\.sleep\(1\)\)  # never awaited, in a cycle$")
        result = run(Collector("test_it"))
        self.assertTrue(result.wasSuccessful(), result.failures + result.errors)


    def test_garbage_from_before_the_test_is_not_its_finding(self) -> None:
        """A never-awaited coroutine dropped before the test started is not the test's, though its verdict collects."""
        if not gc.isenabled():  # pragma: no cover - the suite runs with the collector on
            self.skipTest("needs the garbage collector")

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                pass

        gc.disable()
        try:
            holder: list[Any] = []
            holder.append(holder)
            holder.append(asyncio.sleep(1))  # dropped before the test, in a cycle
            del holder
        finally:
            gc.enable()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # Python's own "never awaited", as without us
            result = run(Test("test_it"))
        self.assertTrue(result.wasSuccessful(), result.failures)


class WrongThreadTest(unittest.TestCase):
    """check_threads: call_soon/call_later/call_at from a thread other than the loop's."""

    def body(self, method: str) -> Any:
        async def test_it(case: AsyncTestCase) -> None:
            loop = asyncio.get_running_loop()
            done = asyncio.Event()

            def from_thread() -> None:
                if method == "call_soon":
                    loop.call_soon(done.set)  # wrong: not thread-safe
                else:
                    loop.call_later(0, done.set)  # wrong as well
                loop.call_soon_threadsafe(lambda: None)  # right: wakes the loop

            thread = threading.Thread(target=from_thread, name="worker")
            thread.start()
            thread.join()  # before awaiting: the virtual loop does not track bare threads
            await done.wait()

        return test_it

    def test_call_soon_from_another_thread_fails_the_test(self) -> None:
        """The failure names the thread, the method, the callback and the calling line."""
        body = self.body("call_soon")

        class Test(AsyncTestCase):
            slow_callback_duration = None  # the body joins a thread on the loop: not what is tested
            async def test_it(self) -> None:
                await body(self)

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^Calls into the loop from another thread \(1\); the loop is not "
                               r"thread-safe: use loop\.call_soon_threadsafe\(\) or "
                               r"asyncio\.run_coroutine_threadsafe\(\):\n"
                               r"- thread 'worker' called loop\.call_soon\(<bound method Event\.set")
        self.assertIn("loop.call_soon(done.set)  # wrong: not thread-safe", text)

    def test_call_later_is_reported_once(self) -> None:
        """call_later (which calls call_at inside) counts as one call, on both loops."""
        body = self.body("call_later")

        class Default(AsyncTestCase):
            slow_callback_duration = None  # the body joins a thread on the loop: not what is tested
            async def test_it(self) -> None:
                await body(self)

        class Clocked(ClockedTestCase):
            slow_callback_duration = None  # the body joins a thread on the loop: not what is tested
            async def test_it(self) -> None:
                await body(self)

        for case in (Default("test_it"), Clocked("test_it")):
            text = failure(self, run(case))
            self.assertRegex(text, r"(?m)^Calls into the loop from another thread \(1\);")
            self.assertRegex(text, r"(?m)^- thread 'worker' called loop\.call_later\(")

    def test_threadsafe_calls_and_executors_are_fine(self) -> None:
        """call_soon_threadsafe, run_in_executor and to_thread do not trip the check."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                loop = asyncio.get_running_loop()
                self.assertEqual(await loop.run_in_executor(None, sum, [1, 2]), 3)
                self.assertEqual(await asyncio.to_thread(len, "abc"), 3)

        self.assertTrue(run(Test("test_it")).wasSuccessful())

    def test_turned_off_by_class_attribute_and_configure(self) -> None:
        """check_threads = False, or @configure(check_threads=False), lets the test pass."""
        body = self.body("call_soon")

        class Off(AsyncTestCase):
            slow_callback_duration = None  # the body joins a thread on the loop: not what is tested
            check_threads = False

            async def test_it(self) -> None:
                await body(self)

        class OffForOne(AsyncTestCase):
            slow_callback_duration = None  # the body joins a thread on the loop: not what is tested
            @configure(check_threads=False)
            async def test_it(self) -> None:
                await body(self)

        self.assertTrue(run(Off("test_it")).wasSuccessful())
        self.assertTrue(run(OffForOne("test_it")).wasSuccessful())

    def test_a_loops_own_shadow_is_restored(self) -> None:
        """A call_soon the loop_factory set on the instance is back after the test, and still used."""
        calls: list[str] = []

        def make_loop() -> asyncio.AbstractEventLoop:
            loop = asyncio.SelectorEventLoop()
            original = loop.call_soon

            def call_soon(callback: Any, *args: Any, context: Any = None) -> asyncio.Handle:
                calls.append("shadow")
                return original(callback, *args, context=context)

            loop.call_soon = call_soon  # type: ignore[method-assign]
            self.loop = loop
            return loop

        class Test(AsyncTestCase):
            loop_factory = make_loop

            async def test_it(self) -> None:
                await asyncio.sleep(0)

        self.assertTrue(run(Test("test_it")).wasSuccessful())
        self.assertIn("shadow", calls)
        self.assertEqual(vars(self.loop)["call_soon"].__name__, "call_soon")
        self.assertNotIn("call_later", vars(self.loop))

    def test_loop_methods_are_restored(self) -> None:
        """The per-loop shadows of call_soon/call_later/call_at are gone after the test."""
        loops: list[asyncio.AbstractEventLoop] = []

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                loops.append(asyncio.get_running_loop())
                self.assertIn("call_soon", vars(loops[0]))

        self.assertTrue(run(Test("test_it")).wasSuccessful())
        self.assertFalse({"call_soon", "call_later", "call_at"} & set(vars(loops[0])))


class SlowCallbackTest(unittest.TestCase):
    """slow_callback_duration: callbacks that block the loop, in real time."""

    def cases(self, base: type[AsyncTestCase], **options: Any) -> type[AsyncTestCase]:
        class Test(base):  # type: ignore[valid-type, misc]
            slow_callback_duration = 0.1

            async def test_blocks(self) -> None:
                await asyncio.sleep(0)
                time.sleep(0.3)  # blocks the loop (long enough for the sampler to see, under load)
                await asyncio.sleep(0)

            async def test_quick(self) -> None:
                await asyncio.sleep(0)

        for name, value in options.items():
            setattr(Test, name, value)
        return Test

    def check_warning(self, base: type[AsyncTestCase]) -> None:
        test = self.cases(base)
        # Without the sampler (tests/test_slow_sampler.py tests it), the step
        # is named by where it waited next: what the report says when the
        # sampler did not see the callback (one just over its threshold).
        with warnings.catch_warnings(record=True) as caught, no_sampler():
            warnings.simplefilter("always")
            result = run(test("test_blocks"))
        self.assertTrue(result.wasSuccessful(), result.failures + result.errors)
        slow = [w for w in caught if issubclass(w.category, SlowCallbackWarning)]
        self.assertEqual(len(slow), 1)
        self.assertRegex(
            str(slow[0].message),
            r"^Callbacks blocked the loop longer than slow_callback_duration=0\.1 s:\n"
            r"- a step of task '.*test_blocks: test_blocks' running .*Test\.test_blocks\(\), between the line it "
            r"resumed at and line \d+ of .*test_hygiene\.py, where it waited next"
            r".* blocked the loop for \d\.\d\d\d s \(real time\)",
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.assertTrue(run(test("test_quick")).wasSuccessful())
        self.assertEqual(caught, [])

    def check_failure(self, base: type[AsyncTestCase]) -> None:
        text = failure(self, run(self.cases(base, slow_callback_fails=True)("test_blocks")))
        self.assertRegex(text, r"(?m)^Callbacks blocked the loop longer than slow_callback_duration=0\.1 s:$")

    def test_warning_on_the_default_loop(self) -> None:
        """A 0.3 s block warns (SlowCallbackWarning); a quick test does not (selector timing path)."""
        self.check_warning(AsyncTestCase)

    # The virtual loop times callbacks itself, with the real perf_counter even
    # though patch_time makes time.perf_counter() virtual on the loop's thread.
    def test_warning_on_the_virtual_loop(self) -> None:
        """The same on ClockedTestCase, whose loop times each callback itself."""
        self.check_warning(ClockedTestCase)

    def test_failure_when_configured(self) -> None:
        """slow_callback_fails = True makes it a failure."""
        self.check_failure(AsyncTestCase)

    def test_failure_when_configured_on_the_virtual_loop(self) -> None:
        """slow_callback_fails = True makes it a failure on the virtual loop too."""
        self.check_failure(ClockedTestCase)

    def test_cpu_work_is_reported(self) -> None:
        """A callback busy computing for 0.12 s of CPU time is reported, on both loops."""
        for base in (AsyncTestCase, ClockedTestCase):
            with self.subTest(base=base.__name__):

                class Test(base):  # type: ignore[valid-type, misc]
                    slow_callback_duration = 0.1
                    slow_callback_fails = True

                    async def test_it(self) -> None:
                        await asyncio.sleep(0)
                        started = time.thread_time()
                        while time.thread_time() - started < 0.12:  # a runaway computation
                            pass
                        await asyncio.sleep(0)

                text = failure(self, run(Test("test_it")))
                self.assertRegex(text, r"(?m)^- a step of task .*test_it.* blocked the loop for \d\.\d\d\d s \(real time\)" + SAMPLED)

    def check_busy_machine(self, base: type[AsyncTestCase], module: Any) -> None:
        # The double: the real clock the check reads jumps 0.5 s inside one
        # callback, as it does for a thread the OS took the CPU from; the
        # callback itself neither computes nor waits.
        taken = [0.0]
        real = module._perf_counter

        class Test(base):  # type: ignore[valid-type, misc]
            slow_callback_duration = 0.1
            slow_callback_fails = True

            async def test_it(self) -> None:
                await asyncio.sleep(0)
                taken[0] += 0.5  # descheduled for half a second
                await asyncio.sleep(0)

        with mock.patch.object(module, "_perf_counter", lambda: real() + taken[0]):
            result = run(Test("test_it"))
        self.assertEqual(taken, [0.5])  # the double did take the time
        self.assertTrue(result.wasSuccessful(), result.failures + result.errors)

    @unittest.skipUnless(BLOCKED_IS_CPU_OR_WAIT, "needs the thread's own CPU time and waits (Linux)")
    def test_time_a_busy_machine_took_is_not_reported(self) -> None:
        """A callback slow in wall time only because the OS ran other work is not reported."""
        self.check_busy_machine(AsyncTestCase, _hygiene_module)

    @unittest.skipUnless(BLOCKED_IS_CPU_OR_WAIT, "needs the thread's own CPU time and waits (Linux)")
    def test_time_a_busy_machine_took_is_not_reported_on_the_virtual_loop(self) -> None:
        """The same on ClockedTestCase, whose loop times each callback itself."""
        self.check_busy_machine(ClockedTestCase, _loop_module)

    def test_turned_off_with_none(self) -> None:
        """slow_callback_duration = None checks nothing."""
        test = self.cases(AsyncTestCase, slow_callback_duration=None, slow_callback_fails=True)
        self.assertTrue(run(test("test_blocks")).wasSuccessful())

    def test_io_callbacks_are_reported_by_name(self) -> None:
        """A reader callback that blocks is named, though it removed its reader (which cancels its handle)."""

        class Test(AsyncTestCase):
            slow_callback_duration = 0.05
            slow_callback_fails = True

            async def test_it(self) -> None:
                import socket

                loop = asyncio.get_running_loop()
                a, b = socket.socketpair()
                self.addCleanup(a.close)
                self.addCleanup(b.close)
                done = asyncio.Event()

                def on_readable() -> None:
                    a.recv(1)
                    loop.remove_reader(a)
                    time.sleep(0.3)  # long enough for the sampler to see, under load
                    done.set()

                loop.add_reader(a, on_readable)
                b.send(b"x")
                await done.wait()

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, r"(?m)^- .*\.on_readable\(\) blocked the loop for \d\.\d\d\d s \(real time\)" + SAMPLED)


class CleanTestTest(unittest.TestCase):
    """A test that leaves nothing behind passes, with every check on."""

    def test_clean_test_passes(self) -> None:
        """Owned tasks, awaited coroutines and cancelled timers are fine."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                loop = asyncio.get_running_loop()
                self.create_task(forever())
                handle = loop.call_later(10, print)
                await asyncio.sleep(0)
                handle.cancel()

        self.assertTrue(run(Test("test_it")).wasSuccessful())

    def test_every_problem_in_one_report(self) -> None:
        """Several problems are reported together, one section each."""

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                loop = asyncio.get_running_loop()
                asyncio.ensure_future(forever())  # noqa: RUF006
                loop.call_later(10, print)
                loop.call_soon(int, "x")
                asyncio.sleep(0)
                await asyncio.sleep(0)

        text = failure(self, run(Test("test_it")))
        for section in ("Tasks still pending", "Timers still pending", "Exceptions reached",
                        "Coroutines never awaited"):
            self.assertRegex(text, rf"(?m)^{section}")


if __name__ == "__main__":
    unittest.main()
