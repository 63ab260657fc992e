"""Edge cases of seed sweeps, replayed outcomes, choice descriptions and the runner's workers."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import sys
import unittest
from types import SimpleNamespace
from typing import Any
from unittest import mock

from asynctestkit import ClockedTestCase
from asynctestkit._runner import _cli
from asynctestkit._runner._pool import replay
from asynctestkit._testcase import _outcome, _sweep
from asynctestkit._virtual import _choices
from asynctestkit._virtual._choices import Choices, Departure, describe_handle, timer_site
from tests._runner_support import cleanup_tree, run_here, write_tree
from tests.test_schedule import env

DISCOVER = ("discover", "-s", ".", "-t", ".")


def _no_option(name: str) -> Any:
    raise AssertionError(f"the option {name} was read")


class Sleeps(ClockedTestCase):
    """A clocked test that passes under every seed."""

    async def test_it(self) -> None:
        await asyncio.sleep(1)


class SweepSettingsTest(unittest.TestCase):
    def test_bad_variables_say_what_they_need(self) -> None:
        """Shards past the count, cut short or not numbers, and non-int jobs: each error names its variable."""
        for value in ("3/2", "2/", "/2", "1/0", "-1/2"):
            pattern = rf"^ASYNCTESTKIT_EXPLORE_SHARD needs i/n, .+; got {value!r}$"
            with self.subTest(shard=value), env(ASYNCTESTKIT_EXPLORE_SHARD=value), \
                    self.assertRaisesRegex(ValueError, pattern):
                _sweep.shard()
        for value in ("x", "1.5", "-2"):
            pattern = rf"^ASYNCTESTKIT_EXPLORE_JOBS needs a positive int, .+; got {value!r}$"
            with self.subTest(jobs=value), env(ASYNCTESTKIT_EXPLORE_JOBS=value), \
                    self.assertRaisesRegex(ValueError, pattern):
                _sweep.jobs(_no_option)

    def test_bad_jobs_fail_the_test_that_reads_them(self) -> None:
        """A non-int ASYNCTESTKIT_EXPLORE_JOBS is the exploring test's error, with the message."""
        with env(ASYNCTESTKIT_EXPLORE="3", ASYNCTESTKIT_EXPLORE_JOBS="many"):
            result = unittest.TestResult()
            Sleeps("test_it").run(result)
        self.assertEqual(len(result.errors), 1, result.failures)
        self.assertRegex(
            result.errors[0][1], r"(?m)^ValueError: ASYNCTESTKIT_EXPLORE_JOBS needs a positive int, .+; got 'many'$"
        )

    def test_blank_variables_are_unset(self) -> None:
        """A blank ASYNCTESTKIT_EXPLORE_JOBS or _SHARD is as if unset: the option, or every seed."""
        with env(ASYNCTESTKIT_EXPLORE_JOBS=" "):
            self.assertEqual(_sweep.jobs(lambda name: {"explore_jobs": 2}[name]), 2)
        with env(ASYNCTESTKIT_EXPLORE_SHARD="  "):
            self.assertEqual(_sweep.shard(), (1, 1))


class SweepTest(unittest.TestCase):
    def test_serial_sweep_stops_when_asked(self) -> None:
        """In one process, a stop (as -f or a Ctrl-C asks) ends the sweep after the seed that ran."""
        ran: list[int] = []

        def run_seed(seed: int) -> tuple[bool, int]:
            ran.append(seed)
            return False, seed % 2

        self.assertEqual(_sweep.sweep(run_seed, [1, 2, 3, 4], 1, lambda: len(ran) >= 2), (None, 2, 2))
        self.assertEqual(ran, [1, 2])

    def test_serial_sweep_stops_at_the_first_failure(self) -> None:
        """In one process, the first failing seed ends the sweep and is reported."""
        self.assertEqual(_sweep.sweep(lambda seed: (seed >= 3, 7), [1, 2, 3, 4], 1, lambda: False), (3, 1, 3))

    def _need_fork(self) -> None:
        if not _sweep._can_fork():  # pragma: no cover - a thread of another test still runs
            self.skipTest("another thread runs: the sweep stays in this process")

    def test_parallel_sweep_reports_the_lowest_failure(self) -> None:
        """Over processes, the lowest of each process's first failure is reported, with all seeds' schedules."""
        self._need_fork()

        def run_seed(seed: int) -> tuple[bool, int]:
            return seed in (5, 7, 9), seed % 4

        failing, distinct, ran = _sweep.sweep(run_seed, list(range(1, 11)), 3, lambda: False)
        self.assertEqual(failing, 5)
        self.assertLessEqual(distinct, 4)
        # Each process stops at its first failure: 1,4,7 / 2,5 / 3,6,9.
        self.assertEqual(ran, 8)

    def test_parallel_sweep_reports_a_process_that_died(self) -> None:
        """A sweeping process that ends without its report is an error saying how to sweep here instead."""
        self._need_fork()

        def run_seed(seed: int) -> tuple[bool, int]:
            if seed == 2:
                raise RuntimeError("the seed's run blew up")
            return False, 0

        with self.assertRaisesRegex(
            RuntimeError,
            r"^a process sweeping seeds ended without reporting \(process \d+ ended with status \d+\); "
            r"run with ASYNCTESTKIT_EXPLORE_JOBS=1 to sweep in this process$",
        ):
            _sweep.sweep(run_seed, [1, 2, 3, 4], 2, lambda: False)


class _Minimal:
    """A result with no addDuration (before 3.12, or a third-party result)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def startTest(self, test: Any) -> None:
        self.calls.append("start")

    def stopTest(self, test: Any) -> None:
        self.calls.append("stop")

    def addFailure(self, test: Any, err: Any) -> None:
        self.calls.append(f"failure: {err[1]}")

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        self.calls.append(f"subtest: {err[1] if err else None}")


class OutcomeTest(unittest.TestCase):
    def test_durations_are_kept_and_skipped_where_not_taken(self) -> None:
        """A kept duration goes to a result that takes durations; a result without addDuration skips it."""
        recorder = _outcome.Recorder()
        recorder.addDuration(self, 0.25)
        recorder.addSuccess(self)
        self.assertEqual(recorder.calls, [("addDuration", (0.25,)), ("addSuccess", ())])
        self.assertFalse(recorder.broke)
        target = _Minimal()
        target.addSuccess = lambda test: target.calls.append("success")  # type: ignore[attr-defined]
        _outcome.pass_on(self, target, recorder, "a note")  # type: ignore[arg-type]
        self.assertEqual(target.calls, ["start", "success", "stop"])

    def test_failed_subtests_get_the_note(self) -> None:
        """A failing subtest passed on carries the note; a passing one is passed on as it was."""
        recorder = _outcome.Recorder()
        recorder.addSubTest(self, self, None)
        self.assertFalse(recorder.broke)
        recorder.addSubTest(self, self, _outcome.failure(self, "the subtest broke"))
        self.assertTrue(recorder.broke)
        target = _Minimal()
        _outcome.pass_on(self, target, recorder, "Failed under schedule seed 3")  # type: ignore[arg-type]
        self.assertEqual(target.calls[:2], ["start", "subtest: None"])
        self.assertEqual(target.calls[3], "stop")
        self.assertIn("the subtest broke", target.calls[2])
        if sys.version_info >= (3, 11):
            err = recorder.calls[1][1][1]
            self.assertEqual(err[1].__notes__, ["Failed under schedule seed 3"])
        else:  # pragma: no cover - 3.10
            self.assertIn("Failed under schedule seed 3", target.calls[2])

    def test_notes_before_311(self) -> None:
        """Without exception notes, a message gets the note appended; another exception is wrapped, chained."""
        with mock.patch.object(_outcome, "PY311", False):
            err = _outcome.failure(self, "1 != 2")
            kind, exc, _ = _outcome.annotated(err, "Failed under schedule seed 3")
            self.assertIs(kind, self.failureException)
            self.assertEqual(exc.args, ("1 != 2\n\nFailed under schedule seed 3",))
            try:
                raise OSError(2, "No such file")
            except OSError:
                err = sys.exc_info()  # type: ignore[assignment]
            kind, exc, tb = _outcome.annotated(err, "Failed under schedule seed 3")
            self.assertIs(kind, RuntimeError)
            self.assertEqual(str(exc), "Failed under schedule seed 3")
            self.assertIs(exc.__cause__, err[1])
            self.assertIs(tb, err[2])


# A function "in asyncio" that arms a timer: an asyncio API that is neither a sleep nor a timeout.
_ARMING = compile("def arm(callback, site):\n    return site(callback)\n", _choices._ASYNCIO_DIR + "fake_api.py", "exec")
_ARMING_NS: dict[str, Any] = {}
exec(_ARMING, _ARMING_NS)


def my_callback() -> None:
    """A timer's callback with a name of its own."""


def _call_set_state() -> None:
    """Named as asyncio's callback that sets a future's state from another thread."""


class ChoicesTest(unittest.TestCase):
    def test_keep_says_which_departures_stay(self) -> None:
        """keep names the points kept, the others revert; None keeps every one; nothing recorded unless asked."""
        choices = Choices([2, 5])
        self.assertEqual([i for i in range(7) if choices.kept(i)], [2, 5])
        self.assertTrue(all(Choices().kept(i) for i in range(7)))
        choices.departed(2, "tie", 1_000_000_000)
        self.assertEqual(choices.made, [])
        recording = Choices(record=True)
        recording.departed(4, "late", 2_500_000_000, amount=0.5)
        (made,) = recording.made
        self.assertIsInstance(made, Departure)
        self.assertEqual(repr(made), "<Departure #4 late at 2.5s>")
        self.assertEqual((made.amount, made.step), (0.5, 0))

    def test_a_timer_of_another_asyncio_api(self) -> None:
        """A timer an asyncio API armed with its own callback is named by the API and the callback."""
        text = _ARMING_NS["arm"](my_callback, timer_site)
        self.assertRegex(text, r"^the timer of asyncio\.arm\(\) \(my_callback\) in ChoicesTest\.\S+ \(.*:\d+\)$")

    def test_a_finished_task_is_named(self) -> None:
        """A step of a task with no frame to show (its coroutine done) is described by the task's name."""
        async def work() -> None:
            pass

        loop = asyncio.new_event_loop()
        try:
            task = loop.create_task(work(), name="the-worker")
            loop.run_until_complete(task)
        finally:
            loop.close()
        self.assertEqual(describe_handle(SimpleNamespace(_callback=task.cancel)), "a step of task the-worker")

    def test_a_threads_result(self) -> None:
        """A thread's result called into the loop (to_thread) reads as one, another call by its name."""
        outside = type("_OutsideHandle", (), {})

        def poke() -> None:
            pass

        handle = outside()
        handle._callback = _call_set_state
        self.assertEqual(describe_handle(handle), "a thread's result (to_thread, run_in_executor)")
        handle._callback = poke
        self.assertRegex(describe_handle(handle), r"poke\(\) called in from another thread$")

    def test_a_method_is_named_by_its_class(self) -> None:
        """A frame in a method is named Class.method (3.10 finds the class through self)."""
        self.assertEqual(_choices._qualname(sys._getframe()), "ChoicesTest.test_a_method_is_named_by_its_class")


class CliEdgesTest(unittest.TestCase):
    def test_bad_arguments(self) -> None:
        """--shard out of range or malformed, and a negative -j, stop with what the option needs."""
        tree = write_tree({"test_one.py": "import unittest\n\nclass T(unittest.TestCase):\n    def test_a(self): pass\n"})
        self.addCleanup(cleanup_tree, tree)
        for args, message in (
            (("--shard", "4/3"), "--shard needs I/N with 1 <= I <= N (shard 1/3 is the first of three); got '4/3'"),
            (("--shard", "0/3"), "got '0/3'. TEST_SHARD_INDEX, Bazel's variable, counts from 0 instead"),
            (("--shard", "x"), "--shard needs I/N"),
            (("-j", "-1"), "-j/--jobs needs a non-negative integer; got '-1'"),
            (("-j", "two"), "-j/--jobs needs a non-negative integer; got 'two'"),
            (("--explore", "-5"), "--explore needs a non-negative integer; got '-5'"),
        ):
            with self.subTest(args=args):
                code, _, err = run_here(tree, *DISCOVER, *args)
                self.assertEqual(code, 2)
                self.assertIn(message, err)

    def test_bad_bazel_variables(self) -> None:
        """Bazel's shard variables out of range or not numbers stop the run naming both."""
        for total, index in (("3", "3"), ("0", "0"), ("x", "0"), ("2", "-1")):
            with self.subTest(total=total, index=index), mock.patch.dict(
                os.environ, {"TEST_TOTAL_SHARDS": total, "TEST_SHARD_INDEX": index}
            ), mock.patch.dict(os.environ):
                os.environ.pop("TEST_SHARD_STATUS_FILE", None)
                with self.assertRaises(SystemExit) as caught:
                    _cli.env_shard()
                self.assertEqual(
                    str(caught.exception),
                    f"python -m asynctestkit: TEST_TOTAL_SHARDS={total!r} and TEST_SHARD_INDEX={index!r}: "
                    "expected a total >= 1 and an index from 0 to total - 1",
                )

    def test_bazel_shard_without_status_file(self) -> None:
        """Without a status file to touch, Bazel's variables still choose the shard (index 0 when unset)."""
        with mock.patch.dict(os.environ, {"TEST_TOTAL_SHARDS": "4"}):
            os.environ.pop("TEST_SHARD_STATUS_FILE", None)
            os.environ.pop("TEST_SHARD_INDEX", None)
            self.assertEqual(_cli.env_shard(), (0, 4))

    def test_cpu_count_fallbacks(self) -> None:
        """-j 0 counts the usable CPUs however the platform tells them, and at least one."""
        for platform, expected in (
            (SimpleNamespace(process_cpu_count=lambda: None), 1),
            (SimpleNamespace(process_cpu_count=lambda: 6), 6),
            (SimpleNamespace(sched_getaffinity=lambda pid: {0, 2, 5}), 3),
            (SimpleNamespace(cpu_count=lambda: 4), 4),
            (SimpleNamespace(cpu_count=lambda: None), 1),
        ):
            with self.subTest(platform=platform), mock.patch.object(_cli, "os", platform):
                self.assertEqual(_cli.cpu_count(), expected)

    def test_no_tests_exits_as_unittest_does(self) -> None:
        """A run that finds no test exits with unittest's code (5 on 3.12+), with or without -j."""
        tree = write_tree({"notes.txt": "no tests here\n"})
        self.addCleanup(cleanup_tree, tree)
        expected, _, _ = run_here(tree, *DISCOVER, unittest_main=True)
        self.assertEqual(expected, 5 if sys.version_info >= (3, 12) else 0)
        for args in ((), ("-j", "2")):
            with self.subTest(args=args):
                code, _, err = run_here(tree, *DISCOVER, *args)
                self.assertEqual(code, expected)
                self.assertIn("Ran 0 tests", err)

    def test_without_exit_the_program_returns(self) -> None:
        """exit=False: the program returns with its result instead of exiting."""
        tree = write_tree({"test_one.py": "import unittest\n\nclass T(unittest.TestCase):\n    def test_a(self): pass\n"})
        self.addCleanup(cleanup_tree, tree)
        cwd = os.getcwd()
        self.addCleanup(os.chdir, cwd)
        os.chdir(tree)
        with mock.patch.object(sys, "path", [tree, *sys.path]), contextlib.redirect_stderr(io.StringIO()) as err:
            program = _cli.TestProgram(
                module=None, argv=["prog", *DISCOVER, "--shard", "1/1"], exit=False,
                testLoader=unittest.TestLoader(),
            )
        for name in [n for n, m in sys.modules.items() if (getattr(m, "__file__", None) or "").startswith(tree)]:
            del sys.modules[name]
        self.assertTrue(program.result.wasSuccessful())
        self.assertEqual(program.result.testsRun, 1)
        self.assertIn("OK", err.getvalue())


class WorkerEdgesTest(unittest.TestCase):
    def test_tests_the_worker_does_not_find(self) -> None:
        """Tests a worker's discovery does not make (named per process) are errors saying so."""
        tree = write_tree({"test_pid.py": '''
            import os
            import unittest

            class Made(unittest.TestCase):
                pass

            for n in (1, 2):
                setattr(Made, f"test_{n}_{os.getpid()}", lambda self: None)
        '''})
        self.addCleanup(cleanup_tree, tree)
        code, _, err = run_here(tree, *DISCOVER, "-j", "1")
        self.assertEqual(code, 1)
        self.assertEqual(err.count("was not found in the worker process: its discovery found other tests"), 2)
        self.assertIn("FAILED (errors=2)", err)

    def test_a_worker_dying_outside_a_test(self) -> None:
        """A worker dying in a module fixture: the test it was about to run, or the unit's tearDown, gets the error.

        And one killed by a signal with no name (a real-time one) says its number.
        """
        files = {
            "test_setup_dies.py": '''
                import os
                import unittest

                def setUpModule():
                    os._exit(3)

                class T(unittest.TestCase):
                    def test_a(self):
                        pass
            ''',
            "test_teardown_dies.py": '''
                import os
                import unittest

                def tearDownModule():
                    os._exit(4)

                class T(unittest.TestCase):
                    def test_c(self):
                        pass
            ''',
        }
        number = int(getattr(signal, "SIGRTMIN", 0)) + 2
        if number > 2:  # Linux
            files["test_signal.py"] = f'''
                import os
                import unittest

                class T(unittest.TestCase):
                    def test_killed(self):
                        os.kill(os.getpid(), {number})
            '''
        tree = write_tree(files)
        self.addCleanup(cleanup_tree, tree)
        code, _, err = run_here(tree, *DISCOVER, "-j", "3")
        self.assertEqual(code, 1)
        self.assertIn("ERROR: test_setup_dies.T.test_a\n", err)
        self.assertIn("The worker process running this test died (exit code 3)", err)
        self.assertIn("ERROR: tearDown (test_teardown_dies)\n", err)
        self.assertIn("The worker process running this test died (exit code 4)", err)
        if number > 2:
            self.assertIn("ERROR: test_killed (test_signal.T", err)
            self.assertIn(f"The worker process running this test died (killed by signal {number})", err)
            self.assertIn("Ran 4 tests", err)
            self.assertIn("FAILED (errors=3)", err)
        else:  # pragma: no cover - not Linux
            self.assertIn("FAILED (errors=2)", err)

    def test_replayed_duration_without_add_duration(self) -> None:
        """A worker's duration reaches a result that takes durations, and is left out for one that does not."""
        info = ("pkg.T.test_x", "test_x (pkg.T.test_x)", None)
        result = unittest.TestResult()
        replay(result, info, [("addDuration", 0.5), ("addSuccess",)])
        self.assertEqual(result.testsRun, 1)
        self.assertTrue(result.wasSuccessful())
        if hasattr(result, "collectedDurations"):  # 3.12+
            self.assertEqual(result.collectedDurations, [("test_x (pkg.T.test_x)", 0.5)])
        bare = _Minimal()
        bare.addSuccess = lambda test: bare.calls.append(f"success {test.id()}")  # type: ignore[attr-defined]
        replay(bare, info, [("addDuration", 0.5), ("addSuccess",)])  # type: ignore[arg-type]
        self.assertEqual(bare.calls, ["start", "success pkg.T.test_x", "stop"])


if __name__ == "__main__":
    unittest.main()
