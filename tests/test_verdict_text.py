"""Failures point at the user's code: a deadlock at the line that waits, a slow step by its test."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

from asynctestkit import ClockedTestCase, LivelockError, SlowCallbackWarning
from asynctestkit._verdict import _hygiene as _hygiene_module
from tests._support import run_test

ROOT = Path(__file__).resolve().parent.parent
CARETS = r"(?:    \^+\n)?"  # 3.11+ underline the expression


def no_sampler() -> Any:
    """Keep the sampler from seeing the test's callbacks (the report's wording without it)."""
    return mock.patch.object(_hygiene_module.Hygiene, "_sample", lambda self, watch: None)


class _Inner:
    """Test classes run by the tests below (not collected themselves)."""

    class Stuck(ClockedTestCase):
        async def test_deadlocks(self) -> None:
            event = asyncio.Event()
            await self.helper(event)

        async def helper(self, event: asyncio.Event) -> None:
            await event.wait()  # nobody sets it

        async def test_spins(self) -> None:
            while True:
                await asyncio.sleep(3600)  # past the budget

    class Slow(ClockedTestCase):
        async def test_blocks_then_returns(self) -> None:
            time.sleep(0.15)  # blocks the loop; no await after it


_Inner.Stuck.clock_budget = 7200.0  # type: ignore[attr-defined]


class DeadlockTracebackTest(unittest.TestCase):
    """A DeadlockError shows the user's lines only, outermost first, then the report."""

    def test_the_traceback_is_the_await_chain(self) -> None:
        result = run_test(_Inner.Stuck("test_deadlocks"))
        self.assertEqual(len(result.errors), 1, result.failures)
        text = result.errors[0][1]
        self.assertRegex(
            text,
            r"^Traceback \(most recent call last\):\n"
            r'  File ".*test_verdict_text\.py", line \d+, in test_deadlocks\n'
            r"    await self\.helper\(event\)\n" + CARETS +
            r'  File ".*test_verdict_text\.py", line \d+, in helper\n'
            r"    await event\.wait\(\)  # nobody sets it\n" + CARETS +
            r"asynctestkit\.DeadlockError: Deadlock: every task waits",
        )

    def test_a_livelock_too(self) -> None:
        result = run_test(_Inner.Stuck("test_spins"))
        text = result.errors[0][1]
        self.assertRegex(
            text,
            r"^Traceback \(most recent call last\):\n"
            r'  File ".*test_verdict_text\.py", line \d+, in test_spins\n'
            r"    await asyncio\.sleep\(3600\)  # past the budget\n" + CARETS +
            r"asynctestkit\.LivelockError: Virtual-time budget exhausted",
        )
        self.assertTrue(issubclass(LivelockError, RuntimeError))


class SlowStepTest(unittest.TestCase):
    """A step that blocked the loop and then returned is named as the test's, not the toolkit's."""

    def test_named_by_the_test(self) -> None:
        # Without the sampler (tests/test_slow_sampler.py tests it), which
        # would name the line that blocked: the wording when it saw nothing.
        with warnings.catch_warnings(record=True) as caught, no_sampler():
            warnings.simplefilter("always")
            run_test(_Inner.Slow("test_blocks_then_returns"))
        slow = [str(w.message) for w in caught if issubclass(w.category, SlowCallbackWarning)]
        self.assertEqual(len(slow), 1, slow)
        self.assertRegex(
            slow[0],
            r"(?m)^- a step of task '.*test_blocks_then_returns: test_blocks_then_returns' running "
            r"_Inner\.Slow\.test_blocks_then_returns\(\) \(line \d+ of .*test_verdict_text\.py\), "
            r"before it returned blocked the loop for",
        )
        self.assertNotIn("_lifecycle.py", slow[0])
        self.assertNotIn("guarded_step", slow[0])


@unittest.skipUnless(importlib.util.find_spec("pytest"), "pytest is not installed")
class UnderPytestTest(unittest.TestCase):
    """Under pytest: the deadlock at the user's line, and one report for a failing, leaking test."""

    def test_pytest_report(self) -> None:
        source = textwrap.dedent('''
            import asyncio
            from asynctestkit import AsyncTestCase, ClockedTestCase

            class T(ClockedTestCase):
                async def test_deadlocks(self):
                    await asyncio.Event().wait()

            class U(AsyncTestCase):
                async def test_fails_and_leaks(self):
                    asyncio.ensure_future(asyncio.sleep(10))
                    assert 1 == 2
        ''')
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "test_sample.py")
            path.write_text(source)
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
                capture_output=True, text=True, env=env, timeout=120, check=False,
            )
        out = done.stdout
        self.assertIn("2 failed", out)
        self.assertNotIn("error", out.splitlines()[-1])  # one report per test: no "1 error"
        # The deadlock: the user's line, then the error; no loop internals.
        self.assertRegex(out, r"(?m)^>\s+await asyncio\.Event\(\)\.wait\(\)\nE\s+asynctestkit\.DeadlockError: Deadlock")
        self.assertNotIn("_atk_", out)
        self.assertNotIn("def _run_once", out)
        # The leak joins the assertion's report.
        self.assertRegex(out, r"(?s)assert 1 == 2.*The test left a mess behind.*Tasks still pending")


if __name__ == "__main__":
    unittest.main()
