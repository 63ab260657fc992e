"""The task report and the helpers behind it, used directly."""

from __future__ import annotations

import asyncio
import selectors
import socket
import sys
import unittest
from unittest import mock

from asynctestkit import AsyncTestCase, _report
from asynctestkit._compat import current_loop
from asynctestkit._hygiene import Hygiene, _LappingSelector, _TimedReady
from asynctestkit._report import creation_site, format_tasks, format_thread


async def forever() -> None:
    await asyncio.Event().wait()


class FormatTasksTest(AsyncTestCase):
    """format_tasks(): one block per task."""

    async def test_done_unknown_site_and_awaited_task(self) -> None:
        """A done task says so; a task made without the factory has an unknown site; awaits name tasks."""
        loop = asyncio.get_running_loop()
        inner = self.create_task(forever(), name="inner")
        outer = self.create_task(self.wait_for(inner), name="outer")
        bare = asyncio.Task(forever(), loop=loop, name="bare")  # no factory: no site
        self.addAsyncCleanup(self.cancel, bare)
        finished = self.create_task(asyncio.sleep(0), name="finished")
        await asyncio.sleep(0)
        await finished
        text = format_tasks([outer, bare, finished], "Tasks")
        self.assertRegex(text, r"(?m)^- task 'outer' running FormatTasksTest\.wait_for\(\)$")
        self.assertRegex(text, r"(?m)^    awaiting task 'inner'$")
        self.assertRegex(text, r"(?m)^    created at: unknown \(made before the test's loop tracked tasks\)$")
        self.assertRegex(text, r"(?m)^- task 'finished' running sleep\(\)\n    done$")
        self.assertEqual(format_tasks([], "Tasks"), "Tasks: none")

    async def wait_for(self, task: asyncio.Task[None]) -> None:
        await task

    async def cancel(self, task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.wait({task})


class CreationSiteTest(unittest.TestCase):
    """creation_site(): the user's frames, at most three, stopping at the runner."""

    def test_at_most_three_user_frames(self) -> None:
        """Deep user call chains are cut at three frames, innermost first."""

        def level(n: int) -> tuple[tuple[str, int, str], ...]:
            return level(n - 1) if n else creation_site(sys._getframe())

        site = level(5)
        self.assertEqual([name for _, _, name in site], ["level", "level", "level"])
        self.assertEqual(creation_site(None), ())


class NameKeptOnNoneTest(unittest.TestCase):
    """The 3.13.0-3.13.2 work-around (gh-130033), exercised on every version."""

    def test_an_unnamed_task_keeps_its_name_through_set_name_none(self) -> None:
        """set_name(None) right after the factory keeps the default name; later calls work as usual."""
        loop = asyncio.SelectorEventLoop()
        self.addCleanup(loop.close)
        with mock.patch.object(_report, "FACTORY_TASKS_NAMED_NONE", True):
            task = _report.tracking_task_factory(loop, forever())
            recorded: list[asyncio.Task[None]] = []
            other = _report.recording_task_factory(recorded.append)(loop, forever())
        self.assertEqual(recorded, [other])
        for made in (task, other):
            name = made.get_name()
            made.set_name(None)  # what create_task() does on 3.13.0-3.13.2
            self.assertEqual(made.get_name(), name)
            made.set_name("later")
            self.assertEqual(made.get_name(), "later")
            made.cancel()
        loop.run_until_complete(asyncio.wait({task, other}))


class FormatThreadTest(unittest.TestCase):
    """format_thread(): a thread's stack, or why there is none."""

    def test_ended_thread(self) -> None:
        """An id with no live thread says it has ended."""
        self.assertEqual(format_thread(-1), "thread -1: no Python stack (it has ended)")


class CurrentLoopTest(AsyncTestCase):
    """_compat.current_loop(): the running or current loop, never a new one."""

    async def test_running_loop(self) -> None:
        """Inside a running loop it is that loop."""
        self.assertIs(current_loop(), asyncio.get_running_loop())


class HygieneBaselineTest(unittest.TestCase):
    """Hygiene(baseline=True): what exists at install is not the test's."""

    def test_existing_tasks_and_timers_are_left_out(self) -> None:
        """A task and a timer made before install are not reported; later ones are."""
        loop = asyncio.SelectorEventLoop()
        self.addCleanup(loop.close)
        before = loop.create_task(forever())
        early = loop.call_later(10, print)
        hygiene = Hygiene(loop, slow_threshold=None, coroutines=False, threads=False)
        hygiene.install()
        self.addCleanup(hygiene.uninstall)
        after = loop.create_task(forever())
        late = loop.call_later(10, print)
        self.assertEqual(hygiene.new_tasks(), [after])
        self.assertEqual(hygiene.pending_timers(), [late])
        for handle in (early, late):
            handle.cancel()
        for task in (before, after):
            task.cancel()
        loop.run_until_complete(asyncio.wait({before, after}))


class LappingSelectorTest(unittest.TestCase):
    """_LappingSelector: a transparent wrapper around the loop's selector."""

    def test_delegates(self) -> None:
        """register/modify/get_key/get_map/unregister/close go to the wrapped selector."""
        inner = selectors.DefaultSelector()
        hygiene = Hygiene(asyncio.SelectorEventLoop(), slow_threshold=None, coroutines=False)
        self.addCleanup(hygiene.loop.close)
        timing = _LappingSelector(inner, _TimedReady([], hygiene))
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        timing.register(a, selectors.EVENT_READ, "data")
        timing.modify(a, selectors.EVENT_READ | selectors.EVENT_WRITE, "more")
        self.assertEqual(timing.get_key(a).data, "more")
        self.assertIn(a.fileno(), timing.get_map())
        self.assertEqual(len(timing.select(0)), 1)  # writable
        timing.unregister(a)
        timing.close()
        self.assertIsNone(inner.get_map())  # closed


if __name__ == "__main__":
    unittest.main()
