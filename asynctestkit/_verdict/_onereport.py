"""One report per test: the test's own failure first, the mess it left appended to it.

unittest runs the hygiene verdict as the test's last cleanup, and reports a
failing cleanup as a failure of its own: a test that fails *and* leaves a
task pending counted twice (``failures=2``; pytest showed one failed and one
error), with the real cause in whichever block the reader looked at last.
`OneReport` stands between ``TestCase.run`` and the result for one test: it
holds the test's ``addError``/``addFailure`` calls until ``stopTest``, and
when the verdict's failure (marked by `mark_mess`) comes after another one,
it passes on only the first, with the verdict's report attached: as a note
(3.11+, printed under the exception, by unittest and pytest alike), or on
3.10, which prints no notes, as the exception it caused. Every other call
goes straight through.
"""

from __future__ import annotations

import contextlib
import unittest
from typing import TYPE_CHECKING, Any, final

from .._compat import PY311
from .._report import is_mess

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

    ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

__all__ = ("OneReport", "one_report")

@final
class OneReport:
    """A result for one test's run that merges the verdict's failure into the test's own.

    Args:
        result: The result ``TestCase.run`` was given.
        test: The test being run; calls about other tests go through.
    """

    def __init__(self, result: unittest.TestResult, test: unittest.TestCase) -> None:
        self.result = result
        self._result = result
        self._test = test
        self._held: list[tuple[str, ExcInfo]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)

    def addError(self, test: unittest.TestCase, err: ExcInfo) -> None:
        self._hold("addError", test, err)

    def addFailure(self, test: unittest.TestCase, err: ExcInfo) -> None:
        self._hold("addFailure", test, err)

    def _hold(self, kind: str, test: unittest.TestCase, err: ExcInfo) -> None:
        if test is not self._test:
            getattr(self._result, kind)(test, err)
        else:
            self._held.append((kind, err))

    def stopTest(self, test: unittest.TestCase) -> None:
        self.flush()
        self._result.stopTest(test)

    def flush(self) -> None:
        """Pass on what is held, the verdict's failure merged into the first other one."""
        held, self._held = self._held, []
        mess = [entry for entry in held if is_mess(entry[1][1])]
        rest = [entry for entry in held if not is_mess(entry[1][1])]
        if mess and rest:
            kind, err = rest[0]
            rest[0] = (kind, _attach(err, mess[0][1][1]))
            held = rest
        for kind, err in held:
            getattr(self._result, kind)(self._test, err)


@contextlib.contextmanager
def one_report(test: unittest.TestCase, result: unittest.TestResult | None) -> Iterator[OneReport]:
    """Give ``TestCase.run`` a `OneReport` for ``test`` inside the block.

    Without a result, makes the test's default one and starts and stops a
    run around the block, as ``TestCase.run`` does; ``.result`` is the result.
    """
    made = result is None
    real = test.defaultTestResult() if result is None else result
    if made and hasattr(real, "startTestRun"):
        real.startTestRun()
    try:
        yield OneReport(real, test)
    finally:
        if made and hasattr(real, "stopTestRun"):
            real.stopTestRun()


def _attach(err: ExcInfo, mess: BaseException) -> ExcInfo:
    """Return ``err`` carrying the verdict's report ``mess``, printed after it."""
    exc = err[1]
    report = str(mess)
    if PY311:
        exc.add_note("\n" + report)  # type: ignore[attr-defined, unused-ignore]  # 3.11+
        return err
    # 3.10: the traceback module prints no notes; the report is the
    # exception the test's failure caused, printed after it.
    also = type(mess)(report)
    also.__cause__ = exc
    return type(also), also, None
