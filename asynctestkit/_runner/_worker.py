"""A worker process of ``python -m asynctestkit -j N``.

Started by `_pool.Pool` with the runner's interpreter flags, in a session of
its own (a Ctrl-C in the terminal reaches the runner, which stops the
workers). It reads frames from stdin: first the run's spec (the command line,
``sys.path``, ``-b``, ``--locals``, the warnings filter), then one
``("run", unit, [(index, id), ...])`` per unit and ``("exit",)``. It
discovers the tests as the runner did (the same arguments give the same
list), runs each unit as one top-level ``TestSuite`` (module and class
fixtures run as in a serial run) and reports on the pipe whose number is its
one argument: ``("ready", n)``, ``("start", index, info)`` before a test,
``("test", index, info, events, seconds, out, err, started)`` after it
(``started`` False for a test 3.12+ skipped without ``startTest``),
``("orphan", info, events)`` for a fixture's error, ``("done", unit)``.
Its own stdout and stderr (what tests print, a crash's last words:
faulthandler is on) go to the runner, which passes them on.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import sys
import time
import unittest
import warnings
from typing import Any, BinaryIO

from ._result import message_of
from ._units import flatten
from ._wire import read_frame, write_frame

__all__ = ("main",)

_Info = tuple[str, str, "str | None"]


def _info(test: Any) -> _Info:
    return (test.id(), str(test), test.shortDescription())


class WorkerResult(unittest.TestResult):
    """Sends each test's outcome, formatted here, to the runner."""

    def __init__(self, channel: BinaryIO, indices: dict[int, int]) -> None:
        super().__init__()
        self._channel = channel
        self._indices = indices  # id(test object) -> index in the flat list
        self._events: list[tuple[Any, ...]] | None = None
        self._started = 0.0
        self._in_test = False

    def _error(self, kind: str, err: Any, test: Any) -> tuple[str, str, str]:
        text: str = self._exc_info_to_string(err, test)  # type: ignore[attr-defined]
        return (kind, text, message_of(err))

    def _event(self, test: Any, event: tuple[Any, ...]) -> None:
        if not isinstance(test, unittest.TestCase):  # a class or module fixture's _ErrorHolder
            write_frame(self._channel, ("orphan", _info(test), [event]))
        elif self._events is None:  # 3.12+ skip a test without startTest
            self._events = [event]
        else:
            self._events.append(event)

    def startTest(self, test: Any) -> None:
        super().startTest(test)
        self._events = []
        self._in_test = True
        write_frame(self._channel, ("start", self._indices.get(id(test), -1), _info(test)))
        self._started = time.perf_counter()

    def stopTest(self, test: Any) -> None:
        seconds = time.perf_counter() - self._started
        out = err = ""
        if self.buffer:
            stdout, stderr = getattr(self, "_stdout_buffer", None), getattr(self, "_stderr_buffer", None)
            out = stdout.getvalue() if stdout is not None else ""
            err = stderr.getvalue() if stderr is not None else ""
        super().stopTest(test)
        events, self._events = self._events or [], None
        started, self._in_test = self._in_test, False
        if not started:
            seconds = 0.0
        message = ("test", self._indices.get(id(test), -1), _info(test), events, seconds, out, err, started)
        write_frame(self._channel, message)

    def addSuccess(self, test: Any) -> None:
        super().addSuccess(test)
        self._event(test, ("addSuccess",))

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        self._event(test, ("addError", self._error("error", err, test)))

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, err)
        self._event(test, ("addFailure", self._error("failure", err, test)))

    def addSkip(self, test: Any, reason: str) -> None:
        super().addSkip(test, reason)
        self._event(test, ("addSkip", reason))

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self._event(test, ("addExpectedFailure", self._error("failure", err, test)))

    def addUnexpectedSuccess(self, test: Any) -> None:
        super().addUnexpectedSuccess(test)
        self._event(test, ("addUnexpectedSuccess",))

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "failure" if issubclass(err[0], test.failureException) else "error"
            self._event(test, ("addSubTest", _info(subtest), self._error(kind, err, test)))

    def addDuration(self, test: Any, elapsed: float) -> None:
        self._event(test, ("addDuration", elapsed))


def _find(tests: list[Any], wanted: list[tuple[int, str]]) -> tuple[list[Any], list[str]]:
    """The tests at the runner's indices, checked by id (searched by id if discovery differs)."""
    found, missing = [], []
    by_id: dict[str, list[Any]] | None = None
    for index, test_id in wanted:
        if 0 <= index < len(tests) and tests[index].id() == test_id:
            found.append(tests[index])
            continue
        if by_id is None:
            by_id = {}
            for test in tests:
                by_id.setdefault(test.id(), []).append(test)
        same = by_id.get(test_id)
        if same:
            found.append(same.pop(0))
        else:
            missing.append(test_id)
    return found, missing


def main() -> None:
    """Run units of tests for the runner until it says exit (or its pipe closes)."""
    from ._cli import collect  # the runner's own argument handling

    channel = os.fdopen(int(sys.argv[1]), "wb")
    commands = sys.stdin.buffer
    with contextlib.suppress(OSError, ValueError):  # a stderr with no file descriptor
        faulthandler.enable()  # a segfault's traceback, as the test's last output
    spec = read_frame(commands)[1]
    sys.path[:] = spec["path"]
    tests = flatten(collect(spec["argv"]))
    indices = {id(test): index for index, test in enumerate(tests)}
    write_frame(channel, ("ready", len(tests)))
    result = WorkerResult(channel, indices)
    result.buffer = spec["buffer"]
    result.tb_locals = spec["tb_locals"]
    while True:
        try:
            command = read_frame(commands)
        except EOFError:
            break
        if command[0] != "run":
            break
        _, unit, wanted = command
        found, missing = _find(tests, wanted)
        for test_id in missing:
            text = (
                f"Test {test_id} was not found in the worker process: its discovery "
                "found other tests than the runner's (tests made at random, or from the "
                "environment?). Run it without -j to see it"
            )
            write_frame(channel, ("orphan", (test_id, test_id, None), [("addError", ("error", text, text))]))
        with warnings.catch_warnings():
            if spec["warnings"]:
                warnings.simplefilter(spec["warnings"])
            unittest.TestSuite(found).run(result)
        write_frame(channel, ("done", unit))
    channel.close()


if __name__ == "__main__":
    main()
