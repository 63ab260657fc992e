"""The one decision of how a virtual loop's time moves when nothing is ready.

Where asyncio would block in ``select()`` until its next timer, every virtual
loop (the plain one and the seeded one, whose timers carry their own lateness)
calls `step`, and a busy poll that counts as idle asks `waiting_outside`. Both
read the same facts in the same order, so no loop can jump past work another
would wait for:

1. real IO first (a registered socket, pipe or signal handler, or a byte on
   the self-pipe: another thread called in): poll it and run what came;
2. a callback queued meanwhile by another thread: run it;
3. outside work in flight (a process pool's future, a live subprocess, a
   ``hold()``): wait for it in *real* time; its end wakes the loop;
4. a thread that can wake the loop and is not parked (`ThreadWatch.idle`):
   wait in real time, then look again;
5. then, and only after looking *again* at the ready queue and the self-pipe
   (a thread that posted a callback and parked between two looks has left
   its callback there): jump to the next timer, or, with no timer that can
   fire, raise `DeadlockError` naming the parked threads.

The fast path, taken by almost every virtual sleep, is the same decision
with every answer known from cheap fields: nothing real, nothing ready, no
outside work, autojump on, and no thread started or called in since the last
look found none of the loop's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._clock import HORIZON, MAX_NS, DeadlockError, LivelockError, due_ns, due_until
from ._threads import _limbo, active_threads, last_thread

if TYPE_CHECKING:
    from ._clock import VirtualClock
    from ._loop import _Entry, _VirtualEventLoop

__all__ = ("land", "step", "waiting_outside")

# Real seconds the loop waits between checks while it waits on outside work;
# completions wake it at once through the self-pipe, this is only a safety net.
REAL_WAIT_CAP = 0.5


def step(
    loop: _VirtualEventLoop, heap: list[_Entry], ready: object, clock: VirtualClock, real: object
) -> None:
    """Decide what the loop does with nothing ready and no timer due: run, wait, jump or raise.

    ``ready`` is the loop's ready queue and ``clock`` its clock, passed in by
    the caller that has them at hand (this runs once per virtual sleep).
    """
    threads = loop._atk_threads
    if (
        # `ready` again: another thread may have queued a callback since.
        real or ready or loop._atk_in_flight or loop._atk_subprocesses
        or clock._holds or not clock._autojump or not heap
        # Threads (see ThreadWatch.idle): look unless the last look found
        # none of the loop's own and none has started since. A new thread
        # is the last in threading's registry (or still in _limbo); one
        # ending then is not the loop's, and needs no look.
        or threads.quiet < 0 or _limbo or last_thread() is not threads.last
    ):
        _idle(loop, heap, real)
        return
    when = heap[0][0]
    if when > clock._limit_s:
        # Past the budget (LivelockError), or past the end of virtual time:
        # sleep(math.inf), a timer that never fires (DeadlockError).
        _idle(loop, heap, real)
    else:
        # The common case (most of a virtual sleep's cost): autojump to the
        # next timer at the nearest nanosecond where it is due (due_ns and
        # due_until, inlined).
        ns = round(when * 1e9)
        s = ns / 1e9
        end = s + 5.3e-10 if s < 65536.0 else due_until(s)
        while end < when:
            ns += 1
            s = ns / 1e9
            end = due_until(s)
        clock._ns = ns
        clock._s = s
        clock._end = end


def _idle(loop: _VirtualEventLoop, heap: list[_Entry], real: object) -> None:
    # Nothing is ready: asyncio would block in select() until the next timer.
    # Whatever runs next comes from outside, or a timer: no busy polling.
    loop._atk_spins = 0
    inner = loop._selector._inner
    process = loop._process_events  # type: ignore[attr-defined]
    if real:
        loop._atk_woken = False
        events = inner.select(0)
        if events:
            process(events)
            return
    if loop._ready:  # type: ignore[attr-defined]
        return  # another thread queued a callback meanwhile: run it first
    clock = loop._atk_clock
    if loop._atk_in_flight or clock._holds or (
        loop._atk_subprocesses and loop._atk_live_subprocesses()
    ):
        # Outside work in flight: wait for it in real time.
        process(inner.select(REAL_WAIT_CAP))
        return
    final = not clock._autojump or not heap or heap[0][0] > HORIZON
    threads = loop._atk_threads
    if threads.quiet != active_threads() or last_thread() is not threads.last:
        wait = threads.idle(clock._thread_id, final=final)
        if wait is not None:
            # A thread that can wake the loop runs: wait for it in real time
            # (its call_soon_threadsafe wakes us at once), and look again.
            process(inner.select(wait))
            return
    # Look again before acting: a thread that posted a callback (or wrote the
    # self-pipe) and parked again between the looks is seen here.
    if loop._ready or loop._atk_woken:  # type: ignore[attr-defined]
        return
    if final:
        if loop._selector._others:
            # Only real IO (a socket, a signal) can wake the loop now.
            process(inner.select(REAL_WAIT_CAP))
            return
        raise DeadlockError(loop._atk_deadlock_report(heap))
    if loop._selector._others and loop._atk_io_grace:
        # Real sockets or pipes are open: give their peers a short real-time
        # grace to answer before time jumps past them.
        events = inner.select(loop._atk_io_grace)
        if events:
            process(events)
            return
    land(loop, heap[0][0])


def waiting_outside(loop: _VirtualEventLoop) -> bool:
    """Whether work outside the loop may change what its tasks see (a busy poll then waits)."""
    threads = loop._atk_threads
    return bool(
        loop._atk_in_flight or loop._atk_clock._holds
        or (loop._atk_subprocesses and loop._atk_live_subprocesses())
        # A thread that can wake the loop runs (or a job waits for one).
        or (
            (threads.quiet != active_threads() or last_thread() is not threads.last)
            and threads.idle(loop._atk_clock._thread_id) is not None
        )
        # Another thread called in (checked last: one that parks right after).
        or loop._atk_woken
    )


def land(loop: _VirtualEventLoop, when: float) -> None:
    """Move the loop's clock to the nanosecond where ``when`` is due, at least 1 ns on.

    Called only when the head of the heap is not due yet. A deadline a float
    step below HORIZON rounds to 2**63; within the budget, or LivelockError.
    """
    clock = loop._atk_clock
    ns = min(max(due_ns(when), clock._ns + 1), MAX_NS)
    budget = clock._budget_ns
    if budget is not None and ns > budget:
        raise LivelockError(loop._atk_report(
            f"Virtual-time budget exhausted: autojump would move time to the next "
            f"timer at {when!r}s, past the budget of {clock._budget_given!r}s of "
            f"virtual time, which ends at {budget / 1e9!r}s. A loop that never ends "
            "(a retry or poll without a limit), or a deadline read from real time "
            "(code that bound `from time import monotonic` before the test reads real "
            "time unless its module is in time_targets)? Raise the budget if this much "
            "virtual time is expected"
        ))
    clock._ns = ns
    clock._s = s = ns / 1e9
    clock._end = due_until(s)

