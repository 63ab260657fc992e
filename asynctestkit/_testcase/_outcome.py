"""What one run of a test reported, kept, then passed on to the real result with a note.

An explored seed, a replay's re-run or the determinism check's second run
reports into a `Recorder`; `pass_on` gives the run that counts to the
test's result as the test's own outcome, each failure annotated.
"""

from __future__ import annotations

import sys
import unittest
from typing import Any

from .._compat import PY311

__unittest = True

__all__ = ("Err", "Recorder", "annotated", "failure", "pass_on")

Err = tuple[type[BaseException], BaseException, Any]


class Recorder(unittest.TestResult):
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


def failure(case: Any, message: str) -> Err:
    try:
        raise case.failureException(message) from None
    except case.failureException:
        return sys.exc_info()  # type: ignore[return-value]


def pass_on(case: Any, result: unittest.TestResult, outcome: Recorder, note: str | None) -> None:
    """Report ``outcome``'s calls to ``result`` as ``case``'s, each failure with ``note`` added."""
    result.startTest(case)
    try:
        for name, args in outcome.calls:
            method = getattr(result, name, None)
            if method is None:  # addDuration before 3.12, or a minimal result
                continue
            if note is not None and name in ("addFailure", "addError"):
                args = (annotated(args[0], note),)
            elif note is not None and name == "addSubTest" and args[1] is not None:
                args = (args[0], annotated(args[1], note))
            method(case, *args)
    finally:
        result.stopTest(case)


def annotated(err: Err, note: str) -> Err:
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
