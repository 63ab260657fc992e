"""Each leaked task's report says whether it is stuck forever or would resume, and what to fix."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import socket
import threading
import unittest
from unittest import mock

from asynctestkit import AsyncTestCase, ClockedTestCase, _compat
from asynctestkit._verdict import _fate
from tests._support import only_failure, run_test

STUCK = r"    stuck forever: it waits for {what}, and nothing that can still run"
STUCK_FIX = r"    fix: a bug in the code under test, most likely"
RESUME = r"    would resume: woken by {why}"
RESUME_FIX = r"    fix: the test ended while it still had work to do; await it, or cancel and await it"


def block(text: str, name: str) -> str:
    """The report's block for task ``name``."""
    match = re.search(rf"(?ms)^- task '{re.escape(name)}' running .*?(?=^- task |\Z)", text)
    assert match is not None, text
    return match.group(0)


class _Inner:
    """Test classes run by the tests below (not collected themselves)."""

    class Leaky(ClockedTestCase):
        check_resources = False

        async def test_leaks(self) -> None:
            loop = asyncio.get_running_loop()
            never = asyncio.Event()
            asyncio.ensure_future(never.wait()).set_name("never-set")
            asyncio.ensure_future(asyncio.sleep(10)).set_name("sleeper")
            later = asyncio.Event()
            loop.call_later(5, later.set)
            asyncio.ensure_future(later.wait()).set_name("set-by-a-timer")
            orphan = loop.create_future()

            async def waits(awaitable: asyncio.Future[None]) -> None:
                await awaitable

            stuck = asyncio.ensure_future(waits(orphan))
            stuck.set_name("orphan-future")
            asyncio.ensure_future(waits(stuck)).set_name("awaits-a-stuck-task")
            sleeper = asyncio.ensure_future(asyncio.sleep(3))
            sleeper.set_name("short-sleep")
            asyncio.ensure_future(waits(sleeper)).set_name("awaits-a-sleeper")
            await asyncio.sleep(0)

        async def test_thread(self) -> None:
            loop = asyncio.get_running_loop()
            release = threading.Event()
            self.release = release
            answer = loop.create_future()

            def worker() -> None:
                release.wait()
                with contextlib.suppress(RuntimeError):  # the loop is closed by then
                    loop.call_soon_threadsafe(answer.set_result, 1)

            self.worker = threading.Thread(target=worker)
            self.worker.start()

            async def waits() -> None:
                await answer

            asyncio.ensure_future(waits()).set_name("awaits-a-thread")
            await asyncio.sleep(0)

        async def test_thread_local(self) -> None:
            # The worker's own variable is the only path to the future.
            loop = asyncio.get_running_loop()
            release = threading.Event()
            self.release = release
            inbox: queue.SimpleQueue[asyncio.Future[int]] = queue.SimpleQueue()
            took = threading.Event()

            def worker() -> None:
                answer = inbox.get()
                took.set()
                release.wait()
                with contextlib.suppress(RuntimeError):  # the loop is closed by then
                    loop.call_soon_threadsafe(answer.set_result, 1)

            self.worker = threading.Thread(target=worker)
            self.worker.start()
            answer = loop.create_future()
            inbox.put(answer)

            async def waits(answer: asyncio.Future[int]) -> None:
                await answer

            asyncio.ensure_future(waits(answer)).set_name("awaits-a-thread-local")
            del answer
            await asyncio.to_thread(took.wait, 10)

    class Io(AsyncTestCase):
        # On: the verdict reports the connection too, and closes it.

        async def test_io(self) -> None:
            self.pair = socket.socketpair()
            reader, self.writer = await asyncio.open_connection(sock=self.pair[0])
            asyncio.ensure_future(reader.read()).set_name("reads")
            await asyncio.sleep(0)

        def tearDown(self) -> None:
            self.pair[1].close()


class FateTest(unittest.TestCase):
    """Stuck forever (a bug in the code) against would resume (a missing await or cancel)."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.text = only_failure(unittest.TestCase(), run_test(_Inner.Leaky("test_leaks")))

    def test_an_event_nobody_sets_is_stuck(self) -> None:
        """Nothing that can run reaches the Event: stuck forever, a bug in the code."""
        text = block(self.text, "never-set")
        self.assertRegex(text, "(?m)^" + STUCK.format(what="a Future"))
        self.assertRegex(text, "(?m)^" + STUCK_FIX)

    def test_its_own_sleep_would_resume_at_its_time(self) -> None:
        """Its own timer: would resume at that (virtual) time; the fix is in the test."""
        text = block(self.text, "sleeper")
        self.assertRegex(text, "(?m)^" + RESUME.format(why=r"a timer, at loop time 10\.000 s \(in 10\.000 s\)$"))
        self.assertRegex(text, "(?m)^" + RESUME_FIX)

    def test_a_timer_that_sets_its_event(self) -> None:
        """Another timer's callback reaches the Event: would resume when it fires."""
        text = block(self.text, "set-by-a-timer")
        self.assertRegex(text, "(?m)^" + RESUME.format(why=r"a timer at loop time 5\.000 s \(in 5\.000 s\): Event\.set\(\)$"))

    def test_a_future_only_the_test_held_is_stuck(self) -> None:
        """The test that held the future is over."""
        self.assertRegex(block(self.text, "orphan-future"), "(?m)^" + STUCK.format(what="a Future"))

    def test_awaiting_a_stuck_task_is_stuck(self) -> None:
        """A task waiting for a stuck task is stuck."""
        self.assertRegex(block(self.text, "awaits-a-stuck-task"), "(?m)^" + STUCK.format(what="task 'orphan-future'"))

    def test_awaiting_a_task_that_would_resume(self) -> None:
        """A task waiting for one that would resume resumes when that one ends."""
        self.assertRegex(
            block(self.text, "awaits-a-sleeper"),
            "(?m)^" + RESUME.format(why=r"task 'short-sleep' ending \(a timer, at loop time 3\.000 s"),
        )

    def report_with_a_worker(self, name: str) -> str:
        """Run ``_Inner.Leaky(name)``, whose worker thread waits; release and join it after."""
        case = _Inner.Leaky(name)
        try:
            return only_failure(self, run_test(case))
        finally:
            case.release.set()
            case.worker.join()

    def test_a_thread_that_will_answer(self) -> None:
        """A live thread holds the future: would resume when it answers."""
        text = self.report_with_a_worker("test_thread")
        self.assertRegex(block(text, "awaits-a-thread"), "(?m)^" + RESUME.format(why=r"thread 'Thread-\d+ \(worker\)', still running"))

    def test_a_thread_that_holds_it_in_a_variable(self) -> None:
        """Only a running thread's variable leads to the future: never "stuck forever".

        3.10 and 3.13+ read the running frame's variables safely (the
        collector's view; a read-only f_locals): would resume. 3.11-3.12
        cannot read them without writing to the running frame (which crashed
        3.12), so the report claims neither.
        """
        found = block(self.report_with_a_worker("test_thread_local"), "awaits-a-thread-local")
        self.assertNotIn("stuck forever", found)
        if not _compat.RUNNING_FRAME_VARIABLES_HIDDEN:
            self.assertRegex(found, "(?m)^" + RESUME.format(why=r"thread 'Thread-\d+ \(worker\)', still running"))

    def test_io_that_may_come(self) -> None:
        """A reader of the loop's selector leads to the stream: would resume when IO comes."""
        text = only_failure(self, run_test(_Inner.Io("test_io")))
        self.assertRegex(block(text, "reads"), "(?m)^" + RESUME.format(why=r"IO the loop waits for"))

    def test_a_walk_cut_short_claims_nothing(self) -> None:
        """Past its budget the walk says neither: never a false "stuck"."""
        with mock.patch.object(_fate, "_BUDGET", 3):
            text = only_failure(self, run_test(_Inner.Leaky("test_leaks")))
        never = block(text, "never-set")
        self.assertNotIn("stuck forever", never)
        self.assertNotIn("stuck forever", text)
        # Its own timer needs no walk.
        self.assertRegex(block(text, "sleeper"), "(?m)^" + RESUME.format(why="a timer, at loop time 10"))


if __name__ == "__main__":
    unittest.main()
