"""Virtual time and threads: time jumps when every thread that can wake the loop is parked."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dis
import json
import multiprocessing
import os
import queue
import select
import sys
import threading
import time
import types
import unittest
import warnings
from typing import Any
from unittest import mock

from asynctestkit import (
    ClockedTestCase,
    DeadlockError,
    VirtualClock,
    patch_time,
    virtual_event_loop,
)
from asynctestkit._virtual import _kernel, _threads
from tests._support import run_test, run_virtual
from tests._threadclient import FakeDatabase, connect

run = run_virtual
# Real time, even inside a ClockedTestCase (which makes perf_counter virtual).
real_clock = time.perf_counter
REAL = {
    "monotonic": time.monotonic, "perf_counter": time.perf_counter, "time": time.time,
    "monotonic_ns": lambda: time.monotonic_ns() / 1e9, "perf_counter_ns": lambda: time.perf_counter_ns() / 1e9,
    "time_ns": lambda: time.time_ns() / 1e9,
}
# Virtual time far from any real clock's value (about 31 years).
FAR = 1e9


def read_time_functions() -> dict[str, float]:
    """Read every patched time function (in a child process)."""
    return {
        "monotonic": time.monotonic(), "perf_counter": time.perf_counter(), "time": time.time(),
        "monotonic_ns": time.monotonic_ns() / 1e9, "perf_counter_ns": time.perf_counter_ns() / 1e9,
        "time_ns": time.time_ns() / 1e9,
    }


def send_time_functions(conn: Any) -> None:
    """A multiprocessing target: send what the time functions read."""
    conn.send(read_time_functions())
    conn.close()


class TestThreadBackedClient(ClockedTestCase):
    """A connection thread on a SimpleQueue answering through call_soon_threadsafe (aiosqlite's design)."""

    simple = True
    # Starting a thread blocks the loop until the thread runs, which on a
    # loaded machine may pass 0.1 s: not what these tests are about.
    slow_callback_duration = None

    async def test_queries_with_sleeps_and_timeouts_between(self) -> None:
        """Queries answer, sleeps between them jump, timeouts stay unfired."""
        started = real_clock()
        async with await connect(simple=self.simple) as db:
            await db.set("a", 1)
            await asyncio.sleep(3600)  # the connection thread is parked in queue.get
            self.assertEqual(await asyncio.wait_for(db.get("a"), 5), 1)
            for i in range(20):
                await db.set(f"k{i}", i)
                await asyncio.sleep(60)
                self.assertEqual(await asyncio.wait_for(db.get(f"k{i}"), 1), i)
        self.assertEqual(self.clock.now, 3600 + 20 * 60)
        self.assertLess(real_clock() - started, 3600)  # the hours were virtual, not waited for

    async def test_slow_query_is_waited_for(self) -> None:
        """A query that takes real time in its thread is not timed out: time stands still meanwhile."""
        async with await connect(latency=0.05, simple=self.simple) as db:
            await asyncio.wait_for(db.set("a", 1), 0.001)
            self.assertEqual(await asyncio.wait_for(db.get("a"), 0.001), 1)
        self.assertEqual(self.clock.now, 0)

    async def test_stalled_query_times_out_in_virtual_time(self) -> None:
        """A query parked in its thread (an Event nobody sets) times out at once, at virtual 30 s."""
        async with await connect(simple=self.simple) as db:
            db.stall.clear()
            started = real_clock()
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(db.get("a"), 30)
            self.assertEqual(self.clock.now, 30)
            self.assertLess(real_clock() - started, 30)  # the 30 s were virtual, not waited for
            db.stall.set()

    async def test_query_waits_for_a_lock_the_loop_releases(self) -> None:
        """A connection blocked on a Lock the loop holds is parked; released, it answers before a jump."""
        async with await connect(simple=self.simple) as db:
            await db.set("a", 1)
            for _ in range(20):
                db.lock.acquire()
                query = asyncio.ensure_future(db.get("a"))
                await asyncio.sleep(10)  # jumps: the thread is parked on the lock
                self.assertFalse(query.done())
                db.lock.release()
                self.assertEqual(await asyncio.wait_for(query, 1), 1)
        self.assertEqual(self.clock.now, 200)


class TestThreadBackedClientOnQueue(TestThreadBackedClient):
    """The same client on a queue.Queue (a Python Condition wait)."""

    simple = False


@unittest.skipUnless(_kernel.AVAILABLE, "reads Linux's /proc")
class TestWokenThreads(unittest.TestCase):
    """The kernel's word: a thread asleep in a futex wait, and a woken one (the second look)."""

    def blocked_on_an_event(self) -> int:
        """Start a thread that waits on an Event until the test ends; return its native id."""
        event = threading.Event()
        thread = threading.Thread(target=event.wait)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(event.set)
        return thread.native_id or 0

    def test_a_sleeping_thread_is_asleep_in_a_futex_and_a_running_one_is_not(self) -> None:
        """Blocked on an Event: state S in a futex wait; the calling thread, running: R, in no wait."""
        native = self.blocked_on_an_event()
        # Wait for it to fall asleep (a liveness bound, not a timing check).
        for _ in range(10_000):
            seen = _kernel.sample(native)
            if seen is not None and seen[0] == b"S" and _kernel.blocked(native) is not None:
                break
            time.sleep(0.001)
        self.assertEqual(_kernel.sample(native)[0], b"S")  # type: ignore[index]
        kind, timed, _ = _kernel.blocked(native)  # type: ignore[misc]
        self.assertEqual((kind, timed), (_kernel.FUTEX, False))
        self.assertEqual(_kernel.sample(threading.get_native_id())[0], b"R")  # type: ignore[index]
        self.assertIsNone(_kernel.blocked(threading.get_native_id()))

    def test_wake_count_grows_when_a_thread_wakes_and_sleeps_again(self) -> None:
        """A thread woken and parked again has a higher switch count: the second look sees it."""
        event = threading.Event()
        done = threading.Event()

        def twice() -> None:
            event.wait()
            event.clear()
            done.set()
            event.wait()

        thread = threading.Thread(target=twice)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(event.set)
        native = thread.native_id or 0
        for _ in range(10_000):
            if _kernel.blocked(native) is not None:
                break
            time.sleep(0.001)
        before = _kernel.sample(native)
        event.set()
        done.wait(10)
        for _ in range(10_000):
            if event.is_set() is False and _kernel.blocked(native) is not None:
                break
            time.sleep(0.001)
        after = _kernel.sample(native)
        assert before is not None and after is not None
        self.assertGreater(after[1], before[1])

    def test_timed_wait_is_marked(self) -> None:
        """Event.wait(30): a futex wait with a timeout of its own."""
        event = threading.Event()
        thread = threading.Thread(target=event.wait, args=(30,))
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(event.set)
        for _ in range(10_000):
            call = _kernel.blocked(thread.native_id or 0)
            if call is not None:
                break
            time.sleep(0.001)
        self.assertEqual(call[:2], (_kernel.FUTEX, True))  # type: ignore[index]

    def test_a_kernel_that_hides_wait_channels(self) -> None:
        """wchan reading 0 for every thread: the state comes from status, and a blocked thread is asleep."""
        native = self.blocked_on_an_event()
        reread = _kernel._reread

        def hidden(name: str, tid: int) -> bytes | None:
            return b"0" if name == "wchan" else reread(name, tid)

        with mock.patch.object(_kernel, "_reread", hidden):
            for _ in range(10_000):  # until it sleeps (a liveness bound)
                seen = _kernel.sample(native)
                if seen is not None and seen[0] == b"S":
                    break
                time.sleep(0.001)
            self.assertEqual(_kernel.sample(native)[0], b"S")  # type: ignore[index]
            self.assertEqual(_kernel.sample(threading.get_native_id())[0], b"R")  # type: ignore[index]

    def test_a_gil_waiter_at_a_wait_site_is_seen_running(self) -> None:
        """A thread back from ``q.get()`` with work in hand, waiting for the GIL, is not parked.

        To the kernel it is asleep in a futex wait with a timeout, at a line
        that reads as a wait; another thread may take the GIL each time the
        loop releases it, so only its own timeout (the switch interval)
        wakes it. Here the kernel's view is played back: asleep, a timed
        futex wait, the wake count unchanged until one switch interval after
        the first look, as CPython's take_gil behaves. The look must last
        long enough to see it wake.
        """
        simple: queue.SimpleQueue[Any] = queue.SimpleQueue()

        def take() -> None:
            simple.get()  # a frame at a `.get()` site, as a connection thread's

        thread = threading.Thread(target=take)
        watch = _threads.ThreadWatch()
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(simple.put, None)
        native = thread.native_id or 0
        for _ in range(10_000):  # until it sits in the get (a liveness bound)
            if _kernel.blocked(native) is not None:
                break
            time.sleep(0.001)
        first: list[float] = []
        switch = sys.getswitchinterval()

        def sample(tid: int) -> tuple[bytes, int] | None:
            if tid != native:
                return _kernel.sample(tid)
            now = time.perf_counter()
            first.append(now)
            return b"S", 7 + int(now - first[0] >= switch)

        def blocked(tid: int) -> tuple[str, bool, bytes] | None:
            if tid != native:
                return _kernel.blocked(tid)
            return _kernel.FUTEX, True, b"202 0xgil 0x89 0x0 0x7f00 0x0 0x0 0x0 0x0\n"

        with mock.patch.object(_kernel, "sample", sample), mock.patch.object(_kernel, "blocked", blocked):
            self.assertIsNotNone(watch.idle(threading.get_ident()))
        # Without the GIL's play-back, the same thread is parked: the look
        # above said "running" because of the wake, not because of the site.
        for _ in range(100):
            if watch.idle(threading.get_ident()) is None:
                break
            time.sleep(0.01)
        else:
            self.fail("a thread blocked in SimpleQueue.get() never seen parked")

    def test_a_thread_that_is_gone(self) -> None:
        """A thread id the kernel does not know: no sample, no wait."""
        thread = threading.Thread(target=lambda: None)
        thread.start()
        native = thread.native_id or 0
        thread.join()
        for _ in range(10_000):  # the kernel reaps the task soon after join
            if _kernel.sample(native) is None:
                break
            time.sleep(0.001)
        self.assertIsNone(_kernel.sample(native))
        self.assertIsNone(_kernel.blocked(native))


class TestWokenThreadsFromStatus(TestWokenThreads):
    """The same, read from the status file alone, as on a kernel without scheduler statistics."""

    def setUp(self) -> None:
        patcher = mock.patch.object(_kernel, "_SCHEDSTAT", False)
        patcher.start()
        self.addCleanup(patcher.stop)


class TestRunCoroutineThreadsafe(unittest.TestCase):
    """An executor job that waits for a coroutine the loop runs (the CPython test pattern)."""

    def test_result_of_a_sleeping_coroutine(self) -> None:
        """run_coroutine_threadsafe(...).result() from an executor: the coroutine's sleep jumps."""
        clock = VirtualClock()

        async def main() -> tuple[int, float]:
            loop = asyncio.get_running_loop()

            async def add(a: int, b: int) -> int:
                await asyncio.sleep(0.05)
                await asyncio.sleep(3600)
                return a + b

            def target() -> int:
                return asyncio.run_coroutine_threadsafe(add(1, 2), loop).result()

            return await loop.run_in_executor(None, target), loop.time()

        self.assertEqual(run(clock, main), (3, 3600.05))

    def test_result_with_a_timeout_is_parked(self) -> None:
        """A wait with a (real-time) timeout is parked: result(timeout=30) lets virtual time jump."""
        clock = VirtualClock()

        async def main() -> int:
            loop = asyncio.get_running_loop()

            async def late() -> int:
                await asyncio.sleep(600)
                return 7

            def target() -> int:
                return asyncio.run_coroutine_threadsafe(late(), loop).result(timeout=30)

            return await asyncio.to_thread(target)

        self.assertEqual(run(clock, main), 7)
        self.assertEqual(clock.now, 600)

    def test_exception_and_cancellation_come_back(self) -> None:
        """The coroutine's exception, and its cancellation, reach the executor job."""
        clock = VirtualClock()

        async def main() -> list[str]:
            loop = asyncio.get_running_loop()
            seen = []

            async def fail() -> None:
                await asyncio.sleep(1)
                raise RuntimeError("Fail!")

            async def cancelled() -> None:
                await asyncio.sleep(1)
                task = asyncio.current_task()
                assert task is not None
                task.cancel()
                await asyncio.sleep(0)

            for coro_fn in (fail, cancelled):
                def target(coro_fn: Any = coro_fn) -> None:
                    asyncio.run_coroutine_threadsafe(coro_fn(), loop).result()

                try:
                    await loop.run_in_executor(None, target)
                except (RuntimeError, asyncio.CancelledError) as exc:
                    seen.append(type(exc).__name__)
            return seen

        self.assertEqual(run(clock, main), ["RuntimeError", "CancelledError"])
        self.assertEqual(clock.now, 2)


_cpython_tasks: Any = None
try:  # the CPython test suite, where the interpreter ships it
    from test.test_asyncio import test_tasks as _cpython_tasks  # type: ignore[import-not-found, no-redef]
except ImportError:  # pragma: no cover - an interpreter without its test package
    pass

if _cpython_tasks is not None:

    class TestCPythonRunCoroutineThreadsafeTests(_cpython_tasks.RunCoroutineThreadsafeTests):  # type: ignore[misc, name-defined]
        """CPython's RunCoroutineThreadsafeTests, on a virtual loop (they used to hang)."""

        def setUp(self) -> None:
            _cpython_tasks.test_utils.TestCase.setUp(self)
            self.loop = virtual_event_loop()
            self.set_event_loop(self.loop)


class TestWrapFuture(unittest.TestCase):
    def test_executor_future_under_a_timeout(self) -> None:
        """wrap_future(executor.submit(time.sleep, 0.2)) under wait_for(..., 10) does not time out."""
        clock = VirtualClock()

        async def main() -> None:
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
                await asyncio.wait_for(asyncio.wrap_future(executor.submit(time.sleep, 0.2)), 10)

        started = real_clock()
        run(clock, main)
        self.assertEqual(clock.now, 0)
        self.assertGreaterEqual(real_clock() - started, 0.2)

    def test_queued_job_is_work_in_flight(self) -> None:
        """A job still queued behind a busy worker holds time still until it ran."""
        clock = VirtualClock()

        async def main() -> list[int]:
            loop = asyncio.get_running_loop()
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
                first = loop.run_in_executor(executor, time.sleep, 0.05)
                second = loop.run_in_executor(executor, lambda: 2)
                return [await asyncio.wait_for(second, 1), int(await first is None)]

        self.assertEqual(run(clock, main), [2, 1])
        self.assertEqual(clock.now, 0)


    def test_refused_job_is_not_work_in_flight(self) -> None:
        """A job a shut-down executor refuses is not waited for: time goes on jumping."""
        clock = VirtualClock()

        async def main() -> str:
            loop = asyncio.get_running_loop()
            executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            executor.shutdown()
            try:
                loop.run_in_executor(executor, int)
            except RuntimeError as exc:
                await asyncio.sleep(3600)
                return str(exc)
            return "accepted"

        self.assertEqual(run(clock, main), "cannot schedule new futures after shutdown")
        self.assertEqual(clock.now, 3600)


class TestNewThreads(unittest.TestCase):
    def test_a_thread_starting_as_another_ends_is_seen(self) -> None:
        """A thread started while another ended (same number of threads) is watched: no early timeout."""
        clock = VirtualClock()
        stop = threading.Event()
        older = threading.Thread(target=stop.wait)
        older.start()  # alive when the loop is made
        loop = virtual_event_loop(clock)

        async def main() -> str:
            reply = loop.create_future()
            stop.set()
            older.join()  # one thread ends...

            def answer() -> None:
                time.sleep(0.05)
                loop.call_soon_threadsafe(reply.set_result, "answer")

            newer = threading.Thread(target=answer)  # ... and another starts
            newer.start()
            try:
                return await asyncio.wait_for(reply, 10)
            finally:
                newer.join(5)

        try:
            self.assertEqual(loop.run_until_complete(main()), "answer")
        finally:
            stop.set()
            older.join(5)
            loop.close()
        self.assertEqual(clock.now, 0)


class TestBusyPolling(unittest.TestCase):
    def test_poll_for_a_running_thread_is_not_jumped(self) -> None:
        """Busy polling for a thread's result waits for the thread; polling for a parked one jumps."""
        clock = VirtualClock()
        never = threading.Event()

        async def main() -> list[float]:
            loop = asyncio.get_running_loop()
            times = []
            for work in (lambda: time.sleep(0.05), lambda: never.wait()):
                job = loop.run_in_executor(None, work)

                async def poll(job: asyncio.Future[Any] = job) -> None:
                    while not job.done():
                        await asyncio.sleep(0)

                try:
                    await asyncio.wait_for(poll(), 10)
                except asyncio.TimeoutError:
                    never.set()
                    await job
                times.append(loop.time())
            return times

        self.assertEqual(run(clock, main), [0, 10])


class TestToThread(unittest.TestCase):
    def test_running_thread_beats_a_virtual_timeout(self) -> None:
        """to_thread racing a virtual timeout: the thread's real work takes no virtual time."""
        clock = VirtualClock()

        async def main() -> str:
            return await asyncio.wait_for(asyncio.to_thread(lambda: (time.sleep(0.05), "done")[1]), 0.01)

        self.assertEqual(run(clock, main), "done")
        self.assertEqual(clock.now, 0)

    def test_parked_thread_loses_to_a_virtual_timeout(self) -> None:
        """to_thread parked on an Event nobody sets times out at its virtual deadline, at once."""
        clock = VirtualClock()
        never = threading.Event()

        async def main() -> None:
            try:
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(asyncio.to_thread(never.wait)), 30)
            finally:
                never.set()

        started = real_clock()
        run(clock, main)
        self.assertEqual(clock.now, 30)
        self.assertLess(real_clock() - started, 30)  # the 30 s were virtual, not waited for


class TestHandOff(unittest.TestCase):
    """Handing work to a parked thread, then going idle, never races the jump."""

    def _round_trips(self, hand: str) -> float:
        clock = VirtualClock()
        requests: queue.Queue[Any] = queue.Queue()
        cond = threading.Condition()
        event = threading.Event()
        sem = threading.Semaphore(0)
        simple: queue.SimpleQueue[Any] = queue.SimpleQueue()
        gate = threading.Lock()
        gate.acquire()
        handed: list[concurrent.futures.Future[Any]] = [concurrent.futures.Future() for _ in range(15)]
        futures = list(handed)
        box: list[Any] = []

        def worker(loop: asyncio.AbstractEventLoop) -> None:
            while True:
                if hand == "queue":
                    item = requests.get()
                elif hand == "simplequeue":
                    item = simple.get()
                elif hand == "lock":
                    gate.acquire()  # released by the loop: a Lock used as a signal
                    item = box.pop()
                elif hand == "future":
                    item = handed.pop(0).result()
                elif hand == "condition":
                    with cond:
                        cond.wait_for(lambda: bool(box))
                        item = box.pop()
                elif hand == "event":
                    event.wait()
                    event.clear()
                    item = box.pop()
                else:
                    sem.acquire()
                    item = box.pop()
                if item is None:
                    return
                time.sleep(0.002)  # real work: the loop must wait for it
                loop.call_soon_threadsafe(item.set_result, "ok")

        async def main() -> None:
            loop = asyncio.get_running_loop()
            thread = threading.Thread(target=worker, args=(loop,))
            thread.start()
            for i in range(15):
                fut = loop.create_future()
                item = fut if i < 14 else None
                if hand == "queue":
                    requests.put(item)
                elif hand == "simplequeue":
                    simple.put(item)
                elif hand == "lock":
                    box.append(item)
                    gate.release()
                elif hand == "future":
                    futures[i].set_result(item)
                elif hand == "condition":
                    with cond:
                        box.append(item)
                        cond.notify()
                elif hand == "event":
                    box.append(item)
                    event.set()
                else:
                    box.append(item)
                    sem.release()
                if item is None:
                    break
                self.assertEqual(await asyncio.wait_for(fut, 5), "ok")
                await asyncio.sleep(1)
            await asyncio.to_thread(thread.join, 5)

        run(clock, main)
        return clock.now

    def test_queue_condition_event_semaphore(self) -> None:
        """queue.put, SimpleQueue.put, Lock.release, Future.set_result, Condition.notify, Event.set,
        Semaphore.release: the answer beats the 5 s timeout."""
        for hand in ("queue", "simplequeue", "lock", "future", "condition", "event", "semaphore"):
            with self.subTest(hand=hand):
                self.assertEqual(self._round_trips(hand), 14)


@unittest.skipUnless(_kernel.AVAILABLE, "reads Linux's /proc")
class TestHandOffFromStatus(TestHandOff):
    """The same hand-offs, the kernel read from the status file alone (no scheduler statistics)."""

    def setUp(self) -> None:
        patcher = mock.patch.object(_kernel, "_SCHEDSTAT", False)
        patcher.start()
        self.addCleanup(patcher.stop)


class Guarded:
    """Holds its lock in a slot and hands it out through a property too."""

    __slots__ = ("_lock",)

    def __init__(self, lock: Any) -> None:
        self._lock = lock

    @property
    def lock(self) -> Any:
        return self._lock


# What sleep_beside sees: the sleep jumped past a parked thread, or waited for a running one.
PARKED = ["slept", "released by the loop"]
RUNNING = ["released by the timer", "slept"]


class TestWhatIsParked(unittest.TestCase):
    """Which blocked threads let time jump, seen from the virtual time a sleep takes."""

    def sleep_beside(self, blocked: Any, release: Any, after: float = 0.0) -> tuple[float, list[str]]:
        """Sleep 100 virtual seconds while a thread runs ``blocked()``; return the time and the events.

        ``release()`` ends the thread's wait: called by the loop after the
        sleep ("slept", then "released by the loop") or, with ``after``, by a
        timer thread after that many real seconds. A safety timer releases it
        after 2 s, so a thread wrongly taken for running fails the test
        ("released by the timer" first) instead of hanging it.
        """
        clock = VirtualClock()
        once = threading.Lock()
        events: list[str] = []

        def release_by(who: str) -> None:
            if once.acquire(blocking=False):
                events.append(f"released by the {who}")
                release()

        async def main() -> None:
            thread = threading.Thread(target=blocked)
            thread.start()
            timer = threading.Timer(after or 2.0, release_by, ("timer",))
            timer.start()
            try:
                await asyncio.sleep(100)
                events.append("slept")
            finally:
                if not after:
                    release_by("loop")
                await asyncio.to_thread(thread.join, 5)
                timer.cancel()
                timer.join()

        run(clock, main)
        return clock.now, events

    def test_rlock_held_by_another_thread(self) -> None:
        """A thread blocked on an RLock that another thread (the loop's) holds is parked."""
        rlock = threading.RLock()
        rlock.acquire()
        virtual, events = self.sleep_beside(lambda: (rlock.acquire(), rlock.release()), rlock.release)
        self.assertEqual((virtual, events), (100, PARKED))

    def test_lock_in_a_slot(self) -> None:
        """A Lock read through a __slots__ attribute (`with self._lock:`) is recognised."""
        guarded = Guarded(threading.Lock())
        guarded._lock.acquire()

        def blocked() -> None:
            with guarded._lock:
                pass

        virtual, events = self.sleep_beside(blocked, guarded._lock.release)
        self.assertEqual((virtual, events), (100, PARKED))

    def test_lock_reached_through_a_property(self) -> None:
        """A lock reached through a property: no code runs to find it, and the kernel says it waits."""
        guarded = Guarded(threading.Lock())
        guarded.lock.acquire()

        def blocked() -> None:
            guarded.lock.acquire()  # the loop never calls the property
            guarded.lock.release()

        virtual, events = self.sleep_beside(blocked, guarded.lock.release)
        self.assertEqual((virtual, events), (100, PARKED))

    def test_time_sleep_runs(self) -> None:
        """A thread in time.sleep() runs: the sleep waits for it."""
        gate = threading.Event()

        def blocked() -> None:
            while not gate.is_set():
                time.sleep(0.001)

        virtual, events = self.sleep_beside(blocked, gate.set, after=0.05)
        self.assertEqual((virtual, events), (100, RUNNING))

    def test_unknown_wait_runs(self) -> None:
        """A wait at a call site that names no primitive (a C call the loop cannot name) runs."""
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        virtual, events = self.sleep_beside(lambda: os.read(r, 1), lambda: os.write(w, b"x"), after=0.05)
        self.assertEqual((virtual, events), (100, RUNNING))

    def test_timed_wait_is_parked(self) -> None:
        """Event.wait(timeout) and queue.get(timeout=...) are parked: real-time timeouts do not hold time."""
        event = threading.Event()
        requests: queue.Queue[object] = queue.Queue()

        def blocked() -> None:
            event.wait(30)
            requests.get(timeout=30)

        def release() -> None:
            event.set()
            requests.put(None)

        virtual, events = self.sleep_beside(blocked, release)
        self.assertEqual((virtual, events), (100, PARKED))

    def test_barrier(self) -> None:
        """Threads waiting at a Barrier for the loop's thread are parked."""
        barrier = threading.Barrier(2)
        virtual, events = self.sleep_beside(barrier.wait, lambda: barrier.wait(5))
        self.assertEqual((virtual, events), (100, PARKED))

    def test_an_idle_event_loop_in_a_thread(self) -> None:
        """A plain event loop in a thread, idle with no timer (select() without timeout), is parked."""
        other = asyncio.new_event_loop()

        def release() -> None:
            other.call_soon_threadsafe(other.stop)

        try:
            virtual, events = self.sleep_beside(other.run_forever, release)
        finally:
            other.close()
        self.assertEqual((virtual, events), (100, PARKED))

    def test_an_event_loop_with_a_real_timer_runs(self) -> None:
        """An event loop in a thread with a real-time timer pending is like time.sleep: it runs."""
        other = asyncio.new_event_loop()
        answer = other.create_future()

        def blocked() -> None:
            other.run_until_complete(asyncio.wait_for(answer, 30))  # select(30)

        try:
            virtual, events = self.sleep_beside(
                blocked, lambda: other.call_soon_threadsafe(answer.set_result, None), after=0.05
            )
        finally:
            other.close()
        self.assertEqual((virtual, events), (100, RUNNING))

    def test_thread_started_before_the_loop_is_watched_once_it_calls_in(self) -> None:
        """A thread older than the loop is unknown until it calls call_soon_threadsafe; then watched."""
        clock = VirtualClock()
        handoff: queue.Queue[Any] = queue.Queue()

        def older() -> None:
            while (item := handoff.get()) is not None:
                loop, fut = item
                time.sleep(0.05)  # running: the loop must wait, not time out
                loop.call_soon_threadsafe(fut.set_result, "ok")

        thread = threading.Thread(target=older)
        thread.start()
        loop = virtual_event_loop(clock)

        async def main() -> list[str]:
            answers = []
            for _ in range(3):
                fut = loop.create_future()
                handoff.put((loop, fut))
                answers.append(await asyncio.wait_for(fut, 0.01))
            return answers

        try:
            with clock.hold():  # its first request: the loop cannot see the thread yet
                first = loop.create_future()
                handoff.put((loop, first))
                loop.run_until_complete(asyncio.wait_for(first, 5))
            self.assertEqual(loop.run_until_complete(main()), ["ok"] * 3)
        finally:
            handoff.put(None)
            thread.join(5)
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
        self.assertEqual(clock.now, 0)


class OneThreadPerJob(concurrent.futures.Executor):
    """An executor that is not a thread pool: the loop cannot see its threads."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def work() -> None:
            fut.set_running_or_notify_cancel()
            fut.set_result(fn(*args, **kwargs))

        threading.Thread(target=work).start()
        return fut


class TestOtherExecutors(unittest.TestCase):
    def test_job_of_another_executor_is_in_flight(self) -> None:
        """run_in_executor on an executor that is not a thread pool: in flight until it lands."""
        clock = VirtualClock()

        async def main() -> str:
            loop = asyncio.get_running_loop()
            job = loop.run_in_executor(OneThreadPerJob(), lambda: (time.sleep(0.05), "done")[1])
            return await asyncio.wait_for(job, 0.01)

        self.assertEqual(run(clock, main), "done")
        self.assertEqual(clock.now, 0)


GLOBAL_QUEUE: queue.SimpleQueue[object] = queue.SimpleQueue()


def first_call(func: Any, which: int = 0) -> tuple[Any, int]:
    """Return ``func``'s code and the offset of its first call (or `with` entry), or another."""
    calls = [
        instr.offset for instr in dis.get_instructions(func)
        if instr.opname in _threads._CALLS or instr.opname in _threads._WITH
    ]
    return func.__code__, calls[which]


class TestCallSites(unittest.TestCase):
    """Reading which object a thread blocked in C waits on, from its frame's bytecode."""

    def site(self, func: Any, which: int = 0) -> Any:
        return _threads._site(*first_call(func, which))

    def test_receivers_and_methods(self) -> None:
        """lock.acquire(), self._lock.acquire(True, 5), `with lock:`, q.get(block=True), a global."""
        lock: Any = None
        this: Any = None
        q: Any = None
        cases = {
            (True, "lock", (), "acquire"): lambda: lock.acquire(),
            (True, "this", ("_lock",), "acquire"): lambda: this._lock.acquire(True, 5),
            (True, "q", (), "get"): lambda: q.get(block=True),
            (False, "GLOBAL_QUEUE", (), "get"): lambda: GLOBAL_QUEUE.get(),
        }
        for expected, func in cases.items():
            with self.subTest(expected):
                self.assertEqual(self.site(func), expected)

        def with_lock() -> None:
            with lock:
                pass

        self.assertEqual(self.site(with_lock), (True, "lock", (), "__enter__"))

    def test_what_it_cannot_read(self) -> None:
        """A receiver made by a call, or an offset that is no call: nothing is read."""
        self.assertIsNone(self.site(lambda: threading.Lock().acquire(), -1))
        code, offset = first_call(lambda: GLOBAL_QUEUE.get())
        self.assertIsNone(_threads._site(code, 0))
        self.assertIsNone(_threads._parse_site(list(dis.get_instructions(code)), offset + 1))

    def test_bytecode_shapes_of_every_version(self) -> None:
        """The parser reads the call-site shapes of other versions wherever it runs: 3.14's
        `with` (COPY/LOAD_SPECIAL/SWAP then CALL 0), 3.13's paired loads and an
        EXTENDED_ARG between arguments; it refuses a receiver or argument it cannot see."""

        def parse(*ops: tuple[str, Any]) -> Any:
            instrs = [
                types.SimpleNamespace(opname=name, arg=arg, argval=arg, offset=2 * n)
                for n, (name, arg) in enumerate(ops)
            ]
            return _threads._parse_site(instrs, instrs[-1].offset)  # type: ignore[arg-type]

        with_314 = [("RESUME", 0), ("LOAD_FAST_BORROW", "lock"), ("COPY", 1), ("LOAD_SPECIAL", 1),
                    ("SWAP", 2), ("SWAP", 3), ("LOAD_SPECIAL", 0), ("CALL", 0)]
        self.assertEqual(parse(*with_314), (True, "lock", (), "__enter__"))
        self.assertIsNone(parse(*with_314[3:]))  # no COPY of a receiver before it
        self.assertEqual(
            parse(("LOAD_FAST", "lock"), ("LOAD_ATTR", "acquire"), ("LOAD_FAST_LOAD_FAST", ("a", "b")),
                  ("CALL", 2)),
            (True, "lock", (), "acquire"),
        )
        self.assertEqual(
            parse(("LOAD_GLOBAL", "POOL"), ("LOAD_ATTR", "jobs"), ("LOAD_ATTR", "get"), ("LOAD_CONST", True),
                  ("EXTENDED_ARG", 1), ("LOAD_CONST", 300), ("CALL", 2)),
            (False, "POOL", ("jobs",), "get"),
        )
        self.assertIsNone(parse(("LOAD_FAST", "x"), ("CALL", 1)))  # the arguments run out
        self.assertIsNone(parse(("LOAD_ATTR", "acquire"), ("CALL", 0)))  # no receiver


class TestDeadlockReport(unittest.TestCase):
    def test_parked_threads_are_named(self) -> None:
        """No timer and every thread parked: DeadlockError names each thread and its wait, with its stack."""
        clock = VirtualClock()
        release = threading.Event()

        def stuck_in_get(q: queue.Queue[object]) -> None:
            q.get()  # nobody puts anything

        async def main() -> None:
            loop = asyncio.get_running_loop()
            q: queue.Queue[object] = queue.Queue()
            thread = threading.Thread(target=stuck_in_get, args=(q,), name="the-parked-one")
            thread.start()
            try:
                reply = loop.create_future()
                await reply  # only the thread would answer
            finally:
                q.put(None)
                release.set()
                thread.join(5)

        # Only the thread could answer, and it is parked: nothing but the
        # deadlock check ends this run, so that it returns is the evidence.
        with self.assertRaises(DeadlockError) as caught:
            run(clock, main)
        text = str(caught.exception)
        self.assertRegex(
            text.splitlines()[0],
            r"^Deadlock: every task waits and nothing can ever wake them \(no timer pending, "
            r"every thread that can wake the loop is parked, no real IO registered\)\.$",
        )
        self.assertRegex(
            text,
            r"(?m)^Parked threads \(1\), each blocked until another thread acts:\n"
            r"- thread 'the-parked-one' parked in queue\.Queue\.get\(\) \(most recent call last\):$",
        )
        self.assertIn("q.get()  # nobody puts anything", text)

    def test_running_thread_is_no_deadlock(self) -> None:
        """A thread that will answer after a real delay is waited for, not reported."""
        clock = VirtualClock()

        async def main() -> str:
            loop = asyncio.get_running_loop()
            reply = loop.create_future()

            def answer() -> None:
                time.sleep(0.05)
                loop.call_soon_threadsafe(reply.set_result, "late")

            thread = threading.Thread(target=answer)
            thread.start()
            try:
                return await reply
            finally:
                thread.join(5)

        self.assertEqual(run(clock, main), "late")

    def test_join_of_a_parked_thread(self) -> None:
        """A thread joining a parked thread is parked too; the report says which join."""
        clock = VirtualClock()
        gate = threading.Event()

        async def main() -> None:
            inner = threading.Thread(target=gate.wait, name="inner")
            outer = threading.Thread(target=inner.join, name="joiner")
            inner.start()
            outer.start()
            try:
                await asyncio.get_running_loop().create_future()
            finally:
                gate.set()
                outer.join(5)

        with self.assertRaises(DeadlockError) as caught:
            run(clock, main)
        self.assertRegex(str(caught.exception), r"- thread 'joiner' parked in threading\.Thread\.join\(\)")
        self.assertRegex(str(caught.exception), r"- thread 'inner' parked in threading\.Event\.wait\(\)")


class TestWithClockedTestCase(unittest.TestCase):
    def test_sleep_while_a_connection_idles(self) -> None:
        """A whole ClockedTestCase with an idle connection thread: days of sleeps pass at once."""

        class Inner(ClockedTestCase):
            clock_budget = 200 * 86400
            slow_callback_duration = None  # starting a thread, on a loaded machine

            async def test_it(self) -> None:
                db = FakeDatabase()
                db._thread.start()
                try:
                    for _ in range(100):
                        await asyncio.sleep(86400)
                finally:
                    await db.close()
                self.assertEqual(self.clock.now, 100 * 86400)

        result = run_test(Inner("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)

    def test_the_watchdogs_timer_thread_is_not_watched(self) -> None:
        """Off the main thread the watchdog is a timer thread: a deadlock report does not list it."""
        results: list[unittest.TestResult] = []

        class Inner(ClockedTestCase):
            timeout = 30  # a timer thread, off the main thread

            async def test_it(self) -> None:
                await asyncio.get_running_loop().create_future()

        thread = threading.Thread(target=lambda: results.append(run_test(Inner("test_it"))))
        thread.start()
        thread.join(30)
        (_, text), = results[0].errors
        self.assertIn("DeadlockError: Deadlock: every task waits and nothing can ever wake them (no timer "
                      "pending, no outside work in flight, no real IO registered)", text)
        self.assertNotIn("Parked threads", text)


@unittest.skipUnless(hasattr(os, "fork"), "needs os.fork")
class TestFork(unittest.TestCase):
    """A child forked inside a patched region reads real time from every time function."""

    def assert_real(self, seen: dict[str, float]) -> None:
        for name, value in seen.items():
            with self.subTest(name):
                self.assertLess(abs(value - REAL[name]()), 60, f"{name}() read {value} in the child")

    def fork_and_read(self) -> dict[str, float]:
        r, w = os.pipe()
        with warnings.catch_warnings():
            # 3.12+ warns that fork() in a multi-threaded process may deadlock.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.write(w, json.dumps(read_time_functions()).encode())
            finally:
                os._exit(0)
        os.close(w)
        try:
            ready, _, _ = select.select([r], [], [], 10)
            self.assertTrue(ready, "the child did not answer")
            data = os.read(r, 65536)
        finally:
            os.close(r)
            os.waitpid(pid, 0)
        return dict(json.loads(data))

    def test_os_fork_under_patch_time(self) -> None:
        """os.fork() inside patch_time(..., wall=True): the child reads real time, the parent virtual."""
        clock = VirtualClock(start=FAR)
        with patch_time(clock, wall=FAR):
            seen = self.fork_and_read()
            self.assertEqual(time.monotonic(), FAR)
        self.assert_real(seen)

    def test_multiprocessing_fork_from_a_clocked_test(self) -> None:
        """A fork-started multiprocessing.Process from a ClockedTestCase test reads real time."""
        seen: list[dict[str, float]] = []

        class Inner(ClockedTestCase):
            clock_start = FAR
            slow_callback_duration = None  # forking, on a loaded machine

            async def test_it(self) -> None:
                self.assertEqual(time.monotonic(), FAR)
                ctx = multiprocessing.get_context("fork")
                parent, child = ctx.Pipe()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    process = ctx.Process(target=send_time_functions, args=(child,))
                    process.start()
                try:
                    self.assertTrue(await asyncio.to_thread(parent.poll, 10), "the child did not answer")
                    seen.append(parent.recv())
                finally:
                    await asyncio.to_thread(process.join, 10)
                    parent.close()
                    child.close()

        result = run_test(Inner("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assert_real(seen[0])

    def test_fork_process_pool_under_patch_time(self) -> None:
        """A fork ProcessPoolExecutor's worker, started inside patch_time, reads real time."""
        clock = VirtualClock(start=FAR)
        with patch_time(clock, wall=FAR), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context = multiprocessing.get_context("fork")
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                seen = pool.submit(read_time_functions).result(timeout=30)
            self.assertEqual(time.monotonic(), FAR)
        self.assert_real(seen)

    def test_parent_keeps_its_clock(self) -> None:
        """After a fork the parent's clock still belongs to the parent's thread."""
        clock = VirtualClock(start=FAR)
        with patch_time(clock):
            self.fork_and_read()
            self.assertEqual(clock._thread_id, threading.get_ident())
            self.assertEqual(time.perf_counter(), FAR)


if __name__ == "__main__":
    unittest.main()
