"""Helpers shared by the test modules that drive a virtual loop by hand."""

from __future__ import annotations

import asyncio
import unittest
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asynctestkit import VirtualClock, virtual_event_loop

T = TypeVar("T")


def run_virtual(clock: VirtualClock, main: Callable[[], Awaitable[T]], **options: Any) -> T:
    """Run ``main()`` on a new virtual loop on ``clock``, then close the loop cleanly."""
    loop = virtual_event_loop(clock, **options)
    try:
        return loop.run_until_complete(main())
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def run_test(case: unittest.TestCase) -> unittest.TestResult:
    """Run one test into a fresh result and return the result."""
    result = unittest.TestResult()
    case.run(result)
    return result


def only_failure(test: unittest.TestCase, result: unittest.TestResult) -> str:
    """Return the text of the single failure in ``result``; fail if the outcome is otherwise."""
    problems = result.errors + result.failures
    test.assertEqual(len(problems), 1, problems)
    test.assertEqual(len(result.failures), 1, result.errors)
    return result.failures[0][1]
