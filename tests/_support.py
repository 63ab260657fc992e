"""Helpers shared by the test modules that drive a virtual loop by hand."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import unittest
from collections.abc import Awaitable, Callable, Iterator
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


class _KeepErrors(unittest.TestResult):
    """A result that keeps the exceptions its errors were raised with."""

    def __init__(self) -> None:
        super().__init__()
        self.raised: list[BaseException] = []

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        self.raised.append(err[1])
        super().addError(test, err)


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


async def _refused(self: Any) -> None:
    raise AssertionError("a test of a class whose options were refused ran")


@contextlib.contextmanager
def assert_refused(test: unittest.TestCase, error: type[Exception], pattern: str) -> Iterator[None]:
    """Assert that the test case class made in the block is refused: its tests error with ``error``.

    A class option refused when the class is made fails each test of that
    class (the message matching ``pattern``), not the import of its module.
    """
    from asynctestkit import AsyncTestCase

    before = set(_subclasses(AsyncTestCase))
    # A class made by a bare `type(...)` call is garbage (a cycle) at once: no
    # collection may take it before it is found.
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
        made = [cls for cls in _subclasses(AsyncTestCase) if cls not in before]
    finally:
        if collecting:
            gc.enable()
    test.assertEqual(len(made), 1, made)
    cls = made[0]
    cls.test_refused = _refused  # type: ignore[attr-defined]
    for _ in range(2):  # every test of the class, each with its own copy
        result = _KeepErrors()
        cls("test_refused").run(result)
        test.assertEqual((len(result.errors), len(result.failures), result.testsRun), (1, 0, 1), result.errors)
        test.assertIsInstance(result.raised[0], error)
        test.assertRegex(str(result.raised[0]), pattern)
