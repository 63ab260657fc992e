"""The one place that knows which Python this is, and which private hooks it has.

asynctestkit runs a test's steps on its own loop in the same way on every
version (see ``_testcase/_case.py``), so the gates here are few: which loop class is the
default, how a loop becomes the current one (and how to read the current one
without creating it), and the CPython internals that make the per-test path
cheap. Each private name read here exists on 3.10-3.14; each reader falls back
to the safe answer when it does not.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import sys
import warnings
from asyncio.format_helpers import _format_callback_source
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = (
    "ACLOSE",
    "BLOCKED_IS_CPU_OR_WAIT",
    "EAGER_START",
    "FACTORY_TASKS_NAMED_NONE",
    "PY311",
    "PY314",
    "SERVER_WAITS_FOR_CLIENTS",
    "STREAM_HANDLER_CANCEL_RAISES",
    "blocked_seconds",
    "c_getsignal",
    "c_signal",
    "callback_failed",
    "capture_call_graph",
    "current_loop",
    "default_loop_factory",
    "has_async_generators",
    "has_default_executor",
    "idle_async_generators",
    "make_current",
    "queued_aclose",
    "set_current_loop",
    "swap_unawaited_coroutine_hook",
    "task_context",
    "thread_usage",
)

# The C functions under `signal`: its Python wrappers convert every handler to
# and from an enum, which costs more than the system call (3.10-3.15). What
# they return for SIG_DFL and SIG_IGN is a plain int, which puts it back as
# well; None for a handler set outside Python.
_csignal = getattr(signal, "_signal", signal)
c_getsignal: Callable[[int], Any] = getattr(_csignal, "getsignal", signal.getsignal)
c_signal: Callable[[int, Any], Any] = getattr(_csignal, "signal", signal.signal)

# How long a callback blocked the loop. Wall time alone also counts the time
# the OS ran other processes instead of the loop's thread: on a loaded CI
# machine a clean 30 ms callback takes 150 ms. CPU time alone misses a
# callback that blocks without working (time.sleep, a blocking socket or
# lock), the commonest real offender. Linux's RUSAGE_THREAD (2.6.26+) gives
# both the thread's CPU time and its voluntary context switches in one
# getrusage() call (about 0.5 us): a callback that went to sleep on its own
# blocked the loop for all of its wall time; one that never did was only
# busy for its CPU time, the rest being the machine's load. Elsewhere
# (macOS, Windows) `thread_usage` returns None and wall time is the answer.
try:
    import resource as _resource
except ImportError:  # pragma: no cover - Windows
    _resource = None  # type: ignore[assignment]
_RUSAGE_THREAD: int | None = getattr(_resource, "RUSAGE_THREAD", None)
_getrusage: Callable[[int], Any] = getattr(_resource, "getrusage", None)  # type: ignore[assignment]
BLOCKED_IS_CPU_OR_WAIT = _RUSAGE_THREAD is not None

thread_usage: Callable[[], Any]
"""Return what `blocked_seconds` needs from the calling thread's usage now (None off Linux)."""
if _RUSAGE_THREAD is not None:
    # A partial of the C function: no Python frame on the per-callback path.
    thread_usage = functools.partial(_getrusage, _RUSAGE_THREAD)
else:  # pragma: no cover - not Linux
    def thread_usage() -> Any:
        return None


def blocked_seconds(wall: float, before: Any, waited: bool | None = None) -> float:
    """Return how long a callback that took ``wall`` real seconds, from usage ``before``, blocked its loop.

    All of ``wall`` if the thread waited of its own accord meanwhile (or
    without ``before``), else only the CPU time it used: time spent waiting
    for a CPU on a busy machine is not the callback's doing. ``waited``:
    whether it did wait of its own accord, when something else knows
    (the slow-callback sampler, whose own turns with the GIL make the
    thread wait too); ``None``: its voluntary context switches say.
    """
    if before is None or _RUSAGE_THREAD is None:  # pragma: no cover - not Linux
        return wall
    after = _getrusage(_RUSAGE_THREAD)
    if waited or (waited is None and after.ru_nvcsw != before.ru_nvcsw):
        return wall
    cpu: float = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return min(wall, cpu)


PY311 = sys.version_info >= (3, 11)
# A frame's f_locals, 3.13+ (PEP 667), is a view that reads the variables and
# writes nothing. Before, reading it copies the fast locals into a dict kept
# on the frame: done from another thread while that frame runs, it crashed the
# interpreter (3.12). 3.10's garbage collector sees a running frame's
# variables (gc.get_referents); 3.11-3.12's does not.
FRAME_LOCALS_VIEW = sys.version_info >= (3, 13)
RUNNING_FRAME_VARIABLES_HIDDEN = PY311 and not FRAME_LOCALS_VIEW
# 3.14's unittest names the type a test method returned in its deprecation
# warning ("... (<method> returned 'int')"); 3.11-3.13 name only the method.
PY314 = sys.version_info >= (3, 14)

# 3.12's Server.wait_closed() waits for every connection the server accepted
# to end; 3.10-3.11's returns at once once close() was called (gh-79033).
SERVER_WAITS_FOR_CLIENTS = sys.version_info >= (3, 12)


def _stream_handler_cancel_raises() -> bool:
    for const in asyncio.StreamReaderProtocol.connection_made.__code__.co_consts:
        if getattr(const, "co_name", None) == "callback":
            return "cancelled" not in const.co_names
    return False  # pragma: no cover - a future streams module without the callback


# Some 3.12 releases' StreamReaderProtocol (3.12.0-3.12.1 here) end a
# start_server handler task with a callback that calls task.exception() first,
# which raises CancelledError into the loop's exception handler when the
# handler was cancelled; later releases check task.cancelled() first.
STREAM_HANDLER_CANCEL_RAISES = _stream_handler_cancel_raises()


def task_context(task: asyncio.Task[Any], loop: asyncio.AbstractEventLoop) -> Any:
    """Return the contextvars.Context ``task`` runs in, or None if it cannot be read.

    3.12+ have ``Task.get_context()`` (gh-91150). Before, the context is read
    where the task left it: on the wakeup callback it added to the future it
    waits on (``_fut_waiter._callbacks``, (callback, context) pairs), or on
    its next step in the loop's ready queue (3.10-3.11, C and Python tasks).
    """
    get = getattr(task, "get_context", None)
    if get is not None:
        return get()
    waiter = getattr(task, "_fut_waiter", None)  # pragma: no cover - 3.10-3.11
    for callback, context in getattr(waiter, "_callbacks", None) or ():  # pragma: no cover
        if getattr(callback, "__self__", None) is task:
            return context
    for handle in getattr(loop, "_ready", ()):  # pragma: no cover
        if getattr(handle._callback, "__self__", None) is task:
            return handle._context
    return None  # pragma: no cover


# 3.12 added eager task start (asyncio.Task(..., eager_start=True), gh-97696);
# before it a seeded loop has no eager start to choose.
EAGER_START = sys.version_info >= (3, 12)

# 3.13.0-3.13.2's loop.create_task() calls task.set_name(name) on what a task
# factory returns, even when name is None, so every such task is named "None"
# (gh-130033). Detected by what the method calls rather than by version.
FACTORY_TASKS_NAMED_NONE = "set_name" in asyncio.BaseEventLoop.create_task.__code__.co_names

# 3.14 added asyncio.capture_call_graph (gh-91048): who awaits whom across
# tasks, through gather() and TaskGroup too, as asyncio records it on each
# future it awaits (`_asyncio_awaited_by`). None before 3.14, where a report
# shows each task's own await chain and the task it awaits.
capture_call_graph: Callable[..., Any] | None = getattr(asyncio, "capture_call_graph", None)

if sys.version_info >= (3, 13):
    # 3.13 added asyncio.EventLoop, the platform's default loop class, which
    # is what IsolatedAsyncioTestCase gets with loop_factory=None.
    _DEFAULT: Callable[[], asyncio.AbstractEventLoop] = asyncio.EventLoop
elif sys.platform == "win32":  # pragma: no cover - CI runs on Linux
    _DEFAULT = asyncio.ProactorEventLoop
else:  # pragma: no cover - one branch per version
    _DEFAULT = asyncio.SelectorEventLoop


def default_loop_factory() -> asyncio.AbstractEventLoop:
    """Return a new loop of the platform's default class, without the policy API.

    ``asyncio.new_event_loop()`` asks the event loop policy, which 3.14
    deprecates; creating the class directly gives the same loop everywhere.
    """
    return _DEFAULT()


def set_current_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Make ``loop`` the current loop of this thread (``None``: no current loop).

    ``asyncio.set_event_loop`` is not part of the policy API that 3.14
    deprecates (gh-127949), and it is the only public way to make
    ``asyncio.get_event_loop()`` in a sync ``setUp`` return the test's loop.
    """
    asyncio.set_event_loop(loop)


def make_current(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Make ``loop`` the current loop of this thread; return the function that undoes it.

    The undo makes the loop that was current before current again, and, if
    there was no event loop policy before (``asyncio.set_event_loop`` creates
    the default one on demand), drops the one made here, as
    ``IsolatedAsyncioTestCase`` leaves none behind with a ``loop_factory``
    (3.13+; CPython's test_async_case checks it). The policy lives in
    ``asyncio.events._event_loop_policy`` on 3.10-3.15. A policy that someone
    else installed meanwhile is kept, and so is a current loop someone else
    set meanwhile.
    """
    previous = current_loop()
    had_policy = getattr(asyncio.events, "_event_loop_policy", None) is not None
    set_current_loop(loop)
    made = None if had_policy else getattr(asyncio.events, "_event_loop_policy", None)

    def undo() -> None:
        # Only what is still ours is put back: another loop made current
        # since stays; a previous loop closed since is not made current again.
        now = current_loop()
        if now is not None and now is not loop:
            return
        before = previous if previous is not None and not previous.is_closed() else None
        set_current_loop(before)
        if made is not None and before is None and asyncio.events._event_loop_policy is made:  # type: ignore[attr-defined]
            asyncio.events._event_loop_policy = None  # type: ignore[attr-defined]

    return undo


def current_loop() -> asyncio.AbstractEventLoop | None:
    """Return this thread's running or current loop, or ``None``: never create one, never warn.

    ``asyncio.get_event_loop()`` cannot ask this: with no current loop it
    creates one on 3.10-3.11's main thread, warns on 3.12-3.13 and raises on
    3.14. The answer is read from the default policy's thread-local state
    (``asyncio.events._event_loop_policy._local._loop``, 3.10-3.14) without
    calling ``get_event_loop_policy()``, which 3.14 deprecates. A custom policy
    without that state reads as "no current loop".
    """
    running = asyncio._get_running_loop()
    if running is not None:
        return running
    policy = getattr(asyncio.events, "_event_loop_policy", None)
    loop = getattr(getattr(policy, "_local", None), "_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


def has_async_generators(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop.shutdown_asyncgens()`` has anything to close.

    BaseEventLoop keeps the live async generators in ``_asyncgens``
    (3.10-3.14); a loop without that set may have some.
    """
    gens = getattr(loop, "_asyncgens", None)
    return gens is None or bool(gens)


async def _agen() -> Any:
    yield  # pragma: no cover - never iterated


# The awaitable that agen.aclose() returns (async_generator_athrow, a type no
# module exports). When the garbage collector finalizes an async generator
# left unfinished, asyncio's finalizer hook queues create_task(agen.aclose())
# (BaseEventLoop._asyncgen_finalizer_hook, 3.10-3.15): a task running one of
# these is asyncio closing a generator, not a task the test leaked.
_closing = _agen().aclose()
ACLOSE: type = type(_closing)
_closing.close()  # not awaited: 3.13+ would warn "never awaited"
del _closing


def queued_aclose(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the finalizer hook queued an ``aclose()`` task that the loop has not made yet.

    Reads the loop's ``_ready`` deque of Handles (``_args``; 3.10-3.15).
    """
    for handle in getattr(loop, "_ready", ()):
        args = getattr(handle, "_args", None)
        if args and type(args[0]) is ACLOSE:
            return True
    return False


def idle_async_generators(loop: asyncio.AbstractEventLoop) -> list[Any]:
    """Return the loop's live async generators that nobody is iterating right now.

    BaseEventLoop keeps the generators first iterated on it in ``_asyncgens``
    (a WeakSet, 3.10-3.15). One a task is iterating (``ag_running``) is left
    out: closing it under that task would fail ("already running").
    """
    gens = getattr(loop, "_asyncgens", None)
    if not gens:
        return []
    return [g for g in list(gens) if not g.ag_running]


def has_default_executor(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop.shutdown_default_executor()`` has a thread pool to join.

    BaseEventLoop creates ``_default_executor`` on the first
    ``run_in_executor(None, ...)`` (3.10-3.14); a loop without it may have one.
    """
    return getattr(loop, "_default_executor", True) is not None


def swap_unawaited_coroutine_hook(hook: Callable[[Any], None]) -> Callable[[Any], None] | None:
    """Install ``hook`` as the function told of each coroutine never awaited; return the old one.

    When a coroutine that never ran is finalized, CPython (3.8-3.14) calls
    ``warnings._warn_unawaited_coroutine(coro)``, looked up on the
    ``warnings`` module each time, which issues the "coroutine ... was never
    awaited" RuntimeWarning. Replacing it hands us the coroutine itself (its
    name and ``cr_origin``) for the price of two attribute writes, where
    filtering the warning would need ``warnings.catch_warnings()``, which
    resets every warning registry. Returns ``None`` (and installs nothing)
    where the hook does not exist.
    """
    old: Callable[[Any], None] | None = getattr(warnings, "_warn_unawaited_coroutine", None)
    if old is None:  # pragma: no cover - 3.8-3.14 all have it
        return None
    warnings._warn_unawaited_coroutine = hook  # type: ignore[attr-defined]
    return old


def callback_failed(handle: Any, exc: BaseException) -> None:
    """Report ``exc``, raised by ``handle``'s callback, as ``Handle._run`` does.

    For loops that run ready handles inline instead of calling ``_run()``:
    the same message, context and exception handler call.
    """
    loop = handle._loop
    if sys.version_info >= (3, 13):
        # 3.13 added `debug=`: with debug off, handle reprs hide the arguments.
        source = _format_callback_source(handle._callback, handle._args, debug=loop.get_debug())
    else:
        source = _format_callback_source(handle._callback, handle._args)
    context: dict[str, Any] = {
        "message": f"Exception in callback {source}",
        "exception": exc,
        "handle": handle,
    }
    if handle._source_traceback:
        context["source_traceback"] = handle._source_traceback
    loop.call_exception_handler(context)
