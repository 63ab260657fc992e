"""AsyncTestCase and ClockedTestCase: the test lifecycle on one loop per test.

Both run every step of a test (setUp, asyncSetUp, the test, asyncTearDown,
tearDown, cleanups) on the test's own loop, in one shared ``contextvars``
context, the same way on every Python version: rather than lean on
``IsolatedAsyncioTestCase``'s private machinery (a queue-fed task on 3.10, an
``asyncio.Runner`` on 3.11+, ``loop_factory`` on 3.13+), they drive the loop
themselves. Each async step runs as a task in a copy of the test's context,
and the context it ends with becomes the test's context for the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import difflib
import inspect
import unittest
import warnings
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar, final

from . import _classloop
from ._asserts import AssertionsMixin
from ._clock import VirtualClock
from ._compat import (
    PY311,
    current_loop,
    default_loop_factory,
    has_async_generators,
    has_default_executor,
    set_current_loop,
)
from ._hygiene import Hygiene, SlowCallbackWarning, format_problems
from ._loop import virtual_event_loop
from ._patching import PatchingMixin
from ._timepatch import patch_time
from ._watchdog import Watchdog, WatchdogTimeout

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine
    from contextlib import AbstractAsyncContextManager, AbstractContextManager

__unittest = True  # keep these frames out of failure tracebacks

__all__ = ("AsyncTestCase", "ClockedTestCase", "configure")

T = TypeVar("T")
F = TypeVar("F", bound="Callable[..., Any]")

# Real seconds that the steps after a timeout (tearDown, cleanups, the loop's
# shutdown) get before the watchdog stops them too.
_GRACE = 5.0
# Loop iterations run_until_idle() waits for the loop to become idle.
_IDLE_ROUNDS = 100_000

_OPTIONS = frozenset({
    "timeout", "debug", "check_tasks", "check_exceptions", "check_coroutines",
    "check_timers", "check_threads", "slow_callback_duration", "slow_callback_fails",
    # ClockedTestCase
    "autojump", "clock_start", "clock_budget", "time_targets", "time_wall",
})


def configure(**options: Any) -> Callable[[F], F]:
    """Override class options for one test method.

    Any option an `AsyncTestCase` or `ClockedTestCase` reads from a class
    attribute can be set here for a single test: ``timeout``, ``debug``,
    ``check_tasks``, ``check_exceptions``, ``check_coroutines``,
    ``check_timers``, ``check_threads``, ``slow_callback_duration``, ``slow_callback_fails``,
    ``autojump``, ``clock_start``, ``clock_budget``, ``time_targets``,
    ``time_wall``.

    Raises:
        TypeError: an option name is unknown (the message suggests close names).

    Example:
        >>> class T(AsyncTestCase):
        ...     @configure(timeout=120, check_timers=False)
        ...     async def test_slow_upload(self): ...
    """
    for name in options:
        if name not in _OPTIONS:
            close = difflib.get_close_matches(name, _OPTIONS, n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise TypeError(
                f"configure() got an unknown option {name!r}{hint}; "
                f"known options: {', '.join(sorted(_OPTIONS))}"
            )

    def decorate(func: F) -> F:
        merged = dict(getattr(func, "_asynctestkit_options", {}))
        merged.update(options)
        func._asynctestkit_options = merged  # type: ignore[attr-defined]
        return func

    return decorate


class AsyncTestCase(PatchingMixin, AssertionsMixin, unittest.IsolatedAsyncioTestCase):
    """An ``IsolatedAsyncioTestCase`` that behaves the same on 3.10-3.14 and fails honestly.

    Each test gets a new loop (``loop_factory``, default: the platform's
    loop), current from ``setUp`` to the last cleanup and not afterwards.
    At the end of a test (after ``asyncTearDown`` and the cleanups) the test
    fails if it left a task or a timer pending, if an exception reached the
    loop's exception handler, if a coroutine was never awaited or if another
    thread called into the loop without ``call_soon_threadsafe``. A
    real-time ``timeout`` stops a hung test with a report of every task.

    Class options (each but ``loop_factory`` and ``loop_scope`` can be
    overridden for one test with `configure`):
        loop_factory: A class or a function returning a new loop.
        loop_scope: ``"test"``: a new loop for each test (the default);
            ``"class"``: one loop for every test of the class, with
            ``asyncSetUpClass``/``asyncTearDownClass`` run on it (see the
            README, "Sharing a loop across a class").
        timeout: Real seconds a test may run (``None``: no limit). 60.
        debug: asyncio's debug mode (costs ~10x per loop iteration; the
            checks below keep most of what it finds). False.
        check_tasks, check_exceptions, check_coroutines, check_timers: The
            hygiene checks (tasks and timers left pending, exceptions that
            reached the loop's handler or were never retrieved, coroutines
            never awaited), all True.
        check_threads: Report ``call_soon``/``call_later``/``call_at``
            called from a thread other than the loop's (use
            ``call_soon_threadsafe``). True.
        slow_callback_duration: Real seconds a callback may block the loop
            before it is reported (``None``: not checked). 0.1.
        slow_callback_fails: Report slow callbacks as a failure instead of a
            `SlowCallbackWarning`. False.

    Example:
        >>> class TestClient(AsyncTestCase):
        ...     async def asyncSetUp(self):
        ...         self.client = await self.enterAsyncContext(Client())
        ...     async def test_get(self):
        ...         self.assertEqual(await self.client.get("k"), "v")
    """

    loop_factory: ClassVar[Any] = None
    loop_scope: ClassVar[str] = "test"
    timeout: ClassVar[float | None] = 60.0
    check_tasks: ClassVar[bool] = True
    check_exceptions: ClassVar[bool] = True
    check_coroutines: ClassVar[bool] = True
    check_timers: ClassVar[bool] = True
    check_threads: ClassVar[bool] = True
    slow_callback_duration: ClassVar[float | None] = 0.1
    slow_callback_fails: ClassVar[bool] = False
    # `debug = True` in a class body sets this (see __init_subclass__): the
    # name `debug` itself stays TestCase.debug(), the method.
    _asynctestkit_debug: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        value = cls.__dict__.get("debug")
        if isinstance(value, bool):
            cls._asynctestkit_debug = value
            delattr(cls, "debug")

    def __init__(self, methodName: str = "runTest") -> None:
        super().__init__(methodName)
        self._asynctestkit_loop: asyncio.AbstractEventLoop | None = None
        self._asynctestkit_context = contextvars.copy_context()
        self._asynctestkit_owned: list[asyncio.Task[Any]] = []
        self._asynctestkit_stack: contextlib.ExitStack | None = None
        self._asynctestkit_timed_out = False
        method = getattr(self, methodName, None)
        self._asynctestkit_options: dict[str, Any] = getattr(method, "_asynctestkit_options", {})

    # -- options -----------------------------------------------------------

    def _asynctestkit_option(self, name: str) -> Any:
        options = self._asynctestkit_options
        if name in options:
            return options[name]
        if name == "debug":
            return self._asynctestkit_debug
        return getattr(self, name)

    # -- the loop for one test ---------------------------------------------

    def _asynctestkit_make_loop(self) -> asyncio.AbstractEventLoop:
        # A plain function as a class attribute would be bound as a method;
        # look it up raw, so a class, a function and a staticmethod all work.
        factory = inspect.getattr_static(self, "loop_factory", None)
        if isinstance(factory, (staticmethod, classmethod)):
            factory = factory.__get__(None, type(self))
        return default_loop_factory() if factory is None else _checked_loop(factory)

    def _asynctestkit_acquire_loop(self) -> tuple[asyncio.AbstractEventLoop, bool]:
        """Return the loop for this test and whether the test owns (and closes) it."""
        if self.loop_scope == "class":
            return _classloop.lend_loop(self), False
        return self._asynctestkit_make_loop(), True

    @classmethod
    def _asynctestkit_make_class_loop(cls) -> asyncio.AbstractEventLoop:
        """Make the loop a whole class shares (``loop_scope = "class"``)."""
        factory = inspect.getattr_static(cls, "loop_factory", None)
        if isinstance(factory, (staticmethod, classmethod)):
            factory = factory.__get__(None, cls)
        return default_loop_factory() if factory is None else _checked_loop(factory)

    # -- class scope (loop_scope = "class"; see _classloop) ------------------

    @classmethod
    def setUpClass(cls) -> None:
        """Set up the class; with ``loop_scope = "class"``, start its loop and run asyncSetUpClass.

        If you override it, call ``super().setUpClass()`` first.
        """
        super().setUpClass()
        _classloop.set_up_class(cls)

    @classmethod
    def tearDownClass(cls) -> None:
        """Run asyncTearDownClass on the class's loop (class cleanups close the loop)."""
        _classloop.tear_down_class(cls)
        super().tearDownClass()

    @classmethod
    async def asyncSetUpClass(cls) -> None:
        """Set up what the tests of the class share, on the class's loop (``loop_scope = "class"``)."""

    @classmethod
    async def asyncTearDownClass(cls) -> None:
        """Tear down what asyncSetUpClass made, on the class's loop."""

    @classmethod
    def addAsyncClassCleanup(cls, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Add a class cleanup that may return an awaitable, awaited on the class's loop."""
        _classloop.add_async_class_cleanup(cls, func, *args, **kwargs)

    @classmethod
    async def enterAsyncClassContext(cls, cm: AbstractAsyncContextManager[T]) -> T:
        """Enter an async context manager for the class; exit it as a class cleanup."""
        result: T = await _classloop.enter_async_class_context(cls, cm)
        return result

    def _asynctestkit_start(self) -> None:
        option = self._asynctestkit_option
        stack = contextlib.ExitStack()
        self._asynctestkit_stack = stack
        try:
            loop, owned = self._asynctestkit_acquire_loop()
            if owned:
                stack.callback(loop.close)
            self._asynctestkit_owns_loop = owned
            loop.set_debug(bool(option("debug")))
            # Whatever loop was current before the test is current again after.
            stack.callback(set_current_loop, current_loop())
            set_current_loop(loop)
            self._asynctestkit_loop = loop
            self._asynctestkit_context = self._asynctestkit_initial_context()
            self._asynctestkit_owned = []
            self._asynctestkit_timed_out = False
            self._asynctestkit_setup_time(stack)
            hygiene = Hygiene(
                loop,
                slow_threshold=option("slow_callback_duration"),
                coroutines=option("check_coroutines"),
                threads=option("check_threads"),
                baseline=not owned,
            )
            stack.callback(hygiene.uninstall)
            hygiene.install()
            self._asynctestkit_hygiene = hygiene
            watchdog = Watchdog(loop)
            stack.callback(watchdog.disarm)
            watchdog.arm(option("timeout"))
            self._asynctestkit_watchdog = watchdog
        except BaseException:
            self._asynctestkit_stack = None
            self._asynctestkit_loop = None
            stack.close()
            raise

    def _asynctestkit_initial_context(self) -> contextvars.Context:
        """The context the test's first step runs in."""
        if self.loop_scope == "class":
            return _classloop.initial_context(self)
        return contextvars.copy_context()

    def _asynctestkit_setup_time(self, stack: contextlib.ExitStack) -> None:
        """Hook for ClockedTestCase: patch time for the whole test."""

    def _asynctestkit_finish(self) -> None:
        stack = self._asynctestkit_stack
        loop = self._asynctestkit_loop
        if stack is None or loop is None:
            return
        self._asynctestkit_stack = None
        watchdog = self._asynctestkit_watchdog
        try:
            if watchdog.seconds is not None:
                watchdog.arm(_GRACE)
            watchdog.interrupting = True
            self._asynctestkit_hygiene.lap()
            with contextlib.suppress(WatchdogTimeout):
                if self._asynctestkit_owns_loop:
                    _shut_down(loop)
                else:
                    _cancel(loop, self._asynctestkit_hygiene.new_tasks())
        finally:
            watchdog.interrupting = False
            self._asynctestkit_loop = None
            stack.close()

    def run(self, result: unittest.result.TestResult | None = None) -> unittest.result.TestResult | None:
        # The loop is made in _callSetUp, inside unittest's error handling: a
        # bad loop_factory is this test's error, and a skipped test costs no loop.
        try:
            return unittest.TestCase.run(self, result)
        finally:
            self._asynctestkit_finish()

    def debug(self) -> None:
        """Run the test without a result, raising its first error (as TestCase.debug)."""
        try:
            unittest.TestCase.debug(self)
        finally:
            self._asynctestkit_finish()

    # -- running the steps -------------------------------------------------

    def _callSetUp(self) -> None:
        self._asynctestkit_start()
        # Registered first, so it runs last: after asyncTearDown and cleanups.
        self.addCleanup(self._asynctestkit_verdict)
        self._asynctestkit_call(self.setUp, sync=True)
        if getattr(self.asyncSetUp, "__func__", None) is not _NOOP_ASYNC_SET_UP:
            self._asynctestkit_call(self.asyncSetUp)

    def _callTestMethod(self, method: Callable[[], Any]) -> None:
        if self._asynctestkit_call(method) is not None and PY311:
            # What TestCase and IsolatedAsyncioTestCase do on 3.11+.
            warnings.warn(
                f"It is deprecated to return a value that is not None from a test case ({method})",
                DeprecationWarning, stacklevel=4,
            )

    def _callTearDown(self) -> None:
        if getattr(self.asyncTearDown, "__func__", None) is not _NOOP_ASYNC_TEAR_DOWN:
            self._asynctestkit_call(self.asyncTearDown)
        self._asynctestkit_call(self.tearDown, sync=True)

    def _callCleanup(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        # Dispatch on the result, not on inspect.iscoroutinefunction(): 3.11+
        # drop callables that merely return awaitables (gh-101486) and choke on
        # autospecced sync methods that claim to be coroutine functions (gh-85794).
        self._asynctestkit_call(function, *args, **kwargs)

    def _asynctestkit_call(
        self, func: Callable[..., Any], /, *args: Any, sync: bool = False, **kwargs: Any
    ) -> Any:
        watchdog = self._asynctestkit_watchdog
        if watchdog.expired:
            # It went off between two steps, or (timer thread) without
            # interrupting anything: this step is where the test fails.
            self._asynctestkit_expire()
        watchdog.interrupting = True
        try:
            result = self._asynctestkit_context.run(func, *args, **kwargs)
            if not sync and inspect.isawaitable(result):
                result = self._asynctestkit_await(result, getattr(func, "__name__", "step"))
            return result
        except WatchdogTimeout:
            self._asynctestkit_expire()
        finally:
            watchdog.interrupting = False

    def _asynctestkit_expire(self) -> NoReturn:
        """Fail the current step with the watchdog's report; give the steps left a grace."""
        watchdog = self._asynctestkit_watchdog
        watchdog.expired = False
        watchdog.arm(_GRACE)
        self._asynctestkit_timed_out = True
        raise self.failureException(watchdog.report) from None

    def _asynctestkit_await(self, awaitable: Awaitable[T], name: str = "step") -> T:
        loop = self._asynctestkit_loop
        assert loop is not None, "the test's loop is not running"
        coro = self._asynctestkit_step(awaitable)
        step_name = f"{self.id()}: {name}"
        factory = self._asynctestkit_hygiene.task_factory
        if factory is not None and loop.get_task_factory() is factory:
            # Our own steps need no creation site, nor a look at the verdict:
            # skip the factory's frame walk and record.
            task = self._asynctestkit_context.run(asyncio.Task, coro, loop=loop, name=step_name)
            task._asynctestkit_site = ()  # type: ignore[attr-defined]  # reports show no site
        else:
            task = self._asynctestkit_context.run(loop.create_task, coro, name=step_name)
        watchdog = self._asynctestkit_watchdog
        watchdog.step = task
        try:
            result = loop.run_until_complete(task)
        except asyncio.CancelledError:
            if watchdog.expired:  # the watchdog's timer thread cancelled the step
                raise WatchdogTimeout(watchdog.report) from None
            raise
        finally:
            watchdog.step = None
            if not task.done():
                # The loop stopped under the step (a deadlock, the watchdog,
                # Ctrl-C): cancel it and let it unwind before going on.
                task.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(task)
            if not task.cancelled():
                task.exception()  # seen (raised here, like Ctrl-C): not "never retrieved"
        if isinstance(result, _Raised):
            raise result.exc
        return result

    async def _asynctestkit_step(self, awaitable: Awaitable[T]) -> T | _Raised:
        try:
            return await awaitable
        except Exception as exc:
            # Handed back, not raised: run_until_complete() would re-raise it
            # through asyncio's frames, which would then clutter the failure.
            return _Raised(exc)
        finally:
            # The context this step ends with is the test's context from now on.
            self._asynctestkit_context = contextvars.copy_context()

    def _asynctestkit_verdict(self) -> Coroutine[Any, Any, None] | None:
        """The hygiene checks: fail the test if it left a mess (the last cleanup).

        Awaits only when there are leaked tasks to cancel: a clean test pays
        for no extra task and no extra loop run.
        """
        hygiene = self._asynctestkit_hygiene
        option = self._asynctestkit_option
        hygiene.unretrieved()
        leaked = hygiene.leaked_tasks(self._asynctestkit_owned)
        timers = hygiene.pending_timers()
        # After a timeout the watchdog's report already shows every task.
        timed_out = self._asynctestkit_timed_out
        # The report is written before the cancelling, which changes what it shows.
        sections = hygiene.findings(
            leaked=leaked,
            timers=timers,
            check_tasks=option("check_tasks") and not timed_out,
            check_timers=option("check_timers") and not timed_out,
            check_exceptions=option("check_exceptions"),
            check_coroutines=option("check_coroutines"),
            check_threads=option("check_threads"),
        )
        for timer in timers:
            timer.cancel()
        slow = hygiene.slow_report()
        if slow:
            if option("slow_callback_fails"):
                sections.append(slow)
            else:
                warnings.warn(slow, SlowCallbackWarning, stacklevel=1)
        if leaked:
            return self._asynctestkit_reap_leaked(leaked, sections)
        if sections:
            raise self.failureException(format_problems(sections))
        return None

    async def _asynctestkit_reap_leaked(self, leaked: list[asyncio.Task[Any]], sections: list[str]) -> None:
        for task in leaked:
            task.cancel()
        await asyncio.wait(leaked)
        if sections:
            raise self.failureException(format_problems(sections))

    # -- helpers -----------------------------------------------------------

    def create_task(
        self, coro: Coroutine[Any, Any, T], *, name: str | None = None
    ) -> asyncio.Task[T]:
        """Start a task the test owns: cancelled and awaited when the test ends.

        If the task raised and nobody retrieved its exception, the test fails
        with that exception and its traceback. Call it from the test or from
        asyncSetUp (the loop must be running). Owned tasks are not reported as
        leaks.

        Returns:
            The task.

        Example:
            >>> worker = self.create_task(queue_worker(q), name="worker")
        """
        loop = asyncio.get_running_loop()
        task = loop.create_task(coro, name=name)
        self._asynctestkit_owned.append(task)
        self.addAsyncCleanup(self._asynctestkit_reap, task)
        return task

    async def _asynctestkit_reap(self, task: asyncio.Task[Any]) -> None:
        unretrieved = task.done() and getattr(task, "_log_traceback", False)
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
            unretrieved = True
        if unretrieved and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    async def run_until_idle(self) -> None:
        """Run the loop until no task or callback is ready, without moving time.

        Example:
            >>> bus.publish("event")
            >>> await self.run_until_idle()
            >>> handler.assert_called_once()
        """
        loop: Any = asyncio.get_running_loop()
        clock = getattr(loop, "clock", None)
        if isinstance(clock, VirtualClock):
            await clock.settle()
            return
        # BaseEventLoop's _ready deque and _scheduled heap (3.10-3.14): idle
        # when no callback is ready and no timer is due.
        for _ in range(_IDLE_ROUNDS):
            await asyncio.sleep(0)
            scheduled = loop._scheduled
            if not loop._ready and not (scheduled and scheduled[0].when() <= loop.time()):
                return
        raise RuntimeError(
            "run_until_idle(): the loop never became idle: some task or callback "
            f"reschedules itself forever ({_IDLE_ROUNDS} rounds)"
        )

    def enterContext(self, cm: AbstractContextManager[T]) -> T:
        """Enter a context manager; exit it as a cleanup (as 3.11+'s, on 3.10 too)."""
        cls = type(cm)
        try:
            enter, exit_ = cls.__enter__, cls.__exit__
        except AttributeError:
            raise TypeError(
                f"'{cls.__module__}.{cls.__qualname__}' object does not support the "
                "context manager protocol"
            ) from None
        result = enter(cm)
        self.addCleanup(exit_, cm, None, None, None)
        return result

    async def enterAsyncContext(self, cm: AbstractAsyncContextManager[T]) -> T:
        """Enter an async context manager; exit it as a cleanup (3.10 too)."""
        cls = type(cm)
        try:
            enter, exit_ = cls.__aenter__, cls.__aexit__
        except AttributeError:
            raise TypeError(
                f"'{cls.__module__}.{cls.__qualname__}' object does not support the "
                "asynchronous context manager protocol"
            ) from None
        result = await enter(cm)
        self.addAsyncCleanup(exit_, cm, None, None, None)
        return result


class ClockedTestCase(AsyncTestCase):
    """An `AsyncTestCase` on a virtual clock, ``self.clock``, for the whole test.

    Sleeps, timeouts and ``call_later`` take no real time: when every task
    waits, the clock jumps to the next timer (``autojump``), never past work
    in flight in a thread or subprocess. ``time.monotonic()`` and
    ``time.perf_counter()`` read the same clock on the loop's thread.

    Attributes:
        clock: The test's `VirtualClock` (with ``loop_scope = "class"``,
            the class's, shared by its tests).
        clock_started_at: ``clock.now`` when the test started.
        clock_elapsed: Virtual seconds the test has used so far.

    Class options (each can be overridden for one test with `configure`):
        autojump: Start in autojump mode (True) or manual mode.
        clock_start: Virtual time at the start of each test (with
            ``loop_scope = "class"``: of the class's clock, once; not
            per test). 0.0.
        clock_budget: Virtual seconds autojump may use in one test before the
            test fails with `LivelockError` (``None``: no limit). 30 days.
        time_targets: Modules whose ``from time import monotonic`` aliases
            are rebound too (see `patch_time`). ().
        time_wall: Also move ``time.time()`` (and datetime in targets). False.

    Example:
        >>> class TestRetry(ClockedTestCase):
        ...     async def test_backoff(self):
        ...         await fetch_with_retries()          # sleeps 1 + 2 + 4 s
        ...         self.assertEqual(self.clock.now, 7)  # in no real time
    """

    autojump: ClassVar[bool] = True
    clock_start: ClassVar[float] = 0.0
    clock_budget: ClassVar[float | None] = 30 * 86400.0
    time_targets: ClassVar[tuple[Any, ...]] = ()
    time_wall: ClassVar[Any] = False
    clock: VirtualClock
    clock_started_at: float
    # The clock of the loop a class shares (loop_scope = "class").
    _asynctestkit_class_clock: ClassVar[VirtualClock]

    @property
    def clock_elapsed(self) -> float:
        """The virtual seconds this test has used so far: ``clock.now - clock_started_at``.

        With ``loop_scope = "class"`` the clock goes on from test to test;
        this counts from the start of this test.

        Example:
            >>> await asyncio.sleep(90)
            >>> self.assertEqual(self.clock_elapsed, 90)
        """
        return self.clock.now - self.clock_started_at

    def _asynctestkit_make_loop(self) -> asyncio.AbstractEventLoop:
        _refuse_loop_factory(type(self))
        option = self._asynctestkit_option
        self.clock = VirtualClock(
            autojump=option("autojump"), start=option("clock_start"), budget=option("clock_budget")
        )
        self.clock_started_at = self.clock.now
        return virtual_event_loop(self.clock)

    @classmethod
    def _asynctestkit_make_class_loop(cls) -> asyncio.AbstractEventLoop:
        _refuse_loop_factory(cls)
        clock = VirtualClock(autojump=cls.autojump, start=cls.clock_start, budget=cls.clock_budget)
        cls._asynctestkit_class_clock = clock
        return virtual_event_loop(clock)

    def _asynctestkit_setup_time(self, stack: contextlib.ExitStack) -> None:
        option = self._asynctestkit_option
        stack.enter_context(
            patch_time(self.clock, targets=option("time_targets"), wall=option("time_wall"))
        )


@final
class _Raised:
    """What a step raised, handed back to `_asynctestkit_await` to raise."""

    __slots__ = ("exc",)

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


def _refuse_loop_factory(cls: type[ClockedTestCase]) -> None:
    """Raise TypeError if a ClockedTestCase class sets loop_factory, which it cannot honour."""
    if inspect.getattr_static(cls, "loop_factory", None) is not None:
        raise TypeError(
            f"{cls.__name__} sets loop_factory, but ClockedTestCase makes its own "
            "virtual loop; use AsyncTestCase with loop_factory=virtual_event_loop, or "
            "set the clock options (autojump, clock_start, clock_budget)"
        )


def _checked_loop(factory: Any) -> asyncio.AbstractEventLoop:
    if not callable(factory):
        raise TypeError(f"loop_factory must be a class or a function; got {factory!r}")
    loop = factory()
    if not isinstance(loop, asyncio.AbstractEventLoop):
        raise TypeError(f"loop_factory must return a new event loop; {factory!r} returned {loop!r}")
    return loop


def _cancel(loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and run the loop until they have finished."""
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks))


def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left, close async generators and the default executor."""
    _cancel(loop, [t for t in asyncio.all_tasks(loop) if not t.done()])
    # Each run of the loop costs a task and an iteration; most tests need neither.
    if has_async_generators(loop):
        loop.run_until_complete(loop.shutdown_asyncgens())
    if has_default_executor(loop):
        loop.run_until_complete(loop.shutdown_default_executor())


_NOOP_ASYNC_SET_UP = unittest.IsolatedAsyncioTestCase.asyncSetUp
_NOOP_ASYNC_TEAR_DOWN = unittest.IsolatedAsyncioTestCase.asyncTearDown
