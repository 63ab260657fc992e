"""``-j N``: run the units in N worker processes and print their results as unittest does.

`Pool` is handed to ``TextTestRunner.run`` in place of the suite: called with
the result, it feeds units to workers (each takes the next unit when it has
finished one) and replays every test's outcome on the result, in the main
thread, one test at a time, so the dots or ``-v`` lines, the failure blocks
and the summary are unittest's own.

A worker that dies (a segfault, ``os._exit``, a kill) is noticed when its
three pipes close: the test it was running gets an error with the way it died
and its last output, the tests of the unit it had not reached go to a fresh
worker, and the run goes on. A Ctrl-C, ``-f`` at the first failure, or ``-c``'s
stop kill every worker (with its process group: what the tests started);
the summary then counts what finished. A SIGTERM to the runner counts as a
Ctrl-C.
"""

from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any, BinaryIO

from ._result import Formatted, RemoteError, RemoteFailure, RemoteSubTest, RemoteTest
from ._units import Unit
from ._wire import read_frame, write_frame

if TYPE_CHECKING:
    import unittest

__all__ = ("Pool",)

# Bytes of a worker's output kept for the report of a test it died in.
_TAIL_BYTES = 16_384
# Seconds between looks at result.shouldStop (set by -c's Ctrl-C handler).
_POLL = 0.1

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from asynctestkit._runner._worker import main; main()"
)


def _interpreter_flags() -> list[str]:
    # -W, -X, -b, -O ... as the runner was started with (the helper multiprocessing uses).
    flags = getattr(subprocess, "_args_from_interpreter_flags", None)
    return list(flags()) if flags is not None else [f"-W{option}" for option in sys.warnoptions]


class _Worker:
    """One worker process, its pipes' reader threads, and the unit it runs."""

    def __init__(self, number: int, events: queue.Queue[tuple[Any, ...]], spec: dict[str, Any]) -> None:
        self.number = number
        read_end, write_end = os.pipe()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, *_interpreter_flags(), "-c", _BOOT, _PACKAGE_ROOT, str(write_end)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(write_end,), start_new_session=True, env=env,
            )
        finally:
            os.close(write_end)
        self.unit: Unit | None = None
        self.pending: collections.deque[tuple[int, str]] = collections.deque()
        self.running: tuple[int, tuple[str, str, str | None]] | None = None
        self.tail = bytearray()
        self.open_pipes = 3
        self.exiting = False
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.threads = [
            threading.Thread(target=self._read_frames, args=(os.fdopen(read_end, "rb"), events), daemon=True),
            threading.Thread(target=self._read_output, args=(self.proc.stdout, "out", events), daemon=True),
            threading.Thread(target=self._read_output, args=(self.proc.stderr, "err", events), daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        self.send(("spec", spec))

    def _read_frames(self, stream: BinaryIO, events: queue.Queue[tuple[Any, ...]]) -> None:
        with stream:
            while True:
                try:
                    message = read_frame(stream)
                except Exception:  # EOF, or a frame cut short by a crash
                    break
                events.put((self, "msg", message))
        events.put((self, "eof", None))

    def _read_output(self, stream: BinaryIO, name: str, events: queue.Queue[tuple[Any, ...]]) -> None:
        with stream:
            while True:
                chunk = os.read(stream.fileno(), 65536)
                if not chunk:
                    break
                events.put((self, name, chunk))
        events.put((self, "eof", None))

    def send(self, message: Any) -> None:
        try:
            assert self.proc.stdin is not None
            write_frame(self.proc.stdin, message)  # type: ignore[arg-type]
        except (BrokenPipeError, OSError, ValueError):
            pass  # it died: its pipes closing report it

    def assign(self, unit: Unit | None) -> None:
        self.unit = unit
        if unit is None:
            self.exiting = True
            self.send(("exit",))
            return
        self.pending = collections.deque(zip(unit.indices, unit.ids, strict=True))
        self.send(("run", unit.key, list(self.pending)))

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the tests' children too
            except OSError:
                self.proc.kill()

    def close(self) -> None:
        self.kill()
        self.proc.wait()
        for thread in self.threads:
            thread.join(timeout=5)
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass


class Pool:
    """Runs ``units`` in ``jobs`` workers; called with the result, as a suite is."""

    def __init__(self, units: list[Unit], jobs: int, spec: dict[str, Any]) -> None:
        self.units = units
        self.jobs = max(1, min(jobs, len(units)))
        self.spec = spec
        self.interrupted = False
        self._numbers = 0

    def __call__(self, result: unittest.TestResult) -> unittest.TestResult:
        # Output a worker's -b captured is in its reports; none is captured here.
        result.buffer = False
        if hasattr(result, "ends_lines"):
            result.ends_lines = True
        events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        todo = collections.deque(self.units)
        workers: list[_Worker] = []
        # A SIGTERM (a CI job cancelled) stops the workers too, as a Ctrl-C does:
        # in sessions of their own, they would otherwise run on.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _terminate) if main else None
        try:
            for _ in range(self.jobs if todo else 0):
                workers.append(self._start(events, todo))
            while workers and not result.shouldStop:
                try:
                    worker, kind, data = events.get(timeout=_POLL)
                except queue.Empty:
                    continue
                if kind == "msg":
                    self._message(worker, data, result, todo)
                elif kind in ("out", "err"):
                    self._output(worker, kind, data)
                else:
                    worker.open_pipes -= 1
                    if worker.open_pipes == 0:
                        workers.remove(worker)
                        worker.close()
                        if not worker.exiting or worker.unit is not None:
                            self._died(worker, result, todo)
                        if todo and len(workers) < self.jobs and not result.shouldStop:
                            workers.append(self._start(events, todo))
        except KeyboardInterrupt:
            self.interrupted = True
            result.stop()
        finally:
            for worker in workers:
                worker.kill()
            for worker in workers:
                worker.close()
            self._drain(events)
            if main:
                signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        return result

    def _start(self, events: queue.Queue[tuple[Any, ...]], todo: collections.deque[Unit]) -> _Worker:
        self._numbers += 1
        worker = _Worker(self._numbers, events, self.spec)
        worker.assign(todo.popleft())
        return worker

    def _drain(self, events: queue.Queue[tuple[Any, ...]]) -> None:
        # Output the killed workers wrote before they died.
        while True:
            try:
                worker, kind, data = events.get_nowait()
            except queue.Empty:
                return
            if kind in ("out", "err"):
                self._output(worker, kind, data)

    def _output(self, worker: _Worker, kind: str, data: bytes) -> None:
        worker.tail += data
        del worker.tail[:-_TAIL_BYTES]
        stream = sys.stdout if kind == "out" else sys.stderr
        stream.write(data.decode("utf-8", "replace"))
        stream.flush()

    def _message(
        self, worker: _Worker, message: Any, result: unittest.TestResult, todo: collections.deque[Unit]
    ) -> None:
        kind = message[0]
        if kind == "start":
            _, index, info = message
            worker.running = (index, info)
            while worker.pending:
                pending_index, pending_id = worker.pending.popleft()
                if pending_index == index or pending_id == info[0]:
                    break
        elif kind == "test":
            _, _index, info, events, seconds, out, err, started = message
            worker.running = None
            replay(result, info, events, started=started, seconds=seconds, out=out, err=err)
        elif kind == "orphan":
            _, info, events = message
            replay(result, info, events, started=False, stopped=False)
        elif kind == "done":
            worker.running = None
            worker.pending.clear()
            worker.assign(todo.popleft() if todo else None)

    def _died(self, worker: _Worker, result: unittest.TestResult, todo: collections.deque[Unit]) -> None:
        """Report the test a dead worker was running, and give the rest of its unit to a new one."""
        code = worker.proc.returncode
        how = f"exit code {code}"
        if code is not None and code < 0:
            try:
                how = f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        if worker.running is not None:
            info = worker.running[1]
        elif worker.pending:
            test_id = worker.pending.popleft()[1]
            info = (test_id, test_id, None)
        else:
            key = worker.unit.key if worker.unit is not None else "?"
            info = (f"tearDown ({key})", f"tearDown ({key})", None)
        # The end of all it printed: its output and its reports come through
        # different pipes, so where one test's output ends is not known here.
        last = worker.tail.decode("utf-8", "replace").rstrip() or "(nothing)"
        text = (
            f"The worker process running this test died ({how}); the run went on in a new "
            f"worker. Run this test without -j to debug it.\n\nThe end of its output:\n{last}\n"
        )
        message = f"WorkerDied: {how}"
        replay(result, info, [("addError", ("error", text, message))])
        if worker.pending:
            rest = list(worker.pending)
            todo.appendleft(Unit(f"{worker.unit.key if worker.unit else '?'} (rest)",
                                 [i for i, _ in rest], [t for _, t in rest]))


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def replay(
    result: unittest.TestResult,
    info: tuple[str, str, str | None],
    events: list[tuple[Any, ...]],
    *,
    started: bool = True,
    stopped: bool = True,
    seconds: float = 0.0,
    out: str = "",
    err: str = "",
) -> None:
    """Report a worker's test to ``result`` as if it had run here."""
    test: Any = RemoteTest(info)
    test.seconds, test.out, test.err = seconds, out, err
    if started:
        result.startTest(test)
    for event in events:
        name = event[0]
        if name in ("addError", "addFailure", "addExpectedFailure"):
            getattr(result, name)(test, _err(event[1]))
        elif name == "addSubTest":
            result.addSubTest(test, RemoteSubTest(event[1]), _err(event[2]))  # type: ignore[arg-type]
        elif name == "addSkip":
            result.addSkip(test, event[1])
        elif name == "addDuration":
            add = getattr(result, "addDuration", None)
            if add is not None:
                add(test, event[1])
        else:
            getattr(result, name)(test)
    if stopped:
        result.stopTest(test)


def _err(error: tuple[str, str, str]) -> tuple[type[BaseException], Formatted, None]:
    kind, text, message = error
    return (RemoteFailure if kind == "failure" else RemoteError, Formatted(text, message), None)
