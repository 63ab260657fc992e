"""Stuck forever, or would resume: what would have become of each task a test leaked.

A leaked task waits on a future. It **would resume** if something that can
still run holds a path to that future (or to what completes it: the
``Event``, ``Queue`` or ``Lock`` whose waiters list holds it): a timer
(its own ``sleep`` or ``timeout``, or another timer's callback), a callback
ready to run, a reader or writer of the loop's selector (IO that may come),
another live thread, or another task that would resume. Otherwise it is
**stuck forever**: nothing that can run can reach what it waits for, so only
a cancellation ends it. Go 1.26's goroutine leak profile decides the same
way, with its garbage collector; here `gc.get_referents` walks forward from
those roots.

The walk runs only at a verdict that found leaked tasks, so a clean test
pays nothing. It errs towards "would resume", never towards a false
"stuck": it does not enter the leaked tasks themselves (reaching a task is
not completing what it waits for), nor modules or classes (their contents
are everyone's; a global reached through a function's ``__globals__`` is
walked), and past `_BUDGET` objects it stops and claims nothing.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import types
import weakref
from typing import TYPE_CHECKING, Any

from .._compat import FRAME_LOCALS_VIEW, RUNNING_FRAME_VARIABLES_HIDDEN
from .._report import describe_call, wakes

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ("fates",)

# Objects the walk may visit in all before it gives up (and claims nothing).
_BUDGET = 200_000
_OPAQUE = (type, types.ModuleType, types.CodeType)


def fates(
    tasks: list[asyncio.Task[Any]], loop: asyncio.AbstractEventLoop, timers: Iterable[Any]
) -> dict[int, list[str]]:
    """Return, by ``id(task)``, the lines that say whether each task is stuck or would resume.

    Args:
        tasks: The pending tasks the test leaked.
        loop: Their loop, not running (at the verdict).
        timers: The loop's pending timers.

    Returns:
        For each task, a verdict line and a line that suggests the fix.
    """
    timers = [h for h in timers if not h.cancelled()]
    now = loop.time()
    pending = {id(t): t for t in tasks if not t.done()}
    found: dict[int, str] = {}
    # Its own timer (asyncio.sleep, wait_for, timeout) first: the plain case.
    for task in pending.values():
        own = [h for h in timers if wakes(h, task)]
        if own:
            when = min(h.when() for h in own)
            found[id(task)] = f"a timer, at loop time {when:.3f} s (in {when - now:.3f} s)"
    waiters = {id(w): t for t in pending.values() if id(t) not in found
               if (w := getattr(t, "_fut_waiter", None)) is not None}
    stop = set(pending)
    try:
        complete = _walk(loop, timers, waiters, stop, found, pending, now)
    except Exception:  # an introspection aid never breaks a report
        complete = False
    lines: dict[int, list[str]] = {}
    for key, task in pending.items():
        why = found.get(key)
        if why is not None:
            lines[key] = [
                f"    would resume: woken by {why}",
                "    fix: the test ended while it still had work to do; await it, or cancel and "
                "await it, before the test ends (a missing await or cancel in the test)",
            ]
        elif complete:
            waiter = getattr(task, "_fut_waiter", None)
            what = _awaited(waiter)
            lines[key] = [
                f"    stuck forever: it waits for {what}, and nothing that can still run "
                "(a timer, a ready callback, IO, a thread, another task) can complete it",
                "    fix: a bug in the code under test, most likely: an event never set, a future "
                "never given a result, a lock or a queue nobody will touch again",
            ]
    return lines


def _awaited(waiter: object) -> str:
    if waiter is None:
        return "nothing (it yields to the loop only)"  # pragma: no cover - such a task is ready
    if isinstance(waiter, asyncio.Task):
        return f"task {waiter.get_name()!r}"
    return f"a {type(waiter).__name__}"


def _walk(
    loop: asyncio.AbstractEventLoop,
    timers: list[Any],
    waiters: dict[int, asyncio.Task[Any]],
    stop: set[int],
    found: dict[int, str],
    pending: dict[int, asyncio.Task[Any]],
    now: float,
) -> bool:
    """Walk from each root; note in ``found`` what reaches each task's waiter. Return False if cut short."""
    seen: set[int] = set(stop)
    seen.add(id(loop))  # the loop leads to everything scheduled: the roots already
    budget = [_BUDGET]
    groups: list[tuple[str, list[Any]]] = []
    for handle in timers:
        groups.append((f"a timer at loop time {handle.when():.3f} s (in {handle.when() - now:.3f} s): "
                       f"{describe_call(handle)}", [handle]))
    ready = list(getattr(loop, "_ready", ()))
    if ready:
        groups.append(("a callback ready to run", ready))
    selector = getattr(loop, "_selector", None)
    with_io = []
    if selector is not None:
        try:
            keys = list(selector.get_map().values())
        except Exception:  # pragma: no cover - a closed selector
            keys = []
        own = getattr(loop, "_ssock", None)
        for key in keys:
            if own is not None and key.fileobj is own:
                continue  # the loop's self-pipe: call_soon_threadsafe, covered by threads
            with_io.append(key.data)
    if with_io:
        groups.append(("IO the loop waits for (a reader or writer of its selector)", with_io))
    me = threading.get_ident()
    frames = sys._current_frames()
    # A live thread whose variables the walk cannot read (3.11-3.12): what
    # it holds may complete any task, so a task not reached is not "stuck".
    hidden = False
    for thread in threading.enumerate():
        if thread.ident == me or thread.ident not in frames:
            continue
        if getattr(thread, "_asynctestkit_ignore", False):
            continue  # the toolkit's own (the watchdog's timer, the slow-callback sampler)
        hidden = hidden or RUNNING_FRAME_VARIABLES_HIDDEN
        groups.append((f"thread {thread.name!r}, still running", [frames[thread.ident], thread]))
    # Tasks found to resume become roots in turn, until nothing changes.
    done_tasks: set[int] = set()
    while groups:
        label, roots = groups.pop(0)
        reached = _reach(roots, waiters, seen, budget)
        if reached is None:
            return False
        for key in reached:
            task = waiters.pop(key)
            found.setdefault(id(task), label)
        for key, why in list(found.items()):
            if key in done_tasks:
                continue
            done_tasks.add(key)
            task = pending[key]
            # A task that awaits this one resumes when it ends.
            if key in waiters:
                found.setdefault(id(waiters.pop(key)), f"task {task.get_name()!r} ending ({why})")
            seen.discard(key)
            groups.append((f"task {task.get_name()!r}, which would resume ({why})", [task]))
        if not waiters:
            return True
    return not hidden


def _reach(roots: list[Any], targets: dict[int, Any], seen: set[int], budget: list[int]) -> list[int] | None:
    """The ids in ``targets`` reachable from ``roots``; None when the budget ran out."""
    reached: list[int] = []
    stack = [r for r in roots if id(r) not in seen]
    for r in stack:
        seen.add(id(r))
    get_referents = gc.get_referents
    while stack:
        obj = stack.pop()
        if id(obj) in targets:
            reached.append(id(obj))
        budget[0] -= 1
        if budget[0] < 0:
            return None
        if isinstance(obj, _OPAQUE):
            continue
        refs = get_referents(obj)
        if isinstance(obj, weakref.ref):
            # What a weak reference points to counts (a stream's protocol
            # holds its reader weakly, 3.12+): erring towards "would resume".
            target = obj()
            refs = [target] if target is not None else []
        elif isinstance(obj, types.FrameType):
            # A running thread's frame does not show its variables to the
            # collector (3.11+). 3.13+ reads them through f_locals, a view
            # that writes nothing; 3.11-3.12 cannot read them safely (the
            # walk then claims no "stuck", see `hidden`).
            refs = [*refs, obj.f_back]
            if FRAME_LOCALS_VIEW:
                try:
                    refs.extend(obj.f_locals.values())
                except Exception:  # pragma: no cover - a frame being torn down
                    pass
        for ref in refs:
            key = id(ref)
            if key not in seen:
                seen.add(key)
                stack.append(ref)
    return reached
