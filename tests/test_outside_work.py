"""Work the loop does not run itself: wrapped executor futures, tiny steps, parked threads at exit."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import unittest

from asynctestkit import ClockedTestCase, DeadlockError, VirtualClock
from tests._support import run_test, run_virtual

# Made at import, before any test's loop: its threads are older than every loop.
MODULE_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="module-pool")


class TestModuleLevelExecutor(unittest.TestCase):
    """A future the loop awaits through wrap_future is work in flight, whoever runs it."""

    def make_case(self) -> type[ClockedTestCase]:
        class Inner(ClockedTestCase):
            async def test_first(self) -> None:
                fut = asyncio.wrap_future(MODULE_EXECUTOR.submit(time.sleep, 0.05))
                await asyncio.wait_for(fut, 1)
                self.assertEqual(self.clock.now, 0)

            async def test_second(self) -> None:
                fut = asyncio.wrap_future(MODULE_EXECUTOR.submit(time.sleep, 0.05))
                await asyncio.wait_for(fut, 1)
                self.assertEqual(self.clock.now, 0)

        return Inner

    def test_in_either_order(self) -> None:
        """Both tests pass whichever runs first (the pool's threads are alive from the first on)."""
        for order in (["test_first", "test_second"], ["test_second", "test_first"]):
            with self.subTest(order=order):
                case = self.make_case()
                for name in order:
                    result = run_test(case(name))
                    self.assertTrue(result.wasSuccessful(), result.errors + result.failures)

    def test_cancelled_wrapper_lands(self) -> None:
        """A wrapped future cancelled by its timeout is no longer in flight: later sleeps jump."""
        release = threading.Event()

        async def main() -> None:
            fut = asyncio.wrap_future(MODULE_EXECUTOR.submit(release.wait, 5))
            task = asyncio.ensure_future(fut)
            await asyncio.sleep(0)
            task.cancel()
            release.set()
            await asyncio.sleep(3600)

        clock = VirtualClock()
        run_virtual(clock, main)
        self.assertEqual(clock.now, 3600)

    def test_run_in_executor_is_not_counted_twice(self) -> None:
        """run_in_executor wraps its own future: a parked job lets a timeout fire in virtual time."""
        release = threading.Event()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            job = loop.run_in_executor(None, release.wait)
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(job), 30)
            release.set()
            await job

        clock = VirtualClock()
        run_virtual(clock, main)
        self.assertEqual(clock.now, 30)


class TestWrappedFutureNobodyRuns(unittest.TestCase):
    """A wrapped future no thread works on is not waited for in real time."""

    def test_future_set_by_a_timer_of_the_loop(self) -> None:
        """A hand-made concurrent future the loop sets at virtual 10 s: time jumps there."""
        release = threading.Event()
        other = threading.Thread(target=release.wait)  # some thread alive, parked
        other.start()

        async def main() -> int:
            loop = asyncio.get_running_loop()
            source: concurrent.futures.Future[int] = concurrent.futures.Future()
            loop.call_later(10, source.set_result, 7)
            return await asyncio.wrap_future(source)

        clock = VirtualClock()
        try:
            self.assertEqual(run_virtual(clock, main), 7)
        finally:
            release.set()
            other.join()
        self.assertEqual(clock.now, 10)


class TestTinySteps(unittest.TestCase):
    """A positive delay or jump moves the clock by at least one nanosecond."""

    def test_jump_of_a_picosecond(self) -> None:
        """clock.jump(1e-12) moves 1 ns; jump(0) moves nothing."""
        clock = VirtualClock()
        clock.jump(1e-12)
        self.assertEqual(clock.now_ns, 1)
        clock.jump(0)
        self.assertEqual(clock.now_ns, 1)

    def test_sleep_of_a_float_leftover(self) -> None:
        """sleep(5.55e-17) fires later than now, as on a real loop."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            before = loop.time()
            await asyncio.sleep(5.55e-17)
            self.assertGreater(loop.time(), before)

        clock = VirtualClock(start=0.3)
        run_virtual(clock, main)
        self.assertEqual(clock.now_ns, 300_000_001)

    def test_sleep_until_a_deadline_ends(self) -> None:
        """Sleeping `deadline - loop.time()` until it is <= 0 ends, float leftovers and all."""

        async def main() -> int:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 0.1 + 0.2  # 0.30000000000000004
            sleeps = 0
            while (left := deadline - loop.time()) > 0:
                await asyncio.sleep(left)
                sleeps += 1
            return sleeps

        self.assertLessEqual(run_virtual(VirtualClock(), main), 3)


class TestParkedAtExit(unittest.TestCase):
    """A deadlock report says which parked threads keep the interpreter from exiting."""

    def test_non_daemon_thread_is_named(self) -> None:
        """An executor worker parked for good is named as one the interpreter waits for at exit."""
        release = threading.Event()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            job = loop.run_in_executor(None, release.wait)
            try:
                await job
            finally:
                release.set()

        with self.assertRaises(DeadlockError) as caught:
            run_virtual(VirtualClock(), main)
        text = str(caught.exception)
        self.assertIn("is not a daemon thread: the interpreter waits for it at exit", text)
        self.assertIn("parked in threading.Event.wait()", text)

    def test_daemon_thread_is_not(self) -> None:
        """A daemon thread does not keep the interpreter: no such line."""
        release = threading.Event()

        async def main() -> None:
            thread = threading.Thread(target=release.wait, daemon=True)
            thread.start()
            await asyncio.get_running_loop().create_future()

        try:
            with self.assertRaises(DeadlockError) as caught:
                run_virtual(VirtualClock(), main)
        finally:
            release.set()
        self.assertIn("Parked threads (1)", str(caught.exception))
        self.assertNotIn("not a daemon", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
