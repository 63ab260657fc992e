"""The result a run prints to: unittest's ``TextTestResult``, which also records each test.

It prints exactly as ``python -m unittest`` does; what it records (outcome,
message, traceback, real seconds, the output ``-b`` captured) feeds the JUnit
XML report and the durations file. Tests that ran in a worker arrive as
`RemoteTest` stand-ins whose errors are already formatted (`Formatted`):
the same methods print them, so ``-j`` output reads as a serial run's.
"""

from __future__ import annotations

import time
import traceback
import unittest
from dataclasses import dataclass, field
from typing import Any, final

__all__ = (
    "Formatted", "Record", "RemoteError", "RemoteFailure", "RemoteSubTest", "RemoteTest", "RunnerResult",
)


@final
class Formatted:
    """A worker's error, formatted there: the traceback text and its one-line message."""

    __slots__ = ("message", "text")

    def __init__(self, text: str, message: str) -> None:
        self.text = text
        self.message = message


class RemoteFailure(AssertionError):
    """The type of a worker's failure (a subclass of the failureException, as the original)."""


class RemoteError(Exception):
    """The type of a worker's error."""


class _Described:
    """What a worker sent of a test: its id, its str() and its docstring's first line."""

    failureException = AssertionError

    def __init__(self, info: tuple[str, str, str | None]) -> None:  # no TestCase.__init__: a stand-in
        self._id, self._str, self._doc = info

    def id(self) -> str:
        return self._id

    def __str__(self) -> str:
        return self._str

    def shortDescription(self) -> str | None:
        return self._doc


@final
class RemoteTest(_Described):
    """A test that ran in a worker, as the result sees it: id, description, time, output."""

    def __init__(self, info: tuple[str, str, str | None]) -> None:
        super().__init__(info)
        self.seconds: float | None = None
        self.out = ""
        self.err = ""


class RemoteSubTest(_Described, unittest.case._SubTest):  # type: ignore[name-defined,misc]
    """A failing subtest of a worker's test (a ``_SubTest``, so -v indents it as unittest does)."""


@final
@dataclass(slots=True)
class Record:
    """What the report says of one test (or one class or module fixture)."""

    test_id: str
    description: str
    outcome: str = "passed"  # failure, error, skipped, expected failure, unexpected success
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, message, text)
    reason: str = ""
    seconds: float = 0.0
    out: str = ""
    err: str = ""


def message_of(err: Any) -> str:
    """The one-line message of an error tuple: ``AssertionError: 1 != 2``."""
    if isinstance(err[1], Formatted):
        return str(err[1].message)
    lines = traceback.format_exception_only(err[0], err[1])
    return lines[-1].strip() if lines else ""


class RunnerResult(unittest.TextTestResult):
    """``TextTestResult`` that also keeps a `Record` per test."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records: list[Record] = []
        # Only for --junit-xml and --durations-file: a plain run pays nothing.
        self.recording = False
        # Under -j: TextTestResult's addExpectedFailure and addUnexpectedSuccess
        # end the -v line without noting it (3.11+'s _newline), so a class
        # fixture's error replayed next would print without its name. A serial
        # run keeps unittest's output as it is.
        self.ends_lines = False
        self._current: Record | None = None
        self._started = 0.0

    def _exc_info_to_string(self, err: Any, test: Any) -> str:
        if isinstance(err[1], Formatted):
            return err[1].text
        return super()._exc_info_to_string(err, test)  # type: ignore[no-any-return,misc]

    def _record(self, test: Any) -> Record:
        current = self._current
        if current is not None and current.test_id == test.id():
            return current
        # A class or module fixture's error: no startTest.
        record = Record(test.id(), str(test))
        self.records.append(record)
        return record

    def _problem(self, test: Any, outcome: str, kind: str, err: Any) -> None:
        if not self.recording:
            return
        record = self._record(test)
        if record.outcome == "passed" or outcome == "error":
            record.outcome = outcome
        record.problems.append((kind, message_of(err), self._exc_info_to_string(err, test)))

    def startTest(self, test: Any) -> None:
        if not self.recording:
            super().startTest(test)
            return
        self._current = Record(test.id(), str(test))
        self.records.append(self._current)
        self._started = time.perf_counter()
        super().startTest(test)

    def stopTest(self, test: Any) -> None:
        record = self._current
        if record is not None:
            if isinstance(test, RemoteTest):
                record.seconds = test.seconds or 0.0
                record.out, record.err = test.out, test.err
            else:
                record.seconds = time.perf_counter() - self._started
                if self.buffer:
                    record.out = _buffered(getattr(self, "_stdout_buffer", None))
                    record.err = _buffered(getattr(self, "_stderr_buffer", None))
        self._current = None
        super().stopTest(test)

    def addError(self, test: Any, err: Any) -> None:
        self._problem(test, "error", "error", err)
        super().addError(test, err)

    def addFailure(self, test: Any, err: Any) -> None:
        self._problem(test, "failure", "failure", err)
        super().addFailure(test, err)

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        if err is not None and self.recording:
            failed = issubclass(err[0], test.failureException)
            kind = "failure" if failed else "error"
            record = self._record(test)
            if record.outcome in ("passed", "failure"):
                record.outcome = kind
            text = self._exc_info_to_string(err, test)
            record.problems.append((kind, f"{subtest}: {message_of(err)}", text))
        super().addSubTest(test, subtest, err)

    def addSkip(self, test: Any, reason: str) -> None:
        if self.recording:
            record = self._record(test)
            record.outcome, record.reason = "skipped", reason
        super().addSkip(test, reason)

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        if self.recording:
            self._record(test).outcome = "expected failure"
        super().addExpectedFailure(test, err)
        if self.ends_lines and self.showAll:
            self._newline = True

    def addUnexpectedSuccess(self, test: Any) -> None:
        if self.recording:
            self._record(test).outcome = "unexpected success"
        super().addUnexpectedSuccess(test)
        if self.ends_lines and self.showAll:
            self._newline = True


def _buffered(buffer: Any) -> str:
    return str(buffer.getvalue()) if buffer is not None else ""
