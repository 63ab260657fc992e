"""The task report and the helpers behind it, used directly."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from unittest import mock

from asynctestkit import AsyncTestCase, _report
from asynctestkit._compat import current_loop
from asynctestkit._report import creation_site, format_tasks, format_thread
from asynctestkit._verdict._hygiene import Hygiene, _LappingSelector, _TimedReady


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


async def leaf(event: asyncio.Event) -> None:
    await event.wait()  # the blocked line


async def middle(event: asyncio.Event) -> None:
    await asyncio.gather(asyncio.create_task(leaf(event), name="leaf"))


async def outer(event: asyncio.Event) -> None:
    await asyncio.create_task(middle(event), name="middle")


class AwaitChainTest(AsyncTestCase):
    """3.14+: the await chain across tasks, from the outermost task down to the blocked line."""

    async def start_chain(self) -> list[asyncio.Task[Any]]:
        event = asyncio.Event()
        self.create_task(outer(event), name="outer")
        for _ in range(3):
            await asyncio.sleep(0)
        return sorted(asyncio.all_tasks() - {asyncio.current_task()}, key=lambda t: t.get_name())

    @unittest.skipUnless(hasattr(asyncio, "capture_call_graph"), "asyncio.capture_call_graph is 3.14+")
    async def test_chain_through_a_task_and_gather(self) -> None:
        """outer awaits middle, which gathers leaf: one chain, outermost first, ending at leaf's line."""
        tasks = await self.start_chain()
        text = format_tasks(tasks, "Pending tasks")
        self.assertRegex(
            text,
            r"(?m)^Await chains, from the outermost task down to the blocked line "
            r"\(asyncio\.capture_call_graph\) \(1\):\n"
            r"- task 'outer'\n"
            r'      File ".*test_report\.py", line \d+, in outer\n'
            r".*create_task\(middle\(event\), name=\"middle\"\)\n"
            r"  awaits task 'middle'\n"
            r'      File ".*test_report\.py", line \d+, in middle\n'
            r".*asyncio\.gather\(.*\n"
            r"  awaits task 'leaf'\n"
            r'      File ".*test_report\.py", line \d+, in leaf\n'
            r"        await event\.wait\(\)  # the blocked line\n",
        )

    @unittest.skipIf(hasattr(asyncio, "capture_call_graph"), "the report before 3.14")
    async def test_no_chains_before_3_14(self) -> None:
        """Before 3.14 the report is as it was: each task's block, no chain section."""
        tasks = await self.start_chain()
        self.assertEqual(_report.await_chains(tasks), [])
        self.assertNotIn("Await chains", format_tasks(tasks, "Pending tasks"))


class CancelStateTest(AsyncTestCase):
    """A task asked to cancel that goes on is named as such in every task report."""

    @unittest.skipUnless(sys.version_info >= (3, 11), "Task.cancelling() is 3.11+")
    async def test_a_task_made_without_the_factory(self) -> None:
        """Without the factory's note of the time, Task.cancelling() still tells (3.11+)."""
        swallowed: list[bool] = []

        async def stubborn() -> None:
            try:
                await forever()
            except asyncio.CancelledError:
                swallowed.append(True)
            await forever()

        task = asyncio.Task(stubborn(), loop=asyncio.get_running_loop(), name="bare")
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0)
        self.assertEqual(swallowed, [True])
        self.assertRegex(format_tasks([task], "Tasks"), r"(?m)^- task 'bare' running .*stubborn\(\)\n"
                                                        r"    cancelled, still running \(it caught or "
                                                        r"swallowed the CancelledError, or is still "
                                                        r"unwinding; .*\)$")
        task.cancel()
        await asyncio.wait({task})

    async def test_cancel_still_cancels(self) -> None:
        """The recorder is the task's own cancel(): it returns what cancel() returns, msg included."""
        messages: list[tuple[Any, ...]] = []

        async def listener() -> None:
            try:
                await forever()
            except asyncio.CancelledError as exc:
                messages.append(exc.args)
                raise

        task = asyncio.get_running_loop().create_task(listener())
        await asyncio.sleep(0)
        self.assertTrue(task.cancel("stop"))
        await asyncio.wait({task})
        self.assertTrue(task.cancelled())
        self.assertEqual(messages, [("stop",)])
        self.assertFalse(task.cancel())
        self.assertNotIn("cancelled", format_tasks([task], "Tasks").split("\n")[1])


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

    def test_a_first_real_name_goes_through(self) -> None:
        """When the first set_name() after the factory gives a name, the task takes it."""
        loop = asyncio.SelectorEventLoop()
        self.addCleanup(loop.close)
        with mock.patch.object(_report, "FACTORY_TASKS_NAMED_NONE", True):
            task = _report.tracking_task_factory(loop, forever())
        task.set_name("first")
        self.assertEqual(task.get_name(), "first")
        task.set_name("second")
        self.assertEqual(task.get_name(), "second")
        task.cancel()
        loop.run_until_complete(asyncio.wait({task}))


class FormatThreadTest(unittest.TestCase):
    """format_thread(): a thread's stack, or why there is none."""

    def test_ended_thread(self) -> None:
        """An id with no live thread says it has ended."""
        self.assertEqual(format_thread(-1), "thread -1: no Python stack (it has ended)")

    def test_live_thread(self) -> None:
        """A live thread's id gives its stack, down to the function it is in."""
        text = format_thread(threading.get_ident())
        self.assertRegex(text, r"^the loop's thread is running \(most recent call last\):\n  File ")
        self.assertRegex(text, r"in test_live_thread\n")


class DescribeCallTest(AsyncTestCase):
    """describe_call(): the call a handle makes, in every debug mode."""

    async def test_a_timer_that_cancels_a_task(self) -> None:
        """A timer calling a task's cancel() reads Task.cancel(), and the recorder's repr
        is that of a bound method of the task."""
        task = asyncio.get_running_loop().create_task(forever(), name="victim")
        timer = asyncio.get_running_loop().call_later(5, task.cancel)
        self.addCleanup(timer.cancel)
        self.assertEqual(_report.describe_call(timer), "Task.cancel()")
        self.assertRegex(repr(task.cancel), r"^<bound method cancel of <Task pending name='victim' ")
        task.cancel()
        await asyncio.wait({task})

    def test_not_a_handle(self) -> None:
        """Something without a callback is shown by its repr."""
        self.assertEqual(_report.describe_call(42), "42")


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


class _Keep(unittest.TestResult):
    """A result that keeps each failure's exc_info (TestResult keeps text only)."""

    def __init__(self) -> None:
        super().__init__()
        self.exc_infos: list[Any] = []

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        self.exc_infos.append(err)
        super().addFailure(test, err)


def _pytest_shown(tb: TracebackType | None) -> list[str]:
    """The frames pytest's unittest support shows: what pytest/_code and pytest/unittest.py filter.

    First frames whose locals, else globals, hold a true ``__tracebackhide__``
    go; then those whose ``__unittest`` global is true; if that leaves none,
    pytest shows the frames left after the first filter.
    """
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next

    def hidden(frame: FrameType) -> bool:
        for namespace in (frame.f_locals, frame.f_globals):
            if "__tracebackhide__" in namespace:
                return bool(namespace["__tracebackhide__"])
        return False

    shown = [f for f in frames if not hidden(f)]
    kept = [f for f in shown if not f.f_globals.get("__unittest")] or shown
    return [f.f_code.co_name for f in kept]


def samples() -> tuple[type[AsyncTestCase], type[AsyncTestCase]]:
    """Return a test case class that leaks a task and one that hangs past its timeout."""

    class Leaks(AsyncTestCase):
        async def test_leak(self) -> None:
            asyncio.get_running_loop().create_task(forever(), name="orphan")
            await asyncio.sleep(0)

    class Hangs(AsyncTestCase):
        timeout = 0.2

        async def test_hang(self) -> None:
            await asyncio.Event().wait()

    return Leaks, Hangs


class PytestTracebackTest(unittest.TestCase):
    """Under pytest a hygiene or watchdog failure shows its message and one line of ours (STYLE.md 14)."""

    def test_pytest_filters_leave_one_frame(self) -> None:
        """pytest's filters keep only raise_failure's frame; unittest's keep none of ours."""
        leaks, hangs = samples()
        for case in (leaks("test_leak"), hangs("test_hang")):
            with self.subTest(case=case.id()):
                result = _Keep()
                case.run(result)
                [(_, exc, tb)] = result.exc_infos
                self.assertIsInstance(exc, AssertionError)
                self.assertEqual(_pytest_shown(tb), ["raise_failure"])
                text = result.failures[0][1]
                self.assertRegex(text, r"^AssertionError: The test ")

    @unittest.skipUnless(importlib.util.find_spec("pytest"), "pytest is not installed for this Python")
    def test_under_pytest(self) -> None:
        """In a real pytest run the report follows a few lines of ours, not unittest's or the toolkit's source."""
        root = Path(__file__).resolve().parent.parent
        with tempfile.TemporaryDirectory() as tmp:
            test_file = Path(tmp, "test_under_pytest.py")
            test_file.write_text(
                "from tests.test_report import samples\n"
                "TestLeaks, TestHangs = samples()\n"
            )
            env = {**os.environ, "PYTHONPATH": str(root)}
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
                capture_output=True, text=True, timeout=120, env=env, cwd=tmp,
            )
        out = run.stdout
        self.assertEqual(out.count(f"asynctestkit{os.sep}_report.py:"), 2, out)  # the frame raising
        self.assertNotRegex(out, r"asynctestkit.(?!_report\.py)\w+\.py:\d+")  # no other toolkit frame
        self.assertIn("E       AssertionError: The test left a mess behind", out)
        self.assertIn("E       AssertionError: The test ran longer than its timeout of 0.2 s", out)
        self.assertNotIn("def run(", out)  # unittest's source
        self.assertNotIn("testPartExecutor", out)
