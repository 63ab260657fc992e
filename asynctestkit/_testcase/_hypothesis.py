"""Hypothesis ``@given`` on ``async def`` test methods: each example on the test's loop, judged alone.

Hypothesis runs every example through the test case's ``execute_example(f)``
(its documented hook for custom function execution): ``f()`` draws the
arguments and calls the test, which for an ``async def`` test returns a
coroutine. `execute_example` runs that coroutine to the end on the test's
loop, as a step of the test (the watchdog's timeout, slow callbacks and
Ctrl-C as for any step), in a copy of the test's context (an example's
context variables do not leak into the next), and then gives the example
its own hygiene verdict: tasks and timers it left pending, exceptions that
reached the loop, coroutines never awaited, calls from other threads. Those
fail the example (``failureException``), so Hypothesis shrinks it like any
other failure; what an example left is cancelled before the next starts.
What existed before the example (tasks and timers ``asyncSetUp`` started) is
not the example's.

On a ``ClockedTestCase`` each example starts at the virtual time the first
one started at, with the same ``clock_budget`` left: the clock is put back
when the example left no timer pending (nothing can then tell). A timer that outlives examples (a task
``asyncSetUp`` started that sleeps) keeps the clock going on, since moving
time back under it would change when it fires.

This module never imports Hypothesis: Hypothesis calls it.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from typing import TYPE_CHECKING, Any

from .._report import raise_failure
from .._verdict._hygiene import format_problems
from ._lifecycle import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import Callable

__unittest = True  # keep these frames out of failure tracebacks
__tracebackhide__ = True  # and out of pytest's (STYLE.md 14)

__all__ = ("execute_example",)

# The hygiene lists an example's findings are read from (and cut back to).
_FOUND = ("exceptions", "lost", "never_awaited", "wrong_thread")


def execute_example(case: Any, f: Callable[[], Any]) -> Any:
    """Run one Hypothesis example of ``case``; an async test's coroutine on the test's loop.

    Raises:
        RuntimeError: called while the test's loop runs (an example run
            from inside a coroutine) or outside a test.
        case.failureException: the example left a mess (see the module docstring).
    """
    result = f()
    if not inspect.isawaitable(result):
        return result  # a sync test, or a sync part of one
    loop = case._asynctestkit_loop
    if loop is None or loop.is_running():
        if inspect.iscoroutine(result):
            result.close()
        raise RuntimeError(
            "@given on an async test runs each example on the test's loop, which must not be "
            "running: put @given on the test method itself (async def test_...), not on a "
            "coroutine the test awaits"
        )
    hygiene = case._asynctestkit_hygiene
    _rewind_clock(case, loop)
    tasks = set(asyncio.all_tasks(loop))
    timers = {id(handle) for handle in hygiene.pending_timers()}
    marks = {name: len(getattr(hygiene, name)) for name in _FOUND}
    value = _step(case, result, "example")
    _judge(case, loop, tasks, timers, marks)
    return value


def _step(case: Any, awaitable: Any, name: str) -> Any:
    # Hypothesis calls us inside the test's context (the test method's step):
    # the example runs in a copy, so what it sets is gone for the next one.
    context = case._asynctestkit_context
    case._asynctestkit_context = contextvars.copy_context()
    try:
        return case._asynctestkit_await(awaitable, name)
    finally:
        case._asynctestkit_context = context


def _rewind_clock(case: Any, loop: asyncio.AbstractEventLoop) -> None:
    clock: Any = getattr(case, "clock", None)
    loop_clock: Any = getattr(loop, "clock", None)
    if clock is None or loop_clock is not clock:
        return
    now: int = loop_clock.now_ns
    start = getattr(case, "_asynctestkit_example_start", None)
    if start is None or start[0] is not clock:
        case._asynctestkit_example_start = (clock, now, clock.budget)
    elif now != start[1] and not clock.pending_timers():
        clock._set_ns(start[1])
        clock.budget = start[2]  # and with the same autojump budget left


def _judge(
    case: Any, loop: asyncio.AbstractEventLoop, tasks: set[Any], timers: set[int], marks: dict[str, int]
) -> None:
    """Fail the example if it left a mess; cancel what it left either way."""
    hygiene = case._asynctestkit_hygiene
    option = case._asynctestkit_option
    owned = set(case._asynctestkit_owned)
    leaked = [t for t in asyncio.all_tasks(loop) if not t.done() and t not in tasks and t not in owned]
    # Tasks still pending are checked again at the test's verdict.
    alive = [ref for ref in hygiene.created if (t := ref()) is not None and not t.done()]
    hygiene.unretrieved()
    hygiene.created.extend(alive)
    left = [h for h in hygiene.pending_timers() if id(h) not in timers]
    found = {name: getattr(hygiene, name)[marks[name]:] for name in _FOUND}
    saved = {name: getattr(hygiene, name) for name in _FOUND}
    for name in _FOUND:
        setattr(hygiene, name, found[name])
    try:
        sections = hygiene.findings(
            leaked=leaked, timers=left,
            check_tasks=option("check_tasks"), check_timers=option("check_timers"),
            check_exceptions=option("check_exceptions"), check_coroutines=option("check_coroutines"),
            check_threads=option("check_threads"),
        )
    finally:
        for name in _FOUND:  # the example's findings are its own, not the test's again
            setattr(hygiene, name, saved[name][:marks[name]])
    for handle in left:
        handle.cancel()
    if leaked:
        _step(case, cancel_and_wait(leaked), "cleanup of the example")
    if sections:
        message = format_problems(sections).replace("The test left", "This Hypothesis example left", 1)
        message = message.replace("at the end of the test", "at the end of the example")
        raise_failure(case.failureException, message)
