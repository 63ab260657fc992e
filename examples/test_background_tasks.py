"""A long-running background task: its schedule, error handling, cancellation and cleanup, no leaks."""

from __future__ import annotations

import asyncio
import unittest
from unittest.mock import AsyncMock, call

from asynctestkit import ClockedTestCase, ControlledAsyncMock
from examples.batchwriter import BatchWriter


class TestBatchWriter(ClockedTestCase):
    async def asyncSetUp(self) -> None:
        self.sink = AsyncMock()
        # The writer's background task is stopped (close()) after every test:
        # an async context manager entered as a cleanup.
        self.writer = await self.enterAsyncContext(BatchWriter(self.sink, interval=5, max_batch=2))

    async def test_flushes_every_interval(self) -> None:
        self.writer.add("a")
        await asyncio.sleep(4.9)
        self.sink.assert_not_awaited()
        await asyncio.sleep(0.1)
        self.sink.assert_awaited_once_with(["a"])

    async def test_large_backlogs_go_in_batches(self) -> None:
        for record in "abcde":
            self.writer.add(record)
        await asyncio.sleep(5)
        self.assertEqual(self.sink.await_args_list, [call(["a", "b"]), call(["c", "d"]), call(["e"])])

    async def test_a_failed_write_is_retried_at_the_next_tick(self) -> None:
        self.sink.side_effect = [OSError("disk full"), None]
        self.writer.add("a")
        with self.assertLogs("examples.batchwriter", "WARNING") as logs:
            await asyncio.sleep(5)
        self.assertIn("flush failed (disk full); 1 records kept", logs.output[0])
        await asyncio.sleep(5)
        self.assertEqual(self.sink.await_args_list, [call(["a"]), call(["a"])])
        self.assertEqual((self.writer.failures, self.clock.now), (1, 10))

    async def test_close_writes_what_is_left(self) -> None:
        self.writer.add("late")
        await self.writer.close()
        self.sink.assert_awaited_once_with(["late"])
        self.assertEqual(self.clock.now, 0)  # no need to wait for the tick

    async def test_an_error_on_close_propagates(self) -> None:
        self.writer.add("x")
        self.sink.side_effect = OSError("disk full")
        with self.assertRaisesRegex(OSError, "disk full"):
            await self.writer.close()
        self.sink.side_effect = None  # the cleanup closes it again, successfully

    async def test_close_while_a_write_is_in_flight(self) -> None:
        held = ControlledAsyncMock()
        writer = BatchWriter(held, interval=1)
        writer.start()
        writer.add("a")
        pending = await held.wait_awaited()  # the background flush is inside the write
        closing = self.create_task(writer.close())
        await pending.wait_cancelled()  # close() cancelled the write...
        # ...and writes the record again itself:
        second = await held.wait_awaited(2)
        second.release()
        await closing
        self.assertEqual(held.await_args_list, [call(["a"]), call(["a"])])
        self.assertEqual(self.clock.now, 1)

    async def test_runs_for_a_day(self) -> None:
        for hour in range(24):
            self.writer.add(hour)
            await asyncio.sleep(3600)
        self.assertEqual(self.sink.await_count, 24)
        self.assertEqual(self.clock.now, 86400)

    async def test_no_task_is_left_behind(self) -> None:
        await self.writer.close()
        mine = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        self.assertEqual(mine, set())
        # The hygiene checks would fail the test anyway if the flush task leaked:
        # see test_hygiene_reports.py for what that report looks like.


if __name__ == "__main__":
    unittest.main()
