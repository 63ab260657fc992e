"""The virtual event loop: a SelectorEventLoop whose time is a VirtualClock.

Whenever asyncio would block in ``select()`` waiting for its next timer, the
loop asks `_jump.step` instead, the one decision every virtual loop shares:
run what is ready or real IO brought, wait in *real* time for outside work,
autojump to the next timer, or raise `DeadlockError` with a report.

While work is ready, the loop also watches for busy polling: iterations that
only resume tasks which yielded, or run callbacks no future scheduled. After
the clock's ``busy_poll_limit`` of them in a row the loop counts as idle and
jumps; a spin that nothing can ever end raises `LivelockError` (`_atk_spin`).
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import concurrent.futures
import contextvars
import heapq
import itertools
import logging
import math
import selectors
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, final

from .._compat import callback_failed, thread_usage
from .._report import format_tasks, shown_coroutine, tracking_task_factory
from ._clock import HORIZON, MAX_NS, LivelockError, VirtualClock
from ._jump import land as _land
from ._jump import step as _step
from ._jump import waiting_outside as _waiting_outside
from ._selector import DelegatingSelector
from ._threads import ThreadWatch

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Executor
    from contextvars import Context



# Timer firings at one instant, with nothing else ready, before the loop is
# called runaway (a callback that re-arms call_at(loop.time(), ...) forever).
_RUNAWAY_LIMIT = 100_000
# Callbacks run in a row by pure busy polling (see _atk_spin) that nothing
# can ever end, before the loop calls it a livelock, per busy_poll_limit:
# 30,000 by default, about a second of real time in a ClockedTestCase
# (checks on), however many tasks spin together.
_SPIN_FACTOR = 30
# The first step time takes for a poll that reads the time with no timer
# pending (see _atk_spin): 1 ms, doubling while the poll goes on.
_SPIN_STEP_NS = 1_000_000
# Batches of callbacks that only ran what earlier ones queued, after a timer
# fired or IO, that go unchecked for busy polling (see _run_once).
_SPIN_SKIP = 8
# A future's done callbacks, a task's wakeup among them, are scheduled with
# the future as their first argument: such a callback is progress, not a spin.
_FUTURES: tuple[type, ...] = tuple(
    {asyncio.Future, getattr(asyncio.futures, "_PyFuture", asyncio.Future)}
)

__all__ = ("_VirtualEventLoop",)

_logger = logging.getLogger("asyncio")
# Slow callbacks are measured in real time: captured at import, because
# patch_time makes time.perf_counter() virtual on the loop's thread.
_perf_counter = time.perf_counter
_format_handle = asyncio.base_events._format_handle  # type: ignore[attr-defined]
_Handle = asyncio.Handle
_TimerHandle = asyncio.TimerHandle
_heappush = heapq.heappush
_heappop = heapq.heappop
_copy_context = contextvars.copy_context
_nextafter = math.nextafter
_getframe = sys._getframe
_Future = asyncio.Future
_WRAP_FUTURE = asyncio.wrap_future.__code__
_threads_alive: dict[int, threading.Thread] = threading._active  # type: ignore[attr-defined]

# Handle.__init__ and TimerHandle.__init__ (3.10-3.14) set these slots and
# nothing else; with debug off we set them directly, which saves two Python
# calls per callback and per timer (about 10% of a virtual sleep). Should a
# future Python add a slot, the check below falls back to the constructors.
_FAST_HANDLES = (
    set(_Handle.__slots__)
    == {"_callback", "_args", "_cancelled", "_loop", "_source_traceback", "_repr", "__weakref__", "_context"}
    and set(_TimerHandle.__slots__) == {"_scheduled", "_when"}
)
_new = object.__new__

# A timer in the loop's heap: (deadline, sequence number, handle). asyncio's
# own heap holds bare TimerHandles, which compare by deadline in a Python-level
# __lt__ and not stably, so timers due at the same instant may fire in either
# order. Tuples compare in C, and the sequence number breaks ties FIFO without
# ever comparing the handles; with thousands of timers this halves the cost of
# a heap push or pop (bench/bench_clock.py).
_Entry = tuple[float, int, asyncio.TimerHandle]


@final
class _VirtualSelector(DelegatingSelector):
    """Counts the real file descriptors registered besides the loop's own."""

    def __init__(self, inner: selectors.BaseSelector) -> None:
        super().__init__(inner)
        self._own_fd = -1  # the loop's self-pipe, set once the loop exists
        self._others = 0  # real file descriptors registered besides our own

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        # The loop registers its self-pipe once, in __init__, which then
        # discounts it; everything registered later is real IO.
        key = self._inner.register(fileobj, events, data)
        self._others += 1
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key = self._inner.unregister(fileobj)
        if key.fd != self._own_fd:
            self._others -= 1
        return key


class _VirtualEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop on a `VirtualClock` (made by `virtual_event_loop`)."""

    _selector: _VirtualSelector
    def __init__(self, clock: VirtualClock, io_grace: float) -> None:
        selector = _VirtualSelector(selectors.DefaultSelector())
        self._atk_clock = clock
        self._atk_io_grace = io_grace
        self._atk_instant_ns = -1
        self._atk_instant_fires = 0
        # Busy polling (_atk_spin): iterations and callbacks in the current
        # streak, and the virtual time it started at.
        self._atk_spins = 0
        self._atk_spin_steps = 0
        self._atk_spin_ns = -1
        # A poll that reads the time, with no timer: time moves this much at
        # its next check, if it is still at the time it moved to last.
        self._atk_spin_step = _SPIN_STEP_NS
        self._atk_spin_jumped = -1
        # Called with (handle, real seconds, the thread's usage at its start)
        # for each callback that ran longer than _atk_slow_threshold in wall
        # time; set by the hygiene checks, which judge it.
        self._atk_slow_threshold = math.inf
        self._atk_on_slow: Callable[[object, float, Any], None] | None = None
        self._atk_timed = False  # debug mode or _atk_on_slow: time each callback
        self._atk_t0 = 0.0  # the real time the callback being timed started at
        self._atk_woken = False
        self._atk_in_flight = 0
        self._atk_wrapping = False  # in run_in_executor (see create_future)
        self._atk_subprocesses: list[asyncio.SubprocessTransport] = []
        # The threads that can wake this loop (_threads.py); looked at only
        # when the loop is idle and threads started or called in since.
        self._atk_threads = ThreadWatch()
        self._atk_seq = itertools.count()
        self._atk_fast = _FAST_HANDLES
        self._atk_heap: list[_Entry] = []
        super().__init__(selector)
        selector._own_fd = self._ssock.fileno()  # type: ignore[attr-defined]
        selector._others = len(selector.get_map()) - 1
        # Deadlines are compared with time(); one nanosecond is exact for us.
        self._clock_resolution = 1e-9
        self.set_task_factory(tracking_task_factory)  # type: ignore[arg-type, unused-ignore]
        try:
            clock._attach(self)
        except BaseException:
            # Not leaked half-made: an unclosed loop warns when collected.
            self.close()
            raise

    @property
    def clock(self) -> VirtualClock:
        """The `VirtualClock` this loop runs on."""
        return self._atk_clock

    def time(self) -> float:
        clock = self._atk_clock
        clock._read = True
        return clock._s

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} running={self.is_running()} closed={self.is_closed()} "
            f"debug={self.get_debug()} clock={self._atk_clock!r}>"
        )

    # -- timers: FIFO among equal deadlines ------------------------------

    # BaseEventLoop keeps its timers in `_scheduled`, a heap of handles, and
    # only its own call_at, _run_once and close touch it (3.10-3.14); ours is
    # `_atk_heap` (see _Entry). `_scheduled` stays readable, as the list of
    # handles, for tools that introspect the loop (the hygiene checks).
    @property
    def _scheduled(self) -> list[asyncio.TimerHandle]:
        return [entry[2] for entry in self._atk_heap]

    @_scheduled.setter
    def _scheduled(self, handles: list[asyncio.TimerHandle]) -> None:
        # BaseEventLoop.__init__ sets it to [].
        seq = self._atk_seq
        heap = [(h._when, next(seq), h) for h in handles]  # type: ignore[attr-defined]
        heapq.heapify(heap)
        self._atk_heap = heap

    def close(self) -> None:
        super().close()  # raises if the loop is running
        self._atk_heap.clear()
        if self._atk_net is not None:
            self._atk_net.shut_down()

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        # BaseEventLoop.call_at (3.10-3.14), pushing an _Entry.
        if when is None:
            raise TypeError("when cannot be None")
        if self._closed:  # type: ignore[attr-defined]
            raise RuntimeError("Event loop is closed")
        if self._atk_fast:
            timer = _new(_TimerHandle)
            timer._context = _copy_context() if context is None else context  # type: ignore[attr-defined]
            timer._loop = self  # type: ignore[attr-defined]
            timer._callback = callback  # type: ignore[attr-defined]
            timer._args = args
            timer._cancelled = False
            timer._repr = None  # type: ignore[attr-defined]
            timer._source_traceback = None  # type: ignore[attr-defined]
            timer._when = when  # type: ignore[attr-defined]
        else:
            if self._debug:  # type: ignore[attr-defined]
                self._check_thread()  # type: ignore[attr-defined]
                self._check_callback(callback, "call_at")  # type: ignore[attr-defined]
            timer = _TimerHandle(when, callback, args, self, context)
            if timer._source_traceback:  # type: ignore[attr-defined]
                del timer._source_traceback[-1]  # type: ignore[attr-defined]
        _heappush(self._atk_heap, (when, next(self._atk_seq), timer))
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    def call_later(  # type: ignore[override]
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        # BaseEventLoop.call_later then call_at, in one call: every sleep()
        # comes through here, and the extra layer of delegating to call_at
        # costs about 15% of a virtual sleep (bench/bench_clock.py).
        if delay is None:
            raise TypeError("delay must not be None")
        if self._closed:  # type: ignore[attr-defined]
            raise RuntimeError("Event loop is closed")
        clock = self._atk_clock
        when = clock._s + delay
        if when <= clock._end and delay > 0:
            # A positive delay fires later than now, as on a real loop, even
            # one too small to move a float (5.55e-17 s, left over by
            # `deadline - loop.time()`): 1 ns later, or past about 18 hours,
            # where a nanosecond is below the float spacing, at the first
            # float deadline not due now.
            when = (clock._ns + 1) / 1e9
            if when <= clock._end:
                when = _nextafter(clock._end, math.inf)
        if self._atk_fast:
            timer = _new(_TimerHandle)
            timer._context = _copy_context() if context is None else context  # type: ignore[attr-defined]
            timer._loop = self  # type: ignore[attr-defined]
            timer._callback = callback  # type: ignore[attr-defined]
            timer._args = args
            timer._cancelled = False
            timer._repr = None  # type: ignore[attr-defined]
            timer._source_traceback = None  # type: ignore[attr-defined]
            timer._when = when  # type: ignore[attr-defined]
        else:
            if self._debug:  # type: ignore[attr-defined]
                self._check_thread()  # type: ignore[attr-defined]
                self._check_callback(callback, "call_later")  # type: ignore[attr-defined]
            timer = _TimerHandle(when, callback, args, self, context)
            if timer._source_traceback:  # type: ignore[attr-defined]
                del timer._source_traceback[-1]  # type: ignore[attr-defined]
        _heappush(self._atk_heap, (when, next(self._atk_seq), timer))
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.Handle:
        # BaseEventLoop.call_soon and _call_soon in one call: every task step
        # and every future's callback comes through here.
        if self._closed:  # type: ignore[attr-defined]
            raise RuntimeError("Event loop is closed")
        if not self._atk_fast:
            return super().call_soon(callback, *args, context=context)
        handle = _new(_Handle)
        handle._context = _copy_context() if context is None else context  # type: ignore[attr-defined]
        handle._loop = self  # type: ignore[attr-defined]
        handle._callback = callback  # type: ignore[attr-defined]
        handle._args = args
        handle._cancelled = False
        handle._repr = None  # type: ignore[attr-defined]
        handle._source_traceback = None  # type: ignore[attr-defined]
        self._ready.append(handle)  # type: ignore[attr-defined]
        return handle

    # -- running ---------------------------------------------------------

    def run_forever(self) -> None:
        # The thread running the loop owns the clock: its time.monotonic() is
        # virtual under patch_time, every other thread's stays real.
        self._atk_clock._thread_id = threading.get_ident()
        super().run_forever()

    # -- one iteration ---------------------------------------------------

    def _run_once(self) -> None:
        # BaseEventLoop._run_once (3.10-3.14) with two changes: the timers are
        # _Entry tuples, and where asyncio would block in select() until its
        # next timer, the one jump decision says how time moves (_jump.step). Inlined because
        # this runs once per iteration.
        heap = self._atk_heap
        count = len(heap)
        if count > 100 and self._timer_cancelled_count / count > 0.5:  # type: ignore[has-type]
            live = []
            for entry in heap:
                if entry[2]._cancelled:
                    entry[2]._scheduled = False  # type: ignore[attr-defined]
                else:
                    live.append(entry)
            heapq.heapify(live)
            self._atk_heap = heap = live
            self._timer_cancelled_count = 0
        else:
            while heap and heap[0][2]._cancelled:
                self._timer_cancelled_count -= 1
                _heappop(heap)[2]._scheduled = False  # type: ignore[attr-defined]

        ready: Any = self._ready  # type: ignore[attr-defined]
        clock = self._atk_clock
        selector = self._selector
        # Something real to poll: a registered socket or pipe or a signal
        # handler (counted in _others), or a byte on the self-pipe
        # (call_soon_threadsafe).
        real = selector._others or self._atk_woken
        # Busy polling (see _atk_spin): how many batches of callbacks in a row
        # ran only what earlier callbacks had queued, with no timer fired, no
        # IO and nothing from another thread. Past 8 (_SPIN_SKIP), each next
        # batch is checked; the first few are not, which keeps the check off
        # the path of a virtual sleep (a timer, then the task it wakes). Where
        # a timer fires at the same instant, or IO or another thread brings
        # work, the streak ends (_atk_spins = 0); where time jumps, it ends
        # too (_atk_spin compares the time).
        spins = 0
        if ready or self._stopping:  # type: ignore[attr-defined]
            events = None
            if real:
                self._atk_woken = False
                events = selector._inner.select(0)
                if events:
                    self._atk_spins = 0
                    self._process_events(events)  # type: ignore[attr-defined]
            if heap and heap[0][0] <= clock._end:
                self._atk_spins = 0  # a timer fires
            elif not events:
                # Going on from a batch cut short (real IO to poll, a stop
                # asked, a sweep of cancelled timers): no timer, no IO.
                spins = _SPIN_SKIP + 1
                if ready:
                    self._atk_spin(ready)
        elif heap and heap[0][0] <= clock._end:
            self._atk_count_instant_fire()
            if real:
                self._atk_woken = False
                self._process_events(selector._inner.select(0))  # type: ignore[attr-defined]
        else:
            # Where asyncio would block in select(): the one jump decision.
            _step(self, heap, ready, clock, real)

        end_time = clock._end
        handle: Any
        while heap:
            if heap[0][0] > end_time:
                break
            handle = _heappop(heap)[2]
            handle._scheduled = False
            ready.append(handle)

        while True:
            ntodo = len(ready)
            if self._atk_timed:
                for _ in range(ntodo):
                    handle = ready.popleft()
                    if not handle._cancelled:
                        self._atk_run_timed(handle)
            else:
                # Handle._run() inlined: one Python call less per callback.
                for _ in range(ntodo):
                    handle = ready.popleft()
                    if handle._cancelled:
                        continue
                    try:
                        handle._context.run(handle._callback, *handle._args)
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        callback_failed(handle, exc)
            # The callbacks those callbacks made ready would run in the next
            # iteration, after an IO poll and the due timers. With nothing real
            # to poll, no timer due and no stop asked, that iteration is just
            # this batch again: run it now and save the trip through
            # run_forever. Same callbacks, same order. (Also go round when the
            # heap needs the sweep of cancelled timers at the top.)
            if (
                not ready or self._stopping or selector._others or self._atk_woken  # type: ignore[attr-defined]
                or (heap and heap[0][0] <= clock._end)
                or self._timer_cancelled_count * 2 > len(heap) > 100
            ):
                break
            spins += 1
            if spins > 8:  # _SPIN_SKIP, a literal for speed
                self._atk_spin(ready)
        handle = None  # break cycles when an exception occurs

    def set_debug(self, enabled: bool) -> None:
        super().set_debug(enabled)
        # Debug mode checks threads and callbacks and records where handles
        # were made: the constructors do that, the fast path does not.
        self._atk_fast = _FAST_HANDLES and not self._debug  # type: ignore[attr-defined]
        self._atk_timed = bool(enabled) or self._atk_on_slow is not None

    def _atk_watch_slow(
        self, threshold: float, on_slow: Callable[[object, float, Any], None] | None
    ) -> None:
        """Call ``on_slow(handle, seconds, usage)`` for callbacks running >= threshold real seconds.

        ``usage``: the thread's `_compat.thread_usage` when the callback started.
        """
        self._atk_slow_threshold = threshold
        self._atk_on_slow = on_slow
        self._atk_timed = self.get_debug() or on_slow is not None

    def _atk_run_timed(self, handle: Any) -> None:
        # asyncio's debug mode times callbacks with self.time(): virtual time,
        # which would report a jump as a slow callback and never see real
        # blocking. Time them in real time instead.
        on_slow = self._atk_on_slow
        # The thread's CPU time and voluntary waits, for the hygiene check:
        # a callback slow in wall time only because the machine is busy is
        # not reported (see _compat.blocked_seconds).
        usage = thread_usage() if on_slow is not None else None
        # The start first, then the handle: the slow-callback sampler
        # (_verdict/_sampler.py) reads them from its own thread in the
        # other order, so a callback never looks older than it is.
        self._atk_t0 = t0 = _perf_counter()
        self._current_handle = handle
        try:
            handle._run()
        finally:
            self._current_handle = None
        dt = _perf_counter() - t0
        if self._debug and dt >= self.slow_callback_duration:  # type: ignore[attr-defined]
            _logger.warning("Executing %s took %.3f seconds", _format_handle(handle), dt)
        if on_slow is not None and dt >= self._atk_slow_threshold:
            # Slow in wall time: whether it blocked the loop is for the
            # hygiene check to say (see _compat.blocked_seconds).
            on_slow(handle, dt, usage)
        # A callback's frame that an exception keeps links back to this frame
        # (3.11-3.13 give a finished frame its f_back), and this frame keeps its
        # locals: holding the handle here would close a cycle (exception ->
        # frames -> handle -> callback -> task or future -> exception) that only
        # the garbage collector frees, so a dropped failed task would be
        # reported late, maybe in another test. asyncio's _run_once does the same.
        handle = None

    def _atk_spin(self, ready: Any) -> None:
        # Called before a batch of callbacks that earlier callbacks queued, with
        # no timer fired and no IO since. The batch is busy polling when none
        # of its callbacks is a future's (a task's step after a bare yield, a
        # call_soon that re-arms itself): a callback whose first argument is a
        # future is a done callback or a task's wakeup, progress.
        clock = self._atk_clock
        limit = clock._busy_poll_limit
        if limit is None:
            return  # busy polling never counts as idle, nor as a livelock
        # A snapshot: another thread may append (call_soon_threadsafe) while
        # we look, and a deque that changes under its iterator raises.
        batch = list(ready)
        for handle in batch:
            args = handle._args
            if args and isinstance(args[0], _FUTURES):
                self._atk_spins = 0
                return
        ntodo = len(batch)
        if clock._ns != self._atk_spin_ns or not self._atk_spins:
            # A new streak: time moved, or progress broke the last one.
            self._atk_spin_ns = clock._ns
            self._atk_spins = 1
            self._atk_spin_steps = ntodo
            clock._read = False
            return
        self._atk_spins = spins = self._atk_spins + 1
        self._atk_spin_steps += ntodo
        if spins % limit:
            return
        # Every `limit` iterations of the streak, the loop counts as idle
        # (_atk_busy says so from now on) and decides what that means.
        if _waiting_outside(self):
            # Outside work may end the poll, or another thread just called in
            # (checked last: a thread that parks right after calling in): no
            # jump, no livelock; the poll goes on in real time. Look again
            # after `limit` more iterations.
            self._atk_spins = 0
            return
        if clock._autojump and not clock._stepping:
            # Jump to the next timer that can fire; it fires in the next
            # iteration (it is due then).
            when = self._atk_next_when()
            if when is not None and when <= HORIZON:
                self._atk_spins = 0  # also if the jump raises: a new streak
                _land(self, when)
                return
            if clock._read:
                # No timer, but the poll reads the time: it may wait for a
                # deadline (`while time.monotonic() < deadline: await
                # asyncio.sleep(0)`), which only time passing ends. Let time
                # pass as it would while a real loop spins: 1 ms, then twice
                # as much at each next check of the same poll, up to the
                # budget or the end of virtual time.
                step = self._atk_spin_step if self._atk_spin_jumped == clock._ns else _SPIN_STEP_NS
                if clock._ns + step <= MAX_NS:
                    self._atk_spins = 0
                    self._atk_spin_step = step * 2
                    _land(self, (clock._ns + step) / 1e9)
                    self._atk_spin_jumped = clock._ns
                    return
        if self._atk_spin_steps >= limit * _SPIN_FACTOR and not self._selector._others:
            # Nothing can ever end the spin (a peer on real IO might).
            report = self._atk_spin_report(batch)
            self._atk_spins = 0  # should the loop run on, count anew
            raise LivelockError(report)

    def _atk_spin_report(self, batch: list[Any]) -> str:
        spinning: list[str] = []
        for handle in batch:
            if handle._cancelled:
                continue
            owner = getattr(handle._callback, "__self__", None)
            if isinstance(owner, asyncio.Task):
                # A task's step (TaskStepMethWrapper, or a bound method for
                # pure-Python tasks): the task resumes after a bare yield.
                coro = shown_coroutine(owner.get_coro())
                name = getattr(coro, "__qualname__", None) or repr(coro)
                text = f"task {owner.get_name()!r} running {name}()"
            else:
                text = f"callback {_format_handle(handle)}"
            if text not in spinning:
                spinning.append(text)
        clock = self._atk_clock
        when = self._atk_next_when()
        if when is None or when > HORIZON:
            why = "no timer pending that can fire"
        elif not clock._autojump:
            why = "the clock in manual mode"
        else:
            why = "settle() running, which never moves time"
        return self._atk_report(
            f"Livelock: {self._atk_spin_steps} callbacks in a row only yielded "
            "(`await asyncio.sleep(0)`) or re-armed themselves (`call_soon`), with "
            f"{why}, no outside work in flight and no real IO: nothing can ever end "
            f"the spin. Spinning: {'; '.join(spinning)}. A poll must wait for "
            "something that can happen: await an Event or a Future instead, or "
            "sleep for a while. If a thread or process the loop cannot see ends "
            "the spin, poll inside `with clock.hold():`"
        )

    def _atk_count_instant_fire(self) -> None:
        # A timer is due now and nothing else is ready: fine once, runaway if it
        # happens again and again without time moving. (A timer fires: any
        # busy-polling streak is over.)
        self._atk_spins = 0
        now = self._atk_clock._ns
        if now != self._atk_instant_ns:
            self._atk_instant_ns = now
            self._atk_instant_fires = 0
            return
        self._atk_instant_fires += 1
        if self._atk_instant_fires > _RUNAWAY_LIMIT:
            self._atk_instant_fires = 0
            raise LivelockError(self._atk_report(
                f"Runaway timers: timers fired {_RUNAWAY_LIMIT} times at virtual time "
                f"{self._atk_clock._s!r}s without time moving (a callback that re-arms "
                "call_at(loop.time(), ...) or call_later(0, ...) forever?)"
            ))

    def _atk_deadlock_report(self, heap: list[_Entry]) -> str:
        threads = self._atk_threads.report()
        if not heap:
            headline = (
                "Deadlock: every task waits and nothing can ever wake them (no timer "
                "pending, no outside work in flight, no real IO registered)"
                if not threads else
                "Deadlock: every task waits and nothing can ever wake them (no timer "
                "pending, every thread that can wake the loop is parked, no real IO "
                "registered)"
            )
        elif heap[0][0] > HORIZON:
            headline = (
                "Deadlock: every task waits and nothing can ever wake them (the timers "
                f"pending never fire: the next is due at {heap[0][0]!r}, past the end of "
                f"virtual time at {HORIZON!r}s; no outside work in flight, no real IO "
                "registered)"
            )
        else:
            headline = (
                f"Deadlock in manual mode: every task waits, the next timer is at "
                f"{heap[0][0]!r}s and nothing will advance the clock. Call "
                "`await clock.advance(...)` or `await clock.next()` from the test, or "
                "set clock.autojump = True"
            )
        report = self._atk_report(headline)
        return f"{report}\n{threads}" if threads else report

    # -- outside work in flight ------------------------------------------

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        pool = self._default_executor if executor is None else executor  # type: ignore[attr-defined]
        # asyncio's run_in_executor wraps the job's future (wrap_future): the
        # job is accounted for here, not as an outside future (create_future).
        self._atk_wrapping = True
        try:
            return self._atk_run_in_executor(pool, executor, func, *args)
        finally:
            self._atk_wrapping = False

    def _atk_run_in_executor(
        self, pool: Executor | None, executor: Executor | None, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        if pool is None or isinstance(pool, concurrent.futures.ThreadPoolExecutor):
            # A thread pool: its worker is watched like any thread of ours
            # (time jumps while it is parked, say in run_coroutine_threadsafe
            # (...).result()); until a worker starts the job, it is work in flight.
            if self._debug:  # type: ignore[attr-defined]
                self._check_callback(func, "run_in_executor")  # type: ignore[attr-defined]
            job = self._atk_threads.job(func)
            try:
                fut = super().run_in_executor(executor, job, *args)
            except BaseException:
                self._atk_threads.landed(job)  # never submitted (a shut-down executor)
                raise
            fut.add_done_callback(lambda _: self._atk_threads.landed(job))
            return fut
        # Another executor (processes): in flight until its future lands.
        fut = super().run_in_executor(executor, func, *args)
        self._atk_in_flight += 1
        fut.add_done_callback(self._atk_landed)
        return fut

    def create_future(self) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = _Future(loop=self)
        # Another thread runs a wrapped future: none alive, no look (sleep()
        # makes a future each time).
        if len(_threads_alive) > 1 and _getframe(1).f_code is _WRAP_FUTURE and not self._atk_wrapping:
            # asyncio.wrap_future(): the loop awaits a concurrent future that
            # some thread runs, maybe one older than the loop that it cannot
            # see (a module-level executor's). Until it lands, every thread
            # is watched: time waits while any runs.
            self._atk_threads.wrapped(+1)
            fut.add_done_callback(self._atk_unwrapped)
        return fut

    def _atk_unwrapped(self, _fut: object) -> None:
        self._atk_threads.wrapped(-1)

    def call_soon_threadsafe(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.Handle:
        if callback is not _nothing and threading.get_ident() != self._atk_clock._thread_id:
            # A thread that calls in can wake the loop: watched while it lives.
            self._atk_threads.saw_thread()
        return super().call_soon_threadsafe(callback, *args, context=context)

    def _atk_landed(self, _fut: object) -> None:
        self._atk_in_flight -= 1

    async def shutdown_default_executor(self, *args: Any) -> None:
        # Its helper thread joins the workers and reports back through
        # call_soon_threadsafe: outside work, never a deadlock.
        self._atk_in_flight += 1
        try:
            await super().shutdown_default_executor(*args)
        finally:
            self._atk_in_flight -= 1

    async def _make_subprocess_transport(self, *args: Any, **kwargs: Any) -> Any:
        transport = await super()._make_subprocess_transport(*args, **kwargs)  # type: ignore[misc]
        self._atk_subprocesses.append(transport)
        return transport

    def _atk_live_subprocesses(self) -> bool:
        # A subprocess is outside work until it has exited or its transport
        # is closed; forget the others.
        procs = self._atk_subprocesses
        procs[:] = [p for p in procs if p.get_returncode() is None and not p.is_closing()]
        return bool(procs)

    def add_signal_handler(  # type: ignore[override]
        self, sig: int, callback: Callable[..., object], *args: Any
    ) -> None:
        # A signal's C handler writes to the self-pipe without _write_to_self:
        # while any handler is installed, poll the self-pipe like a real fd.
        had = sig in self._signal_handlers  # type: ignore[attr-defined]
        super().add_signal_handler(sig, callback, *args)
        if not had:
            self._selector._others += 1

    def remove_signal_handler(self, sig: int) -> bool:
        removed = super().remove_signal_handler(sig)
        if removed:
            self._selector._others -= 1
        return removed

    def _write_to_self(self) -> None:
        self._atk_woken = True
        super()._write_to_self()  # type: ignore[misc]

    # -- the virtual network (asynctestkit/_net): hooks only ---------------

    # A VirtualNetwork attached to this loop (VirtualNetwork.attach) answers
    # its network calls (the hooks below, _net_hook); None: the real network.
    _atk_net: Any = None

    # -- the clock's driver interface ------------------------------------

    def _atk_next_when(self) -> float | None:
        heap = self._atk_heap
        while heap and heap[0][2]._cancelled:
            _heappop(heap)[2]._scheduled = False  # type: ignore[attr-defined]
            self._timer_cancelled_count -= 1
        return heap[0][0] if heap else None

    def _atk_timers(self) -> list[asyncio.TimerHandle]:
        return [entry[2] for entry in sorted(self._atk_heap) if not entry[2].cancelled()]

    def _atk_busy(self) -> bool:
        if self._ready:  # type: ignore[attr-defined]
            # Busy polling counts as idle past the limit (see _atk_spin); a
            # streak from before time moved is over.
            clock = self._atk_clock
            limit = clock._busy_poll_limit
            return limit is None or self._atk_spins < limit or self._atk_spin_ns != clock._ns
        when = self._atk_next_when()
        return when is not None and when <= self._atk_clock._end

    def _atk_wake(self) -> None:
        if not self.is_closed() and threading.get_ident() != self._atk_clock._thread_id:
            self.call_soon_threadsafe(_nothing)

    def _atk_report(self, headline: str) -> str:
        tasks = [t for t in asyncio.all_tasks(self) if not t.done()]
        report = (
            f"{headline}.\nVirtual time: {self._atk_clock._s!r}s.\n"
            + format_tasks(tasks, "Pending tasks")
        )
        network = self._atk_net.report() if self._atk_net is not None else ""
        return f"{report}\n{network}" if network else report


def _net_hook(name: str) -> Any:
    """The loop's ``name`` method, answered by its VirtualNetwork when one is attached."""
    base = getattr(asyncio.SelectorEventLoop, name)

    async def hook(self: _VirtualEventLoop, *args: Any, **kwargs: Any) -> Any:
        net = self._atk_net
        if net is None:
            return await base(self, *args, **kwargs)
        return await net.calls[name](net, self, *args, **kwargs)

    hook.__name__ = hook.__qualname__ = name
    hook.__doc__ = base.__doc__
    return hook


# The network calls a VirtualNetwork answers (asynctestkit/_net/_calls.py).
for _name in (
    "create_connection", "create_server", "create_unix_connection", "create_unix_server",
    "create_datagram_endpoint", "getaddrinfo", "getnameinfo", "connect_accepted_socket",
    "sock_connect", "sock_accept", "sock_recv", "sock_recv_into", "sock_sendall",
    "sock_sendto", "sock_recvfrom", "sock_recvfrom_into",
):
    if hasattr(asyncio.SelectorEventLoop, _name):
        setattr(_VirtualEventLoop, _name, _net_hook(_name))
del _name


def _nothing() -> None:
    pass
