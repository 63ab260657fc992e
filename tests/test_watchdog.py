"""The watchdog: a per-test real-time timeout that stops a hung test and explains it."""

from __future__ import annotations

import asyncio
import gc
import re
import signal
import socket
import threading
import time
import unittest
from collections.abc import Callable
from unittest import mock

from asynctestkit import AsyncTestCase, ClockedTestCase, WatchdogTimeout, configure
from asynctestkit._compat import current_loop
from asynctestkit._verdict._watchdog import Watchdog, bury, is_buried
from tests._support import only_failure, run_test

HEADLINE = (
    r"^AssertionError: The test ran longer than its timeout of {} s \(real time\) and was stopped\. "
    r"Raise `timeout` on the class or with @configure\(timeout=\.\.\.\) if it really needs longer; "
    r"`timeout = None` turns the watchdog off\.$"
)
HAS_ALARM = hasattr(signal, "setitimer")
ABANDONED = (
    r"(?m)^It did not end within [0-9.]+ s of being cancelled \(it caught the CancelledError, "
    r"or awaited again on its way out\), so it was abandoned\.$"
)


run = run_test
failure = only_failure

# What the inner tests did after the line that hangs: the watchdog stopped them
# there if nothing is recorded. Each test class below clears it in setUp.
REACHED: list[str] = []

# A liveness guard for a test run in another thread: long enough never to trip
# on a loaded machine (the watchdog ends it within a fraction of a second), so
# it is no timing check; it only keeps a broken watchdog from hanging the suite.
LIVENESS = 30.0


def last_frame(text: str) -> str:
    """Return the innermost 'File ..., line N, in name' line of the loop thread's stack in a report."""
    stack = text.partition("the loop's thread is running (most recent call last):\n")[2]
    frames = [line.strip() for line in stack.partition("\n\n")[0].splitlines() if line.startswith("  File ")]
    return frames[-1] if frames else ""


def in_this_file(function: str) -> str:
    """A regex for a stack line of ``function`` in this file."""
    return rf'^File "{re.escape(__file__)}", line \d+, in {function}$'


class _Inner:
    """Holds the inner test class out of the test loader's sight."""

    class HungTest(AsyncTestCase):
        """Inner tests: each hangs a different way."""

        timeout = 0.1

        async def test_waits_on_a_socket(self) -> None:
            loop = asyncio.get_running_loop()
            a, b = socket.socketpair()
            self.addCleanup(a.close)
            self.addCleanup(b.close)
            a.setblocking(False)
            await loop.sock_recv(a, 1)  # nobody writes

        async def test_blocks_in_sleep(self) -> None:
            await asyncio.sleep(0)
            time.sleep(5)  # blocks the loop's thread
            REACHED.append("after time.sleep")  # pragma: no cover - interrupted

        async def test_waits_on_an_event(self) -> None:
            await asyncio.Event().wait()

        async def test_spins_in_python(self) -> None:
            deadline = time.perf_counter() + 3
            while time.perf_counter() < deadline:  # a runaway computation in one callback
                pass
            REACHED.append("after the spin")  # pragma: no cover - interrupted

        def test_passes(self) -> None:
            pass



class WatchdogTest(unittest.TestCase):
    """timeout: the test fails with a report and the run goes on."""

    def setUp(self) -> None:
        REACHED.clear()

    def test_waiting_forever_on_real_io_fails_with_the_task_report(self) -> None:
        """A test awaiting a socket nobody writes is stopped; the report shows where it waits."""
        # Nobody ever writes: that run() returned at all is the evidence it was stopped.
        text = failure(self, run(_Inner.HungTest("test_waits_on_a_socket")))
        self.assertRegex(text, "(?m)" + HEADLINE.format(r"0\.1"))
        self.assertRegex(text, r"(?m)^Pending tasks \(1\):\n- task '.*test_waits_on_a_socket: "
                               r"test_waits_on_a_socket' running _Inner\.HungTest\.test_waits_on_a_socket\(\)$")
        self.assertRegex(text, r"(?m)^        await loop\.sock_recv\(a, 1\)  # nobody writes$")
        self.assertNotIn("the loop's thread is running", text)  # it was idle in select()
        self.assertTrue(run(_Inner.HungTest("test_passes")).wasSuccessful())  # the run goes on
        self.assertIsNone(current_loop())

    @unittest.skipUnless(HAS_ALARM, "needs SIGALRM")
    def test_blocking_code_is_interrupted_and_its_stack_shown(self) -> None:
        """time.sleep(5) in a coroutine is cut short; the report has the loop thread's stack."""
        text = failure(self, run(_Inner.HungTest("test_blocks_in_sleep")))
        self.assertEqual(REACHED, [])  # cut short: the line after time.sleep never ran
        self.assertRegex(text, r"(?m)^the loop's thread is running \(most recent call last\):$")
        self.assertRegex(text, r"(?m)^    time\.sleep\(5\)  # blocks the loop's thread$")
        # The stack ends at the user's line, not in the watchdog's own frames,
        # and starts there too: the runner's and the loop's frames are left out.
        self.assertRegex(last_frame(text), in_this_file("test_blocks_in_sleep"))
        self.assertRegex(
            text,
            r"(?m)^the loop's thread is running \(most recent call last\):\n"
            r"  \(\d+ frames of the test runner and the loop left out\)\n"
            rf'  File "{re.escape(__file__)}", line \d+, in test_blocks_in_sleep\n'
            r"    time\.sleep\(5\)  # blocks the loop's thread\n\n",
        )
        for plumbing in ("unittest/", "base_events.py", "_lifecycle.py"):
            self.assertNotIn(plumbing, text.partition("Pending tasks")[0])

    @unittest.skipUnless(HAS_ALARM, "needs SIGALRM")
    def test_signal_handler_and_timer_are_restored(self) -> None:
        """After a test, timed out or not, SIGALRM's handler and the interval timer are as before."""
        before = signal.getsignal(signal.SIGALRM)
        seen: list[object] = []

        class Test(AsyncTestCase):
            timeout = 5

            async def test_it(self) -> None:
                seen.append(signal.getsignal(signal.SIGALRM))
                self.assertGreater(signal.getitimer(signal.ITIMER_REAL)[0], 4)

        self.assertTrue(run(Test("test_it")).wasSuccessful())
        failure(self, run(_Inner.HungTest("test_waits_on_an_event")))
        self.assertIsNot(seen[0], before)  # the watchdog's handler was in place
        self.assertIs(signal.getsignal(signal.SIGALRM), before)
        self.assertEqual(signal.getitimer(signal.ITIMER_REAL), (0.0, 0.0))

    @unittest.skipUnless(HAS_ALARM, "needs SIGALRM")
    def test_a_program_using_sigalrm_keeps_it(self) -> None:
        """With SIGALRM taken by the program, the watchdog uses a timer thread and leaves it alone."""
        fired: list[int] = []

        def handler(signum: int, frame: object) -> None:
            fired.append(signum)  # pragma: no cover - never armed

        previous = signal.signal(signal.SIGALRM, handler)
        self.addCleanup(signal.signal, signal.SIGALRM, previous)
        text = failure(self, run(_Inner.HungTest("test_waits_on_an_event")))
        self.assertRegex(text, "(?m)" + HEADLINE.format(r"0\.1"))
        self.assertIs(signal.getsignal(signal.SIGALRM), handler)
        self.assertEqual(fired, [])

    @unittest.skipUnless(HAS_ALARM, "needs SIGALRM")
    def test_a_c_handler_of_sigalrm_is_not_taken_over(self) -> None:
        """A SIGALRM handler set outside Python (getsignal() says None) is left in place: a timer thread instead."""
        from asynctestkit._verdict import _watchdog

        with (
            mock.patch.object(_watchdog, "_getsignal", return_value=None),
            mock.patch.object(_watchdog, "_set_handler", wraps=_watchdog._set_handler) as set_handler,
        ):
            text = failure(self, run(_Inner.HungTest("test_waits_on_an_event")))
        self.assertRegex(text, "(?m)" + HEADLINE.format(r"0\.1"))  # the timer thread stopped it
        set_handler.assert_not_called()
        self.assertEqual(signal.getsignal(signal.SIGALRM), signal.SIG_DFL)

    def test_thread_fallback_cancels_a_waiting_test(self) -> None:
        """Run from another thread, the timer thread cancels the test; the report shows where it waits."""
        results: list[unittest.TestResult] = []
        thread = threading.Thread(target=lambda: results.append(run(_Inner.HungTest("test_waits_on_an_event"))))
        thread.start()
        thread.join(LIVENESS)  # the event is never set: only the watchdog ends the test
        self.assertFalse(thread.is_alive())
        text = failure(self, results[0])
        self.assertRegex(text, "(?m)" + HEADLINE.format(r"0\.1"))
        self.assertRegex(text, r"(?m)^        await asyncio\.Event\(\)\.wait\(\)$")
        self.assertNotIn("the loop's thread is running", text)  # idle: no thread stack

    def test_thread_fallback_interrupts_python_code_stuck_in_a_callback(self) -> None:
        """Off the main thread, a busy loop in one callback is interrupted; the stack ends in it."""
        results: list[unittest.TestResult] = []
        thread = threading.Thread(target=lambda: results.append(run(_Inner.HungTest("test_spins_in_python"))))
        thread.start()
        thread.join(LIVENESS)
        self.assertFalse(thread.is_alive())
        text = failure(self, results[0])
        self.assertRegex(text, "(?m)" + HEADLINE.format(r"0\.1"))
        self.assertRegex(last_frame(text), in_this_file("test_spins_in_python"))
        self.assertEqual(REACHED, [])  # interrupted in the spin, not after it

    def test_per_method_override(self) -> None:
        """@configure(timeout=...) sets one test's limit, longer or shorter than the class's."""

        class Test(AsyncTestCase):
            timeout = 0.05

            @configure(timeout=2)
            async def test_longer(self) -> None:
                await asyncio.sleep(0.1)

            @configure(timeout=0.08)
            async def test_shorter(self) -> None:
                await asyncio.sleep(1)

        self.assertTrue(run(Test("test_longer")).wasSuccessful())
        self.assertRegex(failure(self, run(Test("test_shorter"))), "(?m)" + HEADLINE.format(r"0\.08"))

    def test_none_disables(self) -> None:
        """timeout = None arms nothing: no handler, no thread, no limit."""
        seen: list[object] = []

        class Test(AsyncTestCase):
            timeout = 0.05

            @configure(timeout=None)
            async def test_it(self) -> None:
                seen.append(signal.getsignal(signal.SIGALRM) if HAS_ALARM else None)
                await asyncio.sleep(0.1)

        before = signal.getsignal(signal.SIGALRM) if HAS_ALARM else None
        self.assertTrue(run(Test("test_it")).wasSuccessful())
        self.assertEqual(seen, [before])

    def test_timeout_in_sync_set_up_and_a_grace_for_tear_down(self) -> None:
        """A hang in setUp fails the test; tearDown and cleanups still run, under a grace period."""
        events: list[str] = []

        class Test(AsyncTestCase):
            timeout = 0.1

            def setUp(self) -> None:
                self.addCleanup(events.append, "cleanup")
                deadline = time.perf_counter() + 5
                while time.perf_counter() < deadline:  # busy, as a runaway computation
                    pass
                events.append("setUp ended")  # pragma: no cover - interrupted

            async def test_it(self) -> None:
                events.append("test")  # pragma: no cover - never reached

            def tearDown(self) -> None:
                events.append("tearDown")  # pragma: no cover - setUp failed

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, "(?m)" + HEADLINE.format(r"0\.1"))
        # The signal lands on either line of the loop: the stack ends in setUp.
        self.assertRegex(last_frame(text), in_this_file("setUp"))
        # setUp was cut short in its loop (no "setUp ended"); the cleanups still ran.
        self.assertEqual(events, ["cleanup"])

    def test_timeout_on_the_virtual_loop(self) -> None:
        """ClockedTestCase: a test blocked in real code is stopped the same way."""

        class Test(ClockedTestCase):
            timeout = 0.1

            async def test_it(self) -> None:
                await asyncio.sleep(3600)  # virtual: instant
                time.sleep(5)  # real: blocks

        text = failure(self, run(Test("test_it")))
        self.assertRegex(text, "(?m)" + HEADLINE.format(r"0\.1"))

    def test_watchdog_timeout_is_a_keyboard_interrupt(self) -> None:
        """WatchdogTimeout passes through asyncio like Ctrl-C; the case turns it into a failure."""
        self.assertTrue(issubclass(WatchdogTimeout, KeyboardInterrupt))


class _Stubborn:
    """Inner tests whose code fights the cancellation (held out of the loader's sight)."""

    class OnVirtualLoop(ClockedTestCase):
        """Busy on the virtual loop, with a timer pending (so no livelock check applies)."""

        timeout = 0.05

        async def test_spins(self) -> None:
            asyncio.get_running_loop().call_later(3600, int)  # a no-op (print would print)
            while True:
                await asyncio.sleep(0)

        async def test_blocks_in_a_callback(self) -> None:
            def block() -> None:
                time.sleep(3)
                REACHED.append("after time.sleep")  # pragma: no cover - interrupted

            asyncio.get_running_loop().call_soon(block)
            await asyncio.sleep(3600)

    class OnRealLoop(AsyncTestCase):
        timeout = 0.05

        async def test_spins(self) -> None:
            while True:
                await asyncio.sleep(0)

        async def test_awaits_in_finally(self) -> None:
            try:
                await asyncio.sleep(3600)
            finally:
                await asyncio.sleep(3)
                REACHED.append("after the await in finally")  # pragma: no cover - abandoned

        async def test_swallows_every_cancellation(self) -> None:
            for _ in range(3):
                try:
                    await asyncio.sleep(1)
                except BaseException:  # what a careless test does
                    REACHED.append("swallowed")
            REACHED.append("after the loop")  # pragma: no cover - abandoned

        async def test_blocks_in_finally(self) -> None:
            try:
                await asyncio.sleep(3600)
            finally:
                time.sleep(3)  # blocks the loop while unwinding
                REACHED.append("after time.sleep")  # pragma: no cover - interrupted

        async def test_returns_when_cancelled(self) -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                return


class WatchdogNeverMisfiresTest(unittest.TestCase):
    """A timeout stops a busy, idle or stubborn test with one report, within timeout + grace."""

    def setUp(self) -> None:
        REACHED.clear()

    def assert_one_timeout(self, result: unittest.TestResult) -> str:
        text = failure(self, result)  # one failure, no second report or error
        self.assertRegex(text, "(?m)" + HEADLINE.format(r"0\.05"))
        for wrong in ("InvalidStateError", "never awaited", "still pending at the end", "Traceback"):
            self.assertNotIn(wrong, text)
        self.assertIsNone(current_loop())
        return text

    def test_a_spin_with_a_timer_pending_is_cancelled_from_the_loop(self) -> None:
        """`while True: await sleep(0)` on the virtual loop: one clean report, every time."""
        for _ in range(5):
            text = self.assert_one_timeout(run(_Stubborn.OnVirtualLoop("test_spins")))
            self.assertRegex(text, r"(?m)^        await asyncio\.sleep\(0\)$")
            self.assertNotIn("the loop's thread is running", text)  # not interrupted: cancelled

    def test_a_spin_on_the_real_loop_is_cancelled_from_the_loop(self) -> None:
        """The same spin on the platform's loop: one clean report, every time."""
        for _ in range(5):
            self.assert_one_timeout(run(_Stubborn.OnRealLoop("test_spins")))

    @unittest.skipUnless(HAS_ALARM, "needs SIGALRM")
    def test_a_blocking_callback_is_interrupted(self) -> None:
        """time.sleep as a callback of its own: the loop's thread is interrupted in it."""
        text = self.assert_one_timeout(run(_Stubborn.OnVirtualLoop("test_blocks_in_a_callback")))
        self.assertRegex(text, r"(?m)^the loop's thread is running \(most recent call last\):$")
        self.assertEqual(REACHED, [])  # cut short: the line after time.sleep never ran

    def test_awaiting_in_finally_is_abandoned_after_the_grace(self) -> None:
        """A step that awaits again on its way out is given up on; the report says so."""
        with self.assertNoLogs("asyncio", level="ERROR"):
            text = self.assert_one_timeout(run(_Stubborn.OnRealLoop("test_awaits_in_finally")))
            gc.collect()  # an abandoned step is not "destroyed but pending" either
        self.assertRegex(text, ABANDONED)
        self.assertEqual(REACHED, [])  # given up on in its await: never resumed
        self.assertRegex(text, r"(?m)^        await asyncio\.sleep\(3\)$")  # where it is stuck now

    def test_swallowing_every_cancellation_is_abandoned_after_the_grace(self) -> None:
        """`except BaseException: pass` around every await cannot keep the test running."""
        text = self.assert_one_timeout(run(_Stubborn.OnRealLoop("test_swallows_every_cancellation")))
        self.assertRegex(text, ABANDONED)
        # It swallowed the cancellation, then was given up on in its next await:
        # it never got to the end of its loop.
        self.assertIn("swallowed", REACHED)
        self.assertNotIn("after the loop", REACHED)

    @unittest.skipUnless(HAS_ALARM, "needs SIGALRM")
    def test_blocking_while_unwinding_is_interrupted_at_the_users_line(self) -> None:
        """A `finally` that blocks the loop's thread is interrupted; the stack ends in it."""
        text = self.assert_one_timeout(run(_Stubborn.OnRealLoop("test_blocks_in_finally")))
        self.assertRegex(last_frame(text), in_this_file("test_blocks_in_finally"))
        self.assertEqual(REACHED, [])  # cut short: the line after time.sleep never ran
        self.assertRegex(text, r"(?m)^    time\.sleep\(3\)  # blocks the loop while unwinding$")

    def test_a_step_that_returns_when_cancelled_still_fails(self) -> None:
        """Catching the CancelledError and returning does not turn a timeout into a pass."""
        self.assert_one_timeout(run(_Stubborn.OnRealLoop("test_returns_when_cancelled")))

    def test_a_tear_down_that_hangs_too_adds_no_second_report(self) -> None:
        """After the timeout, tearDown and cleanups share the grace; one that hangs is cut short."""
        events: list[str] = []

        class Test(AsyncTestCase):
            timeout = 0.05

            async def test_it(self) -> None:
                self.addAsyncCleanup(self.cleanup)
                await asyncio.Event().wait()

            async def asyncTearDown(self) -> None:
                events.append("asyncTearDown")
                await asyncio.sleep(3)
                events.append("asyncTearDown ended")  # pragma: no cover - abandoned

            async def cleanup(self) -> None:
                events.append("cleanup")
                await asyncio.sleep(3)
                events.append("cleanup ended")  # pragma: no cover - abandoned

        self.assert_one_timeout(run(Test("test_it")))
        # Both started, neither was waited for to its end.
        self.assertEqual(events, ["asyncTearDown", "cleanup"])

    @unittest.skipUnless(HAS_ALARM, "needs SIGALRM")
    def test_a_tear_down_that_blocks_after_the_timeout_is_interrupted(self) -> None:
        """A tearDown blocking the thread after the timeout is cut short; still one report."""
        events: list[str] = []

        class Test(AsyncTestCase):
            timeout = 0.05

            async def test_it(self) -> None:
                await asyncio.Event().wait()

            def tearDown(self) -> None:
                events.append("tearDown")
                time.sleep(3)
                events.append("tearDown ended")  # pragma: no cover - interrupted

            def doCleanups(self) -> bool:
                events.append("cleanups")
                return super().doCleanups()

        self.assert_one_timeout(run(Test("test_it")))
        # tearDown was cut short in time.sleep; the cleanups still ran.
        self.assertEqual(events, ["tearDown", "cleanups"])

    def test_a_class_step_that_awaits_in_finally_is_abandoned(self) -> None:
        """asyncSetUpClass past the class's timeout ends in TimeoutError; the class's loop is closed."""

        class Test(AsyncTestCase):
            loop_scope = "class"
            timeout = 0.05

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.loop = asyncio.get_running_loop()
                try:
                    await asyncio.sleep(3600)
                finally:
                    await asyncio.sleep(3)
                    REACHED.append("after the await in finally")  # pragma: no cover - abandoned

            def test_it(self) -> None:
                pass  # pragma: no cover - setUpClass failed

        result = unittest.TestResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(Test).run(result)
        self.assertEqual(len(result.errors), 1, result.errors)
        self.assertRegex(result.errors[0][1], r"(?m)^TimeoutError: .*\.Test\.asyncSetUpClass ran longer than the class's timeout of 0\.05 s")
        self.assertRegex(result.errors[0][1], ABANDONED)
        self.assertEqual(REACHED, [])  # given up on in its await: never resumed
        self.assertTrue(Test.loop.is_closed())


class WatchdogRacesTest(unittest.TestCase):
    """The watchdog's late signals and probes, run as a race would leave them: they do nothing."""

    def setUp(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.addCleanup(self.loop.close)
        self.watchdog = Watchdog(self.loop)
        self.addCleanup(self.watchdog.disarm)

    def run_probe(self, probe: Callable[[int], None], generation: int) -> bool:
        """Run ``probe`` as a loop callback; return whether the loop still ran to the end after it."""

        async def main() -> bool:
            self.loop.call_soon(probe, generation)
            for _ in range(3):
                await asyncio.sleep(0)
            return True

        task = self.loop.create_task(main())
        try:
            return self.loop.run_until_complete(task)
        except RuntimeError as error:
            self.assertRegex(str(error), r"^Event loop stopped before Future completed\.$")
            self.loop.run_until_complete(task)  # let it end: nothing left pending
            return False

    def test_a_stale_stop_probe_leaves_the_loop_running(self) -> None:
        """A stop probe from a countdown since replaced neither stops the loop nor writes a report."""
        self.watchdog.arm(60)
        stale = self.watchdog._generation
        self.watchdog.arm(60)
        self.assertTrue(self.run_probe(self.watchdog._stop_loop, stale))
        self.assertEqual(self.watchdog.report, "")

    def test_the_stop_probe_stops_the_loop_and_reports(self) -> None:
        """A current stop probe with no step left stops the loop and says the step was abandoned."""
        self.watchdog.arm(60)
        self.assertFalse(self.run_probe(self.watchdog._stop_loop, self.watchdog._generation))
        self.assertRegex(self.watchdog.report, ABANDONED)

    def test_a_stop_probe_after_the_step_ended_does_nothing(self) -> None:
        """When the step ended before the stop probe ran, the loop is not stopped and the step
        is not given up on."""
        self.watchdog.arm(60)
        step = self.loop.create_future()
        step.set_result(None)
        self.watchdog.step = step
        self.assertTrue(self.run_probe(self.watchdog._stop_loop, self.watchdog._generation))
        self.assertFalse(is_buried(step))
        self.assertEqual(self.watchdog.report, "")

    def test_signals_after_disarm_or_rearm_do_nothing(self) -> None:
        """A SIGALRM after disarm() and a timer thread's call from an older countdown
        neither expire the watchdog nor raise."""
        self.watchdog.arm(60)
        stale = self.watchdog._generation
        self.watchdog.arm(60)
        self.watchdog._on_timer(stale)
        self.watchdog.disarm()
        self.watchdog._on_alarm(signal.SIGALRM if HAS_ALARM else 14, None)
        self.assertFalse(self.watchdog.expired)
        self.assertEqual(self.watchdog.report, "")

    def test_a_plain_future_can_be_buried(self) -> None:
        """bury() takes any future, not only a task: it is then known as given up on."""
        future = self.loop.create_future()
        self.assertFalse(is_buried(future))
        bury(future)
        self.assertTrue(is_buried(future))


if __name__ == "__main__":
    unittest.main()


class TimeHeldTest(unittest.TestCase):
    """On the virtual clock, a timeout names what kept virtual time from moving, and the time."""

    def test_a_subprocess_and_a_thread_are_named(self) -> None:
        import sys

        release = threading.Event()

        class Case(ClockedTestCase):
            timeout = 0.3  # the verdict then kills the process it left running

            async def test_it(self) -> None:
                await asyncio.sleep(5)
                self.proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(30)")
                self.thread = threading.Thread(target=release.wait, name="worker")
                self.thread.start()
                await asyncio.sleep(10)  # virtual time cannot move: both run

        case = Case("test_it")
        try:
            text = only_failure(self, run(case))
        finally:
            release.set()
            case.thread.join()
            # Killed by the verdict, which after a timeout waits only briefly
            # for asyncio to reap it: reap it here, on a loaded machine too.
            case.proc._transport.get_extra_info("subprocess").wait()  # type: ignore[attr-defined]
        self.assertRegex(
            text,
            r"(?m)^Virtual time: 5\.000 s\. It does not move while \(real time runs meanwhile\):\n"
            r"- subprocess pid \d+ \(.*time\.sleep\(30\)\) is running\n"
            r"- thread 'worker' running Event\.wait\(\) is running$",
        )
