"""CPython's own tests of asyncio.TaskGroup, run on AsyncTestCase and ClockedTestCase.

``Lib/test/test_asyncio/test_taskgroups.py`` (3.11+) is a demanding user of
``IsolatedAsyncioTestCase``: its ``test_exception_refcycles_*`` tests (3.14+)
walk ``asyncio.current_task().get_coro()`` down its ``cr_await`` chain to the
test method's frame, which only works when the step's task runs the test's
own coroutine; and 3.14 sets ``loop_factory`` on its classes. Each test case
class of the module is rebuilt here on an asynctestkit base (its methods and
mixins kept, ``IsolatedAsyncioTestCase`` swapped out) and run into a result.
Where the interpreter ships no such module (3.10, some distributions), the
tests are skipped.
"""

from __future__ import annotations

import importlib
import sys
import types
import unittest
from typing import Any

from asynctestkit import AsyncTestCase, ClockedTestCase

_NAME = "test.test_asyncio.test_taskgroups"


def _load() -> tuple[types.ModuleType | None, str]:
    try:
        return importlib.import_module(_NAME), ""
    except (ImportError, unittest.SkipTest) as exc:
        return None, f"this Python has no {_NAME} ({exc})"


_MODULE, _WHY = _load()


def rebuilt(base: type, *, loop_factory: bool) -> list[type]:
    """Return the module's test case classes, each rebuilt on ``base`` (with or without its loop_factory)."""
    assert _MODULE is not None
    classes = []
    for name, cls in vars(_MODULE).items():
        if isinstance(cls, type) and issubclass(cls, unittest.IsolatedAsyncioTestCase):
            namespace = {k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")}
            if not loop_factory:
                namespace.pop("loop_factory", None)
            bases = tuple(b for b in cls.__bases__ if b is not unittest.IsolatedAsyncioTestCase)
            classes.append(type(name, (*bases, base), namespace))
    return classes


def run(classes: list[type], prefix: str = "test") -> unittest.TestResult:
    """Run the tests of ``classes`` whose names start with ``prefix`` into a new result."""
    loader = unittest.TestLoader()
    loader.testMethodPrefix = prefix
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(cls) for cls in classes)
    result = unittest.TestResult()
    suite.run(result)
    return result


def problems(result: unittest.TestResult) -> str:
    return "\n".join(text for _, text in result.errors + result.failures)


@unittest.skipIf(_MODULE is None, _WHY)
class CPythonTaskGroupTest(unittest.TestCase):
    """CPython's TaskGroup tests pass on asynctestkit's test cases."""

    def setUp(self) -> None:
        # Some of them reset the event loop policy: put back the one of before.
        policy = asyncio_policy()
        self.addCleanup(setattr, sys.modules["asyncio"].events, "_event_loop_policy", policy)

    def test_refcycle_tests_walk_down_to_the_test_frame(self) -> None:
        """test_exception_refcycles_* (3.14+) find the test method's frame from current_task().get_coro()."""
        assert _MODULE is not None
        if not hasattr(_MODULE, "no_other_refs"):
            self.skipTest("this Python's test_taskgroups has no test_exception_refcycles_* tests (3.14+)")
        result = run(rebuilt(AsyncTestCase, loop_factory=True), "test_exception_refcycles")
        self.assertEqual(problems(result), "")
        self.assertGreaterEqual(result.testsRun, 12)  # 6 tests, on a lazy and an eager loop

    def test_the_whole_module_on_the_virtual_clock(self) -> None:
        """Every test of the module passes under ClockedTestCase (its loop_factory left out)."""
        result = run(rebuilt(ClockedTestCase, loop_factory=False))
        self.assertEqual(problems(result), "")
        self.assertGreater(result.testsRun, 30)

    def test_a_loop_factory_clocked_test_case_cannot_honour_fails_only_its_tests(self) -> None:
        """3.14+ sets loop_factory on its classes: under ClockedTestCase each test errors, saying why."""
        assert _MODULE is not None
        if not any("loop_factory" in vars(cls) for cls in vars(_MODULE).values() if isinstance(cls, type)):
            self.skipTest("this Python's test_taskgroups sets no loop_factory (3.14+)")
        classes = rebuilt(ClockedTestCase, loop_factory=True)  # made without an error
        result = run(classes)
        self.assertGreater(result.testsRun, 30)
        self.assertEqual(len(result.errors), result.testsRun)
        for _, text in result.errors:
            self.assertRegex(
                text,
                r"(?m)^TypeError: Test\w*TaskGroup sets loop_factory, but ClockedTestCase makes its own "
                r"virtual loop; use AsyncTestCase with loop_factory=virtual_event_loop, ",
            )


def asyncio_policy() -> Any:
    return getattr(sys.modules["asyncio"].events, "_event_loop_policy", None)


if __name__ == "__main__":
    unittest.main()
