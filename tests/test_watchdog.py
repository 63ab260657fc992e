"""The watchdog: a per-test real-time timeout that stops a hung test and explains it."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
import unittest

from asynctestkit import AsyncTestCase, ClockedTestCase, WatchdogTimeout, configure
from asynctestkit._compat import current_loop
from tests._support import only_failure, run_test

HEADLINE = (
    r"^AssertionError: The test ran longer than its timeout of {} s \(real time\) and was stopped\. "
    r"Raise `timeout` on the class or with @configure\(timeout=\.\.\.\) if it really needs longer; "
    r"`timeout = None` turns the watchdog off\.$"
)
HAS_ALARM = hasattr(signal, "setitimer")


run = run_test
failure = only_failure


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

        async def test_waits_on_an_event(self) -> None:
            await asyncio.Event().wait()

        def test_passes(self) -> None:
            pass



class WatchdogTest(unittest.TestCase):
    """timeout: the test fails with a report and the run goes on."""

    def test_waiting_forever_on_real_io_fails_with_the_task_report(self) -> None:
        """A test awaiting a socket nobody writes is stopped; the report shows where it waits."""
        start = time.perf_counter()
        text = failure(self, run(_Inner.HungTest("test_waits_on_a_socket")))
        self.assertLess(time.perf_counter() - start, 2)
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
        start = time.perf_counter()
        text = failure(self, run(_Inner.HungTest("test_blocks_in_sleep")))
        self.assertLess(time.perf_counter() - start, 2)
        self.assertRegex(text, r"(?m)^the loop's thread is running \(most recent call last\):$")
        self.assertRegex(text, r"(?m)^    time\.sleep\(5\)  # blocks the loop's thread$")

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

    def test_thread_fallback_cancels_a_waiting_test(self) -> None:
        """Run from another thread, the timer thread cancels the test; the report has both stacks."""
        results: list[unittest.TestResult] = []
        thread = threading.Thread(target=lambda: results.append(run(_Inner.HungTest("test_waits_on_an_event"))))
        start = time.perf_counter()
        thread.start()
        thread.join(5)
        self.assertLess(time.perf_counter() - start, 2)
        text = failure(self, results[0])
        self.assertRegex(text, "(?m)" + HEADLINE.format(r"0\.1"))
        self.assertRegex(text, r"(?m)^the loop's thread is running \(most recent call last\):$")
        self.assertRegex(text, r"(?m)^        await asyncio\.Event\(\)\.wait\(\)$")

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

            async def test_it(self) -> None:
                events.append("test")  # pragma: no cover - never reached

            def tearDown(self) -> None:
                events.append("tearDown")  # pragma: no cover - setUp failed

        start = time.perf_counter()
        text = failure(self, run(Test("test_it")))
        self.assertLess(time.perf_counter() - start, 2)
        self.assertRegex(text, "(?m)" + HEADLINE.format(r"0\.1"))
        self.assertRegex(text, r"(?m)^    while time\.perf_counter\(\) < deadline:")
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


if __name__ == "__main__":
    unittest.main()
