"""Schedule seeds: what a seed perturbs, what it never does, and exploring tests with seeds."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
import random
import re
import socket
import sys
import threading
import unittest
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar
from unittest import mock

from asynctestkit import ClockedTestCase, VirtualClock, configure, virtual_event_loop
from tests._support import assert_refused, only_failure, run_test

T = TypeVar("T")
SEEDS = range(200)
PY312 = sys.version_info >= (3, 12)


def run_seeded(seed: int | None, main: Callable[[], Awaitable[T]], **options: Any) -> T:
    """Run ``main()`` on a new virtual loop with ``seed``, then close the loop."""
    loop = virtual_event_loop(VirtualClock(), seed=seed, **options)
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def outcomes(main: Callable[[], Awaitable[T]], seeds: range = SEEDS, **options: Any) -> set[T]:
    """The set of what ``main()`` returns under each seed."""
    return {run_seeded(seed, main, **options) for seed in seeds}


# -- scenarios -------------------------------------------------------------


async def three_timers_due_together() -> tuple[str, ...]:
    loop = asyncio.get_running_loop()
    order: list[str] = []
    for name in "abc":
        loop.call_later(1, order.append, name)
    await asyncio.sleep(2)
    return tuple(order)


async def thread_callback_and_timer_due_together() -> tuple[str, ...]:
    # A timer at 1 s makes another thread post a callback, and arms a timer due
    # at once: both are ready for the same instant.
    loop = asyncio.get_running_loop()
    order: list[str] = []

    def at_one_second() -> None:
        thread = threading.Thread(target=loop.call_soon_threadsafe, args=(order.append, "thread"))
        thread.start()
        thread.join()
        loop.call_at(loop.time(), order.append, "timer")

    loop.call_later(1, at_one_second)
    await asyncio.sleep(2)
    return tuple(order)


async def executor_result_and_timer_due_together() -> bool:
    # Whether the executor's result was taken before a timer due with it.
    loop = asyncio.get_running_loop()
    executor = concurrent.futures.ThreadPoolExecutor(1)
    seen: list[bool] = []
    futures: list[asyncio.Future[bool]] = []
    go = threading.Event()

    def at_one_second() -> None:
        # The work waits until the loop has chained its future, so its result
        # comes back through call_soon_threadsafe.
        futures.append(loop.run_in_executor(executor, go.wait))
        go.set()
        executor.shutdown(wait=True)  # its result is now queued for the loop
        loop.call_at(loop.time(), lambda: seen.append(futures[0].done()))

    loop.call_later(1, at_one_second)
    await asyncio.sleep(2)
    assert await futures[0] is True
    return seen[0]


async def socket_data_and_timer_due_together() -> tuple[str, ...]:
    loop = asyncio.get_running_loop()
    order: list[str] = []
    a, b = socket.socketpair()
    a.setblocking(False)

    def readable() -> None:
        order.append("io")
        a.recv(1)
        loop.remove_reader(a)

    loop.add_reader(a, readable)

    def at_one_second() -> None:
        b.send(b"x")
        loop.call_at(loop.time(), order.append, "timer")

    try:
        loop.call_later(1, at_one_second)
        await asyncio.sleep(2)
    finally:
        loop.remove_reader(a)
        a.close()
        b.close()
    return tuple(order)


async def child_and_parent() -> tuple[str, ...]:
    order: list[str] = []

    async def child() -> None:
        order.append("child")

    task = asyncio.create_task(child())
    order.append("parent")
    await task
    return tuple(order)


async def woken_at(delay: float) -> float:
    await asyncio.sleep(delay)
    return asyncio.get_running_loop().time()


async def mixed_workload() -> tuple[tuple[float, str], ...]:
    # Ties, lateness, a thread's callback and task starts: a log of what ran when.
    loop = asyncio.get_running_loop()
    log: list[tuple[float, str]] = []

    async def worker(name: str, delays: list[float]) -> None:
        for delay in delays:
            await asyncio.sleep(delay)
            log.append((loop.time(), name))

    await asyncio.gather(*(worker(f"w{i}", [1, 0.5, 1, 2]) for i in range(5)))
    log.extend((loop.time(), step) for step in await thread_callback_and_timer_due_together())
    return tuple(log)


# -- the loop ------------------------------------------------------------------


class DefaultOrderTest(unittest.TestCase):
    def test_no_seed_keeps_the_one_default_order(self) -> None:
        """seed=None: timers due together fire in the order they were made, every time."""
        orders = {run_seeded(None, three_timers_due_together) for _ in range(20)}
        self.assertEqual(orders, {("a", "b", "c")})

    def test_no_seed_never_fires_late(self) -> None:
        """seed=None: a sleep wakes exactly at its deadline."""
        self.assertEqual(run_seeded(None, lambda: woken_at(3600)), 3600.0)

    def test_no_seed_takes_outside_events_first(self) -> None:
        """seed=None: another thread's callback goes before a timer due with it, as in asyncio."""
        self.assertEqual(run_seeded(None, thread_callback_and_timer_due_together), ("thread", "timer"))


class ReproducibleTest(unittest.TestCase):
    def test_same_seed_same_order_and_times(self) -> None:
        """A seed gives the same interleaving at the same virtual times, run after run."""
        for seed in (0, 1, 12345):
            with self.subTest(seed=seed):
                first = run_seeded(seed, mixed_workload, eager_tasks=True)
                for _ in range(3):
                    self.assertEqual(run_seeded(seed, mixed_workload, eager_tasks=True), first)

    def test_seeds_differ(self) -> None:
        """Different seeds give different interleavings."""
        self.assertGreater(len(outcomes(mixed_workload, range(10))), 5)


class PerturbationsTest(unittest.TestCase):
    """Every kind of choice a seed makes is reached, both ways."""

    def test_ties_are_ordered_by_the_seed(self) -> None:
        """Timers due at the same instant fire in every order across seeds."""
        self.assertEqual(
            outcomes(three_timers_due_together),
            {("a", "b", "c"), ("a", "c", "b"), ("b", "a", "c"), ("b", "c", "a"), ("c", "a", "b"), ("c", "b", "a")},
        )

    def test_timers_fire_late_but_never_early(self) -> None:
        """A sleep(d) wakes within [d, d * (1 + jitter)]: late under about half the seeds, exact
        under the others."""
        wakes = [run_seeded(seed, lambda: woken_at(100)) for seed in SEEDS]
        self.assertTrue(all(100 <= t <= 110 for t in wakes), wakes)
        self.assertGreater(sum(t > 100 for t in wakes), 60)
        self.assertGreater(sum(t == 100 for t in wakes), 60)
        self.assertGreater(max(wakes), 109)

    def test_jitter_sets_the_bound(self) -> None:
        """jitter=0.5 allows up to 50% late; jitter=0, never late."""
        wakes = [run_seeded(seed, lambda: woken_at(100), jitter=0.5) for seed in SEEDS]
        self.assertTrue(all(100 <= t <= 150 for t in wakes), wakes)
        self.assertGreater(max(wakes), 145)
        self.assertEqual({run_seeded(seed, lambda: woken_at(100), jitter=0) for seed in SEEDS}, {100.0})

    def test_each_timer_is_late_on_its_own(self) -> None:
        """Two timers due together fire in different iterations, in either order: each is late by
        its own fraction of its own delay (a 10 s timer armed at 0, a 5 s one armed at 5)."""

        async def main() -> tuple[str, ...]:
            loop = asyncio.get_running_loop()
            order: list[str] = []
            loop.call_later(10, order.append, "long")
            await asyncio.sleep(5)
            loop.call_later(5, order.append, "short")
            await asyncio.sleep(10)
            return tuple(order)

        late = [seed for seed in SEEDS if run_seeded(seed, lambda: woken_at(1.0)) > 1.0]
        self.assertEqual(outcomes(main, late), {("long", "short"), ("short", "long")})  # type: ignore[arg-type]
        self.assertEqual(run_seeded(None, main), ("long", "short"))

    def test_late_timers_far_apart_keep_their_order(self) -> None:
        """A timer never fires after one due more than the bound later (here 10% of its delay)."""

        async def main() -> tuple[float, ...]:
            loop = asyncio.get_running_loop()
            order: list[float] = []
            for delay in (1.0, 1.11, 1.23, 1.36):
                loop.call_later(delay, order.append, delay)
            await asyncio.sleep(3)
            return tuple(order)

        self.assertEqual(outcomes(main), {(1.0, 1.11, 1.23, 1.36)})

    def test_thread_callbacks_go_before_or_after_timers_due_with_them(self) -> None:
        """Another thread's callback runs before or after a timer due at the same instant."""
        self.assertEqual(
            outcomes(thread_callback_and_timer_due_together, range(40)),
            {("thread", "timer"), ("timer", "thread")},
        )

    def test_executor_results_go_before_or_after_timers_due_with_them(self) -> None:
        """An executor's result is taken before or after a timer due at the same instant."""
        self.assertEqual(outcomes(executor_result_and_timer_due_together, range(40)), {True, False})
        self.assertIs(run_seeded(None, executor_result_and_timer_due_together), True)

    def test_real_io_goes_before_or_after_timers_due_with_it(self) -> None:
        """Data ready on a socket is read before or after a timer due at the same instant."""
        self.assertEqual(
            outcomes(socket_data_and_timer_due_together, range(40)), {("io", "timer"), ("timer", "io")}
        )
        self.assertEqual(run_seeded(None, socket_data_and_timer_due_together), ("io", "timer"))

    @unittest.skipUnless(PY312, "eager task start is 3.12+")
    def test_eager_start_is_chosen_by_the_seed(self) -> None:
        """eager_tasks=True: tasks start eagerly under some seeds, lazily under others."""
        self.assertEqual(
            outcomes(child_and_parent, eager_tasks=True), {("child", "parent"), ("parent", "child")}
        )

    def test_tasks_start_lazily_without_eager_tasks(self) -> None:
        """Without eager_tasks (and before 3.12 in any case) every task starts lazily."""
        self.assertEqual(outcomes(child_and_parent), {("parent", "child")})
        if not PY312:
            self.assertEqual(outcomes(child_and_parent, eager_tasks=True), {("parent", "child")})


class LatenessEdgesTest(unittest.TestCase):
    def test_late_with_a_socket_open(self) -> None:
        """With a real socket registered (no data), the jump to a timer lands late too."""

        async def main() -> float:
            a, b = socket.socketpair()
            loop = asyncio.get_running_loop()
            loop.add_reader(a, lambda: None)
            try:
                return await woken_at(10)
            finally:
                loop.remove_reader(a)
                a.close()
                b.close()

        wakes = [run_seeded(seed, main, io_grace=0) for seed in range(20)]
        self.assertTrue(all(10 <= t <= 11 for t in wakes), wakes)
        self.assertGreater(max(wakes), 10)

    def test_never_early_at_large_times(self) -> None:
        """Past 2**16 s, where a nanosecond is below the float spacing, timers still never fire early."""

        async def main() -> tuple[float, float]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 1e-6
            await asyncio.sleep(1e-6)
            return deadline, loop.time()

        for seed in range(50):
            loop = virtual_event_loop(VirtualClock(start=1e9), seed=seed)
            try:
                deadline, woke = loop.run_until_complete(main())
            finally:
                loop.close()
            self.assertGreaterEqual(woke, deadline)

    def test_the_budget_still_holds(self) -> None:
        """A late jump past the clock's budget fails with LivelockError, as an exact one does."""
        from asynctestkit import LivelockError

        loop = virtual_event_loop(VirtualClock(budget=10), seed=1)
        try:
            with self.assertRaisesRegex(LivelockError, r"^Virtual-time budget exhausted"):
                loop.run_until_complete(asyncio.sleep(100))
        finally:
            loop.close()

    def test_jitter_zero_is_never_late_with_a_socket_open(self) -> None:
        """jitter=0 with a real socket registered: the jump lands exactly on the timer."""

        async def main() -> float:
            a, b = socket.socketpair()
            loop = asyncio.get_running_loop()
            loop.add_reader(a, lambda: None)
            try:
                return await woken_at(10)
            finally:
                loop.remove_reader(a)
                a.close()
                b.close()

        self.assertEqual({run_seeded(seed, main, io_grace=0, jitter=0) for seed in range(20)}, {10.0})

    def test_a_late_jump_past_the_budget_fails(self) -> None:
        """A timer due inside the budget but jittered past it fails with LivelockError;
        under the seeds where the jump stays inside, the sleep ends within the budget."""
        from asynctestkit import LivelockError

        outcomes: list[object] = []
        for seed in range(20):
            loop = virtual_event_loop(VirtualClock(budget=10), seed=seed, jitter=0.5)
            try:
                outcomes.append(loop.run_until_complete(woken_at(9.5)))
            except LivelockError as error:
                outcomes.append(error)
            finally:
                loop.close()
        failed = [o for o in outcomes if isinstance(o, LivelockError)]
        self.assertTrue(failed, outcomes)
        for error in failed:
            self.assertRegex(str(error), r"^Virtual-time budget exhausted")
        for woke in outcomes:
            if not isinstance(woke, LivelockError):
                self.assertTrue(9.5 <= woke <= 10, outcomes)

class SeededLoopEdgesTest(unittest.TestCase):
    """A seeded loop keeps asyncio's behaviour at the edges: debug mode, stop() before running."""

    def test_call_soon_threadsafe_in_debug_mode(self) -> None:
        """In debug mode a seeded loop's call_soon_threadsafe() refuses a non-callable as asyncio
        does, and the handle's creation traceback ends at the caller's line."""
        loop = virtual_event_loop(VirtualClock(), seed=1)
        self.addCleanup(loop.close)
        loop.set_debug(True)
        with self.assertRaisesRegex(TypeError, r"^a callable object was expected by call_soon_threadsafe\(\), got 42$"):
            loop.call_soon_threadsafe(42)  # type: ignore[arg-type]
        ran: list[int] = []
        handle = loop.call_soon_threadsafe(ran.append, 1)
        source = handle._source_traceback  # type: ignore[attr-defined]
        self.assertEqual((source[-1].name, source[-1].filename), ("test_call_soon_threadsafe_in_debug_mode", __file__))
        loop.run_until_complete(asyncio.sleep(0))
        self.assertEqual(ran, [1])

    def test_stop_before_run_forever_runs_one_iteration_without_jumping(self) -> None:
        """loop.stop() then run_forever() runs what is ready once and leaves time alone,
        under a seed as without one, even with a timer pending."""
        for seed in (None, 1, 2, 3):
            with self.subTest(seed=seed):
                loop = virtual_event_loop(VirtualClock(), seed=seed)
                try:
                    ran: list[str] = []
                    loop.call_soon(ran.append, "soon")
                    loop.call_later(5, ran.append, "timer")
                    start = loop.time()
                    loop.stop()
                    loop.run_forever()
                    self.assertEqual(ran, ["soon"])
                    self.assertEqual(loop.time(), start)
                finally:
                    loop.close()


class GuaranteesTest(unittest.TestCase):
    """What asyncio promises holds under every seed (timers due together shuffle who comes first)."""

    def assert_under_every_seed(self, main: Callable[[], Awaitable[object]]) -> None:
        for seed in SEEDS:
            run_seeded(seed, main, eager_tasks=True)

    def test_call_soon_is_fifo(self) -> None:
        """Callbacks the loop's thread queues with call_soon run in the order queued."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            order: list[int] = []

            def burst() -> None:
                for i in range(20):
                    loop.call_soon(order.append, i)

            for _ in range(3):
                loop.call_later(1, burst)
            await asyncio.sleep(2)
            assert order == list(range(20)) * 3, order

        self.assert_under_every_seed(main)

    def test_call_soon_threadsafe_from_one_thread_is_fifo(self) -> None:
        """Callbacks one thread posts run in the order posted, deferred or not."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            order: list[int] = []

            def post() -> None:
                for i in range(20):
                    loop.call_soon_threadsafe(order.append, i)

            def at_one_second() -> None:
                thread = threading.Thread(target=post)
                thread.start()
                thread.join()
                loop.call_at(loop.time(), order.append, -1)

            loop.call_later(1, at_one_second)
            await asyncio.sleep(2)
            assert [i for i in order if i >= 0] == list(range(20)), order

        self.assert_under_every_seed(main)

    def test_done_callbacks_run_in_registration_order(self) -> None:
        """A future's done callbacks run in the order they were added."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            order: list[int] = []
            future: asyncio.Future[None] = loop.create_future()
            for i in range(10):
                future.add_done_callback(lambda _f, i=i: order.append(i))
            loop.call_later(1, future.set_result, None)
            loop.call_later(1, lambda: order.append(-1))
            await asyncio.sleep(2)
            assert [i for i in order if i >= 0] == list(range(10)), order

        self.assert_under_every_seed(main)

    def test_lock_semaphore_condition_and_queue_are_fair(self) -> None:
        """Lock, Semaphore, Condition and Queue serve waiters in the order they came."""

        async def main() -> None:
            lock = asyncio.Lock()
            semaphore = asyncio.Semaphore(1)
            condition = asyncio.Condition()
            queue: asyncio.Queue[int] = asyncio.Queue()
            came: dict[str, list[int]] = {k: [] for k in ("lock", "sem", "cond", "queue")}
            served: dict[str, list[int]] = {k: [] for k in came}

            async def waiter(i: int) -> None:
                await asyncio.sleep(1)  # all wake at 1 s, in the seed's order
                came["lock"].append(i)
                async with lock:
                    served["lock"].append(i)
                    await asyncio.sleep(0.5)
                came["sem"].append(i)
                async with semaphore:
                    served["sem"].append(i)
                    await asyncio.sleep(0.5)
                async with condition:
                    came["cond"].append(i)
                    await condition.wait()
                    served["cond"].append(i)
                came["queue"].append(i)
                served["queue"].append(await queue.get())

            tasks = [asyncio.create_task(waiter(i)) for i in range(6)]
            while len(came["cond"]) < 6:
                await asyncio.sleep(1)
            for _ in range(6):
                async with condition:
                    condition.notify(1)
                await asyncio.sleep(0)
            while len(came["queue"]) < 6:
                await asyncio.sleep(1)
            for item in came["queue"]:
                queue.put_nowait(item)
            await asyncio.gather(*tasks)
            for kind in came:
                assert served[kind] == came[kind], (kind, came[kind], served[kind])

        self.assert_under_every_seed(main)

    def test_timers_with_different_deadlines_keep_their_order(self) -> None:
        """Lateness never puts a timer before one due earlier by more than the bound (10%)."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            order: list[float] = []
            for delay in (1.0, 1.2, 1.5, 2.0):
                loop.call_later(delay, order.append, delay)
            await asyncio.sleep(3)
            assert order == sorted(order), order

        self.assert_under_every_seed(main)


class AsyncioBehavioursTest(unittest.TestCase):
    def test_the_virtual_asyncio_suite_passes_under_seeds(self) -> None:
        """tests/test_virtual_asyncio.py (sleep, wait_for, timeout, Condition, ...) passes under seeds.

        With jitter=0, since those tests assert exact virtual times: what the
        seeds change there is the order of timers due together and of
        outside events, which asyncio leaves open.
        """
        from tests import test_virtual_asyncio

        for seed in range(10):
            seeded = functools.partial(test_virtual_asyncio.run_virtual, seed=seed, jitter=0)
            with self.subTest(seed=seed), mock.patch.object(test_virtual_asyncio, "run_virtual", seeded):
                result = unittest.TestResult()
                unittest.defaultTestLoader.loadTestsFromModule(test_virtual_asyncio).run(result)
                self.assertGreater(result.testsRun, 20)
                self.assertEqual(result.failures + result.errors, [])


class LoopOptionsTest(unittest.TestCase):
    def test_bad_seed(self) -> None:
        """A seed must be an int."""
        with self.assertRaisesRegex(TypeError, r"^seed needs an int \(or None for the default order\); got '7'$"):
            virtual_event_loop(seed="7")  # type: ignore[arg-type]

    def test_bad_jitter(self) -> None:
        """jitter must be a finite, non-negative number."""
        for bad in (-0.1, float("inf"), "1%"):
            with self.subTest(jitter=bad), self.assertRaisesRegex(
                ValueError, r"^jitter needs a finite, non-negative fraction of a timer's delay"
            ):
                virtual_event_loop(seed=1, jitter=bad)  # type: ignore[arg-type]

    def test_bad_eager_tasks(self) -> None:
        """eager_tasks must be a bool."""
        with self.assertRaisesRegex(TypeError, r"^eager_tasks needs True or False; got 1$"):
            virtual_event_loop(seed=1, eager_tasks=1)  # type: ignore[arg-type]

    def test_the_task_factory_reads_back(self) -> None:
        """With eager_tasks, get_task_factory() still returns the factory that was set."""
        loop = virtual_event_loop(seed=3, eager_tasks=True)
        try:
            def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
                return asyncio.Task(coro, loop=loop, **kwargs)

            loop.set_task_factory(factory)
            self.assertIs(loop.get_task_factory(), factory)
            self.assertEqual(loop.run_until_complete(child_and_parent())[-1] in ("child", "parent"), True)
            loop.set_task_factory(None)
            self.assertIsNone(loop.get_task_factory())
            loop.run_until_complete(child_and_parent())
        finally:
            loop.close()


# -- the test case -------------------------------------------------------------


def env(**values: str) -> Any:
    """Set ASYNCTESTKIT_* variables for a block, with the others unset."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTESTKIT_")}
    clean.update(values)
    return mock.patch.dict(os.environ, clean, clear=True)


class RaceMixin:
    """Fails when the timer made second fires first: under about half the seeds."""

    runs: ClassVar[list[float]] = []

    async def test_race(self: Any) -> None:
        order: list[str] = []
        loop = asyncio.get_running_loop()
        loop.call_later(5, order.append, "first")
        loop.call_later(5, order.append, "second")
        await asyncio.sleep(6)
        RaceMixin.runs.append(self.clock.now)
        self.assertEqual(order, ["first", "second"], f"at {self.clock.now}s")


class RaceTest(RaceMixin, ClockedTestCase):
    """The race as a test class (not collected: `load_tests` below leaves it out)."""


class ScheduleSeedTest(unittest.TestCase):
    def setUp(self) -> None:
        RaceMixin.runs = []

    def test_schedule_seed_option_seeds_the_loop(self) -> None:
        """schedule_seed = N runs the test once on a loop seeded with N."""
        seen = set()

        class Test(ClockedTestCase):
            schedule_seed = 0

            async def test_it(self) -> None:
                seen.add(await three_timers_due_together())

        for seed in range(12):
            Test.schedule_seed = seed
            with env():
                self.assertTrue(run_test(Test("test_it")).wasSuccessful())
        self.assertEqual(seen, {run_seeded(seed, three_timers_due_together) for seed in range(12)})
        self.assertGreater(len(seen), 1)

    def test_configure_schedule_seed(self) -> None:
        """@configure(schedule_seed=N) seeds one test, and its failure says how to replay it."""

        failing = self.failing_seed()

        class Test(RaceTest):
            @configure(schedule_seed=failing)
            async def test_race(self) -> None:
                await RaceMixin.test_race(self)

        with env():
            text = only_failure(self, run_test(Test("test_race")))
        seed = self.failing_seed()
        self.assertRegex(text, rf"(?m)^Failed under schedule seed {seed}\. Replay it with:$")
        self.assertRegex(
            text, rf"(?m)^    ASYNCTESTKIT_SEED={seed} python -m unittest {re.escape(Test('test_race').id())}$"
        )

    def failing_seed(self) -> int:
        for seed in range(100):
            with env(ASYNCTESTKIT_SEED=str(seed)):
                if not run_test(RaceTest("test_race")).wasSuccessful():
                    return seed
        raise AssertionError("no seed in 0-99 reorders the race")  # pragma: no cover

    def test_env_seed_overrides_and_replays(self) -> None:
        """ASYNCTESTKIT_SEED=N runs every clocked test under N: same failure, same times."""
        seed = self.failing_seed()
        RaceMixin.runs = []
        texts = set()
        for _ in range(3):
            with env(ASYNCTESTKIT_SEED=str(seed)):
                texts.add(only_failure(self, run_test(RaceTest("test_race"))).splitlines()[-4])
        self.assertEqual(len(texts), 1, texts)
        self.assertEqual(len(set(RaceMixin.runs)), 1, RaceMixin.runs)

    def test_bad_env_seed_is_the_tests_error(self) -> None:
        """A malformed ASYNCTESTKIT_SEED fails the test with what to do."""
        with env(ASYNCTESTKIT_SEED="abc"):
            result = run_test(RaceTest("test_race"))
        self.assertEqual(len(result.errors), 1)
        self.assertRegex(
            result.errors[0][1],
            r"(?m)^ValueError: ASYNCTESTKIT_SEED needs a non-negative integer; got 'abc'\. "
            r"Unset it or set it to a number, e\.g\. ASYNCTESTKIT_SEED=7$",
        )

    def test_bad_options_are_the_tests_error(self) -> None:
        """schedule_seed and explore are checked, and the message says what they need."""
        for option, value, pattern in (
            ("schedule_seed", -1, r"schedule_seed needs a non-negative int seed, or None for the default order; got -1"),
            ("explore", "10", r"explore needs a non-negative int, the number of seeds to explore; got '10'"),
        ):
            class Test(ClockedTestCase):
                async def test_it(self) -> None:
                    pass

            setattr(Test, option, value)
            with self.subTest(option=option), env():
                result = run_test(Test("test_it"))
                self.assertEqual(len(result.errors), 1)
                self.assertRegex(result.errors[0][1], rf"(?m)^TypeError: {pattern}$")

    def test_bad_options_fail_at_class_creation(self) -> None:
        """The schedule options are checked when the class is made, like every class option."""
        for option, value, error, got in (
            ("schedule_seed", "7", TypeError, "'7' (str)"),
            ("explore", -1, ValueError, "-1 (int)"),
            ("schedule_jitter", float("nan"), ValueError, "nan (float)"),
            ("schedule_eager", 1, TypeError, "1 (int)"),
        ):
            with self.subTest(option=option), assert_refused(self,
                error, rf"^Test\.{option} must be .+; got {re.escape(got)}$"
            ):
                type("Test", (ClockedTestCase,), {option: value})
        with self.assertRaisesRegex(TypeError, r"^configure\(explore=\.\.\.\) must be a non-negative int"):
            configure(explore=1.5)

    def test_jitter_zero_keeps_exact_times(self) -> None:
        """schedule_jitter = 0: seeds reorder ties but every timestamp stays exact."""

        class Test(ClockedTestCase):
            schedule_jitter = 0
            explore = 20

            async def test_it(self) -> None:
                await asyncio.sleep(3600)
                self.assertEqual(self.clock.now, 3600)

        with env():
            self.assertTrue(run_test(Test("test_it")).wasSuccessful())

    @unittest.skipUnless(PY312, "eager task start is 3.12+")
    def test_schedule_eager(self) -> None:
        """schedule_eager = True: tasks start eagerly under some seeds."""
        seen = set()

        class Test(ClockedTestCase):
            schedule_eager = True
            explore = 20

            async def test_it(self) -> None:
                seen.add(await child_and_parent())

        with env():
            self.assertTrue(run_test(Test("test_it")).wasSuccessful())
        self.assertEqual(seen, {("child", "parent"), ("parent", "child")})

    def test_class_scope_seeds_the_class_loop(self) -> None:
        """With loop_scope = "class", schedule_seed seeds the class's loop (explore is refused: test_refusals)."""
        seen: list[tuple[str, ...]] = []

        class Test(ClockedTestCase):
            loop_scope = "class"
            schedule_seed = 0

            async def test_it(self) -> None:
                seen.append(await three_timers_due_together())

        orders = set()
        for seed in range(10):
            Test.schedule_seed = seed
            with env():
                result = unittest.TestResult()
                unittest.TestSuite([Test("test_it")]).run(result)
            self.assertTrue(result.wasSuccessful(), result.errors)
            orders.add(seen[-1])
        self.assertEqual(len(seen), 10)
        self.assertGreater(len(orders), 1)


class ExploreTest(unittest.TestCase):
    def setUp(self) -> None:
        RaceMixin.runs = []

    def test_explore_runs_each_seed_then_the_default_order(self) -> None:
        """explore = K: K seeded runs then the default order, reported as one passing test."""
        runs: list[tuple[str, ...]] = []

        class Test(ClockedTestCase):
            explore = 30

            async def test_it(self) -> None:
                runs.append(await three_timers_due_together())

        with env():
            result = run_test(Test("test_it"))
        self.assertTrue(result.wasSuccessful())
        self.assertEqual(result.testsRun, 1)
        self.assertEqual(len(runs), 31)
        self.assertEqual(runs[-1], ("a", "b", "c"))  # the default order, last
        self.assertEqual(runs[:-1], [run_seeded(seed, three_timers_due_together) for seed in range(1, 31)])

    def test_explore_stops_at_the_first_failing_seed(self) -> None:
        """The first failing seed is reported with its replay line; the default order passed."""

        class Test(RaceTest):
            explore = 100

        with env():
            text = only_failure(self, run_test(Test("test_race")))
        found = re.search(
            r"(?m)^Failed under schedule seed (\d+) \(found exploring 100 seeds: \d+ run, \d+ distinct "
            r"schedules?; the default order passes\)\. Replay it with:\n    ASYNCTESTKIT_SEED=(\d+) python -m unittest "
            + re.escape(Test("test_race").id()) + "$",
            text,
        )
        assert found is not None, text
        seed = int(found.group(1))
        self.assertEqual(int(found.group(2)), seed)
        self.assertRegex(text, r"(?m)^AssertionError: Lists differ: \['second', 'first'\] != \['first', 'second'\]")
        # Seeds 1..seed, then the default order to see whether the order is the cause,
        # then the runs that explain the failure (the last: the default order, recorded).
        self.assertEqual(RaceMixin.runs[seed], 6.0)
        self.assertEqual(RaceMixin.runs[-1], 6.0)

        # The printed line replays it: the same failure, at the same virtual time.
        failing_time = RaceMixin.runs[seed - 1]
        with env(ASYNCTESTKIT_SEED=str(seed)):
            replay = only_failure(self, run_test(Test("test_race")))
        self.assertEqual(RaceMixin.runs[-1], failing_time)
        self.assertIn(f"at {failing_time}s", replay)

    def test_env_explore(self) -> None:
        """ASYNCTESTKIT_EXPLORE=K explores K seeds with no code change (and 0 turns it off)."""
        with env(ASYNCTESTKIT_EXPLORE="100"):
            text = only_failure(self, run_test(RaceTest("test_race")))
        self.assertIn("found exploring 100 seeds", text)

        class Test(RaceTest):
            explore = 100

        RaceMixin.runs = []
        with env(ASYNCTESTKIT_EXPLORE="0"):
            outcome = run_test(Test("test_race"))
        self.assertTrue(outcome.wasSuccessful(), outcome.failures + outcome.errors)
        self.assertEqual(RaceMixin.runs, [6.0])

    def test_a_failure_in_every_order_has_no_seed(self) -> None:
        """A test that fails under the default order too is reported as is: the order is not the cause."""
        runs: list[float] = []

        class Test(ClockedTestCase):
            explore = 10

            async def test_it(self) -> None:
                await asyncio.sleep(1)
                runs.append(self.clock.now)
                self.fail("always")

        with env():
            text = only_failure(self, run_test(Test("test_it")))
        self.assertRegex(text, r"(?m)^AssertionError: always$")
        self.assertNotIn("schedule seed", text)
        self.assertEqual(len(runs), 2)  # seed 1, then the default order

    def test_failing_subtests_carry_the_seed(self) -> None:
        """A subTest failing under a seed says which seed, too."""

        class Test(RaceTest):
            explore = 100

            async def test_race(self) -> None:
                with self.subTest(part="race"):
                    await RaceMixin.test_race(self)

        with env():
            result = run_test(Test("test_race"))
        self.assertEqual(len(result.failures), 1)
        self.assertIn("(part='race')", str(result.failures[0][0]))
        self.assertRegex(result.failures[0][1], r"(?m)^Failed under schedule seed \d+ \(found exploring")

    def test_a_skipped_test_is_skipped_once(self) -> None:
        """A test that skips itself under exploration is reported skipped, once, and runs no more."""
        runs: list[int] = []

        class Test(ClockedTestCase):
            explore = 10

            async def test_it(self) -> None:
                runs.append(1)
                self.skipTest("not today")

            @unittest.skip("never")
            async def test_never(self) -> None:
                runs.append(2)

        with env():
            result = run_test(Test("test_it"))
            other = run_test(Test("test_never"))
        self.assertEqual([r[1] for r in result.skipped + other.skipped], ["not today", "never"])
        self.assertEqual(runs, [1])

    def test_no_result_given(self) -> None:
        """run() without a result explores too, into the default result."""

        class Test(RaceTest):
            explore = 100

        with env():
            result = Test("test_race").run()
        assert result is not None
        self.assertEqual(len(result.failures), 1)


class ExploreEdgesTest(unittest.TestCase):
    def setUp(self) -> None:
        RaceMixin.runs = []

    def test_debug_runs_under_the_seed(self) -> None:
        """debug() runs the test once: under its schedule_seed or ASYNCTESTKIT_SEED; exploring, the default order."""
        seen = []

        class Test(ClockedTestCase):
            schedule_seed = 4

            async def test_it(self) -> None:
                seen.append(await three_timers_due_together())

        with env():
            Test("test_it").debug()
        with env(ASYNCTESTKIT_SEED="5"):
            Test("test_it").debug()
        with env(ASYNCTESTKIT_EXPLORE="10"):
            Test("test_it").debug()  # one run: the default order
        self.assertEqual(
            seen,
            [run_seeded(4, three_timers_due_together), run_seeded(5, three_timers_due_together), ("a", "b", "c")],
        )

    def test_env_seed_seeds_a_class_loop(self) -> None:
        """ASYNCTESTKIT_SEED seeds the loop a class shares, too."""
        seen = []

        class Test(ClockedTestCase):
            loop_scope = "class"

            async def test_it(self) -> None:
                seen.append(await three_timers_due_together())

        for seed in range(10):
            with env(ASYNCTESTKIT_SEED=str(seed)):
                unittest.TestSuite([Test("test_it")]).run(unittest.TestResult())
        self.assertEqual(seen, [run_seeded(seed, three_timers_due_together) for seed in range(10)])

    def test_expected_failures_are_expected_under_every_seed(self) -> None:
        """An expectedFailure test explores on and is reported as expected once; a success as unexpected."""

        class Test(ClockedTestCase):
            explore = 5

            @unittest.expectedFailure
            async def test_fails(self) -> None:
                self.fail("known")

            @unittest.expectedFailure
            async def test_passes(self) -> None:
                pass

        with env():
            failing = run_test(Test("test_fails"))
            passing = run_test(Test("test_passes"))
        self.assertEqual((len(failing.expectedFailures), failing.testsRun), (1, 1))
        self.assertEqual((len(passing.unexpectedSuccesses), passing.testsRun), (1, 1))

    def test_an_error_with_a_structured_message_carries_the_seed(self) -> None:
        """An error whose message is not its one argument (OSError) still names the seed."""

        class Test(RaceTest):
            explore = 100

            async def test_race(self) -> None:
                try:
                    await RaceMixin.test_race(self)
                except AssertionError:
                    raise OSError(2, "gone") from None

        with env():
            result = run_test(Test("test_race"))
        self.assertEqual(len(result.errors), 1)
        self.assertRegex(result.errors[0][1], r"(?m)^FileNotFoundError: \[Errno 2\] gone$")
        self.assertRegex(result.errors[0][1], r"(?m)^(RuntimeError: )?Failed under schedule seed \d+ ")

    def test_a_class_with_its_own_init(self) -> None:
        """A test class whose __init__ takes other arguments is explored on the one instance."""
        runs: list[str] = []

        class Test(ClockedTestCase):
            explore = 3

            def __init__(self, methodName: str, label: str) -> None:
                super().__init__(methodName)
                self.label = label

            async def test_it(self) -> None:
                runs.append(self.label)

        with env():
            self.assertTrue(run_test(Test("test_it", "x")).wasSuccessful())
        self.assertEqual(runs, ["x"] * 4)

    def test_a_stopped_result_ends_the_exploration(self) -> None:
        """When the run is being stopped (Ctrl-C, failfast), exploring stops after the current seed."""

        class Test(RaceTest):
            explore = 100

        result = unittest.TestResult()
        result.stop()
        with env():
            Test("test_race").run(result)
        self.assertEqual(len(RaceMixin.runs), 1)
        self.assertEqual(result.testsRun, 0)


class DeterminismCheckTest(unittest.TestCase):
    def test_a_deterministic_test_passes_twice(self) -> None:
        """ASYNCTESTKIT_CHECK_DETERMINISM=1 runs each schedule twice; equal traces pass."""
        runs: list[float] = []

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                await mixed_workload()
                runs.append(self.clock.now)

        with env(ASYNCTESTKIT_CHECK_DETERMINISM="1"):
            self.assertTrue(run_test(Test("test_it")).wasSuccessful())
        with env(ASYNCTESTKIT_CHECK_DETERMINISM="1", ASYNCTESTKIT_SEED="5"):
            self.assertTrue(run_test(Test("test_it")).wasSuccessful())
        self.assertEqual(len(runs), 4)

    def test_hidden_randomness_fails_naming_both_sides(self) -> None:
        """A test whose timing comes from `random` fails at the first step where its runs differ."""

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                await asyncio.sleep(1)
                await asyncio.sleep(random.random())  # not controlled by the seed

        with env(ASYNCTESTKIT_CHECK_DETERMINISM="1", ASYNCTESTKIT_SEED="3"):
            text = only_failure(self, run_test(Test("test_it")))
        self.assertRegex(
            text,
            r"(?m)^AssertionError: Not deterministic: two runs of this test under schedule seed 3 "
            r"differ at step \d+: the first run ran timer: .+ at virtual time [\d.]+s, the second "
            r"ran timer: .+ at virtual time [\d.]+s\. Something the schedule does not control",
        )

    def test_a_run_that_does_more_fails_too(self) -> None:
        """A second run that runs more steps than the first is a difference, named as such."""
        calls: list[int] = []

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                calls.append(1)
                if len(calls) == 2:
                    asyncio.get_running_loop().call_soon(functools.partial(int, "1"))
                await asyncio.sleep(0)

        with env(ASYNCTESTKIT_CHECK_DETERMINISM="1"):
            text = only_failure(self, run_test(Test("test_it")))
        self.assertRegex(
            text,
            r"(?m)^AssertionError: Not deterministic: two runs of this test under the default order "
            r"differ at step \d+: the first run ran .+, the second ran callback: int at virtual "
            r"time 0\.0s\.",
        )

    def test_traces_of_different_lengths_differ(self) -> None:
        """A run that stops early differs from one that goes on, at the first step it lacks."""
        from asynctestkit._virtual._schedule import Trace

        short, long = Trace(), Trace()
        short.steps[:] = [(0, "timer: a")]
        long.steps[:] = [(0, "timer: a"), (5_000_000_000, "timer: b")]
        self.assertEqual(
            short.first_difference(long),
            "step 2: the first run ran nothing more (it had ended), the second ran timer: b at "
            "virtual time 5.0s",
        )
        self.assertEqual(
            long.first_difference(short),
            "step 2: the first run ran timer: b at virtual time 5.0s, the second ran nothing more "
            "(it had ended)",
        )
        self.assertIsNone(long.first_difference(long))

    def test_the_check_covers_explored_seeds(self) -> None:
        """With exploration, each seed and the default order are checked."""
        runs: list[float] = []

        class Test(ClockedTestCase):
            explore = 3

            async def test_it(self) -> None:
                runs.append(await woken_at(1))

        with env(ASYNCTESTKIT_CHECK_DETERMINISM="1"):
            self.assertTrue(run_test(Test("test_it")).wasSuccessful())
        self.assertEqual(len(runs), 8)
        self.assertEqual(runs[-2:], [1.0, 1.0])
        self.assertEqual(runs[0], runs[1])


def load_tests(loader: unittest.TestLoader, tests: unittest.TestSuite, pattern: str | None) -> unittest.TestSuite:
    """Every test of this module but `RaceTest`, which fails by design under half the seeds."""
    suite = unittest.TestSuite()
    for value in list(globals().values()):
        if (
            isinstance(value, type) and issubclass(value, unittest.TestCase)
            and value.__module__ == __name__ and value is not RaceTest
        ):
            suite.addTests(loader.loadTestsFromTestCase(value))
    return suite


if __name__ == "__main__":
    unittest.main()
