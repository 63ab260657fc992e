"""The seeded scheduler: the virtual loop, perturbed reproducibly where asyncio leaves order open.

``virtual_event_loop(seed=N)`` makes a `SeededEventLoop`. It is the virtual
loop with a ``random.Random(N)`` that decides, and only decides, what real
asyncio leaves to chance:

* **ties**: timers due at the same virtual instant fire in a seeded order (the
  heap's tie-breaker is a seeded random key instead of a counter);
* **lateness**: when the loop sleeps until its next timer, it wakes up to
  ``jitter`` x the time it slept late (never early), and runs every timer due
  by then in deadline order, as a real loop woken late does;
* **outside events**: callbacks from other threads (``call_soon_threadsafe``,
  so executor results too) and real IO that are ready while timers are due
  at the same instant run before those timers (asyncio's own order) or after
  them;
* **eager start** (3.12+, with ``eager_tasks=True``): each task starts eagerly
  (as under ``asyncio.eager_task_factory``) or lazily.

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

    from ._clock import VirtualClock

__all__ = ("SeededEventLoop", "Trace", "describe_step", "seeded_event_loop")

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
_base_jump = _VirtualEventLoop._atk_jump


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
    ) -> None:
        self._atk_rng = rng = random.Random(seed) if seed is not None else None
        self._atk_jitter = jitter if rng is not None else 0.0
        self._atk_eager = eager_tasks and rng is not None and EAGER_START
        self._atk_trace = trace
        self._atk_deferred: deque[Any] = deque()
        self._atk_inner_factory: Any = None
        super().__init__(clock, io_grace)
        if rng is not None:
            # The heap's tie-breaker (see _loop._Entry), read by call_at and
            # call_later for each timer, becomes a seeded random float: timers
            # due at one instant fire in a seeded order. Two equal keys (about
            # one chance in 2**53 per pair) would compare the TimerHandles,
            # which compare by deadline: no error, only that pair's order left
            # to the heap.
            self._atk_seq = iter(rng.random, -1.0)  # type: ignore[assignment]
            selector = self._selector
            selector._inner = self._atk_io = _DeferringSelector(selector._inner)
        if trace is not None:
            self._atk_timed = True

    # -- each iteration --------------------------------------------------

    def _run_once(self) -> None:
        rng = self._atk_rng
        if rng is None:
            _base_run_once(self)
            return
        deferred = self._atk_deferred
        if deferred:
            # Outside callbacks held back one iteration, behind the timers that
            # were due with them: they go first now, in their own order.
            self._ready.extendleft(reversed(deferred))  # type: ignore[attr-defined]
            deferred.clear()
        elif not self._stopping:  # type: ignore[attr-defined]
            heap = self._atk_heap
            # Timers due at this instant, and outside events (another thread's
            # callbacks, real IO) may be ready: asyncio takes the outside ones
            # first; they may as well land just after. (Where nothing is due,
            # the loop's one jump decision, _jump.step, lands late through
            # _atk_jump.)
            if (
                heap and heap[0][0] <= self._atk_clock._end
                and (self._selector._others or self._atk_woken) and rng.random() < 0.5
            ):
                self._atk_defer_outside()
        _base_run_once(self)

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

    def _atk_jump(self, when: float) -> None:
        # Every jump to the next timer lands up to jitter x the sleep late.
        jitter = self._atk_jitter
        if jitter:
            slept = when - self._atk_clock._s
            if slept > 0:
                when += self._atk_rng.random() * jitter * slept  # type: ignore[union-attr]
        _base_jump(self, when)

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
            self._task_factory = functools.partial(_maybe_eager, self, factory)  # pragma: no cover

    def get_task_factory(self) -> Any:
        return self._atk_inner_factory

    # -- the trace -------------------------------------------------------

    def set_debug(self, enabled: bool) -> None:
        super().set_debug(enabled)
        if self._atk_trace is not None:
            self._atk_timed = True

    def _atk_watch_slow(
        self, threshold: float, on_slow: Callable[[object, float], None] | None
    ) -> None:
        super()._atk_watch_slow(threshold, on_slow)
        if self._atk_trace is not None:
            self._atk_timed = True

    def _atk_run_timed(self, handle: Any) -> None:
        trace = self._atk_trace
        if trace is not None:
            trace.steps.append((self._atk_clock._ns, describe_step(handle)))
        super()._atk_run_timed(handle)


def _maybe_eager(  # pragma: no cover - 3.12+ only (EAGER_START); not called on 3.10-3.11
    loop: SeededEventLoop, factory: Any, _loop: Any, coro: Coroutine[Any, Any, Any], **kwargs: Any
) -> asyncio.Task[Any]:
    # 3.12+ Task(eager_start=True) runs the coroutine up to its first
    # suspension inside create_task(), as asyncio.eager_task_factory does.
    rng = loop._atk_rng
    assert rng is not None
    if rng.random() < 0.5:
        kwargs["eager_start"] = True
    if factory is None:
        return asyncio.Task(coro, loop=loop, **kwargs)
    task: asyncio.Task[Any] = factory(loop, coro, **kwargs)
    return task


def seeded_event_loop(
    clock: VirtualClock,
    io_grace: float,
    seed: int | None,
    jitter: float = 0.01,
    eager_tasks: bool = False,
    trace: Trace | None = None,
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
            f"jitter needs a finite, non-negative fraction of the time the loop sleeps "
            f"(0.01: up to 1% late; 0: never late); got {jitter!r}"
        )
    if not isinstance(eager_tasks, bool):
        raise TypeError(f"eager_tasks needs True or False; got {eager_tasks!r}")
    return SeededEventLoop(
        clock, io_grace, seed=seed, jitter=float(jitter), eager_tasks=eager_tasks, trace=trace
    )
