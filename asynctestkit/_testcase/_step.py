"""One async step of a test (or of a class) as a task whose coroutine is the step's own.

``IsolatedAsyncioTestCase`` (3.11+) runs each step as a task made straight
from the step's coroutine, in the test's one ``contextvars.Context``. Code
under test relies on that: CPython's own ``test_taskgroups`` walks
``asyncio.current_task().get_coro()`` down its ``cr_await`` chain to the
test method's frame. So a step is not wrapped in a coroutine of ours:

* the task runs in the test's context itself (``Task(context=...)``), so
  what a step sets there is what the next step sees; on 3.10, whose tasks
  always run in a copy, a thin wrapper hands that copy back (`step_context`);
* the loop runs until the task is done (`run_step`), as
  ``run_until_complete()`` does, but the step's exception is raised from
  here with the step's own traceback, not through asyncio's frames.

`run_step` also puts back what an interrupted ``run_forever()`` can leave
changed (a Ctrl-C landing in asyncio's own setup or cleanup of the run):
the async generator hooks, the coroutine origin tracking depth, the running
loop, and the loop's ``_stopping`` flag, which would otherwise make the next
run stop at once ("Event loop stopped before Future completed").
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import sys
from typing import TYPE_CHECKING, Any

from .._compat import PY311
from .._shield import allowed_interrupts, restore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

__unittest = True  # keep these frames out of failure tracebacks
__tracebackhide__ = True  # and out of pytest's (STYLE.md 14)

__all__ = ("LoopRun", "run_step", "start_step", "step_context")

_get_asyncgen_hooks = sys.get_asyncgen_hooks
_get_depth = sys.get_coroutine_origin_tracking_depth
_get_running_loop = asyncio._get_running_loop
_set_running_loop = asyncio.events._set_running_loop


async def _awaiting(awaitable: Awaitable[Any]) -> Any:
    # For a step that returned an awaitable that is not a coroutine (a
    # Future, an object with __await__): a task needs a coroutine.
    return await awaitable


def start_step(
    loop: asyncio.AbstractEventLoop,
    awaitable: Awaitable[Any],
    context: contextvars.Context,
    name: str,
    *,
    via_factory: bool,
) -> asyncio.Task[Any]:
    """Return a task running ``awaitable`` in ``context`` on ``loop``, its coroutine the step's own.

    Args:
        loop: The loop the step runs on (not running yet).
        awaitable: What the step returned.
        context: The test's (or the class's) context; on 3.11+ the task runs
            in it, so it holds what the step set when the task ends.
        name: The task's name.
        via_factory: Make it with ``loop.create_task`` (through the loop's
            task factory, on 3.11+) rather than directly.
    """
    coro: Coroutine[Any, Any, Any]
    if not PY311:  # pragma: no cover - 3.10 only
        # 3.10's tasks take no context and run in a copy of the current one,
        # which a C task keeps to itself: a thin wrapper hands it back (as
        # under IsolatedAsyncioTestCase on 3.10, whose task's coroutine is its
        # runner's). Reports look through it (_report.shown_coroutine).
        make: Callable[..., asyncio.Task[Any]] = (
            loop.create_task if via_factory else functools.partial(asyncio.Task, loop=loop)
        )
        ended_in: list[contextvars.Context] = []
        task = context.run(make, _in_a_copy(awaitable, ended_in), name=name)
        task._asynctestkit_ended_in = ended_in  # type: ignore[attr-defined]
        if inspect.iscoroutine(awaitable):
            task._asynctestkit_shown = awaitable  # type: ignore[attr-defined]  # reports name it
    else:
        coro = awaitable if inspect.iscoroutine(awaitable) else _awaiting(awaitable)
        # (typeshed for 3.10 knows no `context`: 3.11+ only, as gated above.)
        if via_factory:
            task = loop.create_task(coro, name=name, context=context)  # type: ignore[call-arg,unused-ignore]
        else:
            task = asyncio.Task(coro, loop=loop, name=name, context=context)  # type: ignore[call-arg,unused-ignore]
    task._asynctestkit_site = ()  # type: ignore[attr-defined]  # reports show no creation site
    return task


async def _in_a_copy(  # pragma: no cover - 3.10 only
    awaitable: Awaitable[Any], ended_in: list[contextvars.Context]
) -> Any:
    # 3.10: await the step, then hand back the context it ended with.
    try:
        return await awaitable
    finally:
        ended_in.append(contextvars.copy_context())


def step_context(task: asyncio.Task[Any], context: contextvars.Context) -> contextvars.Context:
    """Return the context a step ended with: the next step starts from it."""
    # 3.11+: the task ran in `context` itself. 3.10: in a copy, handed back
    # at its end (none if it never started: then nothing changed).
    ended_in: list[contextvars.Context] = getattr(task, "_asynctestkit_ended_in", None) or [context]
    return ended_in[-1]


def _stop_when_done(task: asyncio.Future[Any]) -> None:
    # As run_until_complete's callback: an interrupt raised in the task stops
    # the loop by propagating out of run_forever itself.
    if not task.cancelled() and isinstance(task.exception(), (KeyboardInterrupt, SystemExit)):
        return
    task.get_loop().stop()


def run_step(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> Any:
    """Run ``loop`` until ``task`` is done; return its result or raise its exception.

    As ``loop.run_until_complete(task)``, but the exception a step raised is
    raised with the step's own traceback (no asyncio frame above the user's
    line). Ctrl-C goes through while the loop runs.

    Raises:
        RuntimeError: The loop was stopped before the task was done
            ("Event loop stopped before Future completed.", as asyncio says).
    """
    with LoopRun(loop):
        task.add_done_callback(_stop_when_done)
        try:
            with allowed_interrupts():
                loop.run_forever()
        except BaseException:
            if task.done() and not task.cancelled():
                task.exception()  # raised here: not "never retrieved" later
            raise
        finally:
            task.remove_done_callback(_stop_when_done)
    if not task.done():
        raise RuntimeError("Event loop stopped before Future completed.")
    if task.cancelled():
        return task.result()  # raises CancelledError
    exc = task.exception()
    if exc is None:
        return task.result()
    raise exc


class LoopRun:
    """A context manager around one run of a loop: put back what an interrupted run leaves changed.

    ``run_forever()`` sets the async generator hooks, the running loop and
    (in debug mode) the coroutine origin tracking depth, and puts them back in
    a ``finally``; a Ctrl-C landing in its setup before that ``try`` (3.13+),
    or in the ``finally`` itself, leaves them changed, and may leave the loop
    marked as stopping. Recorded on entry, put back on exit (shielded) when
    they differ.
    """

    __slots__ = ("_depth", "_hooks", "_loop", "_running")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def __enter__(self) -> None:
        self._hooks = _get_asyncgen_hooks()
        self._depth = _get_depth()
        self._running = _get_running_loop()

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        # Only an interrupt (KeyboardInterrupt, SystemExit) can cut asyncio's
        # own bookkeeping short; an Exception out of run_forever (a deadlock,
        # "already running") went through its finally.
        interrupted = exc_type is not None and not issubclass(exc_type, Exception)
        if (
            interrupted
            or _get_asyncgen_hooks() != self._hooks
            or _get_depth() != self._depth
            or _get_running_loop() is not self._running
        ):
            restore(self._put_back, interrupted)

    # Run by the interrupt tests (tests/test_interrupts.py) under a trace function of their
    # own, which takes the place of coverage's: measured there, not seen here.
    def _put_back(self, interrupted: bool) -> None:  # pragma: no cover
        if _get_asyncgen_hooks() != self._hooks:
            sys.set_asyncgen_hooks(*self._hooks)
        if _get_depth() != self._depth:
            sys.set_coroutine_origin_tracking_depth(self._depth)
        if _get_running_loop() is not self._running:
            _set_running_loop(self._running)
        if interrupted:
            # run_forever's cleanup may not have run: the loop would still
            # look running, or stop its next run at once. BaseEventLoop's
            # flags (3.10-3.15); other loops have neither.
            loop: Any = self._loop
            if getattr(loop, "_stopping", False):
                loop._stopping = False
            if getattr(loop, "_thread_id", None) is not None:
                loop._thread_id = None
