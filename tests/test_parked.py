"""Parked or running: hand-offs that race the loop's look, many runs, real thread-backed clients."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import queue
import sqlite3
import tempfile
import threading
import time
import unittest
from typing import Any

from asynctestkit import ClockedTestCase, DeadlockError, VirtualClock
from asynctestkit._virtual import _kernel
from tests._support import run_test, run_virtual
from tests._threadclient import connect

HAVE_AIOSQLITE = importlib.util.find_spec("aiosqlite") is not None


class TestPostAndParkBetweenLooks(unittest.TestCase):
    """A thread that posts its answer and parks again at once never leaves the loop idle."""

    def round_trips(self, rounds: int, workers: int) -> float:
        clock = VirtualClock()

        def worker(requests: queue.SimpleQueue[Any]) -> None:
            # No work between the get and the post: the thread is parked
            # again within microseconds of waking the loop.
            while (item := requests.get()) is not None:
                loop, fut, value = item
                loop.call_soon_threadsafe(fut.set_result, value)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            queues: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(workers)]
            threads = [threading.Thread(target=worker, args=(q,)) for q in queues]
            for thread in threads:
                thread.start()
            try:
                for i in range(rounds):
                    answers = []
                    for n, q in enumerate(queues):
                        fut = loop.create_future()
                        q.put((loop, fut, (i, n)))
                        answers.append(fut)
                    # A jump past a thread with work would fire the timeout.
                    got = await asyncio.wait_for(asyncio.gather(*answers), 5)
                    self.assertEqual(got, [(i, n) for n in range(workers)])
                    await asyncio.sleep(1)
            finally:
                for q in queues:
                    q.put(None)
                for thread in threads:
                    await asyncio.to_thread(thread.join)

        run_virtual(clock, main)
        return clock.now

    def test_one_thread(self) -> None:
        """200 round trips with one thread: each answer beats its virtual timeout."""
        self.assertEqual(self.round_trips(200, 1), 200)

    def test_several_threads(self) -> None:
        """50 rounds, four threads answering at once."""
        self.assertEqual(self.round_trips(50, 4), 50)

    def test_under_every_seed(self) -> None:
        """The seeded loop shares the decision: 20 round trips under 10 seeds."""
        for seed in range(10):
            with self.subTest(seed=seed):
                clock = VirtualClock()

                async def main() -> None:
                    loop = asyncio.get_running_loop()
                    requests: queue.SimpleQueue[Any] = queue.SimpleQueue()

                    def worker() -> None:
                        while (fut := requests.get()) is not None:
                            loop.call_soon_threadsafe(fut.set_result, None)

                    thread = threading.Thread(target=worker)
                    thread.start()
                    try:
                        for _ in range(20):
                            fut = loop.create_future()
                            requests.put(fut)
                            await asyncio.wait_for(fut, 5)
                            await asyncio.sleep(1)
                    finally:
                        requests.put(None)
                        await asyncio.to_thread(thread.join)

                run_virtual(clock, main, seed=seed)
                self.assertGreaterEqual(clock.now, 20)
                self.assertLess(clock.now, 25)


class TestStress(unittest.TestCase):
    """A thread-backed client run many times: never a false deadlock (evidence, not timing)."""

    def test_many_runs_of_the_client(self) -> None:
        """40 ClockedTestCase runs of a SimpleQueue client with sleeps between queries all pass."""

        class Inner(ClockedTestCase):
            # Starting the thread blocks the loop until it runs: on a loaded
            # machine that may pass 0.1 s, and slowness is not what is tested.
            slow_callback_duration = None

            async def test_it(self) -> None:
                async with await connect() as db:
                    for i in range(5):
                        await db.set(f"k{i}", i)
                        await asyncio.sleep(1)
                        self.assertEqual(await asyncio.wait_for(db.get(f"k{i}"), 2), i)
                self.assertEqual(self.clock.now, 5)

        failures = []
        for _ in range(40):
            result = run_test(Inner("test_it"))
            failures += result.errors + result.failures
        self.assertEqual(failures, [])


class TestWithoutTheKernel(unittest.TestCase):
    """Where the kernel cannot tell, threads count as running; an idle pool worker is parked."""

    def run_blind(self, main: Any) -> VirtualClock:
        clock = VirtualClock()

        async def blind() -> Any:
            asyncio.get_running_loop()._atk_threads._kernel = False  # type: ignore[attr-defined]
            return await main()

        run_virtual(clock, blind)
        return clock

    def test_idle_pool_worker_is_parked(self) -> None:
        """After a to_thread() job, sleeps still jump: the pool's idle worker is parked."""

        async def main() -> None:
            self.assertEqual(await asyncio.to_thread(lambda: 7), 7)
            await asyncio.sleep(3600)

        self.assertEqual(self.run_blind(main).now, 3600)

    def test_other_waits_count_as_running(self) -> None:
        """A thread blocked on an Event counts as running: the sleep waits until a timer thread sets it."""
        order: list[str] = []

        async def main() -> None:
            event = threading.Event()
            thread = threading.Thread(target=lambda: (event.wait(), order.append("released")))
            thread.start()
            timer = threading.Timer(0.05, event.set)
            timer.start()
            await asyncio.sleep(100)
            order.append("slept")
            await asyncio.to_thread(thread.join)
            timer.join()

        self.assertEqual(self.run_blind(main).now, 100)
        self.assertEqual(order, ["released", "slept"])


class TestTimedWaitIsNoDeadlock(unittest.TestCase):
    """A thread in a wait with its own real-time timeout ends by itself: no DeadlockError."""

    @unittest.skipUnless(_kernel.AVAILABLE, "the kernel tells a timed wait (Linux /proc)")
    def test_answer_after_a_timed_wait(self) -> None:
        """With no timer pending, a thread in Event.wait(0.05) is waited for, then answers."""
        clock = VirtualClock()

        async def main() -> str:
            loop = asyncio.get_running_loop()
            answer = loop.create_future()

            def worker() -> None:
                threading.Event().wait(0.05)  # nobody sets it: the timeout ends it
                loop.call_soon_threadsafe(answer.set_result, "timed out and answered")

            thread = threading.Thread(target=worker)
            thread.start()
            try:
                return await answer
            finally:
                await asyncio.to_thread(thread.join)

        self.assertEqual(run_virtual(clock, main), "timed out and answered")

    def test_untimed_wait_is_a_deadlock(self) -> None:
        """The same thread with no timeout is parked for good: DeadlockError."""
        clock = VirtualClock()
        gate = threading.Event()

        async def main() -> None:
            thread = threading.Thread(target=gate.wait, daemon=True)
            thread.start()
            await asyncio.get_running_loop().create_future()

        try:
            with self.assertRaises(DeadlockError):
                run_virtual(clock, main)
        finally:
            gate.set()


@unittest.skipUnless(HAVE_AIOSQLITE, "aiosqlite is not installed (the venvs have it)")
class TestRealAiosqlite(ClockedTestCase):
    """aiosqlite itself: its connection thread takes requests from a SimpleQueue."""

    slow_callback_duration = None  # starting a thread, on a loaded machine

    async def asyncSetUp(self) -> None:
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.path = os.path.join(directory.name, "test.db")

    async def test_queries_with_sleeps_between(self) -> None:
        """Queries answer; a virtual second between each passes at once; a timeout does not fire."""
        import aiosqlite

        async with aiosqlite.connect(self.path) as db:
            await db.execute("CREATE TABLE t (k INTEGER, v TEXT)")
            for i in range(10):
                await db.execute("INSERT INTO t VALUES (?, ?)", (i, str(i)))
                await db.commit()
                await asyncio.sleep(1)
                async with db.execute("SELECT v FROM t WHERE k = ?", (i,)) as cursor:
                    row = await asyncio.wait_for(cursor.fetchone(), 0.5)
                self.assertEqual(row, (str(i),))
        self.assertEqual(self.clock.now, 10)

    async def test_many_connections(self) -> None:
        """Twenty connections opened and closed one after another, with sleeps."""
        import aiosqlite

        for i in range(20):
            async with aiosqlite.connect(self.path) as db, db.execute("SELECT ?", (i,)) as cursor:
                self.assertEqual(await cursor.fetchone(), (i,))
            await asyncio.sleep(0.5)
        self.assertEqual(self.clock.now, 10)

    async def test_error_comes_back(self) -> None:
        """An error in the connection thread reaches the awaiting task."""
        import aiosqlite

        async with aiosqlite.connect(self.path) as db:
            with self.assertRaises(sqlite3.OperationalError):
                await db.execute("SELECT * FROM no_such_table")
            await asyncio.sleep(60)
        self.assertEqual(self.clock.now, 60)


class TestNoLocalsRead(unittest.TestCase):
    """Threads whose frames change under the look: the look never reads their locals."""

    def test_threads_running_python_code_while_the_loop_looks(self) -> None:
        """Busy threads with fresh locals beside a loop that looks at them often: no crash, sleeps wait."""
        stop = threading.Event()

        def busy() -> None:
            n = 0
            while not stop.is_set():
                values = {i: str(i) for i in range(50)}
                n += len(values)
                time.sleep(0)

        async def main() -> None:
            threads = [threading.Thread(target=busy) for _ in range(3)]
            for thread in threads:
                thread.start()
            try:
                timer = threading.Timer(0.1, stop.set)
                timer.start()
                await asyncio.sleep(10)  # the threads run: real time passes until they stop
                timer.join()
            finally:
                stop.set()
                for thread in threads:
                    await asyncio.to_thread(thread.join)

        clock = VirtualClock()
        run_virtual(clock, main)
        self.assertEqual(clock.now, 10)
        self.assertTrue(stop.is_set())


if __name__ == "__main__":
    unittest.main()
