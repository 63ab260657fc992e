"""What a test leaves behind, and what went wrong where nobody looked.

A `Hygiene` watches one test's loop from the start of the test to its end:
exceptions given to the loop's exception handler, coroutines never awaited,
callbacks that block the loop (in real time), calls into the loop from another
thread, and, at the end, tasks and timers still pending. It replaces what
asyncio's debug mode is used for in tests at a fraction of its cost: creation
sites come from a cheap task factory (`_report.tracking_task_factory`),
coroutine origins from a shallow ``sys.set_coroutine_origin_tracking_depth``,
slow callbacks from one real-time clock read per callback (where debug mode
reads the loop's clock twice and checks more; where each one blocked comes
from the sampler thread, `_sampler.py`), and wrong-thread calls from a
thread-id check on ``call_soon``/``call_later``/``call_at`` (about 0.1 us
per call).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import selectors
import sys
import threading
import time
import traceback
import weakref
from typing import TYPE_CHECKING, Any, final

from .._compat import blocked_seconds, swap_unawaited_coroutine_hook, thread_usage
from .._report import (
    OWN_DIR,
    Site,
    creation_site,
    describe_call,
    format_frames,
    format_tasks,
    is_plumbing,
    recording_task_factory,
    task_coroutine,
    tracking_task_factory,
    wakes,
)
from .._shield import Undo, deferred_interrupts
from .._virtual._selector import DelegatingSelector
from ._fate import fates
from ._sampler import Watch, unwatch_slow, watch_slow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import FrameType

__all__ = ("Hygiene", "SlowCallbackWarning", "describe_call", "format_problems")

# How many frames of a coroutine's creation are recorded (the test's own
# frames sit under three of asynctestkit's and asyncio's).
_ORIGIN_DEPTH = 6
# BaseEventLoop.call_later calls self.call_at: one wrong-thread call, not two.
_CALL_LATER_CODE = asyncio.BaseEventLoop.call_later.__code__
_MISSING = object()
_ref = weakref.ref
# asyncio's message for a pending task being collected (Task.__del__, 3.10-3.15).
_DESTROYED_PENDING = "Task was destroyed but it is pending!"
# Real time even when patch_time makes time.perf_counter() virtual on this thread.
_perf_counter = time.perf_counter
# asyncio.timeout()'s context manager (3.11+): its timer calls a method of it.
_TIMEOUT: type | None = getattr(asyncio, "Timeout", None)


class SlowCallbackWarning(RuntimeWarning):
    """A callback blocked the event loop longer than ``slow_callback_duration``."""


@final
class _TimedReady(collections.deque):  # type: ignore[type-arg]
    """The loop's ready queue, timing in real time each callback the loop takes from it.

    For loops other than the virtual one (which times each callback itself).
    ``BaseEventLoop._run_once`` takes each callback with ``popleft()`` and
    runs it at once: the time from one ``popleft()`` to the next, or to the
    next ``select()`` (see `_LappingSelector`), is the time that callback
    blocked the loop. The queue holds only the callback being run, which the
    loop holds too until it takes the next one: timing keeps no handle, and
    nothing a handle refers to, alive any longer than the loop does (a batch
    copied at ``select()`` would keep a whole iteration's handles, their
    tasks and futures, until the next one).
    """

    __slots__ = ("_callback", "_handle", "_hygiene", "_started", "_threshold", "_usage")

    def __init__(self, items: Iterable[object], hygiene: Hygiene) -> None:
        super().__init__(items)
        self._hygiene = hygiene
        self._threshold = hygiene.slow_threshold
        self._handle: Any = None
        # The handle's callback as it was taken: cancel() clears the handle's
        # own (a reader callback that removes its reader, say).
        self._callback: Any = None
        self._started = 0.0
        self._usage: Any = None  # the thread's usage when that callback was taken

    def popleft(self) -> Any:
        now = _perf_counter()
        if self._handle is not None and now - self._started >= self._threshold:
            self._slow(now - self._started)
        # The start first, then the handle: the sampler (_sampler.py) reads
        # them from its own thread in the other order.
        self._started = now
        self._handle = taken = _popleft(self)
        self._callback = taken._callback
        self._usage = thread_usage()
        return taken

    def lap(self, interrupted: bool = False) -> None:
        """Account for the callback taken last (the loop's iteration ended, or the loop stopped).

        ``interrupted``: an exception stopped the loop inside that callback;
        it did not run to its end, so it is not timed.
        """
        if self._handle is not None:
            busy = _perf_counter() - self._started
            if busy >= self._threshold and not interrupted:
                self._slow(busy)
            self._handle = self._callback = None

    def _slow(self, wall: float) -> None:
        ran = handle = self._handle
        if handle._callback is None and self._callback is not None:
            handle = _Taken(self._callback)
        self._hygiene._on_slow(handle, wall, self._usage, ran)


@final
class _Taken:
    """What a handle called, for a handle cancelled since (cancel() forgets it)."""

    __slots__ = ("_args", "_callback")

    def __init__(self, callback: Any) -> None:
        self._callback = callback
        self._args = ()


_popleft = collections.deque.popleft


@final
class _LappingSelector(DelegatingSelector):
    """Ends the timing of the last callback of each iteration, before the loop waits."""

    def __init__(self, inner: selectors.BaseSelector, ready: _TimedReady) -> None:
        super().__init__(inner)
        self._timed = ready

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self._timed.lap()
        return self._inner.select(timeout)


@final
class Hygiene:
    """Watch one test's loop and say what the test left behind.

    Args:
        loop: The test's loop, not running yet.
        slow_threshold: Real seconds a callback may run before it is
            reported; ``None`` turns the slow-callback check off.
        coroutines: Whether to report coroutines never awaited.
        threads: Whether to report ``call_soon``, ``call_later`` and
            ``call_at`` called from a thread other than the loop's.
        timers: Whether to note where each ``call_later``/``call_at`` timer
            is created, for the report of timers left pending (a short walk
            of the stack per timer, only while this check is on).
        baseline: Leave out of the verdict what belongs to the tasks that
            exist at `install` (a loop a class shares; see `pending_timers`
            and `new_tasks`); ``False`` for a new loop, which has none, saves
            a walk over every task of the process.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        slow_threshold: float | None,
        coroutines: bool,
        threads: bool = True,
        timers: bool = True,
        baseline: bool = True,
    ) -> None:
        self.loop = loop
        self.slow_threshold = slow_threshold if slow_threshold is not None else float("inf")
        self.exceptions: list[str] = []
        self.lost: list[str] = []
        self.never_awaited: list[str] = []
        self.slow: list[str] = []
        self.wrong_thread: list[str] = []
        self._coroutines = coroutines
        self._threads = threads
        self._timers = timers
        # Where each timer armed through the loop was created, by id(handle):
        # TimerHandle has __slots__. Ids, not handles: nothing is kept alive;
        # a pending handle is alive, so its id is its own.
        self.timer_sites: dict[int, Site] = {}
        # The oldest generation that may hold what this test made (see _on_gc).
        self._collect_up_to = 0
        self._baseline = baseline
        self._baseline_tasks: set[asyncio.Task[Any]] = set()
        # By id, with the handle as the value: a live handle's id is not reused.
        self._baseline_timers: dict[int, asyncio.TimerHandle] = {}
        # The tasks made on the loop since `install`, looked at by `unretrieved`:
        # weak references, so a task nobody holds dies (and reports an
        # exception never retrieved) when it is dropped, as without us.
        self.created: list[weakref.ref[asyncio.Task[Any]]] = []
        # The factory that records them; None when the loop has a user's own.
        self.task_factory: Callable[..., asyncio.Task[Any]] | None = None
        self._timing: _TimedReady | None = None
        # Where the sampler thread saw each slow callback (_sampler.py).
        self._sampled: Watch | None = None
        self._stack = Undo()

    # -- for the whole test ------------------------------------------------

    def install(self) -> None:
        """Start watching: exception handler, task factory, hooks. Undone by `uninstall`.

        With ``baseline``, tasks and timers that exist now (made before the
        test, on a loop the class shares) are not the test's: they are left
        out of its verdict.
        """
        # A Ctrl-C waits until each hook is recorded for `uninstall`.
        with deferred_interrupts():
            self._install()

    def _install(self) -> None:
        loop = self.loop
        if self._baseline:
            self._baseline_tasks = set(asyncio.all_tasks(loop))
            scheduled = getattr(loop, "_scheduled", ())
            self._baseline_timers = {id(h): h for h in scheduled if not h.cancelled()}
        stack = self._stack
        stack.callback(loop.set_exception_handler, loop.get_exception_handler())
        loop.set_exception_handler(self._on_exception)
        factory = loop.get_task_factory()
        # Ours, or the virtual loop's tracking_task_factory, which this extends;
        # a user's own factory is kept (its tasks are not recorded).
        if factory is None or factory is tracking_task_factory:
            stack.callback(loop.set_task_factory, factory)
            self.task_factory = recording_task_factory(self._on_task)
            loop.set_task_factory(self.task_factory)
        if self.slow_threshold != float("inf"):
            self._watch_slow()
        if self._coroutines:
            self._watch_coroutines()
        if self._threads or self._timers:
            self._watch_calls()

    def uninstall(self) -> None:
        """Stop watching and put every global hook back, whatever happened (or interrupts)."""
        self._stack.close()
        self.created = []
        self.timer_sites = {}

    def _watch_slow(self) -> None:
        loop: Any = self.loop
        if hasattr(loop, "_atk_watch_slow"):
            # The virtual loop times each callback in real time itself.
            loop._atk_watch_slow(self.slow_threshold, self._on_slow)
            self._stack.callback(loop._atk_watch_slow, float("inf"), None)
            # Its callback running, and since when: _current_handle, _atk_t0.
            self._sample(Watch(loop, loop, "_current_handle", "_atk_t0", self.slow_threshold))
            return
        inner = getattr(loop, "_selector", None)
        ready = getattr(loop, "_ready", None)
        # BaseEventLoop's _selector and _ready deque (3.10-3.15).
        if not isinstance(inner, selectors.BaseSelector) or type(ready) is not collections.deque:
            return  # not a selector loop (Windows' proactor, uvloop): no check
        self._timing = timed = _TimedReady(ready, self)
        ready.clear()
        loop._ready = timed
        loop._selector = _LappingSelector(inner, timed)
        self._stack.callback(_untime, loop, inner, ready, timed)
        self._sample(Watch(loop, timed, "_handle", "_started", self.slow_threshold))

    def _sample(self, watch: Watch) -> None:
        # The sampler looks where a callback runs while it runs (_sampler.py).
        self._sampled = watch
        watch_slow(watch)
        self._stack.callback(unwatch_slow, watch)

    def lap(self, *, interrupted: bool = False) -> None:
        """End the timing of the callback run last: call it whenever the loop stops.

        ``interrupted``: the loop stopped on an exception out of that callback
        (the watchdog, Ctrl-C), which is then not reported as slow.
        """
        timing = self._timing
        if timing is not None:
            timing.lap(interrupted)

    def _watch_coroutines(self) -> None:
        # asyncio's debug mode only adds the creation site to the warning.
        # Taking the hook that issues the warning gives us the coroutine itself,
        # whatever the warning filters say (the "default" action would show it
        # once per place and then never again), and costs no warnings state.
        # What earlier tests dropped is finalized now, before this test listens:
        # the verdict's collection (see _collect_garbage) must not find it.
        if gc.isenabled():
            gc.collect(0)
        old = swap_unawaited_coroutine_hook(self._on_unawaited)
        if old is not None:  # pragma: no branch - 3.10-3.14 all have the hook
            self._stack.callback(swap_unawaited_coroutine_hook, old)
        depth = sys.get_coroutine_origin_tracking_depth()
        if depth < _ORIGIN_DEPTH:
            sys.set_coroutine_origin_tracking_depth(_ORIGIN_DEPTH)
            self._stack.callback(sys.set_coroutine_origin_tracking_depth, depth)
        # Whether the verdict's collection must be a full one (_collect_garbage).
        self._stack.callback(_discard, gc.callbacks, self._on_gc)
        gc.callbacks.append(self._on_gc)

    def _watch_calls(self) -> None:
        # Debug mode's _check_thread(), without debug mode: asyncio's loops are
        # not thread-safe, and call_soon() from another thread neither wakes
        # the loop nor guards its deque. And the creation site of each timer,
        # which debug mode would give as a whole traceback per handle.
        # Instance attributes shadow the methods for this loop only; C tasks
        # and futures look them up on the instance.
        loop = self.loop
        owner = threading.get_ident() if self._threads else None
        get_ident = threading.get_ident
        record = self._on_wrong_thread
        sites = self.timer_sites if self._timers else None
        call_soon = loop.call_soon
        call_later = loop.call_later
        call_at = loop.call_at
        getframe = sys._getframe

        def checked_call_soon(callback: Any, *args: Any, context: Any = None) -> asyncio.Handle:
            if owner is not None and get_ident() != owner:
                record("call_soon", callback, getframe(1))
            return call_soon(callback, *args, context=context)

        def checked_call_later(
            delay: float, callback: Any, *args: Any, context: Any = None
        ) -> asyncio.TimerHandle:
            if owner is not None and get_ident() != owner:
                record("call_later", callback, getframe(1))
            handle = call_later(delay, callback, *args, context=context)
            if sites is not None:
                sites[id(handle)] = creation_site(getframe(1))
            return handle

        def checked_call_at(
            when: float, callback: Any, *args: Any, context: Any = None
        ) -> asyncio.TimerHandle:
            frame = getframe(1)
            if owner is not None and get_ident() != owner:
                record("call_at", callback, frame)
            handle = call_at(when, callback, *args, context=context)
            # BaseEventLoop.call_later calls self.call_at: its shadow notes the site.
            if sites is not None and frame.f_code is not _CALL_LATER_CODE:
                sites[id(handle)] = creation_site(frame)
            return handle

        shadows: dict[str, Callable[..., Any]] = {
            "call_later": checked_call_later, "call_at": checked_call_at,
        }
        if owner is not None:
            shadows["call_soon"] = checked_call_soon
        try:
            for name, shadow in shadows.items():
                previous = loop.__dict__.get(name, _MISSING)
                setattr(loop, name, shadow)
                self._stack.callback(_restore, loop, name, previous)
        except (AttributeError, TypeError):  # pragma: no cover - a loop without __dict__ (uvloop)
            pass

    # -- what happens during the test --------------------------------------

    def _on_task(self, task: asyncio.Task[Any]) -> None:
        self.created.append(_ref(task))
        baseline = self._baseline_tasks
        # What a class's task starts during a test (wait_for's inner task on
        # 3.10-3.11, a child it spawns) is the class's too.
        if baseline and asyncio.current_task(self.loop) in baseline:
            baseline.add(task)

    def _on_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = context.get("message")
        lines = [str(message or "unhandled exception in the event loop")]
        for key in ("task", "future"):
            if key in context:
                lines.append(f"  {key}: {context[key]!r}")
        if "handle" in context:
            lines.append(f"  handle: {describe_call(context['handle'])}")
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            lines.append("  " + tb.rstrip().replace("\n", "\n  "))
        if message == _DESTROYED_PENDING:
            # A task that only a reference cycle held, collected while pending:
            # a leaked task (check_tasks), whenever the collector happened to run.
            self.lost.append("\n".join(lines[1:]).strip())
            return
        self.exceptions.append("\n".join(lines))

    def _on_slow(self, handle: object, wall: float, usage: Any, ran: object = None) -> None:
        # A callback slow in wall time (``usage``: its thread's at its start).
        # ``ran``: the handle the loop ran, where ``handle`` stands for it
        # (_TimedReady: a handle cancelled since). Called on the loop's
        # thread right after it ran: the sampler's notes are still that run's.
        sampled = self._sampled
        ran = handle if ran is None else ran
        # Was it the callback, or a busy machine (or the sampler's own turns
        # with the GIL)?
        waited = sampled.waited(ran) if sampled is not None else None
        seconds = blocked_seconds(wall, usage, waited)
        if seconds < self.slow_threshold:
            return
        where = sampled.where(ran) if sampled is not None else None
        blocked = f"blocked the loop for {seconds:.3f} s (real time)"
        if where is None:
            self.slow.append(f"{describe_handle(handle)} {blocked}")
            return
        at = "at (innermost first)" if len(where) > 1 else "at"
        self.slow.append(
            f"{describe_handle(handle, sampled=True)} {blocked}, {at}:\n"
            + "\n".join(format_frames(where, "    "))
        )

    def _on_unawaited(self, coro: Any) -> None:
        name = getattr(coro, "__qualname__", None) or repr(coro)
        origin = [f for f in getattr(coro, "cr_origin", None) or () if not is_plumbing(f[0])]
        text = f"coroutine {name}() was never awaited"
        if origin:
            text += ", created at (most recent call last):\n" + "\n".join(
                format_frames(reversed(origin), "    ")
            )
        self.never_awaited.append(text)

    def _on_wrong_thread(self, method: str, callback: Any, frame: FrameType | None) -> None:
        if frame is not None and frame.f_code is _CALL_LATER_CODE:
            return  # the call_at inside a call_later already recorded
        stack = "".join(traceback.format_stack(frame, limit=6)).rstrip()
        self.wrong_thread.append(
            f"thread {threading.current_thread().name!r} called loop.{method}({callback!r}), "
            f"from (most recent call last):\n{stack}"
        )

    # -- the verdict -------------------------------------------------------

    def new_tasks(self) -> list[asyncio.Task[Any]]:
        """Return the loop's pending tasks made since `install`, but the current one.

        With ``baseline``, the tasks that the tasks there before `install`
        made since (through the loop's task factory) are not new either.
        """
        skip = self._baseline_tasks
        current = asyncio.current_task(self.loop)
        return [
            t for t in asyncio.all_tasks(self.loop)
            if t is not current and t not in skip and not t.done()
        ]

    def leaked_tasks(self, owned: Iterable[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
        """Return the pending tasks the test made and does not own."""
        skip = set(owned)
        return [t for t in self.new_tasks() if t not in skip]

    def pending_timers(self) -> list[asyncio.TimerHandle]:
        """Return the live ``call_later``/``call_at`` timers that are the test's.

        That is, armed since `install` and not waking a task that was there
        before it (with ``baseline``): a class's heartbeat task that sleeps
        in a loop arms a new timer during each test, which is not the test's.
        A timer wakes a task when its callback is a method of the task or of
        the ``asyncio.timeout()`` guarding it, or when its first argument is
        the future the task awaits (``asyncio.sleep``'s
        ``_set_result_unless_cancelled(fut, ...)``, ``wait_for``'s
        ``_release_waiter(waiter)``).

        Reads the loop's private ``_scheduled`` heap (BaseEventLoop, 3.10-3.14);
        a loop without one has no timers to report.
        """
        scheduled = getattr(self.loop, "_scheduled", ())
        baseline = self._baseline_timers
        timers = [h for h in scheduled if not h.cancelled() and id(h) not in baseline]
        if timers and self._baseline_tasks:
            timers = self._not_waking_baseline(timers)
        return sorted(timers)

    def _not_waking_baseline(self, timers: list[asyncio.TimerHandle]) -> list[asyncio.TimerHandle]:
        # Pending tasks hold their waiters: these ids stay theirs while we look.
        tasks = {id(t) for t in self._baseline_tasks if not t.done()}
        waiters = {id(getattr(t, "_fut_waiter", None)) for t in self._baseline_tasks if not t.done()}
        waiters.discard(id(None))
        kept = []
        for handle in timers:
            # Handle's _callback and _args: 3.10-3.14.
            owner = getattr(getattr(handle, "_callback", None), "__self__", None)
            if _TIMEOUT is not None and isinstance(owner, _TIMEOUT):
                owner = getattr(owner, "_task", None)  # Timeout._task: 3.11-3.14
            args = getattr(handle, "_args", None) or (None,)
            if id(owner) not in tasks and id(args[0]) not in waiters:
                kept.append(handle)
        return kept

    def unretrieved(self) -> None:
        """Report each task made during the test that raised and whose exception nobody retrieved.

        asyncio reports such a task when it is collected; one kept alive by a
        reference cycle (its exception's traceback holds a frame that holds
        the task) is collected whenever the garbage collector runs, often
        after the test's verdict (the usual case on 3.12+), and the report
        then goes to whatever handler is current, or to the log. Looking at
        the tasks at the verdict makes the report the test's. Each one
        reported is marked retrieved, so asyncio does not report it again.
        """
        if self._coroutines:
            self._collect_garbage()
        created = self.created
        self.created = []
        for ref in created:
            task = ref()
            if task is None:
                continue  # freed: it reported itself, if it had to
            # _log_traceback: set when a future ends with an exception, cleared
            # by exception() and result() (C and Python futures, 3.10-3.14).
            if getattr(task, "_log_traceback", False) and task.done() and not task.cancelled():
                self._on_exception(self.loop, {
                    "message": "Task exception was never retrieved",
                    "exception": task.exception(),
                    "task": task,
                })

    def _collect_garbage(self) -> None:
        """Collect the cyclic garbage this test made, now, while its hooks listen.

        A coroutine never awaited (or a failed task never looked at) that a
        reference cycle keeps alive is finalized by whichever garbage
        collection comes next: often in a later test, which the report then
        blames. What a test made is in the youngest generation unless a
        collection ran during the test and moved it on (`_on_gc` notes how
        far): so a test that allocated little pays for a collection of
        generation 0 (tens of microseconds), one that allocated thousands of
        objects for generation 1, and only one that set off a collection of
        generation 1 or 2 for a full collection. Skipped while the program
        has the collector off (``gc.disable()``).
        """
        if gc.isenabled():
            gc.collect(self._collect_up_to)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        # A collection of generation n moves what survives it to generation
        # n + 1: what the test made may be there now.
        generation = min(info.get("generation", 0) + 1, 2)
        if generation > self._collect_up_to:
            self._collect_up_to = generation

    def findings(
        self,
        *,
        leaked: list[asyncio.Task[Any]],
        timers: list[asyncio.TimerHandle],
        check_tasks: bool,
        check_timers: bool,
        check_exceptions: bool,
        check_coroutines: bool,
        check_threads: bool,
    ) -> list[str]:
        """Return one section of text per check that found something and is on."""
        sections: list[str] = []
        # A leaked task's own sleep (wait_for, timeout) is part of the task:
        # shown in its entry, not as a timer of its own.
        of_tasks = {id(h) for h in timers if any(wakes(h, t) for t in leaked)} if leaked else set()
        if leaked and check_tasks:
            sections.append(format_tasks(
                leaked,
                "Tasks still pending at the end of the test; own them with "
                "self.create_task() or cancel and await them in the test or a cleanup",
                timers=[h for h in timers if id(h) in of_tasks],
                notes=fates(leaked, self.loop, getattr(self.loop, "_scheduled", ())),
            ))
        if self.lost and check_tasks:
            sections.append(
                f"Tasks destroyed while still pending ({len(self.lost)}): nothing but a "
                "reference cycle held them, and the garbage collector took them; keep a "
                "reference to each task (or own it with self.create_task()) and cancel and "
                "await it before the test ends:\n" + "\n".join(f"- {e}" for e in self.lost)
            )
        timers = [h for h in timers if id(h) not in of_tasks]
        if timers and check_timers:
            sections.append(self._timers_section(timers))
        if self.exceptions and check_exceptions:
            sections.append(
                f"Exceptions reached the loop's exception handler ({len(self.exceptions)}):\n"
                + "\n".join(f"- {e}" for e in self.exceptions)
            )
        if self.never_awaited and check_coroutines:
            sections.append(
                f"Coroutines never awaited ({len(self.never_awaited)}); await them or "
                "close() them:\n" + "\n".join(f"- {e}" for e in self.never_awaited)
            )
        if self.wrong_thread and check_threads:
            sections.append(
                f"Calls into the loop from another thread ({len(self.wrong_thread)}); the loop is "
                "not thread-safe: use loop.call_soon_threadsafe() or "
                "asyncio.run_coroutine_threadsafe():\n" + "\n".join(f"- {e}" for e in self.wrong_thread)
            )
        return sections

    def _timers_section(self, timers: list[asyncio.TimerHandle]) -> str:
        now = self.loop.time()
        lines = [f"Timers still pending at the end of the test ({len(timers)}); cancel them:"]
        for handle in timers:
            lines.append(f"- due in {handle.when() - now:.3f} s: {describe_call(handle)}")
            site = self.timer_sites.get(id(handle))
            if site:
                lines.append("    created at (innermost first):")
                lines.extend(format_frames(site))
        return "\n".join(lines)

    def slow_report(self) -> str:
        """Describe the callbacks that blocked the loop ("" if none did)."""
        if not self.slow:
            return ""
        return (
            f"Callbacks blocked the loop longer than slow_callback_duration="
            f"{self.slow_threshold} s:\n" + "\n".join(f"- {s}" for s in self.slow)
        )


def _discard(items: list[Any], item: object) -> None:
    with contextlib.suppress(ValueError):
        items.remove(item)


def _untime(loop: Any, selector: selectors.BaseSelector, ready: Any, timed: _TimedReady) -> None:
    """Give the loop back its own selector and ready queue, with what is queued in ours."""
    timed.lap()
    loop._selector = selector
    ready.extend(timed)
    timed.clear()
    loop._ready = ready


def _restore(obj: object, name: str, previous: object) -> None:
    if previous is _MISSING:
        delattr(obj, name)
    else:
        setattr(obj, name, previous)


def describe_handle(handle: object, *, sampled: bool = False) -> str:
    """Name the callback of a loop handle; for a task's step, the task and its coroutine.

    ``sampled``: the report shows where the callback blocked (the sampler
    saw it), so where a step waits next is left out.
    """
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task_coroutine(task)
        name = getattr(coro, "__qualname__", None) or repr(coro)
        code = getattr(coro, "cr_code", None)
        frame = getattr(coro, "cr_frame", None)
        if code is not None and code.co_filename.startswith(OWN_DIR):
            # A step of the test that has ended: the toolkit's wrapper is all
            # that is left; the task's name says which step of which test.
            if sampled:
                return f"a step of the test, task {task.get_name()!r},"
            return f"a step of the test, task {task.get_name()!r}, which blocked the loop before it returned"
        text = f"a step of task {task.get_name()!r} running {name}()"
        if sampled:
            return text
        if frame is not None:
            text += (
                f", between the line it resumed at and line {frame.f_lineno} of "
                f"{frame.f_code.co_filename}, where it waited next"
            )
        elif code is not None:
            text += f" (line {code.co_firstlineno} of {code.co_filename}), before it returned"
        return text
    return describe_call(handle)


def format_problems(sections: list[str]) -> str:
    """Join the findings of the checks into one failure message."""
    head = (
        "The test left a mess behind (asynctestkit hygiene checks; each can be "
        "turned off for a class or a test, see docs/verdicts.md):"
    )
    return head + "\n\n" + "\n\n".join(sections)
