"""The one place that knows which Python this is, and which private hooks it has.

asynctestkit runs a test's steps on its own loop in the same way on every
version (see ``_case.py``), so the gates here are few: which loop class is the
default, how a loop becomes the current one (and how to read the current one
without creating it), and the CPython internals that make the per-test path
cheap. Each private name read here exists on 3.10-3.14; each reader falls back
to the safe answer when it does not.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from asyncio.format_helpers import _format_callback_source
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = (
    "EAGER_START",
    "FACTORY_TASKS_NAMED_NONE",
    "PY311",
    "callback_failed",
    "current_loop",
    "default_loop_factory",
    "has_async_generators",
    "has_default_executor",
    "set_current_loop",
    "swap_unawaited_coroutine_hook",
)

PY311 = sys.version_info >= (3, 11)

# 3.12 added eager task start (asyncio.Task(..., eager_start=True), gh-97696);
# before it a seeded loop has no eager start to choose.
EAGER_START = sys.version_info >= (3, 12)

# 3.13.0-3.13.2's loop.create_task() calls task.set_name(name) on what a task
# factory returns, even when name is None, so every such task is named "None"
# (gh-130033). Detected by what the method calls rather than by version.
FACTORY_TASKS_NAMED_NONE = "set_name" in asyncio.BaseEventLoop.create_task.__code__.co_names

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
