"""asyncio's time-related features behave under virtual time exactly as under real time."""

from __future__ import annotations

import asyncio
import sys
import unittest
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asynctestkit import VirtualClock
from tests._support import run_virtual

T = TypeVar("T")
PY311 = sys.version_info >= (3, 11)


class VirtualTestCase(unittest.TestCase):
    """Runs each coroutine on a fresh virtual loop; ``self.clock`` is its clock."""

    def setUp(self) -> None:
        self.clock = VirtualClock()

    def run_virtual(self, main: Callable[[], Awaitable[T]]) -> T:
        return run_virtual(self.clock, main)

    def now(self) -> float:
        return self.clock.now


class TestSleep(VirtualTestCase):
    def test_sleep_takes_its_virtual_time(self) -> None:
        """sleep(d) returns its result after exactly d virtual seconds."""

        async def main() -> str:
            self.assertEqual(await asyncio.sleep(2.5, result="r"), "r")
            return "ok"

        self.assertEqual(self.run_virtual(main), "ok")
        self.assertEqual(self.now(), 2.5)

    def test_concurrent_sleeps_overlap(self) -> None:
        """Concurrent sleeps overlap: the longest decides, as in real time."""

        async def main() -> list[float]:
            wakes: list[float] = []

            async def nap(d: float) -> None:
                await asyncio.sleep(d)
                wakes.append(self.now())

            await asyncio.gather(nap(3), nap(1), nap(2))
            return wakes

        self.assertEqual(self.run_virtual(main), [1.0, 2.0, 3.0])
        self.assertEqual(self.now(), 3.0)

    def test_negative_sleep_is_zero(self) -> None:
        """sleep(-1) yields once and takes no time, as in asyncio."""

        async def main() -> None:
            await asyncio.sleep(-1)

        self.run_virtual(main)
        self.assertEqual(self.now(), 0.0)

    def test_cancel_during_sleep(self) -> None:
        """A task cancelled mid-sleep raises CancelledError at the cancel time; its timer is gone."""

        async def main() -> None:
            task = asyncio.create_task(asyncio.sleep(100))
            await asyncio.sleep(3)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            self.assertEqual(self.now(), 3.0)
            self.assertEqual(self.clock.pending_timers(), [])
            await asyncio.sleep(1)

        self.run_virtual(main)
        self.assertEqual(self.now(), 4.0)


class TestWaitFor(VirtualTestCase):
    def test_times_out_at_its_deadline(self) -> None:
        """wait_for raises TimeoutError exactly at the timeout and cancels the inner task."""

        async def main() -> None:
            inner = asyncio.create_task(asyncio.sleep(10))
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(inner, 4)
            self.assertEqual(self.now(), 4.0)
            self.assertTrue(inner.cancelled())

        self.run_virtual(main)

    def test_completes_before_the_timeout(self) -> None:
        """wait_for returns the result when the work finishes first; time stops there."""

        async def main() -> str:
            return await asyncio.wait_for(asyncio.sleep(1, result="fast"), 5)

        self.assertEqual(self.run_virtual(main), "fast")
        self.assertEqual(self.now(), 1.0)
        self.assertEqual(self.clock.pending_timers(), [])

    def test_none_waits_for_ever(self) -> None:
        """wait_for(..., None) waits however long the work takes."""

        async def main() -> None:
            await asyncio.wait_for(asyncio.sleep(10**6), None)

        self.run_virtual(main)
        self.assertEqual(self.now(), 10.0**6)


@unittest.skipUnless(PY311, "asyncio.timeout is new in 3.11")
class TestTimeout(VirtualTestCase):
    def test_timeout(self) -> None:
        """asyncio.timeout(d) expires at now + d."""

        async def main() -> None:
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout(3):  # type: ignore[attr-defined]
                    await asyncio.sleep(10)
            self.assertEqual(self.now(), 3.0)

        self.run_virtual(main)

    def test_timeout_at(self) -> None:
        """asyncio.timeout_at(t) expires at the absolute time t."""
        self.clock = VirtualClock(start=100)

        async def main() -> None:
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout_at(107.5):  # type: ignore[attr-defined]
                    await asyncio.sleep(10)
            self.assertEqual(self.now(), 107.5)

        self.run_virtual(main)

    def test_reschedule(self) -> None:
        """Rescheduling moves the deadline; None disables it."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout(1) as cm:  # type: ignore[attr-defined]
                    cm.reschedule(loop.time() + 5)
                    await asyncio.sleep(10)
            self.assertEqual(self.now(), 5.0)
            async with asyncio.timeout(1) as cm:  # type: ignore[attr-defined]
                cm.reschedule(None)
                await asyncio.sleep(10)
            self.assertEqual(self.now(), 15.0)
            self.assertFalse(cm.expired())

        self.run_virtual(main)


class TestWaitAndAsCompleted(VirtualTestCase):
    def test_wait_timeout(self) -> None:
        """wait(timeout=) returns done and pending sets at the timeout."""

        async def main() -> None:
            fast = asyncio.create_task(asyncio.sleep(1))
            slow = asyncio.create_task(asyncio.sleep(9))
            done, pending = await asyncio.wait({fast, slow}, timeout=5)
            self.assertEqual((done, pending), ({fast}, {slow}))
            self.assertEqual(self.now(), 5.0)
            slow.cancel()

        self.run_virtual(main)

    def test_wait_first_completed(self) -> None:
        """wait(FIRST_COMPLETED) returns when the first task ends."""

        async def main() -> None:
            tasks = [asyncio.create_task(asyncio.sleep(d)) for d in (3, 2, 8)]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            self.assertEqual(done, {tasks[1]})
            self.assertEqual(self.now(), 2.0)

        self.run_virtual(main)

    def test_as_completed_timeout(self) -> None:
        """as_completed yields in completion order and times out at its deadline."""

        async def main() -> None:
            coros = [asyncio.sleep(d, result=d) for d in (3, 1, 2, 50)]
            got = []
            with self.assertRaises(asyncio.TimeoutError):
                for next_done in asyncio.as_completed(coros, timeout=10):
                    got.append(await next_done)
            self.assertEqual(got, [1, 2, 3])
            self.assertEqual(self.now(), 10.0)

        self.run_virtual(main)


class TestSynchronisation(VirtualTestCase):
    def test_condition_wait_for_with_timeout(self) -> None:
        """Condition.wait_for under wait_for: notified in time it succeeds, else it times out."""

        async def main() -> None:
            cond = asyncio.Condition()
            state = {"ready": False}

            async def notifier() -> None:
                await asyncio.sleep(2)
                async with cond:
                    state["ready"] = True
                    cond.notify_all()

            async def waiter() -> bool:
                async with cond:
                    return await cond.wait_for(lambda: state["ready"])

            task = asyncio.create_task(notifier())
            self.assertTrue(await asyncio.wait_for(waiter(), 5))
            self.assertEqual(self.now(), 2.0)
            await task
            state["ready"] = False
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(waiter(), 5)
            self.assertEqual(self.now(), 7.0)

        self.run_virtual(main)

    def test_event(self) -> None:
        """Event.wait wakes when set by a timer, and times out when it is not."""

        async def main() -> None:
            event = asyncio.Event()
            asyncio.get_running_loop().call_later(3, event.set)
            await asyncio.wait_for(event.wait(), 10)
            self.assertEqual(self.now(), 3.0)
            event.clear()
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), 1)
            self.assertEqual(self.now(), 4.0)

        self.run_virtual(main)

    def test_queue_get_and_put_with_timeouts(self) -> None:
        """Queue get and put block, time out, and hand over items at the right times."""

        async def main() -> None:
            queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(queue.get(), 2)
            self.assertEqual(self.now(), 2.0)
            await queue.put(1)
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(queue.put(2), 3)
            self.assertEqual(self.now(), 5.0)

            async def consumer() -> int:
                await asyncio.sleep(1)
                return await queue.get()

            task = asyncio.create_task(consumer())
            await asyncio.wait_for(queue.put(3), 3)  # room after 1 s
            self.assertEqual(self.now(), 6.0)
            self.assertEqual(await task, 1)
            self.assertEqual(queue.get_nowait(), 3)

        self.run_virtual(main)

    def test_semaphore(self) -> None:
        """A Semaphore(2) runs six 1-second jobs in three waves."""

        async def main() -> list[float]:
            sem = asyncio.Semaphore(2)
            ends: list[float] = []

            async def job() -> None:
                async with sem:
                    await asyncio.sleep(1)
                    ends.append(self.now())

            await asyncio.gather(*(job() for _ in range(6)))
            return ends

        self.assertEqual(self.run_virtual(main), [1.0, 1.0, 2.0, 2.0, 3.0, 3.0])

    def test_shield(self) -> None:
        """A shielded task goes on after the outer wait_for times out."""

        async def main() -> None:
            inner = asyncio.create_task(asyncio.sleep(5, result="kept"))
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(inner), 2)
            self.assertEqual(self.now(), 2.0)
            self.assertFalse(inner.done())
            self.assertEqual(await inner, "kept")
            self.assertEqual(self.now(), 5.0)

        self.run_virtual(main)


@unittest.skipUnless(PY311, "asyncio.TaskGroup is new in 3.11")
class TestTaskGroup(VirtualTestCase):
    def test_timeout_cancels_the_group(self) -> None:
        """A TaskGroup under asyncio.timeout is cancelled at the deadline."""

        async def main() -> None:
            started: list[float] = []

            async def child(d: float) -> None:
                started.append(self.now())
                await asyncio.sleep(d)

            with self.assertRaises(TimeoutError):
                async with asyncio.timeout(4):  # type: ignore[attr-defined]
                    async with asyncio.TaskGroup() as tg:  # type: ignore[attr-defined]
                        for d in (1, 10, 20):
                            tg.create_task(child(d))
            self.assertEqual(self.now(), 4.0)
            self.assertEqual(started, [0.0, 0.0, 0.0])

        self.run_virtual(main)

    def test_failure_cancels_siblings(self) -> None:
        """A child failing at t=2 cancels its siblings then; the group raises an ExceptionGroup."""

        async def main() -> None:
            cancelled_at: list[float] = []

            async def fails() -> None:
                await asyncio.sleep(2)
                raise ValueError("boom")

            async def sibling() -> None:
                try:
                    await asyncio.sleep(100)
                except asyncio.CancelledError:
                    cancelled_at.append(self.now())
                    raise

            with self.assertRaises(BaseException) as caught:
                async with asyncio.TaskGroup() as tg:  # type: ignore[attr-defined]
                    tg.create_task(fails())
                    tg.create_task(sibling())
            group: Any = caught.exception
            self.assertEqual(type(group).__name__, "ExceptionGroup")
            self.assertIsInstance(group.exceptions[0], ValueError)
            self.assertEqual(cancelled_at, [2.0])
            self.assertEqual(self.now(), 2.0)

        self.run_virtual(main)


class TestCallbacks(VirtualTestCase):
    def test_call_later_versus_sleep(self) -> None:
        """A call_later(2) callback runs before a task's sleep(2) armed after it, at t=2."""

        async def main() -> list[str]:
            order: list[str] = []
            loop = asyncio.get_running_loop()
            loop.call_later(2, order.append, "callback")
            await asyncio.sleep(2)
            order.append("task")
            return order

        self.assertEqual(self.run_virtual(main), ["callback", "task"])

    def test_periodic_timer(self) -> None:
        """A self re-arming call_later(1) runs once per virtual second."""

        async def main() -> list[float]:
            loop = asyncio.get_running_loop()
            ticks: list[float] = []

            def tick() -> None:
                ticks.append(loop.time())
                if len(ticks) < 5:
                    loop.call_later(1, tick)

            loop.call_later(1, tick)
            await asyncio.sleep(10)
            return ticks

        self.assertEqual(self.run_virtual(main), [1.0, 2.0, 3.0, 4.0, 5.0])


if __name__ == "__main__":
    unittest.main()
