"""The race set: every bug found within 100 seeds and explained; no correct program ever fails.

The programs are in `tests._raceset` (not collected by themselves). Each bug's
test passes under the default order; exploring 100 seeds must fail it, name
the racing source lines, and print a replay line that gives the same failure
three times of three. Each correct program must pass 200 seeds, with and
without ``schedule_eager``.
"""

from __future__ import annotations

import re
import sys
import unittest

from tests import _raceset
from tests._support import run_test
from tests.test_schedule import env

PY312 = sys.version_info >= (3, 12)


def failure_text(result: unittest.TestResult) -> str:
    problems = result.errors + result.failures
    assert len(problems) == 1, problems
    return problems[0][1]


class BugsAreFoundTest(unittest.TestCase):
    """Each of the seven bugs: found within 100 seeds, explained in source lines, replayed exactly."""

    def test_every_bug(self) -> None:
        for name, eager, needs_312 in _raceset.BUGS:
            if needs_312 and not PY312:
                continue  # eager start is 3.12+
            cls = _raceset.EagerBugs if eager else _raceset.Bugs
            with self.subTest(bug=name):
                with env():
                    self.assertTrue(run_test(cls(name)).wasSuccessful(), "the default order passes")
                with env(ASYNCTESTKIT_EXPLORE="100"):
                    text = failure_text(run_test(cls(name)))
                found = re.search(r"(?m)^Failed under schedule seed (\d+) \(found exploring 100 seeds", text)
                assert found is not None, text
                seed = found.group(1)
                why = [line for line in text.splitlines() if line.startswith("  - ")]
                self.assertTrue(why, text)
                if not eager:
                    # The explanation names both racing lines of the code under test.
                    self.assertGreaterEqual(len(re.findall(r"_raceset\.py:\d+\)", why[0])), 1, why)
                    self.assertRegex(why[0], r"at t=[\d.]+ .+ before .+; the default order runs them the other way"
                                     r"|ended at t=")
                else:
                    self.assertIn("eagerly", why[0])
                error = text.split("\nFailed under schedule seed")[0].splitlines()[-1]
                for _ in range(3):
                    with env(ASYNCTESTKIT_SEED=seed):
                        replay = failure_text(run_test(cls(name)))
                    self.assertEqual(replay.split("\nFailed under schedule seed")[0].splitlines()[-1], error)


class CorrectProgramsPassTest(unittest.TestCase):
    """The correct programs pass 200 seeds, with and without eager start (in 4 processes)."""

    def test_every_correct_program(self) -> None:
        # Before 3.12 there is no eager start: the eager runs would repeat the others.
        for cls in (_raceset.Correct, _raceset.EagerCorrect) if PY312 else (_raceset.Correct,):
            for name in _raceset.CORRECT:
                with self.subTest(program=name, eager=cls.schedule_eager), env(ASYNCTESTKIT_EXPLORE="200", ASYNCTESTKIT_EXPLORE_JOBS="4"):
                    result = run_test(cls(name))
                    self.assertTrue(result.wasSuccessful(), result.failures + result.errors)


if __name__ == "__main__":
    unittest.main()
