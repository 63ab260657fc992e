"""The wall clock of a ClockedTestCase: on by default, clock.set_wall(), and the hint when it is off."""

from __future__ import annotations

import asyncio
import datetime
import time
import unittest

from asynctestkit import ClockedTestCase, LivelockError, VirtualClock, patch_time
from tests._support import run_test

UTC = datetime.timezone.utc
NEW_YEAR_2030 = datetime.datetime(2030, 1, 1, tzinfo=UTC)


async def elect_leader(lease: float) -> str:
    """As kubernetes-asyncio's leader election: a time.time() deadline, waited for with asyncio.sleep."""
    deadline = time.time() + lease
    while time.time() < deadline:
        await asyncio.sleep(1)
    return "leader"


class DefaultTest(ClockedTestCase):
    """time_wall is on by default: time.time() moves with the virtual clock."""

    async def test_wall_deadlines_are_reached(self) -> None:
        """A wait on a time.time() deadline ends after the virtual seconds it asked for."""
        start = time.time()
        self.assertEqual(await elect_leader(15), "leader")
        self.assertEqual(self.clock_elapsed, 15)
        self.assertAlmostEqual(time.time() - start, 15, places=3)

    def test_the_default(self) -> None:
        """The class option says so."""
        self.assertIs(ClockedTestCase.time_wall, True)


class SetWallTest(ClockedTestCase):
    """clock.set_wall(when) moves the wall clock and nothing else."""

    async def test_moves_the_wall_only(self) -> None:
        """time.time() reads the new time; monotonic time, the loop's time and timers do not move."""
        fired: list[float] = []
        asyncio.get_running_loop().call_later(5, lambda: fired.append(self.clock.now))
        monotonic = time.monotonic()
        self.clock.set_wall(NEW_YEAR_2030)
        self.assertEqual(time.time(), NEW_YEAR_2030.timestamp())
        self.assertEqual(time.monotonic(), monotonic)
        self.assertEqual(self.clock.now, 0)
        await asyncio.sleep(0)
        self.assertEqual(fired, [])
        await asyncio.sleep(5)
        self.assertEqual(fired, [5])
        self.assertEqual(time.time(), NEW_YEAR_2030.timestamp() + 5)

    async def test_backwards_and_timestamps(self) -> None:
        """A timestamp works too, and the wall clock may go back, as a real one can."""
        self.clock.set_wall(2_000_000_000)
        self.clock.set_wall(1_000_000_000.5)
        self.assertEqual(time.time(), 1_000_000_000.5)

    async def test_wrong_values(self) -> None:
        """Not a number or a datetime: TypeError; beyond datetime: ValueError; nothing changed."""
        before = time.time()
        with self.assertRaisesRegex(TypeError, r"^set_wall\(\) takes a timestamp in seconds or a datetime\.datetime; got True$"):
            self.clock.set_wall(True)  # type: ignore[arg-type]
        with self.assertRaisesRegex(TypeError, r"^set_wall\(\) takes True, False, a timestamp .*; got 'now' \(str\)$"):
            self.clock.set_wall("now")  # type: ignore[arg-type]
        with self.assertRaisesRegex(ValueError, r"^set_wall\(\) got timestamp 1e\+300, outside what datetime can represent$"):
            self.clock.set_wall(1e300)
        self.assertEqual(time.time(), before)


class SetWallWithoutAWallTest(unittest.TestCase):
    """set_wall() with no wall clock patched on the clock says how to get one."""

    def test_no_wall_patched(self) -> None:
        """A clock with no wall patch, or with time_wall = False: RuntimeError saying what to do."""
        pattern = (
            r"^set_wall\(\) sets the wall clock patched on this clock, and there is none now: give the "
            r"ClockedTestCase time_wall = True \(or a start time\), or call it inside `with patch_time\(clock, "
            r"wall=True\):`$"
        )
        clock = VirtualClock()
        with self.assertRaisesRegex(RuntimeError, pattern):
            clock.set_wall(0)
        with patch_time(clock, wall=True):
            clock.set_wall(100)
            self.assertEqual(time.time(), 100)
        self.assertGreater(time.time(), 100)
        with patch_time(clock), self.assertRaisesRegex(RuntimeError, pattern):
            clock.set_wall(0)


class WallOffHintTest(unittest.TestCase):
    """With time_wall = False, a test that runs out of virtual time is told about time_wall."""

    def test_budget_exhausted_names_time_wall(self) -> None:
        """The kubernetes-asyncio pattern with the wall clock real: the budget error says to set time_wall."""

        class Test(ClockedTestCase):
            time_wall = False
            clock_budget = 60

            async def test_it(self) -> None:
                await elect_leader(15)

        result = run_test(Test("test_it"))
        self.assertEqual(len(result.errors), 1, result.failures)
        text = result.errors[0][1]
        self.assertRegex(text, r"(?m)^asynctestkit\.(?:_virtual\._clock\.)?LivelockError: Virtual-time budget exhausted")
        self.assertRegex(
            text,
            r"(?m)^The wall clock is real in this test \(time_wall = False\): code that waits until time\.time\(\) "
            r"or datetime\.now\(\) passes a deadline never sees virtual time pass; set time_wall = True\.$",
        )

    def test_no_hint_with_the_wall_clock_on(self) -> None:
        """The same budget error with time_wall on says nothing of it."""

        class Test(ClockedTestCase):
            clock_budget = 60

            async def test_it(self) -> None:
                while True:
                    await asyncio.sleep(1)

        result = run_test(Test("test_it"))
        self.assertEqual(len(result.errors), 1)
        self.assertIn("LivelockError", result.errors[0][1])
        self.assertNotIn("time_wall", result.errors[0][1])
        self.assertTrue(issubclass(LivelockError, RuntimeError))


if __name__ == "__main__":
    unittest.main()
