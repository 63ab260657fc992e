"""The command line: ``python -m unittest``'s, plus ``-j``, shards, JUnit XML and schedules.

`TestProgram` is ``unittest.TestProgram``: the same parsers (with our options
added to its parent parser, so they work before and after ``discover``),
the same discovery, output and exit codes. A run without our options is a
``python -m unittest`` run. With them:

* the tests are flattened and grouped into units (``_units``), a shard keeps
  its units, and ``-j N`` hands the units to workers (``_pool``);
* the result (``_result.RunnerResult``) records each test for
  ``--junit-xml`` and ``--durations-file``;
* ``--explore``/``--seed`` set ``ASYNCTESTKIT_EXPLORE``/``ASYNCTESTKIT_SEED``
  for the run and its workers, and ``ASYNCTESTKIT_REPLAY_PREFIX`` makes a
  failing seed's replay line read ``python -m asynctestkit`` (only then: a
  run without them prints what ``python -m unittest`` prints).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import unittest
from typing import Any

from .._testcase._settings import EXPLORE_ENV, REPLAY_ENV, SEED_ENV
from ._junit import write_junit
from ._pool import Pool
from ._result import RunnerResult
from ._units import Unit, balanced_shards, flatten, hashed_shard, load_durations, make_units, save_durations

__all__ = ("TestProgram", "collect", "main")

PROG = "python -m asynctestkit"
_INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports a Ctrl-C


def _count(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{what} needs a non-negative integer; got {text!r}")
    return value


def _jobs(text: str) -> int:
    return _count(text, "-j/--jobs")


def _shard(text: str) -> tuple[int, int]:
    index, _, total = text.partition("/")
    try:
        i, n = int(index), int(total)
    except ValueError:
        i = n = 0
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(
            f"--shard needs I/N with 1 <= I <= N (shard 1/3 is the first of three); got {text!r}. "
            "TEST_SHARD_INDEX, Bazel's variable, counts from 0 instead"
        )
    return i - 1, n


def cpu_count() -> int:
    """The CPUs this process may use (``-j 0``)."""
    count = getattr(os, "process_cpu_count", None)  # 3.13+
    if count is not None:
        return int(count() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def env_shard() -> tuple[int, int] | None:
    """The shard Bazel's variables ask for (``TEST_SHARD_INDEX`` 0-based), touching its status file.

    Raises:
        SystemExit: the variables are not a valid shard.
    """
    total_text = os.environ.get("TEST_TOTAL_SHARDS", "").strip()
    if not total_text:
        return None
    status = os.environ.get("TEST_SHARD_STATUS_FILE")
    if status:
        # Bazel: the runner supports sharding if this file exists after the run.
        with open(status, "a"):
            pass
    index_text = os.environ.get("TEST_SHARD_INDEX", "0").strip() or "0"
    try:
        total, index = int(total_text), int(index_text)
    except ValueError:
        total = index = -1
    if total < 1 or not 0 <= index < total:
        raise SystemExit(
            f"{PROG}: TEST_TOTAL_SHARDS={total_text!r} and TEST_SHARD_INDEX={index_text!r}: expected "
            "a total >= 1 and an index from 0 to total - 1"
        )
    return index, total


class TestProgram(unittest.TestProgram):
    """``unittest.TestProgram`` with the runner's options (see the module docstring)."""

    jobs: int | None = None
    shard: tuple[int, int] | None = None
    # Set by unittest.TestProgram (typeshed does not declare them all).
    test: Any
    exit: bool
    tb_locals: bool
    junit_xml: str | None = None
    durations_file: str | None = None
    explore: int | None = None
    seed: int | None = None

    def __init__(self, *args: Any, collect_only: bool = False, **kwargs: Any) -> None:
        self._collect_only = collect_only
        self.units: list[Unit] = []
        self.all_tests: list[Any] = []
        self.interrupted = False
        self._argv = list(kwargs.get("argv") or sys.argv)
        super().__init__(*args, **kwargs)

    def _getParentArgParser(self) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = super()._getParentArgParser()  # type: ignore[misc]
        group = parser.add_argument_group("asynctestkit")
        group.add_argument("-j", "--jobs", dest="jobs", type=_jobs, metavar="N",
                           help="Run the tests in N worker processes (0: one per CPU)")
        group.add_argument("--shard", dest="shard", type=_shard, metavar="I/N",
                           help="Run only shard I of N (1-based; or TEST_TOTAL_SHARDS/TEST_SHARD_INDEX)")
        group.add_argument("--durations-file", dest="durations_file", metavar="PATH",
                           help="Record test durations in PATH; balance shards and workers by it")
        group.add_argument("--junit-xml", dest="junit_xml", metavar="PATH",
                           help="Write a JUnit XML report to PATH")
        group.add_argument("--explore", dest="explore", type=lambda t: _count(t, "--explore"), metavar="K",
                           help="Run each clocked test under K schedule seeds (ASYNCTESTKIT_EXPLORE)")
        group.add_argument("--seed", dest="seed", type=lambda t: _count(t, "--seed"), metavar="N",
                           help="Run each clocked test under schedule seed N (ASYNCTESTKIT_SEED)")
        return parser

    def parseArgs(self, argv: list[str]) -> None:
        super().parseArgs(argv)
        if not self._collect_only:
            self._plan()

    def _plan(self) -> None:
        shard = self.shard if self.shard is not None else env_shard()
        if shard is None and self.jobs is None:
            return  # the suite as unittest made it
        self.all_tests = flatten(self.test)
        units = make_units(self.all_tests)
        durations = load_durations(self.durations_file) if self.durations_file else {}
        if shard is not None:
            index, total = shard
            if durations:
                units = balanced_shards(units, total, durations)[index]
            else:
                units = [unit for unit in units if hashed_shard(unit, total) == index]
            chosen = sorted(i for unit in units for i in unit.indices)
            self.test = unittest.TestSuite([self.all_tests[i] for i in chosen])
        if durations:  # the longest units first: the workers end together
            units = sorted(units, key=lambda u: -u.weight(durations, 0.0))
        self.units = units

    def runTests(self) -> None:
        if self._collect_only:
            return
        if self.explore is not None:
            os.environ[EXPLORE_ENV] = str(self.explore)
        if self.seed is not None:
            os.environ[SEED_ENV] = str(self.seed)
        if self.explore is not None or self.seed is not None:
            # The replay line of a failing seed then reads "... python -m asynctestkit <id>".
            os.environ.setdefault(REPLAY_ENV, PROG)
        options: dict[str, Any] = {
            "verbosity": self.verbosity, "failfast": self.failfast, "buffer": self.buffer,
            "warnings": self.warnings, "tb_locals": self.tb_locals,
        }
        if sys.version_info >= (3, 12):
            options["durations"] = self.durations
        self.testRunner = Runner(self, **options)
        exit_, self.exit = self.exit, False
        try:
            super().runTests()
        finally:
            self.exit = exit_
        if not self.exit:
            return
        if self.interrupted:
            sys.exit(_INTERRUPTED_EXIT)
        result = self.result
        no_tests = getattr(sys.modules["unittest.main"], "_NO_TESTS_EXITCODE", None)  # 3.12+
        if not result.wasSuccessful():
            sys.exit(1)
        if no_tests is not None and result.testsRun == 0 and not result.skipped:
            sys.exit(no_tests)
        sys.exit(0)

    def spec(self) -> dict[str, Any]:
        """What a worker needs to find and run the same tests."""
        return {
            "argv": list(self._argv), "path": list(sys.path), "buffer": bool(self.buffer),
            "tb_locals": bool(self.tb_locals), "warnings": self.warnings,
        }


class Runner(unittest.TextTestRunner):
    """``TextTestRunner`` that runs a pool for ``-j`` and writes the reports after the run."""

    resultclass = RunnerResult

    def __init__(self, program: TestProgram, **options: Any) -> None:
        super().__init__(**options)
        self.program = program

    def _makeResult(self) -> RunnerResult:
        result: RunnerResult = super()._makeResult()  # type: ignore[assignment]
        result.recording = bool(self.program.junit_xml or self.program.durations_file)
        return result

    def run(self, test: Any) -> Any:
        program = self.program
        started = time.perf_counter()
        pool = None
        if program.jobs is not None:
            jobs = program.jobs or cpu_count()
            pool = Pool(program.units, jobs, program.spec())
            test = pool
        result: RunnerResult = super().run(test)  # type: ignore[assignment]
        seconds = time.perf_counter() - started
        if pool is not None and pool.interrupted:
            program.interrupted = True
            self.stream.writeln(
                "Interrupted: every worker was stopped; the summary counts the tests that finished."
            )
        if program.junit_xml:
            write_junit(program.junit_xml, result.records, seconds)
        if program.durations_file:
            save_durations(program.durations_file, {
                r.test_id: r.seconds
                for r in result.records
                if r.outcome != "skipped" and " (" not in r.test_id  # not a fixture's error
            })
        return result


def collect(argv: list[str]) -> Any:
    """The suite ``argv`` selects, as the runner found it (for a worker)."""
    program = TestProgram(
        module=None, argv=argv, exit=False, testLoader=unittest.TestLoader(), collect_only=True
    )
    return program.test


def main(argv: list[str] | None = None) -> None:
    """Run ``python -m asynctestkit``: exit as ``python -m unittest`` does (130 after a Ctrl-C with -j)."""
    # A loader of its own: -k would change unittest.defaultTestLoader for the process.
    TestProgram(module=None, argv=list(sys.argv if argv is None else argv), testLoader=unittest.TestLoader())
