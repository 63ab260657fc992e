"""Tests for busy polling, spins, endless timers and huge values on the virtual clock.

Busy polling (``while not done: await asyncio.sleep(0)``) must reach a timer
that ends it; a spin nothing can end must fail fast as `LivelockError`;
``sleep(math.inf)`` must be a timer that never fires; huge values must be
refused with an error naming the parameter.
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
import unittest
from typing import Any
from unittest import mock

from asynctestkit import (
    ClockedTestCase,
    DeadlockError,
    LivelockError,
    VirtualClock,
    configure,
    patch_time,
    virtual_event_loop,
)
from asynctestkit._mock._mockwait import ControlledAsyncMock
from asynctestkit._virtual import _clock
from tests._support import run_test, run_virtual

run = run_virtual

# The end of virtual time, as error messages print it.
END = r"9223372036\.854776"
# A busy-poll limit that makes spins fail fast in these tests: a spin of
# 30 times as many callbacks is a livelock.
LIMIT = 100


def only_error(test: unittest.TestCase, result: unittest.TestResult) -> str:
    """Return the text of the single error in ``result``; fail if the outcome is otherwise."""
    test.assertEqual(len(result.failures), 0, result.failures)
    test.assertEqual(len(result.errors), 1, result.errors)
    return result.errors[0][1]


async def poll_until_timer(delay: float) -> tuple[int, float]:
    """Busy-poll until a call_later(delay) sets a flag; return the polls and the time."""
    loop = asyncio.get_running_loop()
    done = False

    def finish() -> None:
        nonlocal done
        done = True

    loop.call_later(delay, finish)
    polls = 0
    while not done:
        polls += 1
        await asyncio.sleep(0)
    return polls, loop.time()


class TestBusyPolling(unittest.TestCase):
    def test_poll_reaches_the_timer(self) -> None:
        """A task polling with sleep(0) for a flag a timer sets ends, at the timer's time."""
        clock = VirtualClock()
        polls, when = run(clock, lambda: poll_until_timer(5))
        self.assertEqual(when, 5.0)
        self.assertEqual(clock.now, 5.0)
        # After about busy_poll_limit polls: the loop counted as idle then.
        self.assertGreaterEqual(polls, clock.busy_poll_limit or 0)
        self.assertLessEqual(polls, (clock.busy_poll_limit or 0) + 20)

    def test_deterministic(self) -> None:
        """The same poll takes the same number of iterations every run."""
        counts = {run(VirtualClock(), lambda: poll_until_timer(5))[0] for _ in range(3)}
        self.assertEqual(len(counts), 1, counts)

    def test_limit_is_the_knob(self) -> None:
        """busy_poll_limit sets how many polls count as idle."""
        for limit in (10, 200):
            with self.subTest(limit=limit):
                polls, when = run(VirtualClock(busy_poll_limit=limit), lambda: poll_until_timer(5))
                self.assertEqual(when, 5.0)
                self.assertGreaterEqual(polls, limit)
                self.assertLessEqual(polls, limit + 20)

    def test_poll_across_several_timers(self) -> None:
        """A poller sees each timer's effect at that timer's own time."""
        clock = VirtualClock(busy_poll_limit=50)

        async def main() -> list[float]:
            loop = asyncio.get_running_loop()
            state = {"n": 0}
            for t in (1, 2, 7):
                loop.call_later(t, state.__setitem__, "n", t)
            seen: list[float] = []
            last = 0
            while last != 7:
                if state["n"] != last:
                    last = state["n"]
                    seen.append(loop.time())
                await asyncio.sleep(0)
            return seen

        self.assertEqual(run(clock, main), [1.0, 2.0, 7.0])

    def test_callback_that_rearms_itself_polls_too(self) -> None:
        """A call_soon callback that re-arms itself until a timer fires is busy polling."""
        clock = VirtualClock(busy_poll_limit=30)

        async def main() -> float:
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            flag: list[bool] = []

            def poll() -> None:
                if flag:
                    done.set_result(loop.time())
                else:
                    loop.call_soon(poll)

            loop.call_later(3, flag.append, True)
            loop.call_soon(poll)
            return await done

        self.assertEqual(run(clock, main), 3.0)

    def test_poll_past_the_budget(self) -> None:
        """Busy polling jumps only within the budget: past it, the budget's LivelockError."""
        with self.assertRaisesRegex(LivelockError, r"^Virtual-time budget exhausted: autojump would move time to the next timer at 100\.0s"):
            run(VirtualClock(budget=10, busy_poll_limit=LIMIT), lambda: poll_until_timer(100))

    def test_poll_with_real_io_open(self) -> None:
        """A real socket registered (and silent) does not stop a poll from reaching its timer."""
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)

        async def main() -> float:
            loop = asyncio.get_running_loop()
            loop.add_reader(a, lambda: None)
            try:
                return (await poll_until_timer(5))[1]
            finally:
                loop.remove_reader(a)

        self.assertEqual(run(VirtualClock(busy_poll_limit=LIMIT), main), 5.0)

    def test_progress_is_not_polling(self) -> None:
        """Tasks that hand work to each other through futures never count as idle."""
        clock = VirtualClock(busy_poll_limit=10)

        async def main() -> int:
            queue: asyncio.Queue[int] = asyncio.Queue()
            got: list[int] = []

            async def producer() -> None:
                for i in range(2000):
                    queue.put_nowait(i)
                    await asyncio.sleep(0)  # yields, but the consumer wakes each time
                queue.put_nowait(-1)

            async def consumer() -> None:
                while (item := await queue.get()) != -1:
                    got.append(item)

            # A timeout pending all along: it must not fire.
            await asyncio.wait_for(asyncio.gather(producer(), consumer()), 10)
            return len(got)

        self.assertEqual(run(clock, main), 2000)
        self.assertEqual(clock.now, 0.0)

    def test_none_never_counts_as_idle(self) -> None:
        """busy_poll_limit=None: a poll never counts as idle (settle() gives up on it)."""
        clock = VirtualClock(busy_poll_limit=None)

        async def main() -> None:
            poller = asyncio.create_task(poll_until_timer(5))
            with mock.patch.object(_clock, "_SETTLE_LIMIT", 5000), self.assertRaisesRegex(
                LivelockError, r"^settle\(\) ran 5000 loop iterations and the loop never became idle"
            ):
                await clock.settle()
            self.assertFalse(poller.done())

        run(clock, main)
        self.assertEqual(clock.now, 0.0)

    def test_no_jump_past_executor_work(self) -> None:
        """Polling for an executor's result with a timeout pending: time stands still."""
        clock = VirtualClock(busy_poll_limit=2)

        async def main() -> int:
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(None, time.sleep, 0.05)
            timeout = loop.call_later(1, lambda: None)
            polls = 0
            while not fut.done():
                polls += 1
                await asyncio.sleep(0)
            timeout.cancel()
            return polls

        self.assertGreater(run(clock, main), 60)  # past both limits: no jump, no livelock
        self.assertEqual(clock.now, 0.0)

    def test_no_jump_under_hold(self) -> None:
        """Polling inside hold(): the loop waits in real time for what it cannot see."""
        clock = VirtualClock(busy_poll_limit=2)

        async def main() -> None:
            done = threading.Event()
            thread = threading.Thread(target=lambda: (time.sleep(0.05), done.set()))
            asyncio.get_running_loop().call_later(1, lambda: None)
            with clock.hold():
                thread.start()
                while not done.is_set():
                    await asyncio.sleep(0)
            thread.join()

        run(clock, main)
        self.assertEqual(clock.now, 0.0)

    def test_settle_returns_while_a_task_polls(self) -> None:
        """In manual mode, advance() steps through a poller's timer; the poller sees it."""
        clock = VirtualClock(autojump=False, busy_poll_limit=20)

        async def main() -> tuple[float, float]:
            poller = asyncio.create_task(poll_until_timer(5))
            await clock.advance(10)
            self.assertTrue(poller.done())
            return (await poller)[1], clock.now

        self.assertEqual(run(clock, main), (5.0, 10.0))

    def test_advance_does_not_overshoot(self) -> None:
        """advance() with a poller waiting on a later timer stops at its target."""
        clock = VirtualClock(busy_poll_limit=20)

        async def main() -> None:
            poller = asyncio.create_task(poll_until_timer(100))
            await clock.advance(5)
            self.assertEqual(clock.now, 5.0)
            self.assertFalse(poller.done())
            self.assertEqual(await poller, (mock.ANY, 100.0))

        run(clock, main)
        self.assertEqual(clock.now, 100.0)

    def test_validation(self) -> None:
        """busy_poll_limit takes a whole number >= 1 or None, at construction and later."""
        for bad in (0, -5):
            with self.subTest(bad=bad), self.assertRaisesRegex(
                ValueError,
                rf"^busy_poll_limit needs a whole number of loop iterations >= 1, or None to "
                rf"never count busy polling as idle; got {bad}$",
            ):
                VirtualClock(busy_poll_limit=bad)
        for wrong in (True, 2.5, "10"):
            with self.subTest(wrong=wrong), self.assertRaisesRegex(
                TypeError, rf"^busy_poll_limit needs a whole number of loop iterations, or None; got {wrong!r}$"
            ):
                VirtualClock(busy_poll_limit=wrong)  # type: ignore[arg-type]
        clock = VirtualClock()
        self.assertEqual(clock.busy_poll_limit, 1000)
        clock.busy_poll_limit = None
        self.assertIsNone(clock.busy_poll_limit)
        with self.assertRaisesRegex(ValueError, r"^busy_poll_limit needs"):
            clock.busy_poll_limit = 0
        self.assertIsNone(clock.busy_poll_limit)


class TestBusyPollingInTestCases(unittest.TestCase):
    def test_class_option_and_configure(self) -> None:
        """ClockedTestCase.busy_poll_limit, and @configure for one test, reach the clock."""
        seen: dict[str, tuple[int | None, int]] = {}

        class Test(ClockedTestCase):
            busy_poll_limit = 40

            async def test_class(self) -> None:
                seen["class"] = (self.clock.busy_poll_limit, (await poll_until_timer(2))[0])

            @configure(busy_poll_limit=15)
            async def test_configured(self) -> None:
                seen["configured"] = (self.clock.busy_poll_limit, (await poll_until_timer(2))[0])

        for name in ("test_class", "test_configured"):
            result = run_test(Test(name))
            self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        limit, polls = seen["class"]
        self.assertEqual(limit, 40)
        self.assertLessEqual(polls, 60)
        limit, polls = seen["configured"]
        self.assertEqual(limit, 15)
        self.assertLessEqual(polls, 35)

    def test_class_scope_resets_per_test(self) -> None:
        """With loop_scope = "class", each test gets its own busy_poll_limit."""
        seen: list[int | None] = []

        class Test(ClockedTestCase):
            loop_scope = "class"
            busy_poll_limit = 40

            async def test_a(self) -> None:
                seen.append(self.clock.busy_poll_limit)

            @configure(busy_poll_limit=None)
            async def test_b(self) -> None:
                seen.append(self.clock.busy_poll_limit)

            async def test_c(self) -> None:
                seen.append(self.clock.busy_poll_limit)

        result = unittest.TestResult()
        unittest.TestSuite([Test("test_a"), Test("test_b"), Test("test_c")]).run(result)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(seen, [40, None, 40])

    def test_bad_option_is_named(self) -> None:
        """A bad busy_poll_limit is refused when the class is made, or by configure()."""
        expected = r"must be a whole number of loop iterations >= 1, or None \(busy polling never counts as idle\)"
        for bad, error, got in ((0, ValueError, r"0 \(int\)"), (2.5, TypeError, r"2\.5 \(float\)")):
            with self.subTest(bad=bad), self.assertRaisesRegex(error, rf"^Test\.busy_poll_limit {expected}; got {got}$"):

                class Test(ClockedTestCase):
                    busy_poll_limit = bad

            with self.subTest(bad=bad), self.assertRaisesRegex(
                error, rf"^configure\(busy_poll_limit=\.\.\.\) {expected}; got {got}$"
            ):
                configure(busy_poll_limit=bad)


class TestSpins(unittest.TestCase):
    def test_task_that_spins_forever(self) -> None:
        """while True: await asyncio.sleep(0) fails as a LivelockError naming the task."""

        async def spin() -> None:
            while True:
                await asyncio.sleep(0)

        async def main() -> None:
            await asyncio.create_task(spin(), name="spinner")

        with self.assertRaisesRegex(
            LivelockError,
            rf"^Livelock: {30 * LIMIT} callbacks in a row only yielded \(`await asyncio\.sleep\(0\)`\) "
            r"or re-armed themselves \(`call_soon`\), with no timer pending that can fire, no outside "
            r"work in flight and no real IO: nothing can ever end the spin\. Spinning: task 'spinner' "
            r"running TestSpins\.test_task_that_spins_forever\.<locals>\.spin\(\)\. ",
        ) as caught:
            run(VirtualClock(busy_poll_limit=LIMIT), main)
        self.assertIn("Pending tasks (2)", str(caught.exception))

    def test_default_limit(self) -> None:
        """By default a spin fails after 30,000 callbacks (30 x busy_poll_limit)."""

        async def spin() -> None:
            while True:
                await asyncio.sleep(0)

        with self.assertRaisesRegex(LivelockError, r"^Livelock: 30000 callbacks in a row only yielded "):
            run(VirtualClock(), spin)

    def test_callback_that_rearms_itself(self) -> None:
        """A call_soon callback that re-arms itself forever fails naming the callback."""

        async def main() -> None:
            loop = asyncio.get_running_loop()

            def again() -> None:
                loop.call_soon(again)

            loop.call_soon(again)
            await loop.create_future()

        with self.assertRaisesRegex(
            LivelockError, r"^Livelock: .* Spinning: callback <Handle .*again\(\) at .*test_spin\.py:\d+>\. "
        ):
            run(VirtualClock(busy_poll_limit=LIMIT), main)

    def test_manual_mode_spin(self) -> None:
        """In manual mode a poll for a timer nobody advances to is a livelock too."""
        with self.assertRaisesRegex(LivelockError, r"^Livelock: .* with the clock in manual mode, "):
            run(VirtualClock(autojump=False, busy_poll_limit=LIMIT), lambda: poll_until_timer(5))

    def test_settling_forever(self) -> None:
        """A task that only calls settle() in a loop spins too: settle() never moves time."""

        async def main() -> None:
            asyncio.get_running_loop().call_later(5, lambda: None)
            while True:
                await clock.settle()

        clock = VirtualClock(busy_poll_limit=LIMIT)
        with self.assertRaisesRegex(LivelockError, r"^Livelock: .* with settle\(\) running, which never moves time, "):
            run(clock, main)
        self.assertEqual(clock.now, 0.0)

    def test_loop_runs_on_after_the_error(self) -> None:
        """After the LivelockError the loop can still cancel the spinner and close cleanly."""
        clock = VirtualClock(busy_poll_limit=LIMIT)
        loop = virtual_event_loop(clock)

        async def spin() -> None:
            while True:
                await asyncio.sleep(0)

        try:
            task = loop.create_task(spin())
            with self.assertRaises(LivelockError):
                loop.run_until_complete(task)
            task.cancel()
            loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
            self.assertTrue(task.cancelled())
        finally:
            loop.close()

    def test_executor_work_in_flight_is_not_a_livelock(self) -> None:
        """Yielding many times while an executor works is legitimate: no LivelockError."""

        async def main() -> int:
            fut = asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.05)
            polls = 0
            while not fut.done():
                polls += 1
                await asyncio.sleep(0)
            return polls

        self.assertGreater(run(VirtualClock(busy_poll_limit=2), main), 60)

    def test_real_io_open_is_not_a_livelock(self) -> None:
        """Yielding while a real socket is registered: its peer may end the spin."""
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)

        async def main() -> int:
            loop = asyncio.get_running_loop()
            got: list[bytes] = []
            loop.add_reader(a, lambda: got.append(a.recv(16)))
            threading.Timer(0.05, b.send, (b"x",)).start()
            polls = 0
            try:
                while not got:
                    polls += 1
                    await asyncio.sleep(0)
            finally:
                loop.remove_reader(a)
            return polls

        self.assertGreater(run(VirtualClock(busy_poll_limit=2), main), 60)

    def test_in_a_clocked_test(self) -> None:
        """A ClockedTestCase test that spins errors with the LivelockError, long before its timeout."""

        class Test(ClockedTestCase):
            timeout = 30
            busy_poll_limit = LIMIT

            async def test_it(self) -> None:
                ready = False
                while not ready:
                    await asyncio.sleep(0)

        text = only_error(self, run_test(Test("test_it")))
        self.assertRegex(text, r"LivelockError: Livelock: .* Spinning: task '.*test_it' running ")
        self.assertRegex(text, r'File ".*test_spin\.py", line \d+, in test_it\n +await asyncio\.sleep\(0\)\n')


class TestEndlessTimers(unittest.TestCase):
    DEADLOCK = (
        r"^Deadlock: every task waits and nothing can ever wake them \(the timers pending never "
        rf"fire: the next is due at {{}}, past the end of virtual time at {END}s; no outside work "
        r"in flight, no real IO registered\)\."
    )

    def test_sleep_forever(self) -> None:
        """sleep(inf) and sleep(1e300) are timers that never fire: a deadlock, no OverflowError."""
        for delay, shown in ((math.inf, "inf"), (1e300, r"1e\+300")):
            with self.subTest(delay=delay), self.assertRaisesRegex(DeadlockError, self.DEADLOCK.format(shown)):
                run(VirtualClock(), lambda: asyncio.sleep(delay))  # noqa: B023

    def test_wait_for_without_end(self) -> None:
        """wait_for(..., timeout=inf) waits for its awaitable, and deadlocks if nothing comes."""

        async def late() -> str:
            await asyncio.sleep(5)
            return "done"

        async def main() -> str:
            return await asyncio.wait_for(late(), math.inf)

        clock = VirtualClock()
        self.assertEqual(run(clock, main), "done")
        self.assertEqual(clock.now, 5.0)
        with self.assertRaisesRegex(DeadlockError, self.DEADLOCK.format("inf")):
            run(VirtualClock(), lambda: asyncio.wait_for(asyncio.Event().wait(), math.inf))

    def test_other_timers_still_fire(self) -> None:
        """A task sleeping forever does not stop time moving for the others."""
        clock = VirtualClock()

        async def main() -> float:
            sleeper = asyncio.create_task(asyncio.sleep(math.inf))
            await asyncio.sleep(3)
            sleeper.cancel()
            await asyncio.gather(sleeper, return_exceptions=True)
            return clock.now

        self.assertEqual(run(clock, main), 3.0)

    def test_deadlock_not_budget(self) -> None:
        """With a budget, sleep(inf) is still the deadlock report, not a budget livelock."""
        with self.assertRaises(DeadlockError) as caught:
            run(VirtualClock(budget=10), lambda: asyncio.sleep(math.inf))
        self.assertNotIsInstance(caught.exception, LivelockError)

    def test_manual_stepping(self) -> None:
        """advance() moves past a timer that never fires; next() finds no timer."""
        clock = VirtualClock(autojump=False)

        async def main() -> None:
            sleeper = asyncio.create_task(asyncio.sleep(1e300))
            await clock.advance(10)
            self.assertEqual(clock.now, 10.0)
            await clock.advance_to(20)
            self.assertIsNone(await clock.next())
            self.assertEqual(clock.now, 20.0)
            self.assertFalse(sleeper.done())
            sleeper.cancel()

        run(clock, main)

    def test_real_io_still_waited_for(self) -> None:
        """With only a never-firing timer, the loop waits on real IO rather than deadlock."""
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)

        async def main() -> bytes:
            loop = asyncio.get_running_loop()
            got: asyncio.Future[bytes] = loop.create_future()
            loop.add_reader(a, lambda: got.done() or got.set_result(a.recv(16)))
            threading.Timer(0.05, b.send, (b"x",)).start()
            try:
                return await asyncio.wait_for(got, math.inf)
            finally:
                loop.remove_reader(a)

        self.assertEqual(run(VirtualClock(), main), b"x")

    def test_wait_awaited_with_a_huge_timeout(self) -> None:
        """wait_awaited(timeout=1e300) on a mock nobody awaits is the deadlock report."""
        fetch = ControlledAsyncMock()

        async def main() -> None:
            await fetch.wait_awaited(timeout=1e300)

        with self.assertRaisesRegex(DeadlockError, self.DEADLOCK.format(r"1e\+300")):
            run(VirtualClock(), main)

    def test_in_a_clocked_test(self) -> None:
        """A ClockedTestCase test that sleeps forever errors with the deadlock report."""

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                await asyncio.sleep(math.inf)

        text = only_error(self, run_test(Test("test_it")))
        self.assertRegex(text, r"DeadlockError: Deadlock: every task waits .* the next is due at inf, ")


class TestSeededLoop(unittest.TestCase):
    """A seeded loop (schedule exploration) keeps these rules."""

    def test_poll_and_endless_timer(self) -> None:
        """With a seed, busy polling still reaches its timer and sleep(inf) is still a deadlock."""
        for seed in (1, 2):
            with self.subTest(seed=seed):
                polls, when = run(VirtualClock(busy_poll_limit=LIMIT), lambda: poll_until_timer(5), seed=seed)
                self.assertLessEqual(polls, LIMIT + 20)
                self.assertGreaterEqual(when, 5.0)  # the seed may wake the loop a little late
                with self.assertRaisesRegex(DeadlockError, r"^Deadlock: .*\(the timers pending never fire"):
                    run(VirtualClock(), lambda: asyncio.sleep(math.inf), seed=seed)


class TestHugeValues(unittest.TestCase):
    TOO_BIG = rf"needs at most {END} seconds, where virtual time ends \(2\*\*63 - 1 nanoseconds, about 292 years\); got "

    def test_start_and_budget(self) -> None:
        """start= and budget= past the end of virtual time raise ValueError naming them."""
        with self.assertRaisesRegex(ValueError, rf"^VirtualClock\(start=\.\.\.\) {self.TOO_BIG}1e\+300$"):
            VirtualClock(start=1e300)
        with self.assertRaisesRegex(ValueError, rf"^VirtualClock budget {self.TOO_BIG}1e\+300$"):
            VirtualClock(budget=1e300)
        clock = VirtualClock(budget=5)
        with self.assertRaisesRegex(ValueError, rf"^VirtualClock budget {self.TOO_BIG}10000000000$"):
            clock.budget = 10**10
        self.assertEqual(clock.budget, 5.0)

    def test_last_instant_is_allowed(self) -> None:
        """The clock can start at its last nanosecond; a budget past it is cut there."""
        clock = VirtualClock(start=9223372036.0, budget=9e9)
        self.assertEqual(clock.now_ns, 9_223_372_036_000_000_000)

        async def main() -> float:
            await asyncio.sleep(0.5)
            return clock.now

        self.assertEqual(run(clock, main), 9223372036.5)

    def test_a_timer_at_the_last_nanosecond_fires(self) -> None:
        """A sleep to the last nanosecond of virtual time fires there; one past it never does."""
        clock = VirtualClock(start=9223372036.0)

        async def main() -> None:
            await asyncio.sleep(0.854775807)
            self.assertEqual(clock.now_ns, 2**63 - 1)
            await asyncio.sleep(0.001)

        with self.assertRaisesRegex(DeadlockError, r"^Deadlock: .*\(the timers pending never fire"):
            run(clock, main)
        self.assertEqual(clock.now_ns, 2**63 - 1)

    def test_budget_ends_exactly(self) -> None:
        """Deadlines that drift a float step past the budget's end still fit in it."""
        clock = VirtualClock(budget=0.3)

        async def main() -> None:
            for _ in range(3):
                await asyncio.sleep(0.1)  # the last deadline is 0.30000000000000004
            self.assertEqual(clock.now_ns, 300_000_000)
            await asyncio.sleep(1e-9)

        with self.assertRaisesRegex(LivelockError, r"^Virtual-time budget exhausted: "):
            run(clock, main)
        self.assertEqual(clock.now_ns, 300_000_000)

    def test_stepping(self) -> None:
        """jump, advance and advance_to refuse huge values and steps past the end, naming themselves."""
        clock = VirtualClock(autojump=False, start=9e9)
        with self.assertRaisesRegex(ValueError, rf"^jump\(\) {self.TOO_BIG}1e\+300$"):
            clock.jump(1e300)
        with self.assertRaisesRegex(
            ValueError,
            rf"^jump\(\) needs a step that keeps virtual time within its end at {END}s "
            r"\(2\*\*63 - 1 nanoseconds\); got 300000000\.0, from 9000000000\.0s$",
        ):
            clock.jump(3e8)
        self.assertEqual(clock.now, 9e9)

        async def main() -> None:
            with self.assertRaisesRegex(ValueError, rf"^advance\(\) {self.TOO_BIG}1e\+300$"):
                await clock.advance(1e300)
            with self.assertRaisesRegex(ValueError, r"^advance\(\) needs a step that keeps virtual time"):
                await clock.advance(3e8)
            with self.assertRaisesRegex(ValueError, rf"^advance_to\(\) {self.TOO_BIG}1e\+300$"):
                await clock.advance_to(1e300)

        run(clock, main)
        self.assertEqual(clock.now, 9e9)

    def test_clocked_test_case_options(self) -> None:
        """clock_start and clock_budget past the end of time are refused when the class is made."""
        expected = rf"must be a non-negative, finite number of seconds up to {END} \(where virtual time ends\)"
        with self.assertRaisesRegex(ValueError, rf"^Test\.clock_start {expected}; got 1e\+300 \(float\)$"):

            class Test(ClockedTestCase):
                clock_start = 1e300

        with self.assertRaisesRegex(
            ValueError, rf"^configure\(clock_budget=\.\.\.\) {expected}, or None \(no limit\); got 1e\+300 \(float\)$"
        ):
            configure(clock_budget=1e300)

    def test_option_set_after_the_class_was_made(self) -> None:
        """A clock option changed after the class was checked still fails with the clock's error."""

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                pass

        Test.clock_start = 1e300
        text = only_error(self, run_test(Test("test_it")))
        self.assertRegex(text, rf"ValueError: VirtualClock\(start=\.\.\.\) {self.TOO_BIG}1e\+300\n")

    def test_wall_clock_base(self) -> None:
        """patch_time(wall=...) with a huge timestamp is a ValueError naming wall=."""
        for wall, shown in ((1e300, r"1e\+300"), (-1e300, r"-1e\+300"), (10**30, "1" + "0" * 30)):
            with self.subTest(wall=wall), self.assertRaisesRegex(
                ValueError, rf"^patch_time\(wall=\.\.\.\) got timestamp {shown}, outside what datetime can represent$"
            ):
                patch_time(VirtualClock(), wall=wall)

    def test_wall_option_of_a_test_case(self) -> None:
        """time_wall=1e300 is refused when the class is made, with the same error."""
        with self.assertRaisesRegex(
            ValueError,
            r"^Test\.time_wall must be .*; got 1e\+300 \(float\): patch_time\(wall=\.\.\.\) got "
            r"timestamp 1e\+300, outside what datetime can represent$",
        ):

            class Test(ClockedTestCase):
                time_wall: Any = 1e300


if __name__ == "__main__":
    unittest.main()


class TestDeadlinePoll(unittest.TestCase):
    """A poll bounded by a deadline it reads from the clock ends when time passes: no livelock."""

    def test_poll_against_loop_time(self) -> None:
        """`while not ready and loop.time() < deadline: await asyncio.sleep(0)` ends past its deadline."""

        async def main() -> float:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while loop.time() < deadline:
                await asyncio.sleep(0)
            return loop.time()

        clock = VirtualClock(busy_poll_limit=LIMIT)
        ended = run(clock, main)
        self.assertGreaterEqual(ended, 5)
        self.assertLess(ended, 10.5)  # time passed in doubling steps from 1 ms: at most twice over

    def test_poll_against_time_monotonic(self) -> None:
        """The same poll against time.monotonic() under the time patch (a ClockedTestCase)."""
        seen: list[float] = []

        class Inner(ClockedTestCase):
            busy_poll_limit = LIMIT

            async def test_it(self) -> None:
                ready = False
                deadline = time.monotonic() + 2
                while not ready and time.monotonic() < deadline:
                    await asyncio.sleep(0)
                seen.append(self.clock.now)

        result = run_test(Inner("test_it"))
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertGreaterEqual(seen[0], 2)

    def test_timer_still_goes_first(self) -> None:
        """With a timer pending, a poll that reads the time still jumps to that timer."""

        async def main() -> tuple[int, float]:
            asyncio.get_running_loop().time()
            return await poll_until_timer(30)

        clock = VirtualClock(busy_poll_limit=LIMIT)
        self.assertEqual(run(clock, main)[1], 30)

    def test_endless_poll_that_reads_the_time_hits_the_budget(self) -> None:
        """A poll that reads the time but never ends: time passes up to the budget, then LivelockError."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            while loop.time() >= 0:
                await asyncio.sleep(0)

        clock = VirtualClock(busy_poll_limit=LIMIT, budget=3600)
        with self.assertRaisesRegex(LivelockError, r"^Virtual-time budget exhausted"):
            run(clock, main)

    def test_spin_that_does_not_read_the_time_is_a_livelock(self) -> None:
        """A spin that never reads the time cannot be ended by time: still the livelock report."""

        async def main() -> None:
            while True:
                await asyncio.sleep(0)

        with self.assertRaisesRegex(LivelockError, r"^Livelock: "):
            run(VirtualClock(busy_poll_limit=LIMIT), main)

