"""The task report: each task, where it waits, what it awaits, where it was created.

Shared by the virtual loop's `DeadlockError`, the hygiene checks and the
watchdog, so a test that hangs, leaks or deadlocks always explains itself the
same way. Creation sites come from a cheap task factory (a few frames, no
`traceback.extract_stack`), which is what asyncio's debug mode is mostly used
for, at a fraction of its cost.

It lives below the parts that use it (`_virtual`, `_verdict`, `_testcase`,
`_faketime`'s question of whose code reads the time) and
imports only `_compat`, so imports between the parts run one way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread
import linecache
import os
import reprlib
import socket
import subprocess
import sys
import sysconfig
import threading
import traceback
import types
import unittest
import weakref
from typing import TYPE_CHECKING, Any, Literal, NoReturn, final

from ._compat import FACTORY_TASKS_NAMED_NONE, capture_call_graph

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterable, Mapping
    from types import FrameType

# unittest hides the frames of modules that *have* a `__unittest` global
# (its presence: unittest/result.py, 3.10-3.15); pytest's unittest plugin
# drops the frames whose `__unittest` is *true*, and when none is left shows
# them all, source included (60 lines of unittest's run() before a watchdog
# report). False here: unittest hides this module, and pytest keeps only
# `raise_failure`'s frame, since the rest carries `__tracebackhide__`. A
# toolkit failure then reads the same under both: its message, one line of us.
__unittest = False
__tracebackhide__ = True

__all__ = (
    "EXPLAINERS",
    "OWN_DIR",
    "at_user_line",
    "await_chains",
    "creation_site",
    "describe_call",
    "format_frames",
    "format_tasks",
    "format_thread",
    "is_mess",
    "is_plumbing",
    "mark_mess",
    "raise_failure",
    "recording_task_factory",
    "runs_callbacks",
    "shown_coroutine",
    "task_coroutine",
    "tracking_task_factory",
    "wakes",
    "whose",
)

# Frames from these directories are plumbing, not the user's code.
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)
_UNITTEST_DIR = os.path.dirname(unittest.__file__)
# The package's own directory: its frames are plumbing in every report.
OWN_DIR = os.path.dirname(__file__)
# The standard library's own makers of what a report names (a socket made by
# socket.socket.accept(), a thread by an executor's submit()): the user's line
# is the one that called them.
_MAKERS = tuple(
    getattr(module, "__file__", None) or "?"
    for module in (socket, subprocess, threading, concurrent.futures.thread)
)
_PLUMBING = (_ASYNCIO_DIR, _UNITTEST_DIR, OWN_DIR, *_MAKERS)
_SITE_DEPTH = 3
# The loop's frames that run one callback (asyncio's Handle._run and
# BaseEventLoop._run_once, the virtual loop's _run_once).
_RUNNERS = frozenset({"_run", "_run_once"})
_LOOP_DIRS = (_ASYNCIO_DIR, OWN_DIR)
# Where the standard library lives; a package installed under it (in a
# site-packages or dist-packages directory) is not the standard library's.
_STDLIB_DIRS = tuple(sorted({
    os.path.join(os.path.realpath(sysconfig.get_paths()[key]), "") for key in ("stdlib", "platstdlib")
}))
_THIRD_PARTY = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)
# asyncio.timeout()'s context manager (3.11+): its timer calls a method of it.
_TIMEOUT: type | None = getattr(asyncio, "Timeout", None)

Site = tuple[tuple[str, int, str], ...]


def creation_site(frame: FrameType | None) -> Site:
    """Return up to three (file, line, function) of the user's frames from ``frame`` up.

    Plumbing frames (asyncio, unittest, asynctestkit) below the user's code
    are skipped; the first plumbing frame above it ends the walk, so a task
    made in a test names the test, not the test runner that called it. A
    call the loop made itself, from one of its callbacks (a server starting
    the handler of a connection it accepted), has no user's site: ``()``,
    not the line that started the test run.
    """
    site: list[tuple[str, int, str]] = []
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        if not filename.startswith(_PLUMBING):
            site.append((filename, frame.f_lineno, code.co_name))
            if len(site) == _SITE_DEPTH:
                break
        elif site or code.co_name in _RUNNERS:
            break
        frame = frame.f_back
    return tuple(site)


def tracking_task_factory(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
) -> asyncio.Task[Any]:
    """Create a task and remember where the user's code created it.

    Install with ``loop.set_task_factory(tracking_task_factory)``; the
    keyword arguments (``name``, ``context``, ``eager_start``) are whatever the
    running Python passes to factories.
    """
    task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
    # C tasks accept new attributes on 3.10-3.15; a long name keeps clear of users'.
    task._asynctestkit_site = creation_site(sys._getframe(1))  # type: ignore[attr-defined]
    task.cancel = _CancelRecorder(task)  # type: ignore[method-assign]
    task._asynctestkit_cancelled_at = None  # type: ignore[attr-defined]
    if FACTORY_TASKS_NAMED_NONE and "name" not in kwargs:
        _keep_name_on_none(task)
    return task


def recording_task_factory(
    record: Callable[[asyncio.Task[Any]], object],
) -> Callable[..., asyncio.Task[Any]]:
    """Return a `tracking_task_factory` that also passes each task it makes to ``record``.

    The hygiene checks record the tasks made during a test, to look at each
    one at the end (see `Hygiene.unretrieved`). The body is
    `tracking_task_factory`'s, not a call to it: one Python call per task,
    and the creation site is still one frame up.

    Args:
        record: Called with each new task, e.g. a list's ``append``.

    Returns:
        A task factory for ``loop.set_task_factory()``.
    """

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
    ) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
        task._asynctestkit_site = creation_site(sys._getframe(1))  # type: ignore[attr-defined]
        task.cancel = _CancelRecorder(task)  # type: ignore[method-assign]
        task._asynctestkit_cancelled_at = None  # type: ignore[attr-defined]
        if FACTORY_TASKS_NAMED_NONE and "name" not in kwargs:
            _keep_name_on_none(task)
        record(task)
        return task

    return factory


@final
class _CancelRecorder:
    """A task's ``cancel``, shadowed on the instance: notes when it was first asked to cancel.

    So a report can say "cancelled N s ago, still running" of a task that
    went on after its cancellation: 3.10-3.11's ``wait_for()`` swallows one
    that arrives as its inner future completes (gh-86296), and code may catch
    ``CancelledError`` and carry on. Instance attributes win over C methods,
    and asyncio cancels tasks through ``task.cancel()`` (``timeout``,
    ``TaskGroup``, ``gather``, ``wait_for``). The task is held weakly: no
    reference cycle, so the recorder does not extend the task's life.
    """

    __slots__ = ("_task", "_time")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self._task = weakref.ref(task)
        self._time = task.get_loop().time  # the loop outlives its tasks' cancel() calls

    @property
    def __self__(self) -> asyncio.Task[Any] | None:
        # As a bound method's: a timer calling it belongs to the task (`wakes`).
        return self._task()

    def __repr__(self) -> str:
        return f"<bound method cancel of {self._task()!r}>"

    def __call__(self, msg: Any = None) -> bool:
        # On every cancel() of every task of a virtual loop (a wait_for()
        # timeout is one): kept to a dict lookup and the C method.
        task = self._task()
        if task is None:  # pragma: no cover - a caller holds it while calling
            return False
        if not task.done():
            at = task._asynctestkit_cancelled_at  # type: ignore[attr-defined]
            # The first request, or the first since the last were taken back
            # by uncancel() (3.11+: asyncio.timeout(), and wait_for() on 3.12+,
            # cancel the task, then turn the CancelledError into TimeoutError
            # and take the request back; the task rightly goes on).
            if at is None or (_HAS_CANCELLING and not task.cancelling()):  # type: ignore[attr-defined, unused-ignore]
                task._asynctestkit_cancelled_at = self._time()  # type: ignore[attr-defined]
        return _task_cancel(task, msg)


# The factory makes plain asyncio.Tasks; Task.cancelling() is 3.11+.
_task_cancel = asyncio.Task.cancel
_HAS_CANCELLING = hasattr(asyncio.Task, "cancelling")


def _keep_name_on_none(task: asyncio.Task[Any]) -> None:
    # Shadow set_name once, for the call create_task() makes right after the
    # factory returns; the shadow removes itself, breaking the cycle.
    def set_name(value: object) -> None:
        del task.set_name
        if value is not None:
            task.set_name(value)

    task.set_name = set_name  # type: ignore[method-assign]


def _frames_of(coro: object) -> list[tuple[str, int, str]]:
    """Follow a coroutine's await chain down to where it is suspended."""
    frames: list[tuple[str, int, str]] = []
    seen = 0
    while coro is not None and seen < 50:
        seen += 1
        frame = (
            getattr(coro, "cr_frame", None)
            or getattr(coro, "gi_frame", None)
            or getattr(coro, "ag_frame", None)
        )
        if frame is not None and not frame.f_code.co_filename.startswith(OWN_DIR):
            frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        coro = (
            getattr(coro, "cr_await", None)
            or getattr(coro, "gi_yieldfrom", None)
            or getattr(coro, "ag_await", None)
        )
    return frames


def _line(filename: str, lineno: int, name: str) -> str:
    text = linecache.getline(filename, lineno).strip()
    where = f'File "{filename}", line {lineno}, in {name}'
    return f"{where}\n        {text}" if text else where


def is_plumbing(filename: str) -> bool:
    """Whether ``filename`` is asyncio's, unittest's or asynctestkit's, not the user's."""
    return filename.startswith(_PLUMBING)


def whose(filename: str) -> Literal["stdlib", "library", "user"]:
    """Whose code ``filename`` holds: the standard library's, an installed package's, or the user's.

    An absolute name is resolved first (symlinks); any other (``<string>``)
    is taken as it is. Uncached: callers on a hot path keep their own cache.
    """
    path = os.path.realpath(filename) if os.path.isabs(filename) else filename
    if any(part in path for part in _THIRD_PARTY):
        return "library"
    return "stdlib" if path.startswith(_STDLIB_DIRS) else "user"


def runs_callbacks(code: types.CodeType) -> bool:
    """Whether ``code`` is the loop's own that runs one callback (``Handle._run``, a ``_run_once``)."""
    return code.co_name in _RUNNERS and code.co_filename.startswith(_LOOP_DIRS)


def format_frames(frames: Iterable[tuple[str, int, str]], indent: str = "      ") -> list[str]:
    """Format (file, line, function) triples, traceback style, one entry per frame."""
    return [f"{indent}{_line(*f)}" for f in frames]


def shown_coroutine(coro: Any) -> Any:
    """Look through asynctestkit's own wrapper coroutines to the user's."""
    while True:
        code = getattr(coro, "cr_code", None)
        inner = getattr(coro, "cr_await", None)
        if code is None or inner is None or not code.co_filename.startswith(OWN_DIR):
            return coro
        coro = inner


def task_coroutine(task: asyncio.Future[Any]) -> Any:
    """The coroutine a report names for ``task``: the user's, through the toolkit's wrappers.

    A wrapper that is not awaiting (its step blocks the loop, 3.10's context
    wrapper in ``_testcase/_step.py``) hides what it wraps; the step records it
    on the task as ``_asynctestkit_shown``.
    """
    shown = getattr(task, "_asynctestkit_shown", None)
    if shown is not None:
        return shown
    return shown_coroutine(task.get_coro()) if isinstance(task, asyncio.Task) else None


def _describe(
    task: asyncio.Task[Any], timers: Iterable[asyncio.TimerHandle] = (), notes: Iterable[str] = ()
) -> str:
    coro = task.get_coro()
    shown = task_coroutine(task)
    coro_name = getattr(shown, "__qualname__", None) or repr(shown)
    lines = [f"- task {task.get_name()!r} running {coro_name}()"]
    if task.done():
        lines.append("    done")
    else:
        cancelled = _cancel_state(task)
        if cancelled:
            lines.append(f"    {cancelled}")
        frames = _frames_of(coro)
        if frames:
            lines.append("    waiting at (outermost first):")
            lines.extend(format_frames(frames))
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is not None:
            lines.append(f"    awaiting {_describe_awaited(waiter)}")
        for explain in EXPLAINERS:
            lines.extend(explain(task))
        lines.extend(notes)
        now = task.get_loop().time()
        lines.extend(
            f"    woken by a timer due in {h.when() - now:.3f} s: {describe_call(h)}"
            for h in timers if wakes(h, task)
        )
    site: Site | None = getattr(task, "_asynctestkit_site", None)
    if site:
        lines.append("    created at (innermost first):")
        lines.extend(format_frames(site))
    elif site is None:
        # Made without the loop's task factory: asyncio.Task(coro) directly (as
        # aiohttp's server does), or before the loop tracked tasks. Where its
        # coroutine was made is usually the same line (cr_origin, noted while
        # check_coroutines is on).
        origin = [f for f in getattr(coro, "cr_origin", None) or () if not is_plumbing(f[0])]
        if origin:
            lines.append("    created at (where its coroutine was made, innermost first):")
            lines.extend(format_frames(origin[:_SITE_DEPTH]))
        else:
            lines.append(
                "    created at: unknown (made without the loop's create_task(), e.g. with "
                "asyncio.Task() directly, while coroutine origins were not tracked)"
            )
    return "\n".join(lines)


# Parts below this module that can say more about what a task waits for
# (`_resources`: what a Server.wait_closed() waits for): each returns lines.
EXPLAINERS: list[Callable[[asyncio.Task[Any]], list[str]]] = []


def _cancel_state(task: asyncio.Task[Any]) -> str:
    """Say that a pending task was asked to cancel and still runs ("" if it was not asked)."""
    cancelling = getattr(task, "cancelling", None)
    if cancelling is not None and not cancelling():
        return ""  # never asked, or every request taken back (3.11+; see _CancelRecorder)
    since: float | None = getattr(task, "_asynctestkit_cancelled_at", None)
    why = (
        "it caught or swallowed the CancelledError, or is still unwinding; on 3.10-3.11 "
        "wait_for() can swallow one, gh-86296"
    )
    if since is not None:
        return f"cancelled {task.get_loop().time() - since:.3f} s ago, still running ({why})"
    if cancelling is not None:
        # A task made without our factory: Task.cancelling() (3.11+) still tells.
        return f"cancelled, still running ({why})"
    return ""  # pragma: no cover - 3.10 only: no Task.cancelling() and not cancelled by us


def _describe_awaited(fut: asyncio.Future[Any]) -> str:
    if isinstance(fut, asyncio.Task):
        return f"task {fut.get_name()!r}"
    return repr(fut)


def format_tasks(
    tasks: Iterable[asyncio.Task[Any]],
    title: str,
    *,
    timers: Iterable[asyncio.TimerHandle] = (),
    notes: Mapping[int, list[str]] | None = None,
) -> str:
    """Format a report of ``tasks`` under ``title``, one block per task, by name.

    Args:
        tasks: The tasks to describe.
        title: The heading.
        timers: Pending timers; each one that wakes a task (see `wakes`) is
            shown in that task's block.
        notes: More lines for a task's block, by ``id(task)`` (whether it is
            stuck forever or would resume, see ``_fate.py``).

    Returns:
        The report; ``"<title>: none"`` when there is no task.
    """
    timers = list(timers)
    ordered = sorted(tasks, key=lambda t: t.get_name())
    notes = notes or {}
    blocks = [_describe(t, timers, notes.get(id(t), ())) for t in ordered]
    if not blocks:
        return f"{title}: none"
    report = f"{title} ({len(blocks)}):\n" + "\n".join(blocks)
    chains = await_chains(ordered)
    if chains:  # pragma: no cover - 3.14+ (coverage is measured on 3.11)
        report += (
            f"\n\nAwait chains, from the outermost task down to the blocked line "
            f"(asyncio.capture_call_graph) ({len(chains)}):\n" + "\n".join(chains)
        )
    return report


# At most this many chains per blocked task, and tasks per chain.
_MAX_CHAINS = 5
_MAX_CHAIN = 20


def await_chains(tasks: Iterable[asyncio.Task[Any]]) -> list[str]:
    """Describe who awaits each blocked task, across tasks, outermost first (3.14+).

    For each pending task that is not itself waiting for another task,
    ``asyncio.capture_call_graph`` (3.14+) gives the tasks and futures that
    await it, through ``gather()`` and ``TaskGroup`` too; each path from the
    outermost awaiter (often the test itself) down to that task's blocked
    line is one chain. Only chains of two or more tasks are given: a single
    task's own chain is already in its block. Returns ``[]`` before 3.14.

    Args:
        tasks: The tasks of the report.

    Returns:
        One text block per chain.
    """
    if capture_call_graph is None:
        return []
    return _chains(tasks, capture_call_graph)  # pragma: no cover - 3.14+ (measured on 3.11)


def _chains(  # pragma: no cover - 3.14+ (coverage is measured on 3.11)
    tasks: Iterable[asyncio.Task[Any]], capture: Callable[..., Any]
) -> list[str]:
    paths: list[list[Any]] = []
    for task in tasks:
        if task.done() or isinstance(getattr(task, "_fut_waiter", None), asyncio.Task):
            continue  # not where a chain ends
        try:
            graph = capture(task)
        except Exception:  # an introspection aid never breaks a report
            continue
        paths.extend(p for p in _paths(graph, 0)[:_MAX_CHAINS] if len(p) > 1)
    # A task waiting on gather() ends a chain that a chain through one of
    # its children continues: keep the longer one only.
    keys = [tuple(id(node.future) for node in path) for path in paths]
    return [
        "\n".join(_chain_lines(path))
        for path, key in zip(paths, keys, strict=True)
        if not any(other != key and other[: len(key)] == key for other in keys)
    ]


def _paths(graph: Any, depth: int) -> list[list[Any]]:  # pragma: no cover - 3.14+
    """The paths from each outermost awaiter down to ``graph``'s future."""
    parents = graph.awaited_by
    if not parents or depth >= _MAX_CHAIN:
        return [[graph]]
    return [[*path, graph] for parent in parents for path in _paths(parent, depth + 1)]


def _chain_lines(path: list[Any]) -> list[str]:  # pragma: no cover - 3.14+
    lines: list[str] = []
    for i, node in enumerate(path):
        future = node.future
        what = f"task {future.get_name()!r}" if isinstance(future, asyncio.Task) else type(future).__name__
        lines.append(f"{'-' if i == 0 else ' '} {'' if i == 0 else 'awaits '}{what}")
        # call_stack is innermost first; each entry's frame is a live frame.
        frames = [
            (e.frame.f_code.co_filename, e.frame.f_lineno, e.frame.f_code.co_name)
            for e in reversed(node.call_stack)
            if not e.frame.f_code.co_filename.startswith(OWN_DIR)
        ]
        lines.extend(format_frames(frames))
    return lines


def wakes(handle: asyncio.TimerHandle, task: asyncio.Task[Any]) -> bool:
    """Whether a timer is part of ``task``: its own sleep, ``wait_for`` or ``timeout``.

    A timer wakes a task when its callback is a method of the task or of the
    ``asyncio.timeout()`` guarding it, or when its first argument is the
    future the task awaits (``asyncio.sleep``'s
    ``_set_result_unless_cancelled(fut, ...)``, ``wait_for``'s
    ``_release_waiter(waiter)``). Reads Handle's ``_callback`` and ``_args``
    and Timeout's ``_task`` (3.10-3.15).
    """
    owner = getattr(getattr(handle, "_callback", None), "__self__", None)
    if _TIMEOUT is not None and isinstance(owner, _TIMEOUT):
        owner = getattr(owner, "_task", None)
    if owner is task:
        return True
    args: tuple[Any, ...] = getattr(handle, "_args", None) or ()
    waiter = getattr(task, "_fut_waiter", None)
    return waiter is not None and bool(args) and args[0] is waiter


def describe_call(handle: object) -> str:
    """Show the call a loop handle makes, ``func(arg, ...)``, whatever the loop's debug mode.

    3.13+ leave the arguments out of a handle's repr unless debug mode is on;
    ``_callback`` and ``_args`` are Handle's attributes on 3.10-3.15.
    """
    callback = getattr(handle, "_callback", None)
    if callback is None:
        return repr(handle)
    if isinstance(callback, _CancelRecorder):
        name = "Task.cancel"
    else:
        name = getattr(callback, "__qualname__", None) or repr(callback)
    args = getattr(handle, "_args", None) or ()
    return f"{name}({', '.join(reprlib.repr(a) for a in args)})"


# The hygiene verdict's failure carries this attribute, so `_verdict/_onereport.py`
# can tell it from the test's own failure.
_MESS = "_asynctestkit_mess"


def mark_mess(exc: BaseException) -> BaseException:
    """Mark ``exc`` as the hygiene verdict's failure (see ``_verdict/_onereport.py``); return it."""
    setattr(exc, _MESS, True)
    return exc


def is_mess(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a hygiene verdict's failure."""
    return bool(getattr(exc, _MESS, False))


def raise_failure(failure: type[BaseException], message: str, *, mess: bool = False) -> NoReturn:
    """Fail the test with ``message`` (``mess``: the verdict's; see ``_onereport.py``)."""
    __tracebackhide__ = False  # read by pytest from this frame's locals: the one frame shown
    raise (mark_mess(failure(message)) if mess else failure(message)) from None


def at_user_line(exc: BaseException, task: asyncio.Future[Any]) -> BaseException:
    """Give ``exc`` (a `DeadlockError` out of the loop) the traceback of where ``task`` waits.

    The loop raises it from its own internals, five frames of asyncio and
    the virtual loop (a pytest report shows the whole body of the innermost
    one); what the reader needs is the line the test waits at. The new
    traceback holds the user's frames of the task's await chain, outermost
    first; for a task with no user frame, ``exc`` is returned as it is.
    """
    if task.done():
        return exc
    frames = []
    coro: Any = task.get_coro() if isinstance(task, asyncio.Task) else None
    for _ in range(50):
        if coro is None:
            break
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None and not is_plumbing(frame.f_code.co_filename):
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    if not frames:
        return exc
    tb = None
    for frame in reversed(frames):
        tb = types.TracebackType(tb, frame, frame.f_lasti, frame.f_lineno)
    return exc.with_traceback(tb)


def format_thread(thread_id: int) -> str:
    """Format the current Python stack of thread ``thread_id`` (for a stuck loop)."""
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return f"thread {thread_id}: no Python stack (it has ended)"
    stack = "".join(traceback.format_stack(frame))
    return f"the loop's thread is running (most recent call last):\n{stack}"
