"""A per-test real-time timeout that ends a hung test with one report, within a hard bound.

When the timeout runs out, the watchdog acts in stages, each given half a
*grace* (as long as the timeout, from `GRACE_MIN` to `GRACE_CAP` seconds):

1. **Cancel, from the loop's side.** A callback, scheduled with
   ``call_soon_threadsafe`` (which also wakes an idle loop), writes the report
   and cancels the task running the test's step. A busy or idle loop stops
   cleanly there: nothing is raised into the loop's internals.
2. **Abandon.** If that callback ran but the step did not end (it caught the
   `CancelledError`, or awaits again in a ``finally``), a second callback
   stops the loop: the step is given up on, never resumed (`bury`).
3. **Interrupt.** If a callback did not even run within its half grace, the
   loop's thread is stuck inside one callback (blocking code, ``time.sleep``,
   a runaway computation): only then is `WatchdogTimeout` raised in that
   thread, where it is stuck, and the report shows that thread's stack.

So every test ends within ``timeout`` + the grace whatever its code does on
cancellation; the steps left after it (tearDown, cleanups, the loop's
shutdown) share what is left of the grace, and one that hangs too is given
`LEASH` seconds.

On the main thread of a POSIX process the countdown is a ``SIGALRM`` timer
(two system calls to arm); its handler only schedules the callbacks above,
except in stage 3, where it raises: a signal also cuts a blocking system
call short. Elsewhere (another thread, Windows, or a program that uses
SIGALRM itself) a timer thread does the same, and stage 3 raises with
``PyThreadState_SetAsyncExc``, which stops Python code stuck in a callback
but cannot cut a blocking system call short.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, final

# The C functions under `signal`: no enum round trips (see _compat).
from .._compat import c_getsignal as _getsignal
from .._compat import c_signal as _set_handler
from .._report import OWN_DIR, format_tasks, is_plumbing
from .._shield import deferred_interrupts
from ._resources import command

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

__all__ = ("GRACE_CAP", "GRACE_MIN", "LEASH", "Watchdog", "WatchdogTimeout", "bury", "is_buried")

_HAS_ALARM = hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")
_SIGALRM = int(getattr(signal, "SIGALRM", 0))
_SIG_DFL = int(signal.SIG_DFL)
# Read at import: patch_time makes time.monotonic() virtual on the loop's thread.
_monotonic = time.monotonic

# The grace a timed-out test gets is as long as its timeout, within these
# bounds (real seconds): the floor leaves a loaded machine time to unwind.
GRACE_MIN = 0.1
GRACE_CAP = 1.0
# Real seconds each step starting after the grace ran out gets.
LEASH = 0.1
# A SIGALRM that comes this much early (clock slew) still counts as due.
_SLACK = 0.005

_ARMED, _CANCELLING, _STOPPING, _DONE = range(4)

# Steps given up on: kept alive so that the garbage collector does not close
# their coroutines (which would run their `finally` blocks again, in a later
# test); their "Task was destroyed but it is pending!" warning is off.
_buried: set[asyncio.Future[Any]] = set()


class WatchdogTimeout(KeyboardInterrupt):
    """Raised into a test whose loop's thread was stuck past its real-time ``timeout``.

    A KeyboardInterrupt subclass, so that asyncio lets it through every task and
    callback straight out of the loop, as it does for Ctrl-C; the test case
    catches it before unittest sees it and turns it into a failure.
    """


def bury(task: asyncio.Future[Any]) -> None:
    """Give up on ``task`` for good: never resumed, never reported as destroyed pending."""
    if isinstance(task, asyncio.Task):
        task._log_destroy_pending = False  # type: ignore[attr-defined]
    _buried.add(task)


def is_buried(task: asyncio.Future[Any]) -> bool:
    """Whether the watchdog gave up on ``task`` (do not wait for it)."""
    return task in _buried


@final
class Watchdog:
    """Arm a real-time deadline for one test; on expiry, stop it and explain why.

    Args:
        loop: The test's loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # The timeout went off and the report is ready; the owner clears it
        # once it has failed the test.
        self.expired = False
        self.report = ""
        self.seconds: float | None = None
        # While True, a step runs: a thread stuck in it may be interrupted.
        self.interrupting = False
        # The task running the current step: cancelled, then abandoned.
        self.step: asyncio.Future[Any] | None = None
        self._thread_id = threading.get_ident()
        self._old_handler: Any = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._stage = _DONE
        self._due = 0.0
        self._half = 0.0  # half the grace: the time each later stage gets
        self._grace = 0.0
        self._deadline: float | None = None  # when the steps left are all abandoned
        self._generation = 0  # bumped on every arm: a stale callback does nothing
        self._probe_ran = True
        self._tasks = ""

    # -- arming --------------------------------------------------------------

    def arm(self, seconds: float | None) -> None:
        """Start (or restart) the countdown of ``seconds`` real seconds; ``None`` disarms."""
        self.seconds = seconds
        self._deadline = None
        self._tasks = ""
        self._rest = False
        if seconds is None:
            self.disarm()
            return
        self._grace = min(max(seconds, GRACE_MIN), GRACE_CAP)
        self._start(seconds, self._grace / 2)

    def arm_rest(self) -> None:
        """Give the steps left (tearDown, cleanups, shutdown) what is left of the grace.

        Counted from the timeout's expiry when it went off; otherwise from now.
        A step starting after that gets `LEASH` seconds.
        """
        if self.seconds is None:
            return
        self._rest = True  # the report, if any, is written: keep it
        if self._deadline is None:
            self._deadline = _monotonic() + self._grace
        self._start(max(self._deadline - _monotonic(), LEASH), LEASH / 2)

    def _start(self, seconds: float, half: float) -> None:
        with self._lock:
            self._stage = _DONE  # a signal from the countdown being replaced does nothing
            self._generation += 1
            self._half = half
            self._probe_ran = True
            self._due = _monotonic() + seconds
            self._stage = _ARMED
            self._schedule(seconds)

    def _schedule(self, seconds: float) -> None:
        seconds = max(seconds, 0.001)  # setitimer(0) would disarm
        self._due = _monotonic() + seconds
        if self._old_handler is not None:
            # Ours already: restarting the timer is one system call.
            signal.setitimer(signal.ITIMER_REAL, seconds)
            return
        if self._timer is not None:
            self._timer.cancel()
        elif self._can_use_alarm():
            with deferred_interrupts():
                self._old_handler = _set_handler(_SIGALRM, self._on_alarm)
                signal.setitimer(signal.ITIMER_REAL, seconds)
            return
        generation = self._generation
        self._timer = threading.Timer(seconds, self._on_timer, (generation,))
        self._timer.daemon = True
        # Not a thread that can wake the loop's time (see _threads.py).
        self._timer._asynctestkit_ignore = True  # type: ignore[attr-defined]
        self._timer.start()

    def disarm(self) -> None:
        """Stop the countdown and put SIGALRM's handler back (idempotent, interrupt-safe)."""
        with deferred_interrupts(), self._lock:
            self._stage = _DONE
            self._generation += 1  # a timer thread past its check does nothing more
            old = self._old_handler
            if old is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
                _set_handler(_SIGALRM, old)
                self._old_handler = None
            timer = self._timer
            if timer is not None:
                timer.cancel()
                self._timer = None

    def _can_use_alarm(self) -> bool:
        return (
            _HAS_ALARM
            and threading.current_thread() is threading.main_thread()
            and _getsignal(_SIGALRM) == _SIG_DFL  # not a handler of Python's, nor a C one (None)
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        )

    # -- the stages ------------------------------------------------------------

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the loop's (main) thread, between two bytecodes of whatever it
        # was doing, maybe inside the loop's internals: only schedule callbacks,
        # unless the thread is stuck (then raising is the only way out). A
        # Ctrl-C waits until the stage is moved on in full.
        with deferred_interrupts():
            if self._stage == _DONE:
                return
            late = self._due - _monotonic()
            if late > _SLACK:  # pragma: no cover - a signal from a timer since re-armed
                signal.setitimer(signal.ITIMER_REAL, late)
                return
            interrupt = self._tick(frame)
        if interrupt:
            raise WatchdogTimeout(self.report)

    def _on_timer(self, generation: int) -> None:
        # Runs in the timer thread: only thread-safe calls into the loop.
        with self._lock:
            if generation != self._generation or self._stage == _DONE:
                return
            frame = None
            if self._stage != _ARMED or not self.loop.is_running():
                frame = sys._current_frames().get(self._thread_id)
            if self._tick(frame):
                # Under the lock: the loop's thread cannot disarm and move on meanwhile.
                _raise_in_thread(self._thread_id)

    def _tick(self, frame: FrameType | None) -> bool:
        """Move to the next stage; return whether to interrupt the loop's thread."""
        loop = self.loop
        running = loop.is_running() and not loop.is_closed()
        stage = self._stage
        if stage == _ARMED:
            self.expired = True
            if not self._rest:
                self._deadline = _monotonic() + self._grace
                self.report = self._headline()
            if running:
                self._next(_CANCELLING, self._cancel_step)
                return False
            self._stage = _DONE
            # A sync step (setUp, tearDown) is stuck in its own code.
            return self._stuck(frame) if self.interrupting else False
        if running and (not self._probe_ran or stage == _STOPPING):
            # A callback did not run, or the loop did not stop after it did.
            return self._stuck(frame)
        if running and stage == _CANCELLING:
            self._next(_STOPPING, self._stop_loop)
        else:
            self._stage = _DONE
        return False

    def _next(self, stage: int, probe: Callable[[int], None]) -> None:
        self._stage = stage
        self._probe_ran = False
        try:
            self.loop.call_soon_threadsafe(probe, self._generation)
        except RuntimeError:  # pragma: no cover - closed in between
            self._stage = _DONE
            return
        self._schedule(self._half)

    def _stuck(self, frame: FrameType | None) -> bool:
        if not self.interrupting:
            self._stage = _DONE
            return False
        if frame is not None and frame.f_code.co_filename.startswith(OWN_DIR):
            # Between two steps, in asynctestkit's own code, where an exception
            # would escape the test: look again shortly.
            self._schedule(self._half)
            return False
        self._stage = _DONE
        if self._rest:
            return True
        parts = [self._headline()]
        if frame is not None:
            parts.append(_format_stack(frame))
        parts.append(self._tasks or self._tasks_report())
        self.report = "\n\n".join(parts)
        return True

    # -- the loop's side -------------------------------------------------------

    def _cancel_step(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._probe_ran = True
        if not self._rest:
            self._tasks = self._tasks_report()
            self.report = f"{self._headline()}\n\n{self._tasks}"
        step = self.step
        if step is not None and not step.done():
            step.cancel()

    def _stop_loop(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._probe_ran = True
        step = self.step
        if step is not None:
            if step.done():
                return  # it ended in the meantime: the loop stops by itself
            bury(step)
        if not self._rest:
            self._tasks = self._tasks_report()  # where it is stuck now
            self.report = (
                f"{self._headline()}\n\nIt did not end within {self._grace / 2:g} s of being "
                "cancelled (it caught the CancelledError, or awaited again on its way out), "
                f"so it was abandoned.\n\n{self._tasks}"
            )
        self.loop.stop()

    # -- the report --------------------------------------------------------------

    def _headline(self) -> str:
        return (
            f"The test ran longer than its timeout of {self.seconds} s (real time) and "
            "was stopped. Raise `timeout` on the class or with @configure(timeout=...) "
            "if it really needs longer; `timeout = None` turns the watchdog off."
        )

    def _tasks_report(self) -> str:
        tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        report = format_tasks(tasks, "Pending tasks")
        held = _time_held(self.loop)
        if held:
            report = f"{report}\n\n{held}"
        # A virtual network's open connections (asynctestkit/_net), if the loop has one.
        network = getattr(self.loop, "_atk_net", None)
        connections = network.report() if network is not None else ""
        return f"{report}\n{connections}" if connections else report


# Where the test's own code starts on the loop's thread: below the deepest
# of these frames of asyncio's or asynctestkit's (a callback the loop runs, a
# step the test case calls), everything is the test runner's and the loop's.
_ENTRIES = frozenset({"_run", "_run_once", "_asynctestkit_call", "_in_a_copy"})


def _format_stack(frame: FrameType) -> str:
    """Format the stack down to ``frame``, from where the test's code starts.

    The frames of the test runner (unittest, pytest), the test case and the
    loop above it, 20 to 40 of them, are left out (and counted), and so are
    asynctestkit's own at its end.
    """
    summary = traceback.extract_stack(frame)
    while len(summary) > 1 and summary[-1].filename.startswith(OWN_DIR):
        summary.pop()
    start = 0
    for i, entry in enumerate(summary[:-1]):
        if entry.name in _ENTRIES and is_plumbing(entry.filename):
            start = i + 1
    left_out = f"  ({start} frames of the test runner and the loop left out)\n" if start else ""
    stack = "".join(traceback.format_list(summary[start:])).rstrip()
    return f"the loop's thread is running (most recent call last):\n{left_out}{stack}"


def _time_held(loop: asyncio.AbstractEventLoop) -> str:
    """On a virtual loop: the virtual time, and what keeps it from moving ("" elsewhere).

    Time waits while a subprocess runs, outside work is in flight
    (``run_in_executor``), a thread started since the loop was made runs, or
    ``hold()`` is on: a timeout then means real time ran out while virtual
    time waited. Reads the virtual loop's ``_atk_clock``,
    ``_atk_subprocesses``, ``_atk_in_flight`` and ``_atk_threads`` (the
    threads there when it was made).
    """
    clock: Any = getattr(loop, "_atk_clock", None)
    if clock is None:
        return ""
    waits: list[str] = []
    for transport in list(getattr(loop, "_atk_subprocesses", ())):
        if transport.get_returncode() is None and not transport.is_closing():
            popen = getattr(transport, "_proc", None)
            waits.append(
                f"- subprocess pid {transport.get_pid()} ({command(getattr(popen, 'args', '?'))}) is running"
            )
    in_flight = getattr(loop, "_atk_in_flight", 0)
    if in_flight:
        waits.append(f"- {in_flight} job(s) handed to threads (run_in_executor, to_thread) are not done")
    holds = getattr(clock, "_holds", 0)
    if holds:
        waits.append(f"- hold() is on ({holds})")
    before = getattr(getattr(loop, "_atk_threads", None), "_baseline", {})
    frames = sys._current_frames()
    for thread in threading.enumerate():
        ident = thread.ident
        if ident in before or ident == threading.get_ident() or ident not in frames:
            continue
        if getattr(thread, "_asynctestkit_ignore", False) or thread is threading.main_thread():
            continue
        where = ""
        frame: FrameType | None = frames[ident]
        while frame is not None:
            if not is_plumbing(frame.f_code.co_filename):
                where = f", at line {frame.f_lineno} of {frame.f_code.co_filename} ({frame.f_code.co_name})"
                break
            frame = frame.f_back
        function = getattr(thread, "_target", None)
        if str(getattr(function, "__module__", "")).startswith("asyncio"):
            continue  # asyncio's own (3.10-3.11's child watcher): its process is named
        target = getattr(function, "__qualname__", None)
        running = f" running {target}()" if target else ""
        waits.append(f"- thread {thread.name!r}{running} is running{where}")
    now = f"Virtual time: {clock.now:.3f} s."
    if not waits:
        return now
    return (
        f"{now} It does not move while (real time runs meanwhile):\n" + "\n".join(waits)
    )


def _raise_in_thread(thread_id: int) -> None:
    """Raise WatchdogTimeout in thread ``thread_id`` at its next bytecode (not in a system call)."""
    try:
        import ctypes
    except ImportError:  # pragma: no cover - a Python built without ctypes
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(WatchdogTimeout))
