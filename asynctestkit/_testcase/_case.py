"""AsyncTestCase and ClockedTestCase: the public test case classes, their options and helpers.

Both run every step of a test on the test's own loop (or, with
``loop_scope = "class"``, the class's; see ``_classloop.py``), through the
engine in ``_lifecycle.py``. This module says where the loop comes from,
which options there are, and what the helpers a test calls do.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import unittest
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .._compat import default_loop_factory
from .._faketime._timepatch import patch_time
from .._mock._patching import PatchingMixin
from .._virtual._clock import VirtualClock
from .._virtual._loop import virtual_event_loop
from . import _classloop, _explore, _hypothesis, _options
from ._asserts import AssertionsMixin
from ._lifecycle import TestLifecycle, cancel_and_wait, context_methods

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from contextlib import AbstractAsyncContextManager, AbstractContextManager

__unittest = True  # keep these frames out of failure tracebacks
__tracebackhide__ = True  # and out of pytest's (STYLE.md 14)

__all__ = ("AsyncTestCase", "ClockedTestCase", "configure")

T = TypeVar("T")
F = TypeVar("F", bound="Callable[..., Any]")

# Loop iterations run_until_idle() waits for the loop to become idle.
_IDLE_ROUNDS = 100_000


def configure(**options: Any) -> Callable[[F], F]:
    """Override class options for one test method.

    Any option an `AsyncTestCase` or `ClockedTestCase` reads from a class
    attribute, but ``loop_factory`` and ``loop_scope`` (which the tests of a
    class share), can be set here for a single test: ``timeout``, ``debug``,
    ``check_tasks``, ``check_exceptions``, ``check_coroutines``,
    ``check_timers``, ``check_threads``, ``slow_callback_duration``, ``slow_callback_fails``,
    ``autojump``, ``clock_start``, ``clock_budget``, ``busy_poll_limit``, ``time_targets``,
    ``time_wall``, ``schedule_seed``, ``explore``, ``schedule_jitter``,
    ``schedule_eager`` (the table of options is in ``_options.py``).

    Raises:
        TypeError: an option name is unknown (the message suggests close
            names) or class-wide, or a value has the wrong type.
        ValueError: a value is out of range (``timeout=-1``).

    Example:
        >>> class T(AsyncTestCase):
        ...     @configure(timeout=120, check_timers=False)
        ...     async def test_slow_upload(self): ...
    """
    _options.check_configure(options)

    def decorate(func: F) -> F:
        merged = dict(getattr(func, "_asynctestkit_options", {}))
        merged.update(options)
        func._asynctestkit_options = merged  # type: ignore[attr-defined]
        return func

    return decorate


class AsyncTestCase(PatchingMixin, AssertionsMixin, TestLifecycle):
    """An ``IsolatedAsyncioTestCase`` that behaves the same on 3.10-3.15 and fails honestly.

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

    # The options: defaults and checks are in _options.OPTIONS (set on the
    # class below, checked for each subclass by __init_subclass__).
    # Typed as IsolatedAsyncioTestCase declares it on 3.13+ (typeshed), so a
    # user's `loop_factory = asyncio.SelectorEventLoop` type-checks there too.
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None
    loop_scope: ClassVar[str]
    timeout: ClassVar[float | None]
    check_tasks: ClassVar[bool]
    check_exceptions: ClassVar[bool]
    check_coroutines: ClassVar[bool]
    check_timers: ClassVar[bool]
    check_threads: ClassVar[bool]
    slow_callback_duration: ClassVar[float | None]
    slow_callback_fails: ClassVar[bool]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _options.check_class(cls)

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

    def _asynctestkit_initial_context(self) -> contextvars.Context:
        """The context the test's first step runs in."""
        if self.loop_scope == "class":
            return _classloop.initial_context(self)
        return contextvars.copy_context()

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
    def doClassCleanups(cls) -> None:
        """Run the class cleanups (as TestCase); a Ctrl-C closes the class's loop on its way out."""
        try:
            super().doClassCleanups()
        except KeyboardInterrupt:
            _classloop.abort(cls)
            raise

    def _asynctestkit_interrupted(self) -> None:
        # A Ctrl-C that stops the run skips the class cleanups: close the class's loop.
        _classloop.abort(type(self))

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

    # -- helpers -----------------------------------------------------------

    def execute_example(self, f: Callable[[], Any]) -> Any:
        """Run one Hypothesis example (Hypothesis's hook): an async test's on the test's loop.

        With ``@given`` on an ``async def`` test method, each example runs to
        the end on the test's loop and gets its own hygiene verdict: a task,
        a timer or a coroutine it leaves fails that example, and Hypothesis
        shrinks it. On a ClockedTestCase each example starts at the same
        virtual time. Hypothesis calls this; you do not.
        """
        return _hypothesis.execute_example(self, f)

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
            await cancel_and_wait([task])
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
        enter, exit_ = context_methods(cm, asynchronous=False)
        result: T = enter(cm)
        self.addCleanup(exit_, cm, None, None, None)
        return result

    async def enterAsyncContext(self, cm: AbstractAsyncContextManager[T]) -> T:
        """Enter an async context manager; exit it as a cleanup (3.10 too)."""
        enter, exit_ = context_methods(cm, asynchronous=True)
        result: T = await enter(cm)
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
            test fails with `LivelockError` (``None``: no limit). One day
            (86,400 s): an endless ``while True: await asyncio.sleep(1)``
            fails in about a second of real time. Raise it for longer
            simulations.
        busy_poll_limit: Loop iterations of pure busy polling (tasks that
            only ``await asyncio.sleep(0)``) after which the loop counts as
            idle and autojump moves time (``None``: never). 1000. See
            `VirtualClock`.
        time_targets: Modules whose ``from time import monotonic`` aliases
            are rebound too (see `patch_time`). ().
        time_wall: Also move ``time.time()`` (and datetime in targets). False.
        schedule_seed: Run the test on a loop seeded with this int, which
            orders what asyncio leaves open (see `virtual_event_loop`);
            ``None``: the default order. None.
        explore: Run the test under this many seeds (1 to N), stopping at
            the first that fails, then under the default order; a failure
            names its seed and the line that replays it. 0.
        schedule_jitter: Under a seed, how late the loop may wake for a
            timer, as a fraction of the time it slept (``0``: never late;
            for tests that assert exact timestamps). 0.01.
        schedule_eager: Under a seed, on 3.12+, start each task eagerly or
            lazily as the seed says. False.

    The environment overrides the schedule options with no code change:
    ``ASYNCTESTKIT_SEED=N`` runs every clocked test under seed N,
    ``ASYNCTESTKIT_EXPLORE=K`` explores K seeds per test, and
    ``ASYNCTESTKIT_CHECK_DETERMINISM=1`` runs each twice and fails a test
    whose two runs differ (see the README, "Exploring schedules").

    Example:
        >>> class TestRetry(ClockedTestCase):
        ...     async def test_backoff(self):
        ...         await fetch_with_retries()          # sleeps 1 + 2 + 4 s
        ...         self.assertEqual(self.clock.now, 7)  # in no real time
    """

    # Defaults and checks: _options.OPTIONS.
    autojump: ClassVar[bool]
    clock_start: ClassVar[float]
    clock_budget: ClassVar[float | None]
    busy_poll_limit: ClassVar[int | None]
    time_targets: ClassVar[tuple[Any, ...]]
    time_wall: ClassVar[Any]
    schedule_seed: ClassVar[int | None]
    explore: ClassVar[int]
    schedule_jitter: ClassVar[float]
    schedule_eager: ClassVar[bool]
    clock: VirtualClock
    # (seed, trace) of this run's loop, set by _explore.run_test.
    _asynctestkit_schedule: tuple[int | None, Any] | None = None
    clock_started_at: float
    # clock.now_ns when the test started: clock_elapsed subtracts integers.
    _asynctestkit_started_ns: int
    # The clock of the loop a class shares (loop_scope = "class").
    _asynctestkit_class_clock: ClassVar[VirtualClock]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _refuse_loop_factory(cls)

    @property
    def clock_elapsed(self) -> float:
        """The virtual seconds this test has used so far, exactly.

        Computed from the clock's integer nanoseconds, so a test that started
        at 100 s and slept 3.1 s reads ``3.1``, where ``clock.now -
        clock_started_at`` would give ``3.0999999999999943``. With
        ``loop_scope = "class"`` the clock goes on from test to test; this
        counts from the start of this test.

        Example:
            >>> await asyncio.sleep(3.1)
            >>> self.assertEqual(self.clock_elapsed, 3.1)
        """
        return (self.clock.now_ns - self._asynctestkit_started_ns) / 1e9

    def _asynctestkit_make_loop(self) -> asyncio.AbstractEventLoop:
        _refuse_loop_factory(type(self))
        option = self._asynctestkit_option
        self.clock = _make_clock(option)
        self.clock_started_at = self.clock.now
        self._asynctestkit_started_ns = self.clock.now_ns
        schedule = self._asynctestkit_schedule
        seed, trace = (_explore.single_seed(option), None) if schedule is None else schedule
        if seed is None and trace is None:
            return virtual_event_loop(self.clock)
        return _explore.seeded_loop(self.clock, seed, option, trace)

    @classmethod
    def _asynctestkit_make_class_loop(cls) -> asyncio.AbstractEventLoop:
        _refuse_loop_factory(cls)
        clock = _make_clock(lambda name: getattr(cls, name))
        cls._asynctestkit_class_clock = clock
        seed = _explore.class_seed(cls)
        if seed is None:
            return virtual_event_loop(clock)
        return _explore.seeded_loop(clock, seed, functools.partial(getattr, cls), None)

    def run(self, result: unittest.TestResult | None = None) -> unittest.TestResult | None:
        """Run the test once, or under the seeds its options and the environment ask for."""
        return _explore.run_test(self, result, super().run)  # type: ignore[no-any-return]

    def _asynctestkit_setup_time(self, stack: contextlib.ExitStack) -> None:
        option = self._asynctestkit_option
        stack.enter_context(
            patch_time(self.clock, targets=option("time_targets"), wall=option("time_wall"))
        )


def _make_clock(option: Callable[[str], Any]) -> VirtualClock:
    """Make a test's (or a class's) clock from the clock options (checked in _options)."""
    return VirtualClock(
        autojump=option("autojump"), start=option("clock_start"),
        budget=option("clock_budget"), busy_poll_limit=option("busy_poll_limit"),
    )


_options.install_defaults(AsyncTestCase, "AsyncTestCase")
_options.install_defaults(ClockedTestCase, "ClockedTestCase")


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

