"""Where a slow callback blocked the loop: one thread that looks at the loops' threads.

A callback that blocks the loop is timed by the loop (the virtual loop's
``_atk_run_timed``, `_hygiene._TimedReady` for other loops), but only when it
has ended: by then the line that blocked is gone, and all that is left is
where the task waits next. So while a test watches slow callbacks, its
`Watch` is registered here, and one daemon thread per process (the sampler)
wakes every ``threshold / 2`` real seconds (the smallest threshold of the
watches, no more often than every `_FLOOR` s). For each loop whose running
callback has run at least half its threshold, it reads where the loop's
thread is and notes it for that callback. When the callback is found slow,
the report shows where the sampler saw it most often (`Watch.where`). With
no watch registered the sampler waits without a timeout: no wake-ups between
test runs.

What is read, and why it is safe
--------------------------------
* The running callback and the real time it started: two plain attributes
  the loop's thread stores (the virtual loop's ``_current_handle`` and
  ``_atk_t0``; `_TimedReady`'s ``_handle`` and ``_started``). The loop
  stores the start time first, then the handle, and clears the handle (the
  virtual loop) or replaces it (`_TimedReady`) when the callback ends; the
  sampler reads the handle first, then the time: a handle read while it
  runs comes with its own start time or a later one, so a callback never
  looks older than it is. The handle is compared by ``id()``, never kept:
  the last reference to a handle (to its task) dropped on the sampler's
  thread would finalize it there.
* The loop's thread's frames, from ``sys._current_frames()``: for each
  frame only ``f_code`` (its file and function name), ``f_lineno`` and
  ``f_back``. These are plain reads, made holding the GIL, while the loop's
  thread runs no Python code. Never ``f_locals``: building a running frame's
  locals from another thread writes to the frame, and crashed the
  interpreter on 3.12. The source line is read later, from the file, by
  the report, on the loop's thread.

* The kernel's word on the loop's thread (`_kernel`, Linux ``/proc``): asleep
  or not, its context switches, the system call it sleeps in. Each look
  takes the GIL, and a loop's thread that computes then waits for it: a
  voluntary context switch that is not the callback's doing, which would
  make a computation stretched by a busy machine count in wall time (see
  `_compat.blocked_seconds`). So for a run the sampler looked at, the
  sampler says whether it waited (`Watch.waited`).

What is kept: for the callback being sampled, its ``id()``, its start time
and, per place seen, the (file, line, function) triples and a count. Text
and numbers only: no frame, no handle, nothing of the test is kept alive.

Which way it errs
-----------------
A sample is noted for a run of a callback (its handle's id and its start
time) only if the same id was running before and after the frames were
read, and only if the frames reach a user's line before the loop's own code
that runs callbacks (`_report.runs_callbacks`): frames read between two callbacks show the
loop's code only, and are dropped. The report of a run reads the sample
right after that run, before the next callback starts, and only a sample
with that run's id and start time: a sample of a later run (whose handle
may reuse a freed handle's id) is taken after that report, and has another
start time. So the report may say no more than it did without the sampler
(a callback just over its threshold, which the sampler had no time to see:
the report then names where the task waits next, as before), but it never
names the line of another callback, or of another run of the same one.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Final, final

from .._report import is_plumbing, runs_callbacks, whose
from .._virtual import _kernel

if TYPE_CHECKING:
    from types import FrameType

__all__ = ("Watch", "is_users", "unwatch_slow", "watch_slow", "where_it_runs")

# Real time, whatever patch_time does to time.perf_counter on the loop's thread.
_perf_counter: Final = time.perf_counter
_current_frames: Final = sys._current_frames
_NONE_ID: Final = id(None)
_INF: Final = float("inf")
# Scheduler states of a thread asleep: interruptible, uninterruptible (disk IO).
_ASLEEP: Final = (b"S", b"D")
# threading's registry of running threads, by ident (3.10-3.15).
_active: Final[dict[int, threading.Thread]] = threading._active  # type: ignore[attr-defined]
# The sampler wakes no more often than this (real seconds).
_FLOOR: Final = 0.01
# A stack deeper than this (a deep recursion) is cut: what was seen is used.
_MAX_DEPTH: Final = 500

# (file, line, function): one frame, as the report shows it.
Frame = tuple[str, int, str]
# The frames a report shows, innermost first.
Where = tuple[Frame, ...]

# File name -> whether it is the user's (not the standard library, a site's
# package, asyncio's or asynctestkit's). Written by the sampler thread only.
_users: dict[str, bool] = {}


def is_users(filename: str) -> bool:
    """Whether ``filename`` holds the user's code (not a library's, the stdlib's or ours)."""
    known = _users.get(filename)
    if known is None:
        # Not <frozen importlib._bootstrap>, <string>, asyncio's or asynctestkit's.
        known = not filename.startswith("<") and not is_plumbing(filename) and whose(filename) == "user"
        if len(_users) > 4096:  # pragma: no cover - code generated at run time, say
            _users.clear()
        _users[filename] = known
    return known


def where_it_runs(frame: FrameType | None) -> Where | None:
    """Return the frames that say where a loop's thread is in its callback, or None.

    Walks out from ``frame`` (the thread's innermost) to the loop's frame
    that runs the callback. The frames kept, innermost first: the innermost
    one, the innermost of the user's if that one is not the user's (the
    user's line that called into a library), and the outermost of the
    user's, the callback's own, if it is another (the test's line that
    called the helper that blocks). ``None`` when the thread is not inside a
    callback, or no frame of it is the user's (the loop's own code, a
    library's function the loop called directly: `describe_call` names it).
    Reads only ``f_code``, ``f_lineno`` and ``f_back`` (see the module's
    docstring).
    """
    seen: list[Frame] = []
    first_user = last_user = -1
    depth = 0
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        if runs_callbacks(code):  # the loop's frame that runs the callback: its outer end
            break
        if is_users(filename):
            last_user = len(seen)
            if first_user < 0:
                first_user = last_user
        # f_lineno is None while a frame has no line yet (3.12+).
        seen.append((filename, frame.f_lineno or code.co_firstlineno, code.co_name))
        depth += 1
        if depth >= _MAX_DEPTH:
            break
        frame = frame.f_back
    else:
        return None  # the stack ended without a loop running a callback on it
    if first_user < 0:
        return None
    return tuple(seen[i] for i in sorted({0, first_user, last_user}))


_THREAD_START: Final = threading.Thread.start.__code__


def _starting_a_thread(frame: FrameType | None) -> bool:
    """Whether ``frame``'s thread is in ``Thread.start()`` (waiting for the new thread to run)."""
    for _ in range(8):  # start -> Event.wait -> Condition.wait -> the lock
        if frame is None:
            return False
        if frame.f_code is _THREAD_START:
            return True
        frame = frame.f_back
    return False


@final
class Watch:
    """One loop's slow-callback timing, as the sampler reads it, and what it saw.

    Args:
        loop: The loop (its ``_thread_id``, BaseEventLoop's, 3.10-3.15, is
            the thread running it; ``None`` while it does not run).
        source: What holds the running callback and its start time.
        handle_attr: ``source``'s attribute holding the callback running
            (``None`` between callbacks); stored after ``start_attr``.
        start_attr: ``source``'s attribute holding the real time
            (``time.perf_counter``) that callback started at.
        threshold: Real seconds a callback may run before it is slow.
    """

    __slots__ = (
        "_native", "_seen", "_touch", "half", "handle_attr", "loop", "source", "start_attr", "threshold",
    )

    def __init__(
        self, loop: object, source: object, handle_attr: str, start_attr: str, threshold: float
    ) -> None:
        self.loop = loop
        self.source = source
        self.handle_attr = handle_attr
        self.start_attr = start_attr
        self.threshold = threshold
        self.half = threshold / 2
        # (id of the handle, its start time, place -> times seen, the place seen last):
        # replaced whole by the sampler, read whole by the loop's thread.
        self._seen: tuple[int, float, dict[Where, int], Where] | None = None
        # (id of the handle, its start time, whether it was seen waiting of
        # its own accord, its thread's switches when seen asleep in a futex or -1)
        # for the callback the sampler looked at last (see `waited`).
        self._touch: tuple[int, float, bool, int] | None = None
        self._native: tuple[int, int | None] = (-1, None)  # the loop thread's ident, native id

    def note(self, handle_id: int, started: float, where: Where) -> None:
        """Record that the callback ``handle_id``, started at ``started``, was seen at ``where``."""
        seen = self._seen
        if seen is None or seen[0] != handle_id or seen[1] != started:
            counts = {where: 1}
        else:
            counts = dict(seen[2])
            counts[where] = counts.get(where, 0) + 1
        self._seen = (handle_id, started, counts, where)

    def where(self, handle: object) -> Where | None:
        """Return where the sampler saw ``handle`` most often, in its run that ended last, or None.

        Call on the loop's thread right after that run, before the next
        callback starts (the source's start time is still that run's).
        """
        seen = self._seen
        if seen is None:
            return None
        handle_id, started, counts, last = seen
        if handle_id != id(handle) or started != getattr(self.source, self.start_attr, None):
            return None  # another callback's, or an earlier run's
        # The place seen most often; of places seen as often, the last one.
        return max(counts, key=lambda w: (counts[w], w == last))

    def waited(self, handle: object) -> bool | None:
        """Whether ``handle``'s run that ended last waited of its own accord, as far as the sampler saw.

        ``None`` if the sampler did not look during that run (or cannot
        tell): then the thread's voluntary context switches say. Each look
        takes the GIL, which may make the loop's thread wait for it: a
        switch that is not the callback's doing. So a run the sampler looked
        at waited only if a look found its thread asleep in a call that is
        not a lock's (a sleep, IO, waiting for a process), or asleep on a
        lock at two looks in a row without having woken in between (a wait
        for the GIL ends when the sampler lets go of it), except inside
        ``Thread.start()``, which waits for the new thread to get a CPU.
        """
        started = getattr(self.source, self.start_attr, None)
        touch = self._touch
        if touch is not None and touch[0] == id(handle) and touch[1] == started:
            return touch[2]
        # Not looked at, but the sampler may have had a turn with the GIL
        # while it ran (before it could read which callback runs, say).
        if started is not None and _sampler.turn >= started:
            return False
        return None

    def _look(self, handle_id: int, started: float, ident: int) -> None:
        """Note that the sampler looked during this run, and whether the thread waits (see `waited`)."""
        native = self._native[1] if self._native[0] == ident else self._native_of(ident)
        if native is None:
            return  # nothing to tell: the voluntary switches say
        touch = self._touch
        if touch is None or touch[0] != handle_id or touch[1] != started:
            # Noted before the reads below, which let go of the GIL: the run
            # may end meanwhile, and this look's turn with the GIL counts.
            touch = None
            self._touch = (handle_id, started, False, -1)
        waits = False
        switches = -1
        first = _kernel.sample(native)
        if first is not None and first[0] in _ASLEEP:
            wait = _kernel.blocked(native)
            # The same sleep throughout, if it did not switch in between.
            if _kernel.sample(native) == first:
                if wait is None or wait[0] != _kernel.FUTEX:
                    waits = True  # a sleep, IO, a poll, a process: not the GIL
                elif not _starting_a_thread(_current_frames().get(ident)):
                    switches = first[1]  # a lock, or the GIL: waits if it sleeps on
                # else: Thread.start() waits for the new thread to get a CPU,
                # which a busy machine delays: not the callback's doing.
        if touch is not None:
            waits = waits or touch[2] or (switches >= 0 and switches == touch[3])
        self._touch = (handle_id, started, waits, switches)

    def _native_of(self, ident: int) -> int | None:
        thread = _active.get(ident)
        native = getattr(thread, "native_id", None) if _kernel.AVAILABLE else None
        self._native = (ident, native)
        return native

    def sample(self, now: float) -> None:
        """Look where the loop's thread is, if its callback has run ``threshold / 2`` (the sampler's thread).

        The handle is compared by id, never held: the last reference to a
        handle (to its task) dropped here would finalize it on this thread.
        """
        source = self.source
        handle_id = id(getattr(source, self.handle_attr, None))
        if handle_id == _NONE_ID:
            return
        started = getattr(source, self.start_attr, None)
        ident = getattr(self.loop, "_thread_id", None)
        if started is None or ident is None:
            return
        self._look(handle_id, started, ident)
        if now - started < self.half:
            return
        where = where_it_runs(_current_frames().get(ident))
        if where is not None and id(getattr(source, self.handle_attr, None)) == handle_id:
            self.note(handle_id, started, where)


@final
class _Sampler:
    """The sampler thread and the watches it serves (one per process)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._watches: list[Watch] = []
        # The timeout of the sampler's current wait: None while it waits
        # without one (no watch), inf before it started.
        self._period: float | None = float("inf")
        self._thread: threading.Thread | None = None
        # When the sampler's last turn with the GIL ended (real time; inf
        # while it has one): a callback that ran meanwhile may have waited
        # for the GIL because of it (see Watch.waited).
        self.turn = -_INF
        # A watch was added since the sampler's last wake: tests are running.
        self._added = False
        self._linger = _FLOOR  # the period of the last wait with watches

    def add(self, watch: Watch) -> None:
        """Sample ``watch`` from now on (cheap: wakes the sampler only if it must look sooner)."""
        period = max(watch.half, _FLOOR)
        with self._cond:
            self._watches.append(watch)
            self._added = True
            if self._thread is None:
                self._start()
            elif self._period is None or period < self._period:
                self._cond.notify()

    def remove(self, watch: Watch) -> None:
        """Stop sampling ``watch`` (idempotent); the sampler notices at its next wake."""
        with self._cond:
            if watch in self._watches:
                self._watches.remove(watch)

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name="asynctestkit slow-callback sampler", daemon=True)
        # Not the test's thread, nor one that can wake a virtual loop: the
        # resource check, the loop's ThreadWatch and the watchdog skip it.
        thread._asynctestkit_ignore = True  # type: ignore[attr-defined]
        thread.start()
        self._thread = thread

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                # After every read of this turn (each may have let go of the GIL).
                self.turn = _perf_counter()
                if not self._watches:
                    if self._added:
                        # Between two tests: a wait without a timeout now
                        # would have each next test wake the sampler.
                        self._added = False
                        self._period = self._linger
                        cond.wait(self._linger)
                    else:
                        # No test for a whole period: sleep until one comes.
                        self._period = None
                        cond.wait()
                    self.turn = _INF
                    continue
                self._added = False
                self._period = self._linger = period = max(min(w.half for w in self._watches), _FLOOR)
                cond.wait(period)
                self.turn = _INF  # a turn with the GIL, from here to the top of the loop
                watches = tuple(self._watches)
            try:
                _sample(watches)
            except Exception:  # pragma: no cover - an introspection aid never breaks a test run
                pass
            # Nothing of a test stays referenced from this frame while it waits.
            del watches


def _sample(watches: tuple[Watch, ...]) -> None:
    now = _perf_counter()
    for watch in watches:
        watch.sample(now)


_sampler = _Sampler()


def watch_slow(watch: Watch) -> None:
    """Register ``watch`` with the process's sampler, starting it the first time."""
    _sampler.add(watch)


def unwatch_slow(watch: Watch) -> None:
    """Unregister ``watch`` (idempotent)."""
    _sampler.remove(watch)


def _after_fork() -> None:
    # The child has no sampler thread, and the parent's may have held the lock.
    global _sampler
    _sampler = _Sampler()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_after_fork)
