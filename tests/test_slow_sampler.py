"""Slow callbacks: the report names the line that blocked the loop, seen by the sampler thread.

Each test blocks the loop for `BLOCK` real seconds, three times its
threshold and more: the sampler, which looks every ``threshold / 2``, has
several chances to see it, even on a loaded machine. The lines the reports
must name are found in the source by their ``# blocks: ...`` comments.
"""

from __future__ import annotations

import asyncio
import gc
import linecache
import re
import socket
import subprocess
import sys
import threading
import time
import unittest
import warnings
import weakref
from typing import Any
from unittest import mock

from asynctestkit import AsyncTestCase, ClockedTestCase, SlowCallbackWarning, virtual_event_loop
from asynctestkit._compat import BLOCKED_IS_CPU_OR_WAIT
from asynctestkit._verdict import _hygiene as _hygiene_module
from asynctestkit._verdict import _sampler as _sampler_module
from asynctestkit._verdict._hygiene import Hygiene
from asynctestkit._verdict._sampler import Watch, unwatch_slow, watch_slow, where_it_runs
from asynctestkit._virtual import _kernel
from asynctestkit._virtual import _loop as _loop_module
from tests._blocking import block_in_helper
from tests._support import only_failure, run_test

BASES = (AsyncTestCase, ClockedTestCase)
THRESHOLD = 0.1
BLOCK = 0.3  # real seconds each test blocks the loop


def line_of(filename: str, marker: str) -> int:
    """The number of the one line of ``filename`` that ends with ``# blocks: <marker>``."""
    lines = [
        n for n, text in enumerate(linecache.getlines(filename), 1)
        if text.rstrip().endswith(f"# blocks: {marker}")
    ]
    assert len(lines) == 1, (filename, marker, lines)
    return lines[0]


HERE = line_of.__code__.co_filename
HELPER = block_in_helper.__code__.co_filename


def frame(filename: str, marker: str, function: str) -> str:
    """The report's lines for one frame: file, line and function, then the source line."""
    line = line_of(filename, marker)
    source = linecache.getline(filename, line).strip()
    return f'\n    File "{filename}", line {line}, in {function}\n        {source}'


def sleepy() -> None:
    time.sleep(BLOCK)  # blocks: call_soon


async def blocked() -> None:
    await asyncio.sleep(0)
    time.sleep(BLOCK)  # blocks: on a thread
    await asyncio.sleep(0)


def cases(base: type[AsyncTestCase]) -> type[AsyncTestCase]:
    """The tests that block the loop, on ``base``."""

    class Blocking(base):  # type: ignore[valid-type, misc]
        slow_callback_duration = THRESHOLD
        slow_callback_fails = True

        async def test_sleep(self) -> None:
            await asyncio.sleep(0)
            time.sleep(BLOCK)  # blocks: sleep
            await asyncio.sleep(0)

        async def test_helper(self) -> None:
            await asyncio.sleep(0)
            block_in_helper(BLOCK)  # blocks: calls the helper
            await asyncio.sleep(0)

        async def test_subprocess(self) -> None:
            command = [sys.executable, "-c", f"import time; time.sleep({BLOCK})"]
            subprocess.run(command, check=True)  # blocks: subprocess

        async def test_recv(self) -> None:
            a, b = socket.socketpair()
            self.addCleanup(a.close)
            self.addCleanup(b.close)
            answer = threading.Timer(BLOCK, b.send, (b"x",))
            answer.start()
            self.addCleanup(answer.join)
            self.assertEqual(a.recv(1), b"x")  # blocks: recv

        async def test_cpu(self) -> None:
            await asyncio.sleep(0)
            end = time.thread_time() + BLOCK
            while time.thread_time() < end:  # blocks: cpu loop
                pass  # blocks: cpu body
            await asyncio.sleep(0)

        async def test_call_soon(self) -> None:
            asyncio.get_running_loop().call_soon(sleepy)
            await asyncio.sleep(0)

        async def test_quick(self) -> None:
            await asyncio.sleep(0)

        async def test_lock(self) -> None:
            answered = threading.Event()
            answer = threading.Timer(BLOCK, answered.set)
            answer.start()
            self.addCleanup(answer.join)
            await asyncio.sleep(0)
            answered.wait(10)  # blocks: lock
            await asyncio.sleep(0)

        async def test_slow_thread_start(self) -> None:
            # A new thread that gets a CPU only BLOCK s later, as on a busy
            # machine: start() waits for it, which is not the callback's doing.
            thread = LateThread(target=lambda: None)
            await asyncio.sleep(0)
            thread.start()
            self.addCleanup(thread.join)
            await asyncio.sleep(0)

    return Blocking


class LateThread(threading.Thread):
    """A thread that runs BLOCK real seconds after start(): start() waits that long."""

    def _bootstrap_inner(self) -> None:
        time.sleep(BLOCK)
        super()._bootstrap_inner()  # type: ignore[misc]


STEP = r"(?m)^- a step of task '[^']*' running [\w.<>]*\.{name}\(\) blocked the loop for \d\.\d\d\d s \(real time\), "


class WhereItBlockedTest(unittest.TestCase):
    """The report shows the user's line the loop's thread was at while the callback ran."""

    def report(self, base: type[AsyncTestCase], name: str) -> str:
        text = only_failure(self, run_test(cases(base)(name)))
        self.assertIn("Callbacks blocked the loop longer than slow_callback_duration=0.1 s:", text)
        self.assertEqual(text.count("blocked the loop for"), 1, text)
        return text

    def test_a_sleep_in_the_test(self) -> None:
        """time.sleep() in the test's coroutine: its line, not where the step waits next."""
        for base in BASES:
            with self.subTest(base=base.__name__):
                text = self.report(base, "test_sleep")
                at = frame(HERE, "sleep", "test_sleep")
                self.assertRegex(text, STEP.format(name="test_sleep") + "at:" + re.escape(at) + "$")
                self.assertNotIn("where it waited next", text)

    def test_a_helper_in_another_module(self) -> None:
        """A helper that blocks: its line first, then the test's line that called it."""
        for base in BASES:
            with self.subTest(base=base.__name__):
                text = self.report(base, "test_helper")
                at = frame(HELPER, "helper", "block_in_helper") + frame(HERE, "calls the helper", "test_helper")
                self.assertRegex(
                    text, STEP.format(name="test_helper") + r"at \(innermost first\):" + re.escape(at) + "$"
                )

    def test_a_blocking_standard_library_call(self) -> None:
        """subprocess.run(): the library's innermost frame, then the user's line that called it."""
        for base in BASES:
            with self.subTest(base=base.__name__):
                text = self.report(base, "test_subprocess")
                at = frame(HERE, "subprocess", "test_subprocess")
                library = r'\n    File "[^"]*subprocess\.py", line \d+, in \w+\n        \S.*'
                self.assertRegex(
                    text,
                    STEP.format(name="test_subprocess") + r"at \(innermost first\):" + library
                    + re.escape(at) + "$",
                )

    def test_a_blocking_socket(self) -> None:
        """socket.recv() on a blocking socket, answered later by a thread: the recv line."""
        for base in BASES:
            with self.subTest(base=base.__name__):
                text = self.report(base, "test_recv")
                at = frame(HERE, "recv", "test_recv")
                self.assertRegex(text, STEP.format(name="test_recv") + "at:" + re.escape(at) + "$")

    def test_a_computation(self) -> None:
        """A CPU-bound loop: a line of the loop."""
        for base in BASES:
            with self.subTest(base=base.__name__):
                text = self.report(base, "test_cpu")
                either = "|".join(
                    re.escape(frame(HERE, marker, "test_cpu")) for marker in ("cpu loop", "cpu body")
                )
                self.assertRegex(text, STEP.format(name="test_cpu") + f"at:(?:{either})$")

    def test_a_callback_that_is_not_a_step(self) -> None:
        """loop.call_soon() of a function that sleeps: the function, and its line."""
        for base in BASES:
            with self.subTest(base=base.__name__):
                text = self.report(base, "test_call_soon")
                at = frame(HERE, "call_soon", "sleepy")
                self.assertRegex(
                    text,
                    r"(?m)^- [\w.<>]*sleepy\(\) blocked the loop for \d\.\d\d\d s \(real time\), at:"
                    + re.escape(at) + "$",
                )

    def test_a_wait_on_a_lock(self) -> None:
        """Event.wait() on the loop's thread until another thread sets it: a lock the thread sleeps on."""
        for base in BASES:
            with self.subTest(base=base.__name__):
                text = self.report(base, "test_lock")
                self.assertRegex(text, STEP.format(name="test_lock"))
                self.assertIn(frame(HERE, "lock", "test_lock"), text)

    @unittest.skipUnless(_kernel.AVAILABLE, "tells a lock wait apart from /proc (Linux)")
    def test_a_thread_slow_to_start_is_not_the_callbacks_doing(self) -> None:
        """Thread.start() waits for the new thread to get a CPU; a busy machine delays it: not reported."""
        for base in BASES:
            with self.subTest(base=base.__name__):
                result = run_test(cases(base)("test_slow_thread_start"))
                self.assertTrue(result.wasSuccessful(), result.failures + result.errors)

    def test_the_warning_names_the_line(self) -> None:
        """Without slow_callback_fails, the SlowCallbackWarning says the same."""
        for base in BASES:
            with self.subTest(base=base.__name__):
                test = cases(base)
                test.slow_callback_fails = False
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    result = run_test(test("test_sleep"))
                self.assertTrue(result.wasSuccessful(), result.failures + result.errors)
                slow = [str(w.message) for w in caught if issubclass(w.category, SlowCallbackWarning)]
                self.assertEqual(len(slow), 1, slow)
                self.assertIn(frame(HERE, "sleep", "test_sleep"), slow[0])

    def test_nothing_slow_nothing_said(self) -> None:
        """A quick test: no report, no warning."""
        for base in BASES:
            with self.subTest(base=base.__name__):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    result = run_test(cases(base)("test_quick"))
                self.assertTrue(result.wasSuccessful(), result.failures + result.errors)
                self.assertEqual(caught, [])

    def test_back_to_back_thresholds(self) -> None:
        """A test with a long threshold, then one with a short one: the second is sampled in time."""
        for base in BASES:
            with self.subTest(base=base.__name__):

                class Lenient(base):  # type: ignore[valid-type, misc]
                    slow_callback_duration = 20.0  # the sampler would look every 10 s

                    async def test_it(self) -> None:
                        await asyncio.sleep(0)
                        time.sleep(0.05)  # long enough for the sampler to start its wait
                        await asyncio.sleep(0)

                result = run_test(Lenient("test_it"))
                self.assertTrue(result.wasSuccessful(), result.failures + result.errors)
                text = self.report(base, "test_sleep")
                self.assertIn(frame(HERE, "sleep", "test_sleep"), text)

    def test_loops_run_in_another_thread(self) -> None:
        """A loop run by a thread of its own, the virtual one and asyncio's: that thread is sampled."""
        for make in (asyncio.new_event_loop, virtual_event_loop):
            with self.subTest(loop=make.__name__):
                reports: list[str] = []

                def main(make: Any = make, reports: list[str] = reports) -> None:
                    loop = make()
                    hygiene = Hygiene(
                        loop, slow_threshold=THRESHOLD, coroutines=False, threads=False, timers=False,
                        baseline=False,
                    )
                    hygiene.install()
                    try:
                        loop.run_until_complete(blocked())
                    finally:
                        hygiene.lap()
                        hygiene.uninstall()
                        loop.close()
                    reports.append(hygiene.slow_report())

                thread = threading.Thread(target=main)
                thread.start()
                thread.join()
                self.assertEqual(len(reports), 1)
                self.assertIn(frame(HERE, "on a thread", "blocked"), reports[0])


@unittest.skipUnless(BLOCKED_IS_CPU_OR_WAIT and _kernel.AVAILABLE, "needs Linux's per-thread usage and /proc")
class BusyMachineTest(unittest.TestCase):
    """The sampler's own turns with the GIL do not make a busy machine's slowness the callback's."""

    def test_a_computation_under_the_threshold_stretched_by_the_machine(self) -> None:
        """0.07 s of CPU time, 0.5 s more of wall time (the double): not reported, though sampled."""
        for base, module in ((AsyncTestCase, _hygiene_module), (ClockedTestCase, _loop_module)):
            with self.subTest(base=base.__name__):
                # The double: the real clock the timing reads jumps 0.5 s, as
                # for a thread the OS took the CPU from. The computation runs
                # past a sampler's look (every 0.05 s), which takes the GIL
                # from it: the thread then waits for the GIL, a voluntary
                # context switch that is not the callback's doing.
                taken = [0.0]
                real = module._perf_counter

                class Test(base):  # type: ignore[valid-type, misc]
                    slow_callback_duration = THRESHOLD
                    slow_callback_fails = True

                    async def test_it(self, taken: list[float] = taken) -> None:
                        await asyncio.sleep(0)
                        taken[0] += 0.5  # descheduled for half a second
                        end = time.thread_time() + 0.07
                        while time.thread_time() < end:
                            pass
                        await asyncio.sleep(0)

                with mock.patch.object(module, "_perf_counter", lambda real=real, taken=taken: real() + taken[0]):
                    result = run_test(Test("test_it"))
                self.assertEqual(taken, [0.5])  # the double did take the time
                self.assertTrue(result.wasSuccessful(), result.failures + result.errors)


class WatchTest(unittest.TestCase):
    """What a watch keeps, and for which callback it gives it back."""

    class Source:
        handle: object = None
        started = 0.0

    def setUp(self) -> None:
        self.source = self.Source()
        self.watch = Watch(object(), self.source, "handle", "started", 0.1)
        self.a: tuple[tuple[str, int, str], ...] = (("a.py", 1, "f"),)
        self.b: tuple[tuple[str, int, str], ...] = (("b.py", 2, "g"),)

    def test_only_the_same_run_of_the_same_handle(self) -> None:
        """Another handle, or the same one run again since, gets nothing."""
        handle, other = object(), object()
        self.source.started = 5.0
        self.watch.note(id(handle), 5.0, self.a)
        self.assertEqual(self.watch.where(handle), self.a)
        self.assertIsNone(self.watch.where(other))
        self.source.started = 6.0  # a later run
        self.assertIsNone(self.watch.where(handle))

    def test_the_place_seen_most_often(self) -> None:
        """Of the places seen during one run, the most frequent; of equals, the last."""
        handle = object()
        self.source.started = 1.0
        for where in (self.a, self.b, self.b):
            self.watch.note(id(handle), 1.0, where)
        self.assertEqual(self.watch.where(handle), self.b)
        self.watch.note(id(handle), 1.0, self.a)
        self.assertEqual(self.watch.where(handle), self.a)  # 2 each: the last seen

    def test_a_new_run_forgets_the_last(self) -> None:
        """Samples of an earlier run do not count for the next."""
        handle = object()
        self.watch.note(id(handle), 1.0, self.a)
        self.watch.note(id(handle), 2.0, self.b)
        self.source.started = 2.0
        self.assertEqual(self.watch.where(handle), self.b)

    def test_no_sample_no_place(self) -> None:
        """Before any sample: nothing."""
        self.assertIsNone(self.watch.where(object()))

    def test_outside_a_callback_nothing(self) -> None:
        """A stack with no loop running a callback on it gives no place."""
        self.assertIsNone(where_it_runs(sys._getframe()))

    def test_nothing_is_kept_alive(self) -> None:
        """A slow callback's bound object dies when the loop drops it, sample or not."""

        class Job:
            def run(self) -> None:
                time.sleep(BLOCK)  # blocks: job

        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        hygiene = Hygiene(loop, slow_threshold=THRESHOLD, coroutines=False, threads=False, timers=False,
                          baseline=False)
        hygiene.install()
        self.addCleanup(hygiene.uninstall)
        job = Job()
        ref = weakref.ref(job)
        gc.disable()
        try:
            loop.call_soon(job.run)
            del job
            loop.run_until_complete(asyncio.sleep(0))
            hygiene.lap()
            self.assertIsNone(ref())
        finally:
            gc.enable()
        self.assertIn(frame(HERE, "job", "run"), hygiene.slow_report())


class SamplerThreadTest(unittest.TestCase):
    """The sampler thread, started while a test runs, is none of the test's business."""

    def run_with_a_new_sampler(self, name: str) -> tuple[unittest.TestResult, list[threading.Thread]]:
        started: list[threading.Thread] = []

        class Inner(ClockedTestCase):
            slow_callback_duration = None  # the sampler starts in the test's body, not before it
            timeout = 5

            async def asyncSetUp(self) -> None:
                loop = asyncio.get_running_loop()
                watch = Watch(loop, loop, "_current_handle", "_atk_t0", 0.02)
                watch_slow(watch)  # the first watch: the sampler thread starts now
                self.addCleanup(unwatch_slow, watch)
                thread = _sampler_module._sampler._thread
                assert thread is not None
                started.append(thread)

            async def test_sleeps(self) -> None:
                await asyncio.sleep(3600)

            async def test_deadlocks(self) -> None:
                await asyncio.Event().wait()

        with mock.patch.object(_sampler_module, "_sampler", _sampler_module._Sampler()):
            result = run_test(Inner(name))
        self.assertEqual(len(started), 1)
        self.assertTrue(started[0].is_alive())
        return result, started

    def test_survives_a_test_shorter_than_its_first_wake(self) -> None:
        """A watch gone before the new sampler first looks: it waits for the next one, alive."""
        sampler = _sampler_module._Sampler()
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        for _ in range(3):
            watch = Watch(loop, loop, "_current_handle", "_atk_t0", 0.02)
            sampler.add(watch)
            sampler.remove(watch)
            time.sleep(0.05)  # past its wait of 0.01 s, and the next
        thread = sampler._thread
        assert thread is not None
        self.assertTrue(thread.is_alive())

    def test_not_a_thread_the_test_left_running(self) -> None:
        """check_resources does not report it; virtual time jumps beside it."""
        result, _ = self.run_with_a_new_sampler("test_sleeps")
        self.assertTrue(result.wasSuccessful(), result.failures + result.errors)

    def test_not_a_thread_that_can_wake_the_loop(self) -> None:
        """A test waiting on nothing deadlocks at once, though the sampler wakes every 10 ms."""
        result, (thread,) = self.run_with_a_new_sampler("test_deadlocks")
        self.assertEqual(len(result.errors), 1, result.failures + result.errors)
        text = result.errors[0][1]
        self.assertIn("DeadlockError", text)
        self.assertNotIn(thread.name, text)
