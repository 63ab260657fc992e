"""Class-scoped loops: one loop (and one virtual clock) for every test of a class.

With ``loop_scope = "class"`` on an `AsyncTestCase` or `ClockedTestCase`,
``setUpClass`` makes one loop for the class and runs ``asyncSetUpClass`` on
it; every test borrows that loop instead of making its own; ``tearDownClass``
runs ``asyncTearDownClass`` on it; and a class cleanup registered before
anything else (so it runs last, even when ``asyncSetUpClass`` failed)
cancels what is left and closes the loop.

What stays per test: the hygiene checks (their baseline is what exists when
the test starts, so what the class made is not the test's), the watchdog,
the tasks the test made (cancelled when it ends), the ``contextvars``
context (each test starts from a copy of the class's), and, on the virtual
clock, the autojump budget and mode. What is shared: the loop, whatever the
class made on it, and the virtual time, which only moves forward.

Between class steps the loop is not current and, for `ClockedTestCase`,
``time.monotonic()`` is real again: a class step makes the loop current,
patches time and arms the watchdog only while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
from typing import TYPE_CHECKING, Any, final

from .._compat import current_loop, set_current_loop
from .._faketime._timepatch import patch_time
from .._shield import allowed_interrupts, deferred_interrupts, restore
from .._verdict._watchdog import Watchdog, WatchdogTimeout, bury, is_buried
from ._lifecycle import cancel_and_wait, context_methods, settle_step
from ._options import OPTIONS
from ._step import run_step, start_step, step_context

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractAsyncContextManager

    from .._virtual._clock import VirtualClock

__unittest = True  # keep these frames out of failure tracebacks
__tracebackhide__ = True  # and out of pytest's (STYLE.md 14)

__all__ = (
    "abort",
    "add_async_class_cleanup",
    "enter_async_class_context",
    "initial_context",
    "lend_loop",
    "set_up_class",
    "tear_down_class",
)

_SCOPES = ("test", "class")
# The class's state lives in the class's own __dict__, never inherited: a
# subclass of a class-scoped class gets its own loop.
_STATE = "_asynctestkit_class_state"
# Set on the class by ClockedTestCase._asynctestkit_make_class_loop.
_CLOCK = "_asynctestkit_class_clock"
_DEFINED_BY = "asynctestkit._testcase._case"


@final
class _ClassLoop:
    """The loop a class shares, its clock, and the context its class steps run in."""

    __slots__ = ("clock", "context", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: VirtualClock | None) -> None:
        self.loop = loop
        self.clock = clock
        self.context = contextvars.copy_context()


def _scope(cls: Any) -> str:
    """Return ``cls.loop_scope``, checked (again: it may be set after the class was made)."""
    scope = getattr(cls, "loop_scope", "test")
    if scope not in _SCOPES:
        OPTIONS["loop_scope"].validate(scope, f"{cls.__qualname__}.loop_scope")
    return str(scope)


def _overrides(cls: Any, name: str) -> bool:
    """Whether ``cls`` (or a base of it outside asynctestkit) defines ``name``."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return bool(klass.__module__ != _DEFINED_BY)
    return False


def _state(cls: Any, what: str) -> _ClassLoop:
    """Return the class's loop state or raise the error that explains why there is none."""
    state: _ClassLoop | None = vars(cls).get(_STATE)
    if state is None:
        raise _no_loop(cls, what)
    return state


def _no_loop(cls: Any, what: str) -> RuntimeError:
    if _scope(cls) != "class":
        return RuntimeError(
            f"{what} needs a class-scoped loop, but {cls.__qualname__}.loop_scope is "
            "'test'; set loop_scope = \"class\" on the class"
        )
    return RuntimeError(
        f"{what}: {cls.__qualname__} has no class loop. It is made by setUpClass: "
        "if you override setUpClass, call super().setUpClass() first; run the tests "
        "through a unittest suite (a loader or `python -m unittest`), which calls "
        "setUpClass, rather than calling TestCase.run() on one test"
    )


def set_up_class(cls: Any) -> None:
    """Start the class's loop and run ``asyncSetUpClass`` on it.

    Does nothing for ``loop_scope = "test"``. For ``"class"``, makes the loop
    with ``cls._asynctestkit_make_class_loop()``, registers the class cleanup
    that closes it (first, so it runs after every other class cleanup), then
    runs ``cls.asyncSetUpClass()`` as a task on the loop, in the class's
    ``contextvars`` context, with the loop current, time patched (on the
    virtual clock) and the real-time ``timeout`` armed.

    Args:
        cls: The test case class (an `AsyncTestCase` subclass).

    Raises:
        ValueError: ``loop_scope`` is neither ``"test"`` nor ``"class"``.
        TypeError: the class defines ``asyncSetUpClass`` or
            ``asyncTearDownClass`` but its loop scope is ``"test"``, where
            they would never run.
        TimeoutError: ``asyncSetUpClass`` ran past the class's ``timeout``.
        Exception: whatever ``asyncSetUpClass`` raised; unittest reports it
            as a ``setUpClass`` error and runs the class cleanups.

    Example:
        >>> class TestApi(AsyncTestCase):
        ...     loop_scope = "class"
        ...     @classmethod
        ...     async def asyncSetUpClass(cls):
        ...         cls.server = await cls.enterAsyncClassContext(Server())
    """
    if _scope(cls) != "class":
        for name in ("asyncSetUpClass", "asyncTearDownClass"):
            if _overrides(cls, name):
                raise TypeError(
                    f"{cls.__qualname__} defines {name}, which runs only on a loop shared "
                    f"by the class, but its loop_scope is 'test'; add loop_scope = \"class\" "
                    "to the class (or use asyncSetUp, which runs before each test)"
                )
        return
    with deferred_interrupts():  # a Ctrl-C here would leave the loop with no one to close it
        loop = cls._asynctestkit_make_class_loop()
        clock: VirtualClock | None = vars(cls).get(_CLOCK)
        state = _ClassLoop(loop, clock)
        setattr(cls, _STATE, state)
        # Registered before anything else can fail, so it runs last: after
        # asyncTearDownClass and the class cleanups, and also when asyncSetUpClass
        # failed (unittest runs class cleanups after a failed setUpClass, 3.8+).
        cls.addClassCleanup(_close, cls, state)
    _run_step(cls, state, cls.asyncSetUpClass, (), {}, "asyncSetUpClass")


def tear_down_class(cls: Any) -> None:
    """Run ``asyncTearDownClass`` on the class's loop, as `set_up_class` runs asyncSetUpClass.

    Does nothing when the class has no loop (test scope, or setUpClass never
    made one). The class cleanups, registered by setUpClass, close the loop.

    Args:
        cls: The test case class.

    Raises:
        TimeoutError: ``asyncTearDownClass`` ran past the class's ``timeout``.
        Exception: whatever ``asyncTearDownClass`` raised (a ``tearDownClass``
            error; the class cleanups still run).
    """
    state: _ClassLoop | None = vars(cls).get(_STATE)
    if state is None or _scope(cls) != "class":
        return
    _run_step(cls, state, cls.asyncTearDownClass, (), {}, "asyncTearDownClass")


def lend_loop(case: Any) -> asyncio.AbstractEventLoop:
    """Return the class's loop for one test, and reset the per-test state of its clock.

    On a `ClockedTestCase`, sets ``case.clock`` to the class's clock,
    restarts its autojump budget (``clock_budget``), mode (``autojump``) and
    ``busy_poll_limit`` for this test, and sets ``case.clock_started_at`` to the virtual time the
    test starts at, from which ``case.clock_elapsed`` counts.

    Args:
        case: The test about to start.

    Returns:
        The loop; the test must not close it.

    Raises:
        RuntimeError: the class has no loop: setUpClass was overridden
            without calling ``super().setUpClass()``, or one test is run with
            ``TestCase.run()`` instead of through a suite. AsyncTestCase asks
            for the loop in its setUp step, so this is that test's error.
        TypeError: the test asks for its own ``clock_start`` with
            ``@configure``, which cannot apply to the class's clock.
    """
    state = _state(type(case), f"{case.id()}: cannot start the test")
    clock = state.clock
    if clock is not None:
        if "clock_start" in case._asynctestkit_options:
            raise TypeError(
                f"{case.id()}: @configure(clock_start=...) cannot apply with "
                "loop_scope = \"class\": the tests of the class share its clock, which "
                "starts once, at the class's clock_start, and only moves forward; set "
                "clock_start on the class, or move time in the test with self.clock.jump()"
            )
        case.clock = clock
        clock.budget = case._asynctestkit_option("clock_budget")
        clock.autojump = case._asynctestkit_option("autojump")
        clock.busy_poll_limit = case._asynctestkit_option("busy_poll_limit")
        case.clock_started_at = clock.now
        case._asynctestkit_started_ns = clock.now_ns
    return state.loop


def initial_context(case: Any) -> contextvars.Context:
    """Return the ``contextvars`` context a test of a class-scoped class starts in.

    A copy of the class's context as ``asyncSetUpClass`` left it: values set
    there are visible in every test, and what one test sets is not seen by
    the next test, nor by ``asyncTearDownClass``.

    Args:
        case: The test about to start.

    Returns:
        A new context.
    """
    return _state(type(case), f"{case.id()}: cannot start the test").context.copy()


def add_async_class_cleanup(cls: Any, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Add a class cleanup whose awaitable result is awaited on the class's loop.

    unittest's ``doClassCleanups`` calls class cleanups as plain functions,
    so the cleanup registered here drives the class's loop itself: it calls
    ``func(*args, **kwargs)`` in the class's context with the loop current
    and, if the result is awaitable (a coroutine, a future, any object with
    ``__await__``), runs it to completion on the loop. Class cleanups run
    last in, first out, after ``asyncTearDownClass``, and before the loop is
    closed.

    Args:
        cls: The test case class.
        func: A function, coroutine function, or callable returning an
            awaitable.
        *args: Passed to ``func``.
        **kwargs: Passed to ``func``.

    Raises:
        RuntimeError: the class has no loop yet (call it from
            asyncSetUpClass, a test, or setUpClass after
            ``super().setUpClass()``) or its loop scope is ``"test"``.

    Example:
        >>> @classmethod
        ... async def asyncSetUpClass(cls):
        ...     cls.pool = await create_pool()
        ...     cls.addAsyncClassCleanup(cls.pool.close)
    """
    _state(cls, "addAsyncClassCleanup()")
    cls.addClassCleanup(_run_cleanup, cls, func, args, kwargs)


def _run_cleanup(cls: Any, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    state = _state(cls, "a cleanup added with addAsyncClassCleanup()")
    _run_step(cls, state, func, args, kwargs, getattr(func, "__qualname__", "class cleanup"))


async def enter_async_class_context(cls: Any, cm: AbstractAsyncContextManager[Any]) -> Any:
    """Enter ``cm`` on the class's loop; exit it as a class cleanup.

    The class-scoped counterpart of ``enterAsyncContext``: ``__aexit__`` runs
    with ``addAsyncClassCleanup`` when the class is done, after
    ``asyncTearDownClass``.

    Args:
        cls: The test case class.
        cm: An asynchronous context manager.

    Returns:
        What ``cm.__aenter__()`` returned.

    Raises:
        TypeError: ``cm`` is not an asynchronous context manager.
        RuntimeError: the class has no loop, or this is awaited on another
            loop (the resource would be bound to the wrong loop).

    Example:
        >>> @classmethod
        ... async def asyncSetUpClass(cls):
        ...     cls.server = await cls.enterAsyncClassContext(EchoServer())
    """
    enter, exit_ = context_methods(cm, asynchronous=True)
    state = _state(cls, "enterAsyncClassContext()")
    if asyncio.get_running_loop() is not state.loop:
        raise RuntimeError(
            f"enterAsyncClassContext() must be awaited on the loop of {cls.__qualname__} "
            "(in asyncSetUpClass or a test), not on another loop"
        )
    result = await enter(cm)
    add_async_class_cleanup(cls, exit_, cm, None, None, None)
    return result


# -- running class steps ------------------------------------------------------


@contextlib.contextmanager
def _on_loop(cls: Any, state: _ClassLoop) -> Iterator[None]:
    """Make the loop current (and time virtual) while one class step runs."""
    stack = contextlib.ExitStack()
    try:
        with deferred_interrupts():
            # Whatever loop was current before the step is current again after
            # (what AsyncTestCase does around each test).
            stack.callback(restore, set_current_loop, current_loop())
            set_current_loop(state.loop)
            if state.clock is not None:
                stack.enter_context(
                    patch_time(state.clock, targets=cls.time_targets, wall=cls.time_wall)
                )
        yield
    finally:
        with deferred_interrupts():
            stack.close()


def _run_step(
    cls: Any,
    state: _ClassLoop,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str,
) -> None:
    """Call ``func`` in the class's context; run its awaitable result on the class's loop.

    The real-time ``timeout`` of the class covers the step: a step that hangs
    ends in TimeoutError with the watchdog's report, instead of a
    KeyboardInterrupt that would stop the whole test run.
    """
    loop = state.loop
    watchdog = Watchdog(loop)
    task: asyncio.Task[Any] | None = None
    try:
        # A Ctrl-C waits while the books are kept; it goes through in the user's code.
        with deferred_interrupts(), _on_loop(cls, state):
            loop.set_debug(bool(getattr(cls, "_asynctestkit_debug", False)))
            try:
                watchdog.interrupting = True
                watchdog.arm(getattr(cls, "timeout", None))
                with allowed_interrupts():
                    result = state.context.run(func, *args, **kwargs)
                if inspect.isawaitable(result):
                    context = state.context
                    task = start_step(loop, result, context, f"{cls.__qualname__}.{name}", via_factory=True)
                    watchdog.step = task
                    try:
                        run_step(loop, task)
                    finally:
                        state.context = step_context(task, context)
                    if watchdog.expired:  # it caught the cancellation and returned
                        raise WatchdogTimeout(watchdog.report)
            except (WatchdogTimeout, asyncio.CancelledError, RuntimeError):
                if not watchdog.expired:
                    raise
                raise TimeoutError(_timeout_message(cls, name, watchdog)) from None
            finally:
                try:
                    if task is not None:
                        settle_step(loop, task, watchdog)
                finally:
                    watchdog.interrupting = False
                    watchdog.disarm()
    except BaseException as exc:
        if not isinstance(exc, Exception):
            # Ctrl-C: unittest lets it through without running the class
            # cleanups, so close the class's loop now.
            _abort(cls, state)
        raise


def abort(cls: Any) -> None:
    """Close the class's loop now, if it has one: a Ctrl-C is stopping the run.

    unittest lets a KeyboardInterrupt through a test, ``tearDownClass`` and the
    class cleanups without running the class cleanups left, one of which
    would close the loop.

    Args:
        cls: The test case class.
    """
    state: _ClassLoop | None = vars(cls).get(_STATE)
    if state is not None:
        _abort(cls, state)


def _abort(cls: Any, state: _ClassLoop) -> None:
    """Close the class's loop at once (after Ctrl-C): no shutdown, just close."""
    with deferred_interrupts():
        loop = state.loop
        if not loop.is_running():
            for task in asyncio.all_tasks(loop):
                bury(task)  # never finished: do not warn that it is destroyed pending
            loop.close()
        if vars(cls).get(_STATE) is state:
            delattr(cls, _STATE)
        if state.clock is not None and vars(cls).get(_CLOCK) is state.clock:
            delattr(cls, _CLOCK)


def _timeout_message(cls: Any, name: str, watchdog: Watchdog) -> str:
    # The watchdog's report opens with a headline about "the test"; replace it.
    details = watchdog.report.partition("\n\n")[2]
    head = (
        f"{cls.__qualname__}.{name} ran longer than the class's timeout of "
        f"{watchdog.seconds} s (real time) and was stopped. Raise `timeout` on the class "
        "if it really needs longer; `timeout = None` turns the watchdog off."
    )
    return f"{head}\n\n{details}" if details else head


def _close(cls: Any, state: _ClassLoop) -> None:
    """The last class cleanup: cancel what the class left, then close its loop.

    Like ``asyncio.run``: tasks still pending (a background task started in
    asyncSetUpClass and never stopped) are cancelled and awaited, async
    generators finalized, the default executor shut down.
    """
    loop = state.loop
    try:
        if not loop.is_closed():
            _run_step(cls, state, _shut_down, (loop,), {}, "loop shutdown")
    finally:
        with deferred_interrupts():
            try:
                loop.close()
            finally:
                if vars(cls).get(_STATE) is state:
                    delattr(cls, _STATE)
                if state.clock is not None and vars(cls).get(_CLOCK) is state.clock:
                    delattr(cls, _CLOCK)


async def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks(loop) if t is not current and not t.done() and not is_buried(t)]
    if tasks:
        await cancel_and_wait(tasks)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                loop.call_exception_handler({
                    "message": "unhandled exception in a task cancelled when the class's loop closed",
                    "exception": task.exception(),
                    "task": task,
                })
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()
