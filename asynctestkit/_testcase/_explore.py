"""Running a clocked test under schedule seeds: exploration, replay and the determinism check.

`ClockedTestCase.run` hands each test here. Without a seed, an exploration
or the determinism check, the test runs once, as it always did (`run_test`
costs three environment look-ups). Otherwise each run reports into a
`Recorder` (the test itself for one seed, a fresh instance for each
explored seed and for the determinism check's second run); what one run
reported is then passed on to the real result as this test's outcome, each
failure annotated with the seed and the one line that replays it.

Which runs (`plan`), in order of precedence:

* ``ASYNCTESTKIT_SEED=N``: the one seed N (replay);
* ``ASYNCTESTKIT_EXPLORE=K`` or the ``explore`` option: seeds 1 to K, then
  the default order. The first seed under which the test fails stops the
  exploration; the test is then run under the default order too, and if that
  fails as well the order is not the cause: the default order's failure is
  reported, without a seed. The seeds are the same on every run of the
  suite, so exploring makes no test flaky; raise ``explore`` to search
  further;
* the ``schedule_seed`` option: that one seed;
* else the default order.

``ASYNCTESTKIT_CHECK_DETERMINISM=1`` runs each of those twice, traced, and
fails the test at the first step (a callback run, with its virtual time)
where the two runs differ.

An exploration's seeds may be split: ``ASYNCTESTKIT_EXPLORE_SHARD=i/n``
keeps every n-th seed from the i-th (1 <= i <= n: a CI matrix of n
machines), and ``ASYNCTESTKIT_EXPLORE_JOBS=N`` (or ``explore_jobs``) runs
them in N forked processes (`_sweep.py`); the lowest failing seed is
reported whatever N. A failing seed is explained (`_explain.py`), and
``ASYNCTESTKIT_CHOICES=a,b`` with its seed replays the minimized schedule.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import unittest
from typing import TYPE_CHECKING, Any

from .._virtual._choices import Choices
from .._virtual._factory import virtual_event_loop
from .._virtual._schedule import Trace, seeded_event_loop
from . import _explain, _sweep
from ._lifecycle import TestLifecycle
from ._outcome import Recorder, failure, pass_on
from ._settings import (
    CHECK_ENV,
    CHOICES_ENV,
    EXPLORE_ENV,
    JITTER_ENV,
    REPLAY_ENV,
    SEED_ENV,
    check_explore,
    check_seed,
    env_choices,
    env_int,
    jitter,
    seed_env,
)

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from .._virtual._clock import VirtualClock

__unittest = True  # keep these frames out of failure tracebacks

# The loop's own default, for the seeded loops made here.
_IO_GRACE: float = (virtual_event_loop.__kwdefaults__ or {})["io_grace"]

__all__ = (
    "check_explore", "check_seed", "class_seed", "env_choices", "run_test", "seeded_loop",
    "single_seed",
)

def single_seed(option: Callable[[str], Any]) -> int | None:
    """The seed of a test run once (``debug()``): as `plan` says, the default order if exploring.

    Raises:
        TypeError, ValueError: a schedule option or variable is not valid.
    """
    seeds, exploring = plan(option)
    # The variables run_test reads too: a bad one is this test's error.
    env_choices()
    _sweep.jobs(option)
    return None if exploring else seeds[0]


def class_seed(cls: type) -> int | None:
    """The seed of a class's shared loop (``loop_scope = "class"``): the same sources, per class."""
    seed = seed_env()
    if seed is not None:
        return seed
    return check_seed(getattr(cls, "schedule_seed", None), "schedule_seed")


def plan(option: Callable[[str], Any]) -> tuple[list[int | None], bool]:
    """Return the seeds to run the test under, in order, and whether it is an exploration."""
    seed = seed_env()
    if seed is not None:
        return [seed], False
    explore = env_int(EXPLORE_ENV)
    if explore is None:
        explore = check_explore(option("explore"), "explore")
    if explore:
        index, count = _sweep.shard()
        return [*range(index, explore + 1, count), None], True
    return [check_seed(option("schedule_seed"), "schedule_seed")], False


def run_test(case: Any, result: unittest.TestResult | None, run_once: Callable[[Any], Any]) -> Any:
    """Run ``case`` as its schedule options and the environment say; report to ``result``.

    ``run_once(result)`` runs ``case`` itself once; ``case._asynctestkit_schedule``
    is the ``(seed, trace)`` its loop gets.
    """
    check = os.environ.get(CHECK_ENV, "").strip() not in ("", "0")
    try:
        seeds, exploring = plan(case._asynctestkit_option)
        env_choices()
        _sweep.jobs(case._asynctestkit_option)
    except (TypeError, ValueError):
        # Run it once: making its loop raises the same error, as the test's error.
        case._asynctestkit_schedule = None
        return run_once(result)
    if case.loop_scope == "class" or _skipped(case):
        # A class's loop is seeded once, for the class (class_seed); a skipped
        # test runs nothing.
        seeds, exploring, check = [None], False, False
    if not check and not exploring and seeds[0] is None:
        case._asynctestkit_schedule = (None, None, None)
        return run_once(result)
    if result is None:
        # As TestCase.run does without a result.
        result = case.defaultTestResult()
        result.startTestRun()
        try:
            return _run_schedules(case, result, seeds, exploring=exploring, check=check)
        finally:
            result.stopTestRun()
    return _run_schedules(case, result, seeds, exploring=exploring, check=check)


def _run_schedules(
    case: Any, result: unittest.TestResult, seeds: list[int | None], *, exploring: bool, check: bool
) -> unittest.TestResult:
    if not exploring:
        # One seed (replay, or the option): the test itself; ASYNCTESTKIT_CHOICES
        # keeps only those departures (a minimized schedule's replay).
        seed = seeds[0]
        keep = env_choices() if seed is not None else None
        choices = Choices(keep) if keep is not None else None
        outcome = _run_schedule(case, seed, check, fresh=False, choices=choices)
        if not getattr(result, "shouldStop", False):
            _report(case, result, outcome, seed, exploring=False, keep=keep)
        return result
    explored = [s for s in seeds if s is not None]
    outcomes: dict[int, Recorder] = {}

    def run_seed(seed: int) -> tuple[bool, int]:
        # Stops the sweep at a failure, or a skip (which the other seeds would repeat).
        choices = Choices()
        outcome = outcomes[seed] = _run_schedule(case, seed, check, choices=choices)
        if not (outcome.broke or outcome.was_skipped):
            del outcomes[seed]
        return outcome.broke or outcome.was_skipped, choices.fingerprint

    jobs = _sweep.jobs(case._asynctestkit_option)
    stop = lambda: bool(getattr(result, "shouldStop", False))  # noqa: E731
    failing, distinct, ran = _sweep.sweep(run_seed, explored, jobs, stop)
    if getattr(result, "shouldStop", False):
        return result
    if failing is None:
        _report(case, result, _run_schedule(case, None, check), None, exploring=False)
        return result
    # A forked sweep's children ran the seed: run it here too.
    outcome = outcomes.get(failing) or _run_schedule(case, failing, check)
    if outcome.was_skipped:
        _report(case, result, outcome, None, exploring=False)
        return result
    default = _run_schedule(case, None, check)
    if default.broke or not outcome.broke:
        # The order is not the cause (or the seed did not fail again).
        _report(case, result, default if default.broke else outcome, None if default.broke else failing,
                exploring=False)
        return result

    def attempt(choices: Choices) -> bool:
        return _run_schedule(case, failing, check, choices=choices).broke

    why, kept, late = _explain.explain(attempt, failing)
    found = (
        f" (found exploring {len(explored)} seeds: {ran} run, {distinct} distinct "
        f"schedule{'s' if distinct != 1 else ''}; "
        "the default order passes)"
    )
    _report(case, result, outcome, failing, exploring=True, found=found, why=why, kept=kept, late=late)
    return result


def _run_schedule(
    case: Any, seed: int | None, check: bool, *, fresh: bool = True, choices: Choices | None = None
) -> Recorder:
    """Run the test under ``seed`` into a `Recorder`; twice, compared, with ``check``."""
    first = Recorder()
    trace = Trace() if check else None
    if fresh:
        _run_once(_fresh(case, seed, trace, choices), first)
    else:
        case._asynctestkit_schedule = (seed, trace, choices)
        _run_once(case, first)
    if trace is None:
        return first
    second = Recorder()
    other = Trace()
    again = None if choices is None else Choices(choices.keep)
    _run_once(_fresh(case, seed, other, again), second)
    difference = trace.first_difference(other)
    if difference is None:
        return first
    order = "the default order" if seed is None else f"schedule seed {seed}"
    outcome = Recorder()
    outcome.addFailure(case, failure(case, (
        f"Not deterministic: two runs of this test under {order} differ at {difference}. "
        "Something the schedule does not control decides what runs when: real time, another "
        "thread, the random module, the order of a set or dict of str (PYTHONHASHSEED) or real IO. "
        "Seeds cannot replay this test until it is made deterministic"
    )))
    return outcome


def _run_once(test: Any, result: unittest.TestResult) -> None:
    # The run under ClockedTestCase.run, which is what brought us here.
    TestLifecycle.run(test, result)


def _fresh(case: Any, seed: int | None, trace: Trace | None, choices: Choices | None = None) -> Any:
    # A new instance for each run, as the loader would make: a run starts from
    # the same state whatever the previous run left on the instance.
    try:
        inspect.signature(type(case)).bind(case._testMethodName)
    except (TypeError, ValueError):  # a class whose __init__ takes other arguments
        test = case
    else:
        test = type(case)(case._testMethodName)
    test._asynctestkit_schedule = (seed, trace, choices)
    return test


def _report(
    case: Any,
    result: unittest.TestResult,
    outcome: Recorder,
    seed: int | None,
    *,
    exploring: bool,
    found: str = "",
    why: list[str] | None = None,
    kept: list[int] | None = None,
    late: bool = False,
    keep: frozenset[int] | None = None,
) -> None:
    """Pass one run's outcome on to ``result`` as ``case``'s, each failure with its replay line."""
    note = None
    if seed is not None:
        variables = f"{SEED_ENV}={seed}"
        if keep is not None:
            variables += f" {CHOICES_ENV}={','.join(map(str, sorted(keep)))}"
        lines = [f"Failed under schedule seed {seed}{found if exploring else ''}. Replay it with:"]
        lines += [f"    {line}" for line in replay_lines(case, variables)]
        if kept is not None:
            lines.append("Replay only the departures below (the minimized schedule) with:")
            minimized = f"{SEED_ENV}={seed} {CHOICES_ENV}={','.join(map(str, sorted(kept)))}"
            lines += [f"    {line}" for line in replay_lines(case, minimized)]
        lines += why or []
        if late and _compares_times(outcome):
            lines.append(
                "Under this seed timers fire late (schedule_jitter: up to that fraction of each "
                "timer's delay), a late timer is among the causes, and the failure shows a time. "
                "If the test compares virtual times exactly (self.clock.now == ...), that is the "
                f"jitter's doing: set schedule_jitter = 0 on the test, or {JITTER_ENV}=0 for the "
                "whole suite"
            )
        note = "\n".join(lines)
    pass_on(case, result, outcome, note)


def _compares_times(outcome: Recorder) -> bool:
    # A failure whose message shows a number with a fraction (5.604 != 5.0).
    for name, args in outcome.calls:
        err = args[0] if name in ("addFailure", "addError") else args[1] if name == "addSubTest" else None
        if err is not None and re.search(r"\d\.\d", str(err[1])):
            return True
    return False


def replay_lines(case: Any, variables: str) -> list[str]:
    """The command lines that re-run ``case`` where it ran, with ``variables`` set.

    A test module run as a script (``python test_x.py``) is re-run as that
    script; under pytest, the pytest node id is given too.
    """
    test_id = case.id()
    module = type(case).__module__
    if module == "__main__" and sys.argv and sys.argv[0]:
        name = test_id.split(".", 1)[1] if "." in test_id else test_id
        lines = [f"{variables} python {sys.argv[0]} {name}"]
    else:
        # python -m asynctestkit names itself here, for its workers too.
        runner = os.environ.get(REPLAY_ENV) or "python -m unittest"
        lines = [f"{variables} {runner} {test_id}"]
    node = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    if node and node.split("::")[-1].split("[")[0] == case._testMethodName:
        lines.append(f"{variables} python -m pytest '{node}'")
    return lines


def _skipped(case: Any) -> bool:
    method = getattr(case, case._testMethodName, None)
    return bool(
        getattr(type(case), "__unittest_skip__", False) or getattr(method, "__unittest_skip__", False)
    )


def seeded_loop(
    clock: VirtualClock,
    seed: int | None,
    option: Callable[[str], Any],
    trace: Trace | None,
    choices: Choices | None = None,
) -> asyncio.AbstractEventLoop:
    """Make a test's seeded (or traced) loop with its ``schedule_jitter`` and ``schedule_eager``."""
    return seeded_event_loop(
        clock,
        _IO_GRACE,
        check_seed(seed, "schedule_seed"),
        jitter(option),
        option("schedule_eager"),
        trace,
        choices,
    )
