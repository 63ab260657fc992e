"""Interrupt safety: a Ctrl-C landing anywhere leaves no global changed, and reads as itself."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import random
import signal
import sys
import threading
import time
import unittest
import warnings
from typing import TYPE_CHECKING, Any
from unittest import mock

from asynctestkit import AsyncTestCase, ClockedTestCase, VirtualClock, patch_time
from asynctestkit._compat import current_loop
from asynctestkit._shield import Undo, allowed_interrupts, deferred_interrupts, restore

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

HAS_ALARM = hasattr(signal, "setitimer")
TIME_NAMES = ("monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "time", "time_ns")


class PythonSigint(unittest.TestCase):
    """A base for these tests: SIGINT runs Python's own handler while they run.

    These tests are about Ctrl-C reaching Python code, but a process started
    in the background by a shell without job control inherits SIGINT ignored
    (SIG_IGN), and then no KeyboardInterrupt is ever raised. (Not module
    fixtures: the suites these tests run are of this module too, and would run
    them again.)
    """

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.addClassCleanup(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))
        signal.signal(signal.SIGINT, signal.default_int_handler)


def snapshot() -> dict[str, Any]:
    """Every process-wide thing asynctestkit changes while a test runs."""
    state: dict[str, Any] = {name: getattr(time, name) for name in TIME_NAMES}
    state["SIGINT handler"] = signal.getsignal(signal.SIGINT)
    if HAS_ALARM:
        state["SIGALRM handler"] = signal.getsignal(signal.SIGALRM)
        state["interval timer"] = signal.getitimer(signal.ITIMER_REAL)
    state["never-awaited hook"] = getattr(warnings, "_warn_unawaited_coroutine", None)
    state["origin tracking depth"] = sys.get_coroutine_origin_tracking_depth()
    state["current loop"] = current_loop()
    state["running loop"] = asyncio._get_running_loop()
    state["asyncgen hooks"] = tuple(sys.get_asyncgen_hooks())
    state["policy"] = getattr(asyncio.events, "_event_loop_policy", None)
    state["gc callbacks"] = list(gc.callbacks)
    return state


@contextlib.contextmanager
def interrupt_first_call(*places: tuple[object, str]) -> Iterator[list[bool]]:
    """Make the next call of the function at each ``(owner, name)`` raise KeyboardInterrupt at once.

    As a Ctrl-C landing on the function's first line: it has done nothing.
    Later calls run the real function. Where a module imported the function
    by name, list that module too.
    """
    fired: list[bool] = []
    real = getattr(*places[0])

    @functools.wraps(real)
    def first_call_interrupted(*args: Any, **kwargs: Any) -> Any:
        if not fired:
            fired.append(True)
            raise KeyboardInterrupt("forced")
        return real(*args, **kwargs)

    with contextlib.ExitStack() as stack:
        for owner, name in places:
            stack.enter_context(mock.patch.object(owner, name, first_call_interrupted))
        yield fired


class _Subjects:
    """Inner test classes the interrupts go through (out of the loader's sight)."""

    class Real(AsyncTestCase):
        timeout = 5

        async def test_tasks(self) -> None:
            task = asyncio.ensure_future(asyncio.sleep(0.001))
            for _ in range(20):
                await asyncio.sleep(0)
            await task

        async def test_times_out(self) -> None:
            self.timeout_seen = True
            await asyncio.Event().wait()

    class Clocked(ClockedTestCase):
        timeout = 5

        async def asyncSetUp(self) -> None:
            await asyncio.sleep(1)

        async def test_sleeps(self) -> None:
            for _ in range(20):
                await asyncio.sleep(10)
            with patch_time(self.clock):
                time.monotonic()

        async def asyncTearDown(self) -> None:
            await asyncio.sleep(1)

    class ClassScoped(ClockedTestCase):
        loop_scope = "class"
        timeout = 5
        loops: list[asyncio.AbstractEventLoop] = []

        @classmethod
        async def asyncSetUpClass(cls) -> None:
            cls.loops.append(asyncio.get_running_loop())
            cls.ticker = asyncio.ensure_future(cls.tick())
            await asyncio.sleep(1)

        @classmethod
        async def tick(cls) -> None:
            while True:
                await asyncio.sleep(1)

        async def test_one(self) -> None:
            await asyncio.sleep(5)

        async def test_two(self) -> None:
            await asyncio.sleep(5)


def suite() -> unittest.TestSuite:
    """The subjects' tests, with a short timeout for the one that hangs."""
    loader = unittest.defaultTestLoader
    tests = unittest.TestSuite()
    for case in (_Subjects.Real, _Subjects.Clocked, _Subjects.ClassScoped):
        for test in loader.loadTestsFromTestCase(case):
            if test.id().endswith("test_times_out"):
                test.timeout = 0.02  # type: ignore[attr-defined]
            tests.addTest(test)
    return tests


def warm_up() -> None:
    """Run the subjects once: what is made once per process (the loop policy) exists before a snapshot."""
    suite().run(unittest.TestResult())


class DeferredInterruptsTest(PythonSigint):
    """deferred_interrupts(): a SIGINT inside the block is raised when the block ends."""

    def test_a_sigint_waits_for_the_end_of_the_block(self) -> None:
        """The block finishes; KeyboardInterrupt is raised after it, and the handler is back."""
        events: list[str] = []
        with self.assertRaises(KeyboardInterrupt), deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            events.append("finished")
        self.assertEqual(events, ["finished"])
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_sections_nest(self) -> None:
        """Only the outermost block raises the deferred interrupt."""
        events: list[str] = []
        with self.assertRaises(KeyboardInterrupt), deferred_interrupts():
            with deferred_interrupts():
                signal.raise_signal(signal.SIGINT)
            events.append("after the inner block")
        self.assertEqual(events, ["after the inner block"])

    def test_a_second_interrupt_does_not_replace_the_first(self) -> None:
        """With a KeyboardInterrupt already on its way out, a deferred one is dropped."""
        with self.assertRaises(KeyboardInterrupt) as caught, deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            raise KeyboardInterrupt("first")
        self.assertEqual(str(caught.exception), "first")
        self.assertIsNone(caught.exception.__context__)

    def test_an_interrupt_is_not_lost_behind_an_error(self) -> None:
        """With an ordinary error on its way out, the Ctrl-C still wins."""
        with self.assertRaises(KeyboardInterrupt) as caught, deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            raise ValueError("an error")
        self.assertIsInstance(caught.exception.__context__, ValueError)

    def test_a_custom_handler_is_called_instead(self) -> None:
        """A program's own SIGINT handler gets the deferred signal (unittest's -c handler, say)."""
        seen: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
        self.addCleanup(signal.signal, signal.SIGINT, previous)
        with deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            self.assertEqual(seen, [])
        self.assertEqual(seen, [signal.SIGINT])

    def test_off_the_main_thread_it_does_nothing(self) -> None:
        """Another thread cannot (and need not) swap the SIGINT handler: the block just runs."""
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with deferred_interrupts():
                    pass
            except BaseException as exc:  # pragma: no cover - the failure being tested
                errors.append(exc)

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        self.assertEqual(errors, [])

    def test_allowed_interrupts_raises_a_held_sigint_on_entry(self) -> None:
        """Inside a deferred block, an allowed block first raises what was held back."""
        events: list[str] = []
        with self.assertRaises(KeyboardInterrupt), deferred_interrupts():
            signal.raise_signal(signal.SIGINT)
            events.append("deferred")
            with allowed_interrupts():
                events.append("user code")  # pragma: no cover - the interrupt comes first
        self.assertEqual(events, ["deferred"])

    def test_allowed_interrupts_lets_a_sigint_through_where_it_lands(self) -> None:
        """In an allowed block (the user's code), SIGINT raises at once, as without asynctestkit."""
        events: list[str] = []
        with self.assertRaises(KeyboardInterrupt), deferred_interrupts(), allowed_interrupts():
            signal.raise_signal(signal.SIGINT)
            events.append("after the signal")  # pragma: no cover - interrupted
        self.assertEqual(events, [])
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_a_handler_the_users_code_installs_is_kept(self) -> None:
        """A SIGINT handler set inside an allowed block is the one in place afterwards."""
        seen: list[int] = []

        def handler(signum: int, frame: object) -> None:
            seen.append(signum)

        self.addCleanup(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))
        with deferred_interrupts():
            with allowed_interrupts():
                signal.signal(signal.SIGINT, handler)
            signal.raise_signal(signal.SIGINT)  # held back, then given to the new handler
            self.assertEqual(seen, [])
        self.assertEqual(seen, [signal.SIGINT])
        self.assertIs(signal.getsignal(signal.SIGINT), handler)

    def test_restore_finishes_a_restore_cut_short(self) -> None:
        """restore(): an interrupt raised inside the restore runs it once more, then goes on."""
        calls: list[str] = []

        def put_back() -> None:
            calls.append("put back")
            if len(calls) == 1:
                raise KeyboardInterrupt("forced")

        with self.assertRaisesRegex(KeyboardInterrupt, "^forced$"):
            restore(put_back)
        self.assertEqual(calls, ["put back", "put back"])


class UndoTest(PythonSigint):
    """Undo: a test's calls that put things back, run last first, all of them, Ctrl-C held back."""

    def test_calls_run_last_first_once(self) -> None:
        """close() runs the calls in reverse order; a second close() runs nothing."""
        calls: list[int] = []
        undo = Undo()
        for i in range(3):
            undo.callback(calls.append, i)
        undo.close()
        undo.close()
        self.assertEqual(calls, [2, 1, 0])

    def test_a_failing_call_does_not_stop_the_others(self) -> None:
        """Every call runs; the first exception is raised once they have."""
        calls: list[str] = []

        def fail(message: str) -> None:
            calls.append(message)
            raise ValueError(message)

        undo = Undo()
        undo.callback(calls.append, "first recorded")
        undo.callback(fail, "second")
        undo.callback(fail, "last")
        with self.assertRaisesRegex(ValueError, "^last$"):
            undo.close()
        self.assertEqual(calls, ["last", "second", "first recorded"])

    def test_an_interrupt_raised_by_a_call_finishes_it_and_the_rest(self) -> None:
        """A KeyboardInterrupt out of one call: that call runs once more, the rest run, then it goes on."""
        calls: list[str] = []

        def put_back() -> None:
            calls.append("put back")
            if calls.count("put back") == 1:
                raise KeyboardInterrupt("forced")

        undo = Undo()
        undo.callback(calls.append, "other")
        undo.callback(put_back)
        with self.assertRaisesRegex(KeyboardInterrupt, "^forced$"):
            undo.close()
        self.assertEqual(calls, ["put back", "put back", "other"])

    def test_a_sigint_waits_until_every_call_ran(self) -> None:
        """A Ctrl-C during close() is raised after the last call, not in between."""
        calls: list[str] = []
        undo = Undo()
        undo.callback(calls.append, "after the signal")
        undo.callback(signal.raise_signal, signal.SIGINT)
        with self.assertRaises(KeyboardInterrupt):
            undo.close()
        self.assertEqual(calls, ["after the signal"])
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_enter_context_exits_on_close(self) -> None:
        """A context entered through the Undo is exited by close(), in its place in the order."""
        events: list[str] = []

        @contextlib.contextmanager
        def context() -> Iterator[str]:
            events.append("enter")
            yield "value"
            events.append("exit")

        undo = Undo()
        undo.callback(events.append, "recorded before")
        self.assertEqual(undo.enter_context(context()), "value")
        undo.close()
        self.assertEqual(events, ["enter", "exit", "recorded before"])


class InTestsTest(PythonSigint):
    """In a test, Ctrl-C goes through the test's own code at once."""

    def setUp(self) -> None:
        warm_up()

    def test_a_sigint_in_the_test_is_raised_where_it_lands(self) -> None:
        """The step is interrupted at the signal, not at its end; the run stops with KeyboardInterrupt."""
        events: list[str] = []

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                await asyncio.sleep(1)
                signal.raise_signal(signal.SIGINT)
                events.append("after the signal")  # pragma: no cover - interrupted

            def tearDown(self) -> None:
                events.append("tearDown")

        before = snapshot()
        with self.assertRaises(KeyboardInterrupt):
            Test("test_it").run(unittest.TestResult())
        self.assertEqual(events, [])  # unittest stops at a KeyboardInterrupt
        self.assertEqual(snapshot(), before)


    def test_a_sigint_while_the_loop_shuts_down(self) -> None:
        """Ctrl-C in what the test left behind, as the loop closes: one KeyboardInterrupt, no leftovers."""

        class Test(AsyncTestCase):
            check_tasks = False

            async def test_it(self) -> None:
                tasks: list[asyncio.Task[None]] = []

                async def last_words() -> None:
                    try:
                        await asyncio.sleep(3600)
                    finally:
                        signal.raise_signal(signal.SIGINT)

                async def leaked() -> None:
                    try:
                        await asyncio.sleep(3600)
                    finally:
                        tasks.append(asyncio.ensure_future(last_words()))  # made as the leaks are cancelled

                tasks.append(asyncio.ensure_future(leaked()))
                await asyncio.sleep(0)

        before = snapshot()
        with self.assertNoLogs("asyncio", level="ERROR"):
            with self.assertRaises(KeyboardInterrupt):
                Test("test_it").run(unittest.TestResult())
            gc.collect()  # nothing "never retrieved" or "destroyed but pending" either
        self.assertEqual(snapshot(), before)


    def test_a_sigint_in_async_set_up_class_closes_the_class_loop(self) -> None:
        """Ctrl-C while asyncSetUpClass runs: the step unwinds, the class's loop is closed at once."""
        events: list[str] = []

        class Test(ClockedTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.loop = asyncio.get_running_loop()
                asyncio.get_running_loop().call_later(1, signal.raise_signal, signal.SIGINT)
                try:
                    await asyncio.sleep(3600)
                finally:
                    events.append("unwound")

            def test_it(self) -> None:
                pass  # pragma: no cover - the run stopped

        before = snapshot()
        with self.assertRaises(KeyboardInterrupt):
            unittest.defaultTestLoader.loadTestsFromTestCase(Test).run(unittest.TestResult())
        self.assertEqual(events, ["unwound"])
        self.assertTrue(Test.loop.is_closed())
        self.assertNotIn("_asynctestkit_class_state", vars(Test))
        self.assertEqual(snapshot(), before)


class ForcedInterruptTest(PythonSigint):
    """A KeyboardInterrupt forced at the first line of each restore leaves nothing changed."""

    def setUp(self) -> None:
        warm_up()

    def restores(self) -> dict[str, tuple[tuple[object, str], ...]]:
        from asynctestkit import _compat
        from asynctestkit._faketime import _timepatch
        from asynctestkit._testcase import _classloop
        from asynctestkit._verdict import _hygiene, _watchdog

        return {
            "time patch stop": ((_timepatch._Activation, "stop"),),
            "watchdog disarm": ((_watchdog.Watchdog, "disarm"),),
            "hygiene uninstall": ((_hygiene.Hygiene, "uninstall"),),
            "current loop": ((_compat, "set_current_loop"), (_classloop, "set_current_loop")),
            "class loop close": ((_classloop, "_close"),),
        }

    def test_an_interrupted_restore_is_finished(self) -> None:
        """Each restore, interrupted at its first line, is finished; the interrupt goes on."""
        for name, places in self.restores().items():
            with self.subTest(restore=name):
                before = snapshot()
                _Subjects.ClassScoped.loops = []
                with interrupt_first_call(*places) as fired, self.assertRaises(KeyboardInterrupt):
                    suite().run(unittest.TestResult())
                self.assertEqual(fired, [True])
                self.assertEqual(snapshot(), before)
                self.assertTrue(all(loop.is_closed() for loop in _Subjects.ClassScoped.loops))
                self.assertNotIn("_asynctestkit_class_state", vars(_Subjects.ClassScoped))

    def test_a_time_patch_stop_interrupted_at_its_first_line(self) -> None:
        """`with patch_time(...)`: time.monotonic is the real one again after the interrupt."""
        from asynctestkit._faketime import _timepatch

        real = time.monotonic
        stop = (_timepatch._Activation, "stop")
        with interrupt_first_call(stop), self.assertRaises(KeyboardInterrupt), patch_time(VirtualClock()):
            self.assertIsNot(time.monotonic, real)
        self.assertIs(time.monotonic, real)
        self.assertLess(time.monotonic(), time.monotonic() + 1)


class InterruptStormTest(PythonSigint):
    """SIGINT at random moments through many tests: every global is restored."""

    def setUp(self) -> None:
        warm_up()

    def test_an_interrupt_storm_leaves_every_global_as_it_was(self) -> None:
        """Seeded random SIGINTs while test classes run in a loop; then compare every global."""
        rng = random.Random(20261129)
        delays = [rng.uniform(0.0002, 0.004) for _ in range(1000)]
        wanted = 60  # interrupted runs; fewer only if the machine is very slow (3 s)
        before = snapshot()
        _Subjects.ClassScoped.loops = []
        main = threading.main_thread().ident
        assert main is not None
        done = threading.Event()
        interrupted = runs = 0

        def storm() -> None:
            give_up = time.perf_counter() + 3
            for delay in delays:
                if interrupted >= wanted or time.perf_counter() > give_up:
                    break
                time.sleep(delay)
                signal.pthread_kill(main, signal.SIGINT)
            done.set()

        # At most one KeyboardInterrupt per run, and only inside the `try`: the
        # handler disarms itself, so a second SIGINT cannot hit this loop's own
        # bookkeeping (which would end the whole test run).
        armed: list[bool] = []

        def on_sigint(signum: int, frame: FrameType | None) -> None:
            if armed:
                armed.clear()
                raise KeyboardInterrupt

        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            thread = threading.Thread(target=storm, daemon=True)
            thread.start()
            while not done.is_set():
                try:
                    armed.append(True)
                    runs += 1
                    suite().run(unittest.TestResult())
                    armed.clear()
                except KeyboardInterrupt:
                    interrupted += 1
            thread.join()
            time.sleep(0.01)  # a signal sent last may still be on its way
            handler = signal.getsignal(signal.SIGINT)
        finally:
            signal.signal(signal.SIGINT, previous)
        with warnings.catch_warnings():
            # Coroutines the interrupts left unawaited in the subjects' own code.
            warnings.simplefilter("ignore", RuntimeWarning)
            gc.collect()
        self.assertEqual(snapshot(), before)
        self.assertIs(handler, on_sigint)  # not left deferring SIGINT
        self.assertGreater(interrupted, 5)
        self.assertLessEqual(interrupted, runs)
        open_loops = [loop for loop in _Subjects.ClassScoped.loops if not loop.is_closed()]
        self.assertEqual(open_loops, [])


if __name__ == "__main__":
    unittest.main()
