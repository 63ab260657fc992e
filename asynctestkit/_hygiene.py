"""What a test leaves behind, and what went wrong where nobody looked.

A `Hygiene` watches one test's loop from the start of the test to its end:
exceptions given to the loop's exception handler, coroutines never awaited,
callbacks that block the loop (in real time), and, at the end, tasks and
timers still pending. It replaces what asyncio's debug mode is used for in
tests at a fraction of its cost: creation sites come from a cheap task factory
(`_report.tracking_task_factory`), coroutine origins from a shallow
``sys.set_coroutine_origin_tracking_depth``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import selectors
import sys
import time
import traceback
import warnings
from typing import TYPE_CHECKING, Any, final

from ._report import format_tasks, tracking_task_factory

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ("Hygiene", "SlowCallbackWarning")

# How many frames of a coroutine's creation "never awaited" reports show.
_ORIGIN_DEPTH = 4
_NEVER_AWAITED = re.compile(r"coroutine .* was never awaited")


class SlowCallbackWarning(RuntimeWarning):
    """A callback blocked the event loop longer than ``slow_callback_duration``."""


@final
class _TimingSelector(selectors.BaseSelector):
    """Measures, in real time, how long each loop iteration ran callbacks.

    For loops other than the virtual one (which times each callback itself):
    the time between two ``select()`` calls is the time the loop spent running
    the callbacks that were ready, none of which could let others run.
    """

    def __init__(self, inner: selectors.BaseSelector, ready: Any, hygiene: Hygiene) -> None:
        self._inner = inner
        self._ready = ready
        self._hygiene = hygiene
        self._left = 0.0  # perf_counter() when the last select() returned
        self._batch: tuple[object, ...] = ()

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self.lap()
        events = self._inner.select(timeout)
        self._left = time.perf_counter()
        # The callbacks that will run in this iteration (IO callbacks join later).
        self._batch = tuple(self._ready)
        return events

    def lap(self) -> None:
        """Account for the iteration that just ended (also called when the loop stops)."""
        if self._left:
            busy = time.perf_counter() - self._left
            self._left = 0.0
            if busy >= self._hygiene.slow_threshold:
                for handle in self._batch or ("<IO callbacks>",):
                    self._hygiene._on_slow(handle, busy)


@final
class Hygiene:
    """Watch one test's loop and say what the test left behind.

    Args:
        loop: The test's loop, not running yet.
        slow_threshold: Real seconds a callback may run before it is
            reported; ``None`` turns the slow-callback check off.
        coroutines: Whether to report coroutines never awaited.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        slow_threshold: float | None,
        coroutines: bool,
    ) -> None:
        self.loop = loop
        self.slow_threshold = slow_threshold if slow_threshold is not None else float("inf")
        self.exceptions: list[str] = []
        self.never_awaited: list[str] = []
        self.slow: list[str] = []
        self._coroutines = coroutines
        self._timing: _TimingSelector | None = None
        self._stack = contextlib.ExitStack()

    # -- for the whole test ------------------------------------------------

    def install(self) -> None:
        """Start watching: exception handler, task factory, hooks. Undone by `uninstall`.

        Tasks and timers that exist now (made before the test, on a loop the
        class shares) are not the test's: they are left out of its verdict.
        """
        loop = self.loop
        self._baseline_tasks = set(asyncio.all_tasks(loop))
        self._baseline_timers = {id(h) for h in self.pending_timers()}
        stack = self._stack
        stack.callback(loop.set_exception_handler, loop.get_exception_handler())
        loop.set_exception_handler(self._on_exception)
        if loop.get_task_factory() is None:
            stack.callback(loop.set_task_factory, None)
            loop.set_task_factory(tracking_task_factory)  # type: ignore[arg-type]
        if self.slow_threshold != float("inf"):
            self._watch_slow()
        if self._coroutines:
            self._watch_coroutines()

    def uninstall(self) -> None:
        """Stop watching and put every global hook back, whatever happened."""
        self._stack.close()

    def _watch_slow(self) -> None:
        loop: Any = self.loop
        if hasattr(loop, "_atk_watch_slow"):
            # The virtual loop times each callback in real time itself.
            loop._atk_watch_slow(self.slow_threshold, self._on_slow)
            self._stack.callback(loop._atk_watch_slow, float("inf"), None)
            return
        inner = getattr(loop, "_selector", None)
        ready = getattr(loop, "_ready", None)
        if not isinstance(inner, selectors.BaseSelector) or ready is None:
            return  # not a selector loop (Windows' proactor, uvloop): no check
        self._timing = _TimingSelector(inner, ready, self)
        loop._selector = self._timing
        self._stack.callback(setattr, loop, "_selector", inner)

    def lap(self) -> None:
        """Measure the loop iteration cut short when the loop stopped."""
        if self._timing is not None:
            self._timing.lap()

    def _watch_coroutines(self) -> None:
        # "coroutine ... was never awaited" is a RuntimeWarning issued when the
        # coroutine is finalized. With the "default" action it is shown once per
        # place and then never again, so make it an error for the test: CPython
        # then hands it to sys.unraisablehook, with the coroutine as the object.
        stack = self._stack
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("error", message=_NEVER_AWAITED.pattern, category=RuntimeWarning)
        previous_hook = sys.unraisablehook

        def hook(unraisable: Any) -> None:
            exc = unraisable.exc_value
            if isinstance(exc, RuntimeWarning) and _NEVER_AWAITED.search(str(exc)):
                self.never_awaited.append(str(exc))
            else:
                previous_hook(unraisable)

        sys.unraisablehook = hook
        stack.callback(setattr, sys, "unraisablehook", previous_hook)
        depth = sys.get_coroutine_origin_tracking_depth()
        if depth < _ORIGIN_DEPTH:
            sys.set_coroutine_origin_tracking_depth(_ORIGIN_DEPTH)
            stack.callback(sys.set_coroutine_origin_tracking_depth, depth)

    # -- what happens during the test --------------------------------------

    def _on_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        lines = [str(context.get("message") or "unhandled exception in the event loop")]
        for key in ("task", "future", "handle"):
            if key in context:
                lines.append(f"  {key}: {context[key]!r}")
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            lines.append("  " + tb.rstrip().replace("\n", "\n  "))
        self.exceptions.append("\n".join(lines))

    def _on_slow(self, handle: object, seconds: float) -> None:
        self.slow.append(f"{handle!r} blocked the loop for {seconds:.3f} s (real time)")

    # -- the verdict -------------------------------------------------------

    def new_tasks(self) -> list[asyncio.Task[Any]]:
        """Return the loop's pending tasks made since `install`, but the current one."""
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
        """Return the live ``call_later``/``call_at`` timers armed since `install`.

        Reads the loop's private ``_scheduled`` heap (BaseEventLoop, 3.10-3.14);
        a loop without one has no timers to report.
        """
        scheduled = getattr(self.loop, "_scheduled", ())
        baseline = getattr(self, "_baseline_timers", ())
        return sorted(h for h in scheduled if not h.cancelled() and id(h) not in baseline)


def format_problems(sections: list[str]) -> str:
    """Join the findings of the checks into one failure message."""
    head = (
        "The test left a mess behind (asynctestkit hygiene checks; each can be "
        "turned off for a class or a test, see the README):"
    )
    return head + "\n\n" + "\n\n".join(sections)


def report_tasks(tasks: list[asyncio.Task[Any]]) -> str:
    """Describe tasks a test leaked."""
    return format_tasks(
        tasks,
        "Tasks still pending at the end of the test; own them with "
        "self.create_task() or cancel and await them in the test or a cleanup",
    )


def report_timers(timers: list[asyncio.TimerHandle], now: Callable[[], float]) -> str:
    """Describe timers a test left armed."""
    t = now()
    lines = [f"Timers still pending at the end of the test ({len(timers)}); cancel them:"]
    lines.extend(f"- due in {h.when() - t:.3f} s: {h!r}" for h in timers)
    return "\n".join(lines)
