"""One report per test: a test that fails and leaves a mess counts once, its own failure first."""

from __future__ import annotations

import asyncio
import unittest

from asynctestkit import AsyncTestCase, ClockedTestCase
from asynctestkit._compat import PY311
from tests._support import run_test

MESS = r"The test left a mess behind \(asynctestkit hygiene checks"


class _Inner:
    """Test classes run by the tests below (not collected themselves)."""

    class Failing(AsyncTestCase):
        async def test_fails_and_leaks(self) -> None:
            asyncio.get_running_loop().create_task(asyncio.sleep(10))  # the leak
            self.assertEqual(1, 2)

        async def test_errors_and_leaks(self) -> None:
            asyncio.get_running_loop().create_task(asyncio.sleep(10))
            raise ValueError("the real cause")

        async def test_only_leaks(self) -> None:
            asyncio.get_running_loop().create_task(asyncio.sleep(10))

        async def test_fails_cleanly(self) -> None:
            self.assertEqual(1, 2)


    class ClockedFailing(ClockedTestCase):
        async def test_fails_and_leaks(self) -> None:
            asyncio.get_running_loop().call_later(10, int)
            self.fail("the real cause")


class OneReportTest(unittest.TestCase):
    """The verdict's failure joins the test's own: one entry, the cause first."""

    def test_a_failure_and_a_leak_count_once(self) -> None:
        """failures=1, not 2: the assertion first, the leak report after it, in one text."""
        result = run_test(_Inner.Failing("test_fails_and_leaks"))
        self.assertEqual((len(result.failures), len(result.errors)), (1, 0))
        text = result.failures[0][1]
        self.assertRegex(text, r"(?s)AssertionError: 1 != 2\n.*" + MESS)
        self.assertRegex(text, r"(?s)Tasks still pending.*in test_fails_and_leaks")
        self.assertLess(text.index("1 != 2"), text.index("left a mess"))

    def test_an_error_and_a_leak_count_once_as_an_error(self) -> None:
        """The test's error keeps its kind (an error, not a failure) and comes first."""
        result = run_test(_Inner.Failing("test_errors_and_leaks"))
        self.assertEqual((len(result.failures), len(result.errors)), (0, 1))
        text = result.errors[0][1]
        self.assertRegex(text, r"(?s)ValueError: the real cause\n.*" + MESS)

    def test_on_the_virtual_clock_too(self) -> None:
        """A timer left pending joins the failure of a ClockedTestCase test."""
        result = run_test(_Inner.ClockedFailing("test_fails_and_leaks"))
        self.assertEqual((len(result.failures), len(result.errors)), (1, 0))
        self.assertRegex(result.failures[0][1], r"(?s)AssertionError: the real cause\n.*Timers still pending")

    def test_a_leak_alone_is_its_own_failure(self) -> None:
        """With no other failure, the verdict's report is the failure, as before."""
        result = run_test(_Inner.Failing("test_only_leaks"))
        self.assertEqual((len(result.failures), len(result.errors)), (1, 0))
        self.assertRegex(result.failures[0][1], "(?m)^AssertionError: " + MESS)

    def test_a_clean_failure_is_untouched(self) -> None:
        """A failing test that left nothing behind reports exactly its failure."""
        result = run_test(_Inner.Failing("test_fails_cleanly"))
        self.assertEqual(len(result.failures), 1)
        self.assertNotIn("mess", result.failures[0][1])
        self.assertTrue(result.failures[0][1].rstrip().endswith("AssertionError: 1 != 2"))

    @unittest.skipUnless(PY311, "3.11+ print exception notes")
    def test_the_report_is_a_note_on_the_tests_exception(self) -> None:
        """3.11+: the exception the test raised carries the report as a note (pytest shows it too)."""
        seen: list[BaseException] = []

        class Result(unittest.TestResult):
            def addError(self, test: unittest.TestCase, err: object) -> None:
                seen.append(err[1])  # type: ignore[index]
                super().addError(test, err)  # type: ignore[arg-type]

        result = Result()
        _Inner.Failing("test_errors_and_leaks").run(result)
        self.assertEqual(len(seen), 1)
        self.assertRegex("\n".join(seen[0].__notes__), MESS)  # type: ignore[attr-defined]

    def test_run_without_a_result_still_returns_one(self) -> None:
        """run() with no result makes one and returns it, as TestCase.run does."""
        result = _Inner.Failing("test_fails_and_leaks").run()
        assert result is not None
        self.assertEqual(len(result.failures), 1)


if __name__ == "__main__":
    unittest.main()
