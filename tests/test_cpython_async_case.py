"""CPython's own tests of IsolatedAsyncioTestCase, run against AsyncTestCase.

AsyncTestCase is meant to replace ``unittest.IsolatedAsyncioTestCase`` with
one changed base class. The strictest check of that is the stdlib's own test
module for it (``Lib/test/test_unittest/test_async_case.py``; on 3.10-3.11
``Lib/unittest/test/test_async_case.py``), taken from the running
interpreter's test package: a fresh copy of the module is loaded in which
``unittest.IsolatedAsyncioTestCase`` is `AsyncTestCase`, and its tests run
here. Where the interpreter ships no test package (some distributions' 3.14
and 3.15), the tests are skipped.
"""

from __future__ import annotations

import asyncio
import importlib.util
import types
import unittest
from typing import Any

from asynctestkit import AsyncTestCase

# Where each version keeps the module: 3.12+ moved it into Lib/test.
_CANDIDATES = ("test.test_unittest.test_async_case", "unittest.test.test_async_case")


def load_cpython_module() -> tuple[types.ModuleType | None, str]:
    """Return a private copy of CPython's test module with AsyncTestCase swapped in, or why not.

    The copy is not put in ``sys.modules`` (its ``tearDownModule`` does not
    run) and the stdlib's own module, if imported, is left untouched.
    """
    for name in _CANDIDATES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, unittest.SkipTest):
            spec = None
        if spec is None or spec.loader is None:
            continue
        copy = importlib.util.spec_from_file_location(f"_cpython_{name.replace('.', '_')}", spec.origin)
        assert copy is not None and copy.loader is not None
        module = importlib.util.module_from_spec(copy)
        try:
            copy.loader.exec_module(module)
        except unittest.SkipTest as skip:  # e.g. requires_working_socket()
            return None, f"{name}: {skip}"
        proxy = types.ModuleType("unittest")
        proxy.__dict__.update(unittest.__dict__)
        proxy.IsolatedAsyncioTestCase = AsyncTestCase  # type: ignore[attr-defined]
        module.unittest = proxy  # type: ignore[attr-defined]
        return module, name
    return None, "this Python has no test package with test_async_case (" + ", ".join(_CANDIDATES) + ")"


_MODULE, _WHERE = load_cpython_module()
_Base: Any = getattr(_MODULE, "TestAsyncCase", None) or unittest.TestCase


@unittest.skipIf(_MODULE is None, _WHERE)
class CPythonAsyncCaseTest(_Base):  # type: ignore[misc]
    """Every test of CPython's TestAsyncCase, with AsyncTestCase as the class under test."""

    def setUp(self) -> None:
        super().setUp()
        # Some of them reset the event loop policy: put back the one of before.
        policy = asyncio.events._event_loop_policy  # type: ignore[attr-defined]
        self.addCleanup(setattr, asyncio.events, "_event_loop_policy", policy)

    def test_the_module_was_found(self) -> None:
        """The stdlib's module loaded, with its test class and AsyncTestCase in place."""
        assert _MODULE is not None
        self.assertIs(_MODULE.unittest.IsolatedAsyncioTestCase, AsyncTestCase)
        self.assertTrue(any(n.startswith("test_debug") for n in dir(_MODULE.TestAsyncCase)))


# Only the class above runs them: found here, the stdlib's own class would run them twice.
del _Base

if __name__ == "__main__":
    unittest.main()
