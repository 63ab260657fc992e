"""The virtual clock's rules: autojump, manual stepping, threads and real work in flight.

In autojump mode (the default) an idle loop jumps to its next timer. In manual
mode (``autojump = False``) time moves only when the test says so, which pins
the state of the code between two timers. Work outside the loop (to_thread,
executors, subprocesses, ``clock.hold()``) is waited for in real time: the
clock never jumps past it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import threading
import unittest
from unittest.mock import AsyncMock

from asynctestkit import ClockedTestCase
from examples.debounce import Autosave, checksum


class TestAutosaveManually(ClockedTestCase):
    autojump = False  # manual mode: time moves only by jump(), advance(), advance_to(), next()

    async def asyncSetUp(self) -> None:
        self.save = AsyncMock()
        self.autosave = Autosave(self.save, delay=2, max_wait=10)
        self.addAsyncCleanup(self.autosave.close)

    async def test_saves_after_the_quiet_period(self) -> None:
        self.autosave.edit("h")
        await self.clock.advance(1.999)  # fires every timer due on the way, in order
        self.save.assert_not_awaited()
        await self.clock.advance(0.001)
        self.save.assert_awaited_once_with("h")

    async def test_a_burst_of_edits_saves_once(self) -> None:
        for text in ("h", "he", "hel", "hell", "hello"):
            self.autosave.edit(text)
            await self.clock.advance(1)  # typing, one key a second
        self.save.assert_not_awaited()
        self.assertEqual([t.when() for t in self.clock.pending_timers()], [6.0])
        self.assertEqual(await self.clock.next(), 6.0)  # to the next timer, and fire it
        self.save.assert_awaited_once_with("hello")

    async def test_max_wait_forces_a_save(self) -> None:
        for n in range(12):
            self.autosave.edit("x" * n)
            await self.clock.advance(1)
        self.save.assert_awaited_once_with("x" * 9)  # forced at 10 s, with the text of 9 s
        self.assertEqual(self.clock.now, 12)

    async def test_jump_moves_time_without_running_anything(self) -> None:
        self.autosave.edit("draft")
        self.clock.jump(5)
        self.save.assert_not_awaited()  # due, but nothing ran yet
        await self.clock.settle()  # run what is ready, time stands still
        self.save.assert_awaited_once_with("draft")
        self.assertEqual(self.clock.now, 5)


class TestThreads(ClockedTestCase):
    async def asyncSetUp(self) -> None:
        fd, self.path = tempfile.mkstemp()
        os.write(fd, b"x" * 1_000_000)
        os.close(fd)
        self.addCleanup(os.unlink, self.path)

    async def test_to_thread_is_waited_for_never_jumped_past(self) -> None:
        # The 30 s timeout cannot fire while the thread works: autojump waits
        # for work in flight, in real time, then goes on.
        digest = await checksum(self.path, timeout=30)
        self.assertEqual(digest, hashlib.sha256(b"x" * 1_000_000).hexdigest())
        self.assertEqual(self.clock.now, 0)

    async def test_a_raw_thread_needs_hold(self) -> None:
        # The loop cannot see a plain threading.Thread: hold() the clock while
        # it runs, or autojump would fire the 5 s timeout at once.
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        worker = threading.Thread(target=lambda: loop.call_soon_threadsafe(done.set))
        with self.clock.hold():
            worker.start()
            await asyncio.wait_for(done.wait(), timeout=5)
        worker.join()
        self.assertEqual(self.clock.now, 0)

    async def test_autojump_can_be_switched_at_run_time(self) -> None:
        await asyncio.sleep(60)  # autojump: at once
        self.clock.autojump = False
        sleeper = asyncio.ensure_future(asyncio.sleep(60))
        await self.clock.advance(30)
        self.assertFalse(sleeper.done())
        self.clock.autojump = True
        await sleeper
        self.assertEqual(self.clock.now, 120)


if __name__ == "__main__":
    unittest.main()
