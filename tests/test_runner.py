"""``python -m asynctestkit``: unittest's output and exit codes, serial and with -j workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest
from pathlib import Path

from tests._runner_support import (
    MIXED,
    ROOT,
    cleanup_tree,
    env,
    outcome_lines,
    result_lines,
    run_cli,
    run_here,
    summary,
    without_timing,
    write_tree,
)

DISCOVER = ("discover", "-s", ".", "-t", ".")


class SameAsUnittestTest(unittest.TestCase):
    """A run reads as ``python -m unittest``'s, serial and with workers."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.tree = write_tree(MIXED)
        cls.addClassCleanup(cleanup_tree, cls.tree)
        cls.expected = run_here(cls.tree, *DISCOVER, "-v", unittest_main=True)

    def test_serial_output_is_unittests(self) -> None:
        """Serial: the same stdout, the same stderr (but the time), the same exit code."""
        code, out, err = run_here(self.tree, *DISCOVER, "-v")
        expected_code, expected_out, expected_err = self.expected
        self.assertEqual((code, out), (expected_code, expected_out))
        self.assertEqual(without_timing(err), without_timing(expected_err))
        self.assertEqual(code, 1)

    def test_workers_report_the_same_results(self) -> None:
        """-j 2: the same result lines and failure blocks (in another order), the same summary."""
        code, out, err = run_here(self.tree, *DISCOVER, "-v", "-j", "2")
        expected_code, expected_out, expected_err = self.expected
        self.assertEqual(code, expected_code)
        self.assertEqual(out, expected_out)  # what the tests printed, passed on
        self.assertEqual(result_lines(err), result_lines(expected_err))
        self.assertEqual(summary(err), summary(expected_err))
        self.assertIn("FAILED (failures=2, errors=2, skipped=2, expected failures=1, unexpected successes=1)", err)

    def test_dots_and_quiet(self) -> None:
        """Without -v: the same dots (as a multiset) and summary; -q prints only the summary."""
        for flags in ((), ("-q",)):
            with self.subTest(flags=flags):
                _, _, expected = run_here(self.tree, *DISCOVER, *flags, unittest_main=True)
                _, _, err = run_here(self.tree, *DISCOVER, *flags, "-j", "2")
                self.assertEqual(sorted(err.splitlines()[0]), sorted(expected.splitlines()[0]))
                self.assertEqual(summary(err), summary(expected))

    def test_buffer_and_names(self) -> None:
        """-b keeps a passing test's output; test names and -k select as unittest does."""
        code, out, err = run_here(self.tree, "-b", "-j", "2", "test_alpha.Alpha.test_prints", "test_gamma")
        self.assertEqual((code, out), (1, ""))
        self.assertIn("Ran 3 tests", err)
        code, _, err = run_here(self.tree, *DISCOVER, "-k", "Delta", "-j", "0")  # 0: one per CPU
        self.assertEqual(code, 0)
        self.assertEqual(summary(err), ["Ran 2 tests", "", "OK"])

    @unittest.skipIf(sys.version_info < (3, 12), "--durations is 3.12+")
    def test_durations(self) -> None:
        """--durations N lists the slowest tests, as unittest does, from the workers' timings."""
        _, _, err = run_here(self.tree, *DISCOVER, "--durations", "0", "-v", "-j", "2")
        self.assertIn("Slowest test durations", err)
        self.assertRegex(err, r"(?m)^\d+\.\d{3}s +test_one \(test_gamma\.Delta\.test_one\)$")

    def test_no_tests(self) -> None:
        """A run that finds no test exits as unittest does (5 on 3.12+, else 0)."""
        code, _, err = run_here(self.tree, *DISCOVER, "-k", "nothing_matches", "-j", "2")
        expected_code, _, expected = run_here(self.tree, *DISCOVER, "-k", "nothing_matches", unittest_main=True)
        self.assertEqual(code, expected_code)
        self.assertEqual(summary(err), summary(expected))

    def test_examples_match_unittest(self) -> None:
        """The toolkit's examples: unittest serial and the runner with -j 2 agree line for line."""
        args = ("discover", "-s", "examples", "-t", ".", "-v")
        procs = [run_cli(ROOT, "unittest", *args), run_cli(ROOT, "asynctestkit", *args, "-j", "2")]
        (_, expected_err), (_, err) = (p.communicate(timeout=300) for p in procs)
        self.assertEqual([p.returncode for p in procs], [0, 0], err)
        # What the examples print beside their results (a slow-callback warning on a
        # loaded machine) may differ from run to run; the outcomes may not.
        self.assertEqual(outcome_lines(err), outcome_lines(expected_err))
        self.assertGreater(len(outcome_lines(err)), 50)
        self.assertEqual(summary(err), summary(expected_err))

    @unittest.skipIf(sys.version_info < (3, 11), "3.10's TextTestResult never names a fixture's error")
    def test_fixture_error_after_an_expected_failure_is_named(self) -> None:
        """-v under -j names a setUpClass error replayed right after an expected failure.

        unittest's TextTestResult does not note that "expected failure" ended
        the line, so it prints the next fixture error as a bare "ERROR"; under
        -j such neighbours come in any order, and the runner names it.
        """
        tree = write_tree({
            "test_x.py": """
                import unittest

                class A(unittest.TestCase):
                    @unittest.expectedFailure
                    def test_xfail(self):
                        self.fail()

                class B(unittest.TestCase):
                    @classmethod
                    def setUpClass(cls):
                        raise RuntimeError

                    def test_b(self):
                        pass
            """,
        })
        self.addCleanup(cleanup_tree, tree)
        _, _, err = run_here(tree, *DISCOVER, "-v", "-j", "1")
        self.assertIn("test_xfail (test_x.A.test_xfail) ... expected failure\nsetUpClass (test_x.B) ... ERROR\n", err)

    def test_bad_arguments(self) -> None:
        """Bad option values exit 2 with argparse's message, naming what is expected."""
        for args, message in (
            (("-j", "x"), "-j/--jobs needs a non-negative integer; got 'x'"),
            (("--shard", "0/3"), "--shard needs I/N with 1 <= I <= N"),
            (("--shard", "one/3"), "--shard needs I/N with 1 <= I <= N"),
            (("--seed", "-1"), "--seed needs a non-negative integer"),
        ):
            with self.subTest(args=args):
                code, _, err = run_here(self.tree, *args)
                self.assertEqual(code, 2)
                self.assertIn(message, err)


CRASHING = {
    "test_crash.py": '''
        import os
        import signal
        import sys
        import unittest

        class Crash(unittest.TestCase):
            def test_a_before(self):
                pass

            def test_b_exits(self):
                print("last words before _exit")
                sys.stdout.flush()
                os._exit(3)

            def test_c_after(self):
                pass

            def test_d_killed(self):
                print("last words before SIGKILL", file=sys.stderr)
                os.kill(os.getpid(), signal.SIGKILL)

            def test_e_last(self):
                pass
    ''',
    "test_other.py": '''
        import unittest

        class Other(unittest.TestCase):
            def test_fine(self):
                pass
    ''',
}


@unittest.skipUnless(hasattr(signal, "SIGKILL"), "POSIX signals")
class CrashingWorkerTest(unittest.TestCase):
    """A worker that dies is the error of the test it ran; the rest of the run goes on."""

    def test_crash_is_the_tests_error(self) -> None:
        """os._exit and SIGKILL: an error each, with how it died and its last output; every other test runs."""
        tree = write_tree(CRASHING)
        self.addCleanup(cleanup_tree, tree)
        code, _, err = run_here(tree, *DISCOVER, "-v", "-j", "2")
        self.assertEqual(code, 1)
        self.assertIn("Ran 6 tests", err)
        self.assertIn("FAILED (errors=2)", err)
        for name in ("test_a_before", "test_c_after", "test_e_last", "test_fine"):
            # Not anchored at the line's start: a dying worker's last words
            # (printed unbuffered, with no newline) may stand before it.
            self.assertRegex(err, rf"(?m){name} \(.*\) \.\.\. ok$")
        blocks = err.split("=" * 70)
        exited = next(b for b in blocks if "ERROR: test_b_exits" in b)
        self.assertIn("died (exit code 3)", exited)
        self.assertIn("last words before _exit", exited)
        killed = next(b for b in blocks if "ERROR: test_d_killed" in b)
        self.assertIn("died (killed by signal SIGKILL)", killed)
        self.assertIn("last words before SIGKILL", killed)


STOPPING = {
    "test_a_fails.py": '''
        import unittest

        class Fails(unittest.TestCase):
            def test_fails(self):
                self.fail("the first failure")
    ''',
    "test_b_slow.py": '''
        import os
        import time
        import unittest

        class Slow(unittest.TestCase):
            def test_started(self):
                with open(os.environ["ATK_STARTED"], "w") as file:
                    file.write(str(os.getpid()))
                time.sleep(120)

            def test_z_more(self):
                time.sleep(120)
    ''',
}


@unittest.skipUnless(hasattr(signal, "SIGKILL"), "POSIX signals")
class StoppingTest(unittest.TestCase):
    """-f and Ctrl-C stop every worker; the summary counts what finished."""

    def setUp(self) -> None:
        self.tree = write_tree(STOPPING)
        self.addCleanup(cleanup_tree, self.tree)
        self.marker = str(Path(self.tree, "started"))
        os.environ["ATK_STARTED"] = self.marker
        self.addCleanup(os.environ.pop, "ATK_STARTED", None)

    def test_failfast_stops_every_worker(self) -> None:
        """-f: the first failure ends the run; a worker in a two-minute test is killed, not waited for."""
        code, _, err = run_here(self.tree, *DISCOVER, "-f", "-j", "2")
        self.assertEqual(code, 1)
        self.assertIn("FAILED (failures=1)", err)
        self.assertIn("AssertionError: the first failure", err)
        self.assertIn("Ran 1 test ", err)

    def test_ctrl_c_stops_every_worker(self) -> None:
        """SIGINT (or SIGTERM) to the runner: it kills the workers, prints what finished and exits 130."""
        boot = (
            "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from asynctestkit._runner._cli import main; main(['python -m asynctestkit', *sys.argv[1:]])"
        )
        for signum in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=signum.name):
                if os.path.exists(self.marker):
                    os.remove(self.marker)
                proc = subprocess.Popen(
                    [sys.executable, "-c", boot, *DISCOVER, "-j", "2", "-v"], cwd=self.tree,
                    env=dict(env(), ATK_STARTED=self.marker),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                )
                try:
                    for _ in range(6000):  # until the slow test runs (a hang guard, not a time bound)
                        if os.path.exists(self.marker) and Path(self.marker).read_text():
                            break
                        time.sleep(0.01)
                    worker = int(Path(self.marker).read_text())
                    proc.send_signal(signum)
                    _, err = proc.communicate(timeout=60)
                finally:
                    proc.kill()
                    proc.wait()
                self.assertEqual(proc.returncode, 130, err)
                self.assertIn("Interrupted: every worker was stopped", err)
                self.assertRegex(err, r"(?m)^Ran \d+ tests? in ")
                self.assertNotIn("test_z_more", err)
                with self.assertRaises(ProcessLookupError):
                    os.kill(worker, 0)


class ScheduleOptionsTest(unittest.TestCase):
    """--explore and --seed reach every test, in the runner and in its workers."""

    def test_seed_and_explore_set_the_variables(self) -> None:
        """The tests see ASYNCTESTKIT_SEED/EXPLORE, and a failing seed's replay names the runner."""
        tree = write_tree({
            "test_env.py": '''
                import os
                import unittest

                class Env(unittest.TestCase):
                    def test_env(self):
                        print(os.environ.get("ASYNCTESTKIT_SEED"), os.environ.get("ASYNCTESTKIT_EXPLORE"),
                              os.environ.get("ASYNCTESTKIT_REPLAY_PREFIX"))
            ''',
        })
        self.addCleanup(cleanup_tree, tree)
        saved = {k: os.environ.get(k) for k in ("ASYNCTESTKIT_SEED", "ASYNCTESTKIT_EXPLORE", "ASYNCTESTKIT_REPLAY_PREFIX")}
        self.addCleanup(_restore_env, saved)
        for jobs in ((), ("-j", "1")):
            with self.subTest(jobs=jobs):
                code, out, _ = run_here(tree, *DISCOVER, "--seed", "7", "--explore", "3", *jobs)
                self.assertEqual(code, 0)
                self.assertEqual(out, "7 3 python -m asynctestkit\n")


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class ReplayLineTest(unittest.TestCase):
    """A failing seed's replay line, run by the runner with --explore, names the runner."""

    def test_replay_line_names_the_runner(self) -> None:
        """The line that replays a seed reads `ASYNCTESTKIT_SEED=N python -m asynctestkit <id>`."""
        tree = write_tree({
            "test_race.py": textwrap.dedent('''
                import asyncio
                from asynctestkit import ClockedTestCase

                class Race(ClockedTestCase):
                    async def test_race(self):
                        order = []

                        async def put(tag):
                            await asyncio.sleep(1)
                            order.append(tag)

                        await asyncio.gather(put("a"), put("b"))
                        self.assertEqual(order, ["a", "b"])
            '''),
        })
        self.addCleanup(cleanup_tree, tree)
        saved = {k: os.environ.get(k) for k in ("ASYNCTESTKIT_EXPLORE", "ASYNCTESTKIT_REPLAY_PREFIX")}
        self.addCleanup(_restore_env, saved)
        code, _, err = run_here(tree, *DISCOVER, "--explore", "20")
        self.assertEqual(code, 1, err)
        self.assertRegex(err, r"(?m)^    ASYNCTESTKIT_SEED=\d+ python -m asynctestkit test_race\.Race\.test_race$")


if __name__ == "__main__":
    unittest.main()
