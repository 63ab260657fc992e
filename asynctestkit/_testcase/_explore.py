"""Running a clocked test under schedule seeds: exploration, replay and the determinism check.

`ClockedTestCase.run` hands each test here. Without a seed, an exploration
or the determinism check, the test runs once, as it always did (`run_test`
costs three environment look-ups). Otherwise each run reports into a
`_Recorder` (the test itself for one seed, a fresh instance for each
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
"""

from __future__ import annotations

import inspect
import os
import sys
import unittest
from typing import TYPE_CHECKING, Any

from .._compat import PY311
from .._virtual._loop import virtual_event_loop
from .._virtual._schedule import Trace, seeded_event_loop
from ._lifecycle import TestLifecycle

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from .._virtual._clock import VirtualClock

__unittest = True  # keep these frames out of failure tracebacks

__all__ = ("check_explore", "check_seed", "class_seed", "run_test", "seeded_loop", "single_seed")

SEED_ENV = "ASYNCTESTKIT_SEED"
EXPLORE_ENV = "ASYNCTESTKIT_EXPLORE"
CHECK_ENV = "ASYNCTESTKIT_CHECK_DETERMINISM"
REPLAY_ENV = "ASYNCTESTKIT_REPLAY_PREFIX"  # python -m asynctestkit sets it

# The loop's own default, for the seeded loops made here.
_IO_GRACE: float = (virtual_event_loop.__kwdefaults__ or {})["io_grace"]

_Err = tuple[type[BaseException], BaseException, Any]


def check_seed(value: object, where: str) -> int | None:
    """Return a schedule seed (an int >= 0, or None) or raise TypeError naming ``where``."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise TypeError(f"{where} needs a non-negative int seed, or None for the default order; got {value!r}")


def check_explore(value: object, where: str) -> int:
    """Return a number of seeds to explore (an int >= 0) or raise TypeError naming ``where``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise TypeError(f"{where} needs a non-negative int, the number of seeds to explore; got {value!r}")


def _env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(
            f"{name} needs a non-negative integer; got {text!r}. Unset it or set it to a number, "
            f"e.g. {name}=7"
        )
    return value


def single_seed(option: Callable[[str], Any]) -> int | None:
    """The seed of a test run once (``debug()``): as `plan` says, the default order if exploring.

    Raises:
        TypeError, ValueError: a schedule option or variable is not valid.
    """
    seeds, exploring = plan(option)
    return None if exploring else seeds[0]


def class_seed(cls: type) -> int | None:
    """The seed of a class's shared loop (``loop_scope = "class"``): the same sources, per class."""
    seed = _env_int(SEED_ENV)
    if seed is not None:
        return seed
    return check_seed(getattr(cls, "schedule_seed", None), "schedule_seed")


def plan(option: Callable[[str], Any]) -> tuple[list[int | None], bool]:
    """Return the seeds to run the test under, in order, and whether it is an exploration."""
    seed = _env_int(SEED_ENV)
    if seed is not None:
        return [seed], False
    explore = _env_int(EXPLORE_ENV)
    if explore is None:
        explore = check_explore(option("explore"), "explore")
    if explore:
        return [*range(1, explore + 1), None], True
    return [check_seed(option("schedule_seed"), "schedule_seed")], False


def run_test(case: Any, result: unittest.TestResult | None, run_once: Callable[[Any], Any]) -> Any:
    """Run ``case`` as its schedule options and the environment say; report to ``result``.

    ``run_once(result)`` runs ``case`` itself once; ``case._asynctestkit_schedule``
    is the ``(seed, trace)`` its loop gets.
    """
    check = os.environ.get(CHECK_ENV, "").strip() not in ("", "0")
    try:
        seeds, exploring = plan(case._asynctestkit_option)
    except (TypeError, ValueError):
        # Run it once: making its loop raises the same error, as the test's error.
        case._asynctestkit_schedule = None
        return run_once(result)
    if case.loop_scope == "class" or _skipped(case):
        # A class's loop is seeded once, for the class (class_seed); a skipped
        # test runs nothing.
        seeds, exploring, check = [None], False, False
    if not check and not exploring and seeds[0] is None:
        case._asynctestkit_schedule = (None, None)
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
    for seed in seeds:
        # One seed: the test itself; explored seeds: a fresh instance each.
        outcome = _run_schedule(case, seed, check, fresh=exploring)
        if getattr(result, "shouldStop", False):
            break
        if not exploring or outcome.was_skipped or seed is None:
            _report(case, result, outcome, seed, exploring=False)
            break
        if outcome.broke:
            default = _run_schedule(case, None, check)
            if default.broke:
                _report(case, result, default, None, exploring=False)
            else:
                _report(case, result, outcome, seed, exploring=True, explored=len(seeds) - 1)
            break
    return result


class _Recorder(unittest.TestResult):
    """Keeps what one run of a test reported, to pass on (or not) to the real result."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.broke = False
        self.was_skipped = False

    def startTest(self, test: unittest.TestCase) -> None:
        pass

    def stopTest(self, test: unittest.TestCase) -> None:
        pass

    def addSuccess(self, test: unittest.TestCase) -> None:
        self.calls.append(("addSuccess", ()))

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        self.broke = True
        self.calls.append(("addFailure", (err,)))

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        self.broke = True
        self.calls.append(("addError", (err,)))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        self.was_skipped = True
        self.calls.append(("addSkip", (reason,)))

    def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:
        self.calls.append(("addExpectedFailure", (err,)))

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        self.calls.append(("addUnexpectedSuccess", ()))

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: Any) -> None:
        if err is not None:
            self.broke = True
        self.calls.append(("addSubTest", (subtest, err)))

    def addDuration(self, test: unittest.TestCase, elapsed: float) -> None:
        self.calls.append(("addDuration", (elapsed,)))


def _run_schedule(case: Any, seed: int | None, check: bool, *, fresh: bool = True) -> _Recorder:
    """Run the test under ``seed`` into a `_Recorder`; twice, compared, with ``check``."""
    first = _Recorder()
    trace = Trace() if check else None
    if fresh:
        _run_once(_fresh(case, seed, trace), first)
    else:
        case._asynctestkit_schedule = (seed, trace)
        _run_once(case, first)
    if trace is None:
        return first
    second = _Recorder()
    other = Trace()
    _run_once(_fresh(case, seed, other), second)
    difference = trace.first_difference(other)
    if difference is None:
        return first
    order = "the default order" if seed is None else f"schedule seed {seed}"
    outcome = _Recorder()
    outcome.addFailure(case, _failure(case, (
        f"Not deterministic: two runs of this test under {order} differ at {difference}. "
        "Something the schedule does not control decides what runs when: real time, another "
        "thread, the random module, the order of a set or dict of str (PYTHONHASHSEED) or real IO. "
        "Seeds cannot replay this test until it is made deterministic"
    )))
    return outcome


def _run_once(test: Any, result: unittest.TestResult) -> None:
    # The run under ClockedTestCase.run, which is what brought us here.
    TestLifecycle.run(test, result)


def _fresh(case: Any, seed: int | None, trace: Trace | None) -> Any:
    # A new instance for each run, as the loader would make: a run starts from
    # the same state whatever the previous run left on the instance.
    try:
        inspect.signature(type(case)).bind(case._testMethodName)
    except (TypeError, ValueError):  # a class whose __init__ takes other arguments
        test = case
    else:
        test = type(case)(case._testMethodName)
    test._asynctestkit_schedule = (seed, trace)
    return test


def _failure(case: Any, message: str) -> _Err:
    try:
        raise case.failureException(message) from None
    except case.failureException:
        return sys.exc_info()  # type: ignore[return-value]


def _report(
    case: Any,
    result: unittest.TestResult,
    outcome: _Recorder,
    seed: int | None,
    *,
    exploring: bool,
    explored: int = 0,
) -> None:
    """Pass one run's outcome on to ``result`` as ``case``'s, each failure with its replay line."""
    note = None
    if seed is not None:
        found = f" (found exploring {explored} seeds; the default order passes)" if exploring else ""
        note = (
            f"Failed under schedule seed {seed}{found}. Replay it with:\n"
            f"    {SEED_ENV}={seed} {os.environ.get(REPLAY_ENV) or 'python -m unittest'} {case.id()}"
        )
    result.startTest(case)
    try:
        for name, args in outcome.calls:
            method = getattr(result, name, None)
            if method is None:  # addDuration before 3.12, or a minimal result
                continue
            if note is not None and name in ("addFailure", "addError"):
                args = (_annotated(args[0], note),)
            elif note is not None and name == "addSubTest" and args[1] is not None:
                args = (args[0], _annotated(args[1], note))
            method(case, *args)
    finally:
        result.stopTest(case)


def _annotated(err: _Err, note: str) -> _Err:
    _, exc, tb = err
    if PY311:
        # 3.11+ print exception notes (PEP 678) after the message.
        exc.add_note(note)  # type: ignore[attr-defined,unused-ignore]
        return err
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]}\n\n{note}",)
        return err
    # 3.10, an exception whose message is not its one argument: say it after.
    wrapper = RuntimeError(note)
    wrapper.__cause__ = exc
    return (RuntimeError, wrapper, tb)


def _skipped(case: Any) -> bool:
    method = getattr(case, case._testMethodName, None)
    return bool(
        getattr(type(case), "__unittest_skip__", False) or getattr(method, "__unittest_skip__", False)
    )


def seeded_loop(
    clock: VirtualClock, seed: int | None, option: Callable[[str], Any], trace: Trace | None
) -> asyncio.AbstractEventLoop:
    """Make a test's seeded (or traced) loop with its ``schedule_jitter`` and ``schedule_eager``."""
    return seeded_event_loop(
        clock,
        _IO_GRACE,
        check_seed(seed, "schedule_seed"),
        option("schedule_jitter"),
        option("schedule_eager"),
        trace,
    )
