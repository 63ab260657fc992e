"""Loops the toolkit does not drive, and the standard library's own deadlines: real time, no hang."""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import multiprocessing.connection
import os
import subprocess
import sys
import textwrap
import time
import unittest

from asynctestkit import ClockedTestCase, VirtualClock, patch_time
from tests._support import run_test

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


async def nap() -> float:
    """Sleep 0.05 s on the running loop; return how long its clock says it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep(0.05)
    return loop.time() - start


def square(x: int) -> int:
    """A process pool job."""
    return x * x


class TestForeignLoop(unittest.TestCase):
    """A loop made by asyncio.run() on the clock's thread reads real time and ends."""

    def test_asyncio_run_in_a_synchronous_test_method(self) -> None:
        """asyncio.run(main()) in a sync method of a ClockedTestCase: main's sleep ends, in real time."""
        took: list[float] = []

        class Inner(ClockedTestCase):
            timeout = 30  # a hang fails the test instead of the suite

            def test_it(self) -> None:
                took.append(asyncio.run(nap()))
                self.assertEqual(self.clock.now, 0)  # the test's clock did not move
                self.assertEqual(time.monotonic(), 0)  # and the test's code still reads it

        result = run_test(Inner("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertGreaterEqual(took[0], 0.05)

    def test_asyncio_run_under_patch_time(self) -> None:
        """`with patch_time(VirtualClock()): asyncio.run(main())` ends (in a child, so a hang cannot stall the suite)."""
        script = textwrap.dedent("""
            import asyncio, time
            from asynctestkit import VirtualClock, patch_time
            from tests.test_foreign_loops import nap
            with patch_time(VirtualClock(start=100)):
                took = asyncio.run(nap())
                assert time.monotonic() == 100, time.monotonic()
            print("took", took)
        """)
        out = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.startswith("took "), out.stdout)
        self.assertGreaterEqual(float(out.stdout.split()[1]), 0.05)


class TestStandardLibraryDeadlines(ClockedTestCase):
    """The standard library's blocking helpers compute their deadlines from real time."""

    timeout = 60

    async def test_connection_wait_with_timeout_zero(self) -> None:
        """multiprocessing.connection.wait(objs, timeout=0) on the loop's thread returns at once."""
        r, w = multiprocessing.Pipe(duplex=False)
        self.addCleanup(r.close)
        self.addCleanup(w.close)
        self.assertEqual(multiprocessing.connection.wait([r], timeout=0), [])
        w.send(1)
        self.assertEqual(multiprocessing.connection.wait([r], timeout=0), [r])
        self.assertEqual(self.clock.now, 0)

    async def test_concurrent_futures_wait_with_a_timeout(self) -> None:
        """concurrent.futures.wait(..., timeout=0.01) on the loop's thread times out in real time."""
        fut: concurrent.futures.Future[None] = concurrent.futures.Future()
        done, pending = concurrent.futures.wait([fut], timeout=0.01)
        self.assertEqual((done, pending), (set(), {fut}))
        fut.cancel()

    async def test_own_code_still_reads_virtual_time(self) -> None:
        """The test's own reads stay virtual: monotonic() moves with the clock only."""
        before = time.monotonic()
        await asyncio.sleep(3600)
        self.assertEqual(time.monotonic() - before, 3600)


@unittest.skipUnless("forkserver" in multiprocessing.get_all_start_methods(), "needs the forkserver start method")
class TestForkserverPool(ClockedTestCase):
    """run_in_executor on a forkserver ProcessPoolExecutor (3.14's default on Linux) ends."""

    timeout = 120
    slow_callback_duration = None  # starting the forkserver blocks the loop, truly

    async def test_jobs_come_back(self) -> None:
        """Two jobs on a two-worker forkserver pool: their results, and no virtual time spent."""
        context = multiprocessing.get_context("forkserver")
        loop = asyncio.get_running_loop()
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
            results = await asyncio.gather(
                loop.run_in_executor(pool, square, 3), loop.run_in_executor(pool, square, 4)
            )
        self.assertEqual(results, [9, 16])
        self.assertEqual(self.clock.now, 0)


class TestPatchTimeReads(unittest.TestCase):
    """Under patch_time, who reads what."""

    def test_standard_library_reads_real_time(self) -> None:
        """Code of the standard library reads real monotonic time; the test's code virtual time."""
        import threading

        real = time.monotonic
        with patch_time(VirtualClock(start=1e6)):
            self.assertEqual(time.monotonic(), 1e6)
            self.assertEqual(time.perf_counter_ns(), 10**15)
            # threading.Condition.wait_for computes its deadline with time.monotonic()
            # (an alias bound at import, or the module attribute): it ends.
            cond = threading.Condition()
            with cond:
                self.assertFalse(cond.wait_for(lambda: False, timeout=0.01))
            # asyncio's own loop reads time through BaseEventLoop.time(): real.
            loop = asyncio.new_event_loop()
            try:
                self.assertLess(abs(loop.time() - real()), 60)
            finally:
                loop.close()


if __name__ == "__main__":
    unittest.main()
