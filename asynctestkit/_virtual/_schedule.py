"""The seeded scheduler: the virtual loop, perturbed reproducibly where asyncio leaves order open.

``virtual_event_loop(seed=N)`` makes a `SeededEventLoop`. It is the virtual
loop with a ``random.Random(N)`` that decides, and only decides, what real
asyncio leaves to chance:

* **lateness**: on half the seeds (`LATE_SHARE`), each timer armed with a
  delay fires late by its own seeded fraction of that delay, up to
  ``jitter`` (never early), independently of every other timer: a test's
  nominal durations stand for work that takes a little more or less. Two
  timers due together may then fire in different iterations, in either
  order; timers further apart than the bound keep their order, so a margin
  of ``1 + jitter`` (1.1x by default) is never crossed;
* **ties**: on the other seeds deadlines stay exact, and timers due at the
  same instant fire in a seeded order (on every seed, in fact: under
  lateness, ties are rare);
* **outside events**: callbacks from other threads (``call_soon_threadsafe``,
  so executor results too) and real IO that are ready while timers are due
  at the same instant run before those timers (asyncio's own order) or after
  them;
* **eager start** (3.12+, with ``eager_tasks=True``): the loop starts every
  task eagerly (as under ``asyncio.eager_task_factory``) or every task
  lazily: one choice per loop, as an application installs the factory for a
  whole loop or not at all.

Each of these is a *choice point* (`_choices.py`): a `Choices` given to the
loop can revert any of them to the default order, and record the departures
kept, to explain a failure in the user's terms.

Never touched: callbacks the loop's thread queues with ``call_soon`` run in
FIFO order, a future's done callbacks in registration order, so ``Queue``,
``Lock``, ``Condition`` and ``Semaphore`` keep their fairness. The same seed
gives the same choices in the same order, so the same interleaving and the
same virtual timestamps, provided the code under test is deterministic: the
`Trace` of which callback ran at which virtual time lets the determinism
check (``ASYNCTESTKIT_CHECK_DETERMINISM=1``) say where it is not.

With ``seed=None`` none of this is loaded: the plain virtual loop runs.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import math
import random
import selectors
from collections import deque
from typing import TYPE_CHECKING, Any, Final, final

from .._compat import EAGER_START
from ._loop import _VirtualEventLoop
from ._selector import DelegatingSelector

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from ._choices import Choices
    from ._clock import VirtualClock

__all__ = ("DEFAULT_JITTER", "LATE_SHARE", "SeededEventLoop", "Trace", "describe_step", "seeded_event_loop")

# The share of seeds under which timers fire late; on the others deadlines
# stay exact and only ties are shuffled.
LATE_SHARE: Final = 0.5
# How late a timer may fire, as a fraction of its own delay. Races in
# ordinary code are ties in nominal time (a 10 s request and a 5 s grace
# period started at t=5): any bound above 0 reorders them on about half the
# late seeds. 10% stands for work that takes a little longer than its
# nominal duration, and stays far below the 4x margins correct code keeps
# (a chain of timers ends by (1 + jitter) x its nominal time, and a timer
# never fires early, so only a margin below 1.1x can be crossed).
DEFAULT_JITTER: Final = 0.1

# Callbacks from another thread are made as instances of this subclass: the
# type is the mark that tells them from the loop's own, set before the handle
# is visible to the loop. 3.15 (and later 3.13/3.14 releases) make
# call_soon_threadsafe() handles _ThreadSafeHandle, whose cancel() takes a
# lock; keep that.
_HandleBase: Any = getattr(asyncio.events, "_ThreadSafeHandle", asyncio.Handle)


class _OutsideHandle(_HandleBase):  # type: ignore[misc]
    __slots__ = ()


# Our frames at the end of a debug-mode handle's creation traceback, dropped as
# call_soon_threadsafe() drops its own: that method's, and _ThreadSafeHandle's
# __init__ where the handle is one.
_OWN_FRAMES: Final = 1 if _HandleBase is asyncio.Handle else 2


@final
class _DeferringSelector(DelegatingSelector):
    """Skips one poll for real IO when the loop decides timers go first."""

    def __init__(self, inner: selectors.BaseSelector) -> None:
        super().__init__(inner)
        self.skip = False

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self.skip and timeout == 0:
            # Level-triggered: what is ready now is still ready next poll.
            self.skip = False
            return []
        return self._inner.select(timeout)


@final
class Trace:
    """The steps a loop ran: ``(virtual ns, description)`` for each callback."""

    __slots__ = ("steps",)

    def __init__(self) -> None:
        self.steps: list[tuple[int, str]] = []

    def first_difference(self, other: Trace) -> str | None:
        """Describe the first step where ``other`` differs from this trace (None: no difference)."""
        mine, theirs = self.steps, other.steps
        for i, (a, b) in enumerate(zip(mine, theirs, strict=False)):
            if a != b:
                return (
                    f"step {i + 1}: the first run ran {_show(a)}, "
                    f"the second ran {_show(b)}"
                )
        if len(mine) != len(theirs):
            i = min(len(mine), len(theirs))
            a_text = _show(mine[i]) if i < len(mine) else "nothing more (it had ended)"
            b_text = _show(theirs[i]) if i < len(theirs) else "nothing more (it had ended)"
            return f"step {i + 1}: the first run ran {a_text}, the second ran {b_text}"
        return None


def _show(step: tuple[int, str]) -> str:
    return f"{step[1]} at virtual time {step[0] / 1e9!r}s"


def describe_step(handle: Any) -> str:
    """Describe the callback a handle runs, the same way in every run (no addresses, no counters)."""
    callback = handle._callback
    kind = "outside callback" if type(handle) is _OutsideHandle else (
        "timer" if isinstance(handle, asyncio.TimerHandle) else "callback"
    )
    while isinstance(callback, functools.partial):
        callback = callback.func
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro: Any = owner.get_coro()
        frame = getattr(coro, "cr_frame", None)
        code = getattr(coro, "cr_code", None)
        name = getattr(coro, "__qualname__", type(coro).__qualname__)
        if frame is not None:
            where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        elif code is not None:
            where = f"{code.co_filename}:{code.co_firstlineno}"
        else:  # pragma: no cover - a coroutine-like object without code
            where = "?"
        return f"{kind}: step of task {name} ({where})"
    name = getattr(callback, "__qualname__", None) or type(callback).__qualname__
    if name == "BaseSelectorEventLoop._read_from_self":
        return "IO: the loop woken by another thread (its self-pipe)"
    code = getattr(callback, "__code__", None)
    if code is not None:
        return f"{kind}: {name} ({code.co_filename}:{code.co_firstlineno})"
    return f"{kind}: {name}"


# The unseeded loop's own methods, called without super()'s lookup: the
# seeded loop's _run_once adds one step before each iteration.
_base_run_once = _VirtualEventLoop._run_once
_base_call_at = _VirtualEventLoop.call_at


@final
class SeededEventLoop(_VirtualEventLoop):
    """The virtual loop whose open choices a seed makes (made by `virtual_event_loop`).

    The unseeded loop's code runs unchanged: this class adds a step before
    each iteration (`_run_once`) and overrides the few methods where a choice
    is made. With ``seed=None`` (the determinism check of the default order)
    it makes no choice and only records the trace.
    """

    def __init__(
        self,
        clock: VirtualClock,
        io_grace: float,
        *,
        seed: int | None,
        jitter: float,
        eager_tasks: bool,
        trace: Trace | None = None,
        choices: Choices | None = None,
    ) -> None:
        self._atk_rng = rng = random.Random(seed) if seed is not None else None
        self._atk_late = 0.0
        self._atk_eager = False
        self._atk_trace = trace
        self._atk_choices = choices
        self._atk_points = 0  # choice points met (see _choices.py)
        self._atk_tied_at = math.nan  # the deadline of the last group of ties ordered
        self._atk_fp = 0  # the schedule's fingerprint (Choices.fingerprint)
        self._atk_deferred: deque[Any] = deque()
        self._atk_inner_factory: Any = None
        super().__init__(clock, io_grace)
        if rng is not None:
            # Drawn on every seed, whatever the options: the same seed
            # makes the same later draws.
            late = rng.random() < LATE_SHARE
            eager = rng.random() < 0.5
            if late and jitter:
                self._atk_late = jitter
            if choices is not None:
                choices.late = bool(self._atk_late)
            if self._atk_late or (choices is not None and choices.record):
                # Every timer armed with a delay goes through here (asyncio
                # calls self._loop.call_later): instance attributes, so the
                # unseeded loop's methods stay as fast as they are.
                self.call_later = self._atk_late_call_later  # type: ignore[method-assign]
                self.call_at = self._atk_late_call_at  # type: ignore[method-assign]
            if eager_tasks and EAGER_START:  # pragma: no branch - 3.12+ only
                index = self._atk_point()
                if eager and self._atk_kept(index):  # pragma: no cover - 3.12+ only
                    self._atk_eager = True
                    self._atk_departed(index, "eager")
                    self.set_task_factory(self._atk_inner_factory)
            selector = self._selector
            selector._inner = self._atk_io = _DeferringSelector(selector._inner)
        if trace is not None or (choices is not None and choices.record):
            self._atk_timed = True

    # -- choice points ---------------------------------------------------

    def _atk_point(self) -> int:
        index = self._atk_points
        self._atk_points = index + 1
        return index

    def _atk_kept(self, index: int) -> bool:
        choices = self._atk_choices
        return choices is None or choices.keep is None or index in choices.keep

    def _atk_departed(
        self, index: int, kind: str, handles: tuple[Any, ...] = (), amount: float = 0.0, ns: int = -1
    ) -> None:
        choices = self._atk_choices
        if choices is not None and choices.record:
            choices.departed(index, kind, self._atk_clock._ns if ns < 0 else ns, handles, amount)

    def _atk_late_call_later(
        self, delay: float, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        if delay is None:
            raise TypeError("delay must not be None")
        return self._atk_late_call_at(self._atk_clock._s + delay, callback, *args, context=context)

    def _atk_late_call_at(
        self, when: float, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        # A timer armed with a positive delay fires up to jitter x that delay
        # late: its own draw, independent of every other timer's.
        if when is None:
            raise TypeError("when cannot be None")
        nominal = when
        extra = 0.0
        index = -1
        delay = when - self._atk_clock._s
        if delay > 0 and self._atk_late:
            index = self._atk_point()
            extra = self._atk_rng.random() * self._atk_late * delay  # type: ignore[union-attr]
            if not self._atk_kept(index):
                extra = 0.0
        handle = _base_call_at(self, when + extra, callback, *args, context=context)
        choices = self._atk_choices
        if choices is not None and choices.record:
            choices.timer(handle, nominal)
            if extra:
                self._atk_departed(index, "late", (handle,), extra)
        return handle

    def close(self) -> None:
        choices = self._atk_choices
        if choices is not None:
            choices.points = self._atk_points
            choices.fingerprint = self._atk_fp
        super().close()

    # -- each iteration --------------------------------------------------

    def _run_once(self) -> None:
        rng = self._atk_rng
        if rng is None:
            _base_run_once(self)
            return
        clock = self._atk_clock
        # The schedule's fingerprint: when each iteration runs, and how much.
        self._atk_fp = hash((self._atk_fp, clock._ns, len(self._ready)))  # type: ignore[attr-defined]
        heap = self._atk_heap
        if heap and heap[0][0] != self._atk_tied_at and (
            (len(heap) > 1 and heap[1][0] == heap[0][0]) or (len(heap) > 2 and heap[2][0] == heap[0][0])
        ):
            # Timers due at one instant, the next to fire: order them once.
            self._atk_order_ties(heap, rng)
        deferred = self._atk_deferred
        if deferred:
            # Outside callbacks held back one iteration, behind the timers that
            # were due with them: they go first now, in their own order.
            self._ready.extendleft(reversed(deferred))  # type: ignore[attr-defined]
            deferred.clear()
        elif (
            not self._stopping  # type: ignore[attr-defined]
            and heap and heap[0][0] <= clock._end and (self._selector._others or self._atk_woken)
        ):
            # Timers due at this instant, and outside events (another thread's
            # callbacks, real IO) may be ready: asyncio takes the outside ones
            # first; they may as well land just after. (Where nothing is due,
            # the loop's one jump decision, _jump.step, moves time to the next
            # timer: each timer's own lateness is in its deadline.)
            index = self._atk_point()
            if rng.random() < 0.5 and self._atk_kept(index):
                self._atk_defer_outside()
                self._atk_departed(index, "outside", tuple(deferred))
        _base_run_once(self)

    def _atk_order_ties(self, heap: list[Any], rng: random.Random) -> None:
        # The live timers due at the head's deadline fire in a seeded order
        # (asyncio's heap of TimerHandles leaves their order open); re-keyed
        # with new sequence numbers, so they keep it however the heap moves.
        when = heap[0][0]
        self._atk_tied_at = when
        group: list[Any] = []
        dropped: list[Any] = []
        while heap and heap[0][0] == when:
            entry = heapq.heappop(heap)
            if entry[2]._cancelled:
                dropped.append(entry)
            else:
                group.append(entry)
        order = list(range(len(group)))
        if len(group) > 1:
            index = self._atk_point()
            keys = [rng.random() for _ in group]
            shuffled = sorted(order, key=keys.__getitem__)
            if shuffled != order and self._atk_kept(index):
                # Recorded: at the first place the orders differ, the timer
                # run there and the one the default order runs there.
                at = next(i for i, j in enumerate(shuffled) if i != j)
                self._atk_departed(
                    index, "tie", (group[shuffled[at]][2], group[at][2]), ns=round(when * 1e9)
                )
                order = shuffled
        seq = self._atk_seq
        for i in order:
            heapq.heappush(heap, (when, next(seq), group[i][2]))
        for entry in dropped:
            heapq.heappush(heap, entry)

    def _atk_defer_outside(self) -> None:
        # Take the other thread's callbacks out of `ready`, keeping every
        # other callback in its place and order; popleft/append are atomic,
        # so a thread appending meanwhile only adds to the end.
        keep: list[Any] = []
        ready: Any = self._ready  # type: ignore[attr-defined]
        deferred = self._atk_deferred
        for _ in range(len(ready)):
            handle = ready.popleft()
            (deferred if type(handle) is _OutsideHandle else keep).append(handle)
        ready.extendleft(reversed(keep))
        # And real IO: this iteration polls (woken), and that poll is skipped;
        # what is ready, the self-pipe's byte included, is read next time.
        self._atk_io.skip = True
        self._atk_woken = True

    def _atk_busy(self) -> bool:
        # Callbacks held back behind timers are ready work too (clock.settle()).
        return bool(self._atk_deferred) or super()._atk_busy()

    # -- outside events ----------------------------------------------------

    def call_soon_threadsafe(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.Handle:
        # BaseEventLoop.call_soon_threadsafe (3.10-3.15), the handle marked as
        # outside by its type before the loop can see it.
        self._check_closed()  # type: ignore[attr-defined]
        if self._debug:  # type: ignore[attr-defined]
            self._check_callback(callback, "call_soon_threadsafe")  # type: ignore[attr-defined]
        handle = _OutsideHandle(callback, args, self, context)
        if handle._source_traceback:
            del handle._source_traceback[-_OWN_FRAMES:]
        self._ready.append(handle)  # type: ignore[attr-defined]
        self._write_to_self()
        return handle

    # -- eager or lazy task start ----------------------------------------

    def set_task_factory(self, factory: Any) -> None:
        super().set_task_factory(factory)
        self._atk_inner_factory = factory
        if self._atk_eager:
            # 3.12+ only (EAGER_START): on 3.10-3.11 _atk_eager is always False.
            self._task_factory = functools.partial(_eager, self, factory)  # pragma: no cover

    def get_task_factory(self) -> Any:
        return self._atk_inner_factory

    # -- the trace -------------------------------------------------------

    def set_debug(self, enabled: bool) -> None:
        super().set_debug(enabled)
        if self._atk_trace is not None:
            self._atk_timed = True

    def _atk_watch_slow(
        self, threshold: float, on_slow: Callable[[object, float, Any], None] | None
    ) -> None:
        super()._atk_watch_slow(threshold, on_slow)
        if self._atk_trace is not None:
            self._atk_timed = True

    def _atk_run_timed(self, handle: Any) -> None:
        trace = self._atk_trace
        if trace is not None:
            trace.steps.append((self._atk_clock._ns, describe_step(handle)))
        choices = self._atk_choices
        if choices is not None and choices.record:
            choices.step(self._atk_clock._ns, handle)
        super()._atk_run_timed(handle)


def _eager(  # pragma: no cover - 3.12+ only (EAGER_START); not called on 3.10-3.11
    loop: SeededEventLoop, factory: Any, _loop: Any, coro: Coroutine[Any, Any, Any], **kwargs: Any
) -> asyncio.Task[Any]:
    # 3.12+ Task(eager_start=True) runs the coroutine up to its first
    # suspension inside create_task(), as asyncio.eager_task_factory does.
    kwargs["eager_start"] = True
    if factory is None:
        return asyncio.Task(coro, loop=loop, **kwargs)
    task: asyncio.Task[Any] = factory(loop, coro, **kwargs)
    return task


def seeded_event_loop(
    clock: VirtualClock,
    io_grace: float,
    seed: int | None,
    jitter: float = DEFAULT_JITTER,
    eager_tasks: bool = False,
    trace: Trace | None = None,
    choices: Choices | None = None,
) -> asyncio.AbstractEventLoop:
    """Check the schedule options and return a new `SeededEventLoop` (see `virtual_event_loop`).

    ``seed=None`` with a ``trace`` is the default order, traced (the
    determinism check).

    Raises:
        TypeError: ``seed`` is not an int, ``eager_tasks`` not a bool.
        ValueError: ``jitter`` is negative or not finite.
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed needs an int (or None for the default order); got {seed!r}")
    if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not (
        math.isfinite(jitter) and jitter >= 0
    ):
        raise ValueError(
            f"jitter needs a finite, non-negative fraction of a timer's delay "
            f"(0.1: up to 10% late; 0: never late); got {jitter!r}"
        )
    if not isinstance(eager_tasks, bool):
        raise TypeError(f"eager_tasks needs True or False; got {eager_tasks!r}")
    return SeededEventLoop(
        clock, io_grace, seed=seed, jitter=float(jitter), eager_tasks=eager_tasks, trace=trace,
        choices=choices,
    )
