"""Tests for VirtualClock: exact time, the two modes, the stepping API, hold(), budget."""

from __future__ import annotations

import asyncio
import math
import threading
import unittest
from typing import TypeVar
from unittest import mock

from asynctestkit import LivelockError, VirtualClock, virtual_event_loop
from asynctestkit._virtual import _clock
from tests._support import run_virtual

T = TypeVar("T")


run = run_virtual


class TestConstruction(unittest.TestCase):
    def test_defaults(self) -> None:
        """A new clock starts at 0, in autojump mode, with no hold and no budget."""
        clock = VirtualClock()
        self.assertEqual(clock.now, 0.0)
        self.assertEqual(clock.now_ns, 0)
        self.assertEqual(clock.time(), 0.0)
        self.assertIs(clock.autojump, True)
        self.assertEqual(clock.holds, 0)
        self.assertIsNone(clock.budget)

    def test_start_is_configurable(self) -> None:
        """start= sets the initial virtual time, kept in whole nanoseconds."""
        clock = VirtualClock(start=1234.5)
        self.assertEqual(clock.now, 1234.5)
        self.assertEqual(clock.now_ns, 1_234_500_000_000)

    def test_manual_mode(self) -> None:
        """autojump=False starts in manual mode."""
        self.assertIs(VirtualClock(autojump=False).autojump, False)

    def test_bad_start(self) -> None:
        """A negative, NaN or infinite start raises ValueError naming the value."""
        for bad in (-1, math.nan, math.inf, -math.inf):
            with self.subTest(start=bad), self.assertRaisesRegex(
                ValueError,
                rf"^VirtualClock\(start=\.\.\.\) needs a finite, non-negative number of seconds; "
                rf"got {bad!r}$",
            ):
                VirtualClock(start=bad)

    def test_start_must_be_a_number(self) -> None:
        """A start that is not a number (or is a bool) raises TypeError."""
        for bad in ("1", True, None):
            with self.subTest(start=bad), self.assertRaisesRegex(
                TypeError, r"^VirtualClock\(start=\.\.\.\) needs a number of seconds; got "
            ):
                VirtualClock(start=bad)  # type: ignore[arg-type]

    def test_autojump_must_be_bool(self) -> None:
        """autojump accepts only True or False, at construction and later."""
        with self.assertRaisesRegex(TypeError, r"^autojump must be True or False; got 1$"):
            VirtualClock(autojump=1)  # type: ignore[arg-type]
        clock = VirtualClock()
        with self.assertRaisesRegex(TypeError, r"^autojump must be True or False; got 'no'$"):
            clock.autojump = "no"  # type: ignore[assignment]
        self.assertIs(clock.autojump, True)

    def test_keyword_only(self) -> None:
        """Options are keyword-only."""
        with self.assertRaises(TypeError):
            VirtualClock(False)  # type: ignore[misc]


class TestJump(unittest.TestCase):
    def test_moves_time_and_runs_nothing(self) -> None:
        """jump() moves time at once; a timer that falls due fires only when the loop runs."""
        clock = VirtualClock(autojump=False)
        fired: list[float] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop.call_later(5, lambda: fired.append(loop.time()))
            clock.jump(60)
            self.assertEqual(fired, [])
            self.assertEqual(clock.now, 60.0)
            await asyncio.sleep(0)

        run(clock, main)
        self.assertEqual(fired, [60.0])

    def test_exact_in_nanoseconds(self) -> None:
        """Ten jumps of 0.1 s make exactly one second (no float drift)."""
        clock = VirtualClock()
        for _ in range(10):
            clock.jump(0.1)
        self.assertEqual(clock.now_ns, 1_000_000_000)
        self.assertEqual(clock.now, 1.0)

    def test_without_a_loop(self) -> None:
        """jump() works on a clock no loop uses (sync tests)."""
        clock = VirtualClock(start=100)
        clock.jump(2.5)
        self.assertEqual(clock.now, 102.5)

    def test_zero(self) -> None:
        """jump(0) is allowed and moves nothing."""
        clock = VirtualClock(start=3)
        clock.jump(0)
        self.assertEqual(clock.now, 3.0)

    def test_bad_amounts(self) -> None:
        """Negative, NaN and infinite amounts raise ValueError naming the value; time stays."""
        clock = VirtualClock(start=5)
        for bad in (-1, -0.5, math.nan, math.inf):
            with self.subTest(seconds=bad), self.assertRaisesRegex(
                ValueError, rf"^jump\(\) needs a finite, non-negative number of seconds; got {bad!r}$"
            ):
                clock.jump(bad)
        self.assertEqual(clock.now, 5.0)


class TestAdvance(unittest.TestCase):
    def test_chained_sleeps_see_their_own_deadlines(self) -> None:
        """Two chained sleep(1) inside advance(2) wake at times 1 and 2."""
        clock = VirtualClock(autojump=False)
        seen: list[float] = []

        async def sleeper() -> None:
            for _ in range(2):
                await asyncio.sleep(1)
                seen.append(clock.now)

        async def main() -> None:
            task = asyncio.create_task(sleeper())
            await clock.advance(2)
            self.assertTrue(task.done())

        run(clock, main)
        self.assertEqual(seen, [1.0, 2.0])

    def test_deadline_order_and_fifo(self) -> None:
        """Timers fire in deadline order, FIFO among equal deadlines, each at its deadline."""
        clock = VirtualClock(autojump=False)
        fired: list[tuple[str, float]] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for name, delay in [("c", 3), ("a1", 1), ("b", 2), ("a2", 1), ("a3", 1)]:
                loop.call_later(delay, lambda n=name: fired.append((n, loop.time())))
            await clock.advance(3)

        run(clock, main)
        self.assertEqual(fired, [("a1", 1.0), ("a2", 1.0), ("a3", 1.0), ("b", 2.0), ("c", 3.0)])

    def test_stops_at_the_target(self) -> None:
        """A timer after the target stays pending; time ends exactly at the target."""
        clock = VirtualClock(autojump=False)

        async def main() -> None:
            task = asyncio.create_task(asyncio.sleep(10))
            await clock.advance(9.5)
            self.assertFalse(task.done())
            self.assertEqual(clock.now, 9.5)
            await clock.advance(0.5)
            self.assertTrue(task.done())

        run(clock, main)

    def test_timer_due_at_the_target_fires(self) -> None:
        """A timer armed with call_later(d) fires within advance(d), whatever the start."""
        for start in (0.0, 0.1, 1 / 3, 12345.678, 1e6 + 0.1, 1e9, 123456789.123456789):
            for delay in (0.2, 0.3, 0.7, 1.1, 1e-9, 3e-9, 86400.0):
                clock = VirtualClock(autojump=False, start=start)
                fired: list[int] = []

                async def main(
                    clock: VirtualClock = clock, delay: float = delay, fired: list[int] = fired
                ) -> None:
                    asyncio.get_running_loop().call_later(delay, fired.append, 1)
                    await clock.advance(delay)

                if delay < 4 * math.ulp(start):
                    # Below the float spacing at this start, a positive delay
                    # is due at the first float deadline later than now.
                    async def main(
                        clock: VirtualClock = clock, delay: float = delay, fired: list[int] = fired
                    ) -> None:
                        asyncio.get_running_loop().call_later(delay, fired.append, 1)
                        await clock.advance(delay)
                        self.assertEqual(fired, [])
                        await clock.advance(1e-6)

                run(clock, main)
                self.assertEqual(fired, [1], f"start={start!r} delay={delay!r}")

    def test_works_in_autojump_mode(self) -> None:
        """advance() in autojump mode fires the same timers at the same times."""
        clock = VirtualClock()
        seen: list[float] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop.call_later(1, lambda: seen.append(loop.time()))
            loop.call_later(3, lambda: seen.append(loop.time()))
            await clock.advance(2)
            self.assertEqual(seen, [1.0])
            self.assertEqual(clock.now, 2.0)

        run(clock, main)

    def test_bad_amounts(self) -> None:
        """Negative, NaN and infinite amounts raise ValueError naming the value."""
        clock = VirtualClock()

        async def main() -> None:
            for bad in (-1, math.nan, math.inf):
                with self.subTest(seconds=bad), self.assertRaisesRegex(
                    ValueError, rf"^advance\(\) needs a finite, non-negative number of seconds; got {bad!r}$"
                ):
                    await clock.advance(bad)

        run(clock, main)
        self.assertEqual(clock.now, 0.0)

    def test_needs_the_running_loop(self) -> None:
        """advance() outside the loop the clock drives raises RuntimeError saying what to do."""
        clock = VirtualClock()
        other = VirtualClock()

        async def main() -> None:
            await clock.advance(1)

        with self.assertRaisesRegex(
            RuntimeError, r"^advance\(\) must be awaited on the running loop this clock drives; "
        ):
            asyncio.run(main())
        with self.assertRaisesRegex(RuntimeError, r"virtual_event_loop\(clock\)"):
            run(other, main)
        coro = clock.settle()  # no running loop at all
        with self.assertRaisesRegex(RuntimeError, r"^settle\(\) must be awaited .* the running loop is None\."):
            coro.send(None)


class TestAdvanceTo(unittest.TestCase):
    def test_absolute_target(self) -> None:
        """advance_to(t) fires the timers up to t and ends at t."""
        clock = VirtualClock(autojump=False, start=100)
        seen: list[float] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop.call_at(101, lambda: seen.append(loop.time()))
            loop.call_at(200, lambda: seen.append(loop.time()))
            await clock.advance_to(150)

        run(clock, main)
        self.assertEqual(seen, [101.0])
        self.assertEqual(clock.now, 150.0)

    def test_time_cannot_go_backwards(self) -> None:
        """A target before now raises ValueError and time stays."""
        clock = VirtualClock(start=10)

        async def main() -> None:
            with self.assertRaisesRegex(
                ValueError, r"^time can't go backwards: advance_to\(5\) but now is 10\.0$"
            ):
                await clock.advance_to(5)
            await clock.advance_to(10)  # now itself is fine

        run(clock, main)
        self.assertEqual(clock.now, 10.0)

    def test_bad_target(self) -> None:
        """NaN and infinite targets raise ValueError naming the value."""
        clock = VirtualClock()

        async def main() -> None:
            for bad in (math.nan, math.inf):
                with self.subTest(when=bad), self.assertRaisesRegex(
                    ValueError, rf"^advance_to\(\) needs a finite, non-negative number of seconds; got {bad!r}$"
                ):
                    await clock.advance_to(bad)

        run(clock, main)


class TestNext(unittest.TestCase):
    def test_moves_to_the_next_timer(self) -> None:
        """next() fires the next timer only and returns the new time."""
        clock = VirtualClock(autojump=False)
        fired: list[str] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop.call_later(7, fired.append, "first")
            loop.call_later(9, fired.append, "second")
            self.assertEqual(await clock.next(), 7.0)
            self.assertEqual(fired, ["first"])
            self.assertEqual(await clock.next(), 9.0)
            self.assertEqual(fired, ["first", "second"])

        run(clock, main)

    def test_no_timer(self) -> None:
        """next() with no timer pending returns None and time does not move."""
        clock = VirtualClock(autojump=False, start=3)

        async def main() -> None:
            handle = asyncio.get_running_loop().call_later(5, lambda: None)
            handle.cancel()  # a cancelled timer is no timer
            self.assertIsNone(await clock.next())

        run(clock, main)
        self.assertEqual(clock.now, 3.0)


class TestSettle(unittest.TestCase):
    def test_runs_ready_work_without_moving_time(self) -> None:
        """settle() runs a chain of ready callbacks and tasks; time stays."""
        clock = VirtualClock(autojump=False)
        steps: list[int] = []

        async def chain() -> None:
            for i in range(5):
                steps.append(i)
                await asyncio.sleep(0)

        async def main() -> None:
            task = asyncio.create_task(chain())
            sleeper = asyncio.create_task(asyncio.sleep(1))
            await clock.settle()
            self.assertTrue(task.done())
            self.assertFalse(sleeper.done())

        run(clock, main)
        self.assertEqual(steps, [0, 1, 2, 3, 4])
        self.assertEqual(clock.now, 0.0)

    def test_fires_timers_due_now(self) -> None:
        """settle() fires a timer due at exactly now."""
        clock = VirtualClock(autojump=False, start=5)

        async def main() -> list[int]:
            fired: list[int] = []
            loop = asyncio.get_running_loop()
            loop.call_at(loop.time(), fired.append, 1)
            await clock.settle()
            return fired

        self.assertEqual(run(clock, main), [1])

    def test_a_task_that_never_idles(self) -> None:
        """settle() raises LivelockError when some task keeps completing futures forever."""
        clock = VirtualClock()

        async def spin() -> None:
            # Not busy polling (which counts as idle): each round a future
            # completes and wakes the task.
            loop = asyncio.get_running_loop()
            while True:
                fut = loop.create_future()
                loop.call_soon(fut.set_result, None)
                await fut

        async def main() -> None:
            spinner = asyncio.create_task(spin())
            with mock.patch.object(_clock, "_SETTLE_LIMIT", 50), self.assertRaisesRegex(
                LivelockError, r"^settle\(\) ran 50 loop iterations and the loop never became idle"
            ):
                await clock.settle()
            self.assertFalse(spinner.done())

        run(clock, main)


class TestHold(unittest.TestCase):
    def test_sync_context_manager_counts_and_nests(self) -> None:
        """hold() is a sync context manager; holds nest and are counted."""
        clock = VirtualClock()
        with clock.hold() as entered:
            self.assertIs(entered, clock)
            with clock.hold():
                self.assertEqual(clock.holds, 2)
            self.assertEqual(clock.holds, 1)
        self.assertEqual(clock.holds, 0)

    def test_async_context_manager(self) -> None:
        """hold() is an async context manager too."""
        clock = VirtualClock()

        async def main() -> None:
            async with clock.hold() as entered:
                self.assertIs(entered, clock)
                self.assertEqual(clock.holds, 1)
            self.assertEqual(clock.holds, 0)

        run(clock, main)

    def test_released_on_error(self) -> None:
        """An exception inside hold() releases the hold."""
        clock = VirtualClock()
        with self.assertRaises(KeyError), clock.hold():
            raise KeyError("x")
        self.assertEqual(clock.holds, 0)

    def test_unbalanced_exit(self) -> None:
        """Exiting a hold more often than it was entered raises RuntimeError."""
        clock = VirtualClock()
        hold = clock.hold()
        with self.assertRaisesRegex(RuntimeError, r"^hold\(\) exited more times than it was entered$"):
            hold.__exit__(None, None, None)
        self.assertEqual(clock.holds, 0)

    def test_no_autojump_inside(self) -> None:
        """Under hold() time does not jump: the loop waits in real time for the thread."""
        clock = VirtualClock()

        async def main() -> str:
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[str] = loop.create_future()

            def worker() -> None:
                threading.Event().wait(0.02)
                loop.call_soon_threadsafe(fut.set_result, "done")

            with clock.hold():
                thread = threading.Thread(target=worker)
                thread.start()
                result = await asyncio.wait_for(fut, 5)
            thread.join()
            return result

        self.assertEqual(run(clock, main), "done")
        self.assertEqual(clock.now, 0.0)

    def test_release_from_another_thread_wakes_the_loop(self) -> None:
        """A hold released by another thread lets the waiting loop jump at once."""
        clock = VirtualClock()
        hold = clock.hold()
        hold.__enter__()

        async def main() -> float:
            timer = threading.Timer(0.02, hold.__exit__, (None, None, None))
            timer.start()
            await asyncio.sleep(30)  # waits in real time until the hold ends
            timer.join()
            return clock.now

        self.assertEqual(run(clock, main), 30.0)
        self.assertEqual(clock.holds, 0)


class TestModes(unittest.TestCase):
    def test_autojump_jumps_with_no_real_wait(self) -> None:
        """In autojump mode an hour of sleeping takes no real time and lands exactly."""
        clock = VirtualClock()

        async def main() -> None:
            await asyncio.sleep(3600)
            await asyncio.sleep(0.25)

        run(clock, main)
        self.assertEqual(clock.now, 3600.25)

    def test_switch_at_run_time(self) -> None:
        """autojump can be switched off and on while the loop runs."""
        clock = VirtualClock()

        async def main() -> None:
            clock.autojump = False
            task = asyncio.create_task(asyncio.sleep(5))
            await clock.settle()
            self.assertFalse(task.done())
            self.assertEqual(clock.now, 0.0)
            clock.autojump = True
            await task
            self.assertEqual(clock.now, 5.0)

        run(clock, main)

    def test_switch_from_another_thread_wakes_the_loop(self) -> None:
        """Turning autojump on from another thread wakes a loop waiting under hold()."""
        clock = VirtualClock(autojump=False)

        async def main() -> None:
            def later() -> None:
                clock.autojump = True
                hold.__exit__(None, None, None)

            hold = clock.hold()
            hold.__enter__()
            timer = threading.Timer(0.02, later)
            timer.start()
            await asyncio.sleep(2)
            timer.join()

        run(clock, main)
        self.assertEqual(clock.now, 2.0)


class TestPendingTimers(unittest.TestCase):
    def test_soonest_first_without_cancelled(self) -> None:
        """pending_timers() lists live timers soonest first (FIFO among equals)."""
        clock = VirtualClock(autojump=False)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            late = loop.call_later(9, lambda: None)
            first = loop.call_later(1, lambda: None)
            second = loop.call_later(1, lambda: None)
            gone = loop.call_later(5, lambda: None)
            gone.cancel()
            self.assertEqual(clock.pending_timers(), [first, second, late])

        run(clock, main)

    def test_without_a_loop(self) -> None:
        """A clock with no loop, or whose loop is closed, has no pending timers."""
        clock = VirtualClock()
        self.assertEqual(clock.pending_timers(), [])
        loop = virtual_event_loop(clock)
        loop.call_later(1, lambda: None)
        self.assertEqual(len(clock.pending_timers()), 1)
        loop.close()
        self.assertEqual(clock.pending_timers(), [])


class TestRepr(unittest.TestCase):
    def test_repr(self) -> None:
        """The repr shows now, the mode, the holds and the timers."""
        clock = VirtualClock(start=12.5)
        self.assertRegex(repr(clock), r"^<VirtualClock now=12\.5s autojump=True holds=0 timers=0>$")
        loop = virtual_event_loop(clock)
        try:
            loop.call_later(1, lambda: None)
            loop.call_later(2, lambda: None)
            with clock.hold():
                clock.autojump = False
                self.assertRegex(repr(clock), r"^<VirtualClock now=12\.5s autojump=False holds=1 timers=2>$")
        finally:
            loop.close()


class TestBudget(unittest.TestCase):
    def test_remaining(self) -> None:
        """budget reports the virtual seconds autojump may still use."""
        clock = VirtualClock(budget=10)
        self.assertEqual(clock.budget, 10.0)

        async def main() -> None:
            await asyncio.sleep(4)

        run(clock, main)
        self.assertEqual(clock.budget, 6.0)
        clock.budget = None
        self.assertIsNone(clock.budget)

    def test_explicit_stepping_is_not_counted(self) -> None:
        """jump() and advance() are the test's own steps: they use none of the budget."""
        clock = VirtualClock(budget=10)

        async def main() -> None:
            clock.jump(100)
            await clock.advance(100)
            await asyncio.sleep(9)  # by autojump, within the budget

        run(clock, main)
        self.assertEqual(clock.now, 209.0)
        self.assertEqual(clock.budget, 1.0)

    def test_exhausted(self) -> None:
        """A loop that sleeps forever fails with LivelockError naming the budget."""
        clock = VirtualClock(budget=10)

        async def forever() -> None:
            while True:
                await asyncio.sleep(1)

        with self.assertRaisesRegex(
            LivelockError,
            r"^Virtual-time budget exhausted: autojump would move time to the next timer at 11\.0s, "
            r"past the budget of 10s of virtual time, which ends at 10\.0s\.",
        ) as caught:
            run(clock, forever)
        self.assertIn("task", str(caught.exception))
        self.assertEqual(clock.now, 10.0)

    def test_bad_budget(self) -> None:
        """A negative, NaN or infinite budget raises ValueError naming the value."""
        for bad in (-1, math.nan, math.inf):
            with self.subTest(budget=bad), self.assertRaisesRegex(
                ValueError, rf"^VirtualClock budget needs a finite, non-negative number of seconds; got {bad!r}$"
            ):
                VirtualClock(budget=bad)


class TestFloatSafety(unittest.TestCase):
    STARTS = (0.0, 0.1, 1 / 3, 86400.7, 1e6 + 0.1, 2.0**21 + 0.3, 1e9, 123456789.123456789, 4e9)

    def test_timer_due_now_fires_whatever_the_start(self) -> None:
        """call_at(loop.time()) fires in both modes, at any start value."""
        for start in self.STARTS:
            for autojump in (True, False):
                clock = VirtualClock(autojump=autojump, start=start)

                async def main() -> list[float]:
                    loop = asyncio.get_running_loop()
                    fut: asyncio.Future[float] = loop.create_future()
                    loop.call_at(loop.time(), lambda: fut.set_result(loop.time()))
                    return [await asyncio.wait_for(fut, None)]

                with self.subTest(start=start, autojump=autojump):
                    self.assertEqual(run(clock, main), [clock.now])

    def test_sleeps_land_on_their_deadlines(self) -> None:
        """Autojump lands each sleep on its float deadline to within a nanosecond, at any start."""
        for start in self.STARTS:
            clock = VirtualClock(start=start)

            async def main() -> None:
                loop = asyncio.get_running_loop()
                for delay in (0.1, 0.2, 1e-9, 7.3):
                    deadline = loop.time() + delay
                    await asyncio.sleep(delay)
                    # Due: at the deadline, or within the float slack of now.
                    self.assertGreaterEqual(_clock.due_until(loop.time()), deadline)
                    self.assertLessEqual(abs(loop.time() - deadline), 1e-9 + 4 * math.ulp(deadline))

            with self.subTest(start=start):
                run(clock, main)

    def test_decimal_sleeps_add_up_exactly(self) -> None:
        """Three sleep(0.1) take exactly 300,000,000 ns, though 0.1 + 0.1 + 0.1 != 0.3 in floats."""
        for start in (0.0, 86400.7, 1e6):
            clock = VirtualClock(start=start)

            async def main() -> None:
                for _ in range(3):
                    await asyncio.sleep(0.1)

            with self.subTest(start=start):
                before = clock.now_ns
                run(clock, main)
                self.assertEqual(clock.now_ns - before, 300_000_000)


if __name__ == "__main__":
    unittest.main()
