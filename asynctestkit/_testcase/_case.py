"""AsyncTestCase and ClockedTestCase: the public test case classes, their options and helpers.

Both run every step of a test on the test's own loop (or, with
``loop_scope = "class"``, the class's; see ``_classloop.py``), through the
engine in ``_lifecycle.py``. This module says where the loop comes from,
which options there are, and what the helpers a test calls do.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import unittest
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .._compat import default_loop_factory
from .._faketime._timepatch import patch_time
from .._mock._patching import PatchingMixin
from .._net._network import VirtualNetwork
from .._virtual._clock import LivelockError, VirtualClock
from .._virtual._factory import virtual_event_loop
from . import _classloop, _explore, _hypothesis, _options
from ._asserts import AssertionsMixin
from ._lifecycle import TestLifecycle, cancel_and_wait, context_methods

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from contextlib import AbstractAsyncContextManager, AbstractContextManager

    from .._shield import Undo

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
    ``schedule_eager``, ``explore_jobs``, ``network`` (the table of options is in ``_options.py``).

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

    def decorate(target: F) -> F:
        if isinstance(target, type):
            return _configure_class(target, options)  # type: ignore[return-value]
        if isinstance(target, _Configured):  # stacked @configure: one wrapper, on the function
            target = target._asynctestkit_func  # type: ignore[assignment]
        merged = dict(getattr(target, "_asynctestkit_options", {}))
        merged.update(options)
        target._asynctestkit_options = merged  # type: ignore[attr-defined]
        # Checked when its class is made: an AsyncTestCase reads the options;
        # a plain TestCase would ignore them, so it refuses.
        return _Configured(target)  # type: ignore[return-value]

    return decorate


def _configure_class(cls: type, options: dict[str, Any]) -> type:
    """``@configure(...)`` on a class: set the options on it, checked as class attributes are."""
    if not issubclass(cls, AsyncTestCase):
        raise TypeError(
            f"@configure(...) on {cls.__qualname__}: only an AsyncTestCase or ClockedTestCase "
            f"reads these options, and {cls.__qualname__} is neither; derive it from one of them"
        )
    for name, value in options.items():
        setattr(cls, name, value)
    if cls._asynctestkit_refused is None:
        try:
            _options.check_class(cls)
        except (TypeError, ValueError) as exc:
            cls._asynctestkit_refused = exc
    return cls


class _Configured(functools.partial):  # type: ignore[type-arg]
    """A test method under ``@configure``, until its class is made (then the method itself again).

    Its ``__set_name__`` sees the class: an `AsyncTestCase` (or a mixin) gets
    the plain function back (it reads the options from it); another
    ``TestCase`` is refused, since it would run the test with the options
    silently ignored. Until then
    it stands for the function, for decorators stacked above it: a
    ``functools.partial`` with no arguments, which ``inspect.iscoroutinefunction``
    looks through (3.10-3.15), so ``mock.patch`` above it still sees an async test.
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        functools.update_wrapper(self, func)

    @property
    def _asynctestkit_func(self) -> Callable[..., Any]:
        return self.func

    def __getattr__(self, name: str) -> Any:
        return getattr(self.func, name)  # __code__, __defaults__, ...: the function's

    def __set_name__(self, owner: type, name: str) -> None:
        # A mixin (not a TestCase) keeps the options for the test cases it is mixed into.
        if issubclass(owner, unittest.TestCase) and not issubclass(owner, AsyncTestCase):
            raise TypeError(
                f"@configure(...) on {owner.__qualname__}.{name}: only an AsyncTestCase or "
                f"ClockedTestCase reads these options, and {owner.__qualname__} is neither (they would "
                "be ignored); derive the class from one of them"
            )
        setattr(owner, name, self._asynctestkit_func)

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        return self.func.__get__(obj, owner)


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
            guide, docs/testcases.md, "Sharing a loop across a class").
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

    # The error a class option was refused with when the class was made (each
    # test of the class raises it), or None.
    _asynctestkit_refused: ClassVar[Exception | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A refused option fails each test of this class with the message,
        # not the import of its module (which would take every class of the
        # module down with it: CPython's test_taskgroups sets loop_factory on
        # one class, which ClockedTestCase cannot honour).
        cls._asynctestkit_refused = None
        try:
            _options.check_class(cls)
        except (TypeError, ValueError) as exc:
            cls._asynctestkit_refused = exc

    def _callSetUp(self) -> None:
        _raise_refused(type(self))
        super()._callSetUp()

    if not TYPE_CHECKING:  # for type checkers, a misspelt attribute stays an error
        def __getattr__(self, name: str) -> Any:
            # Only for names normal lookup did not find: what asynctest's and our
            # own users reach for, with what to use instead.
            hint = _MISSING_HINTS.get(name)
            if hint is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            if name == "clock" and isinstance(self, ClockedTestCase):
                hint = (
                    "a test's clock is made with its loop, when the test starts: use self.clock in "
                    "setUp, asyncSetUp, the test and its cleanups, not before (in __init__ or "
                    "setUpClass; there, set the clock options instead: clock_start, autojump)"
                )
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}: {hint}")

    # -- the loop for one test ---------------------------------------------

    def _asynctestkit_make_loop(self) -> asyncio.AbstractEventLoop:
        # A plain function as a class attribute would be bound as a method;
        # look it up raw, so a class, a function and a staticmethod all work.
        if self.loop_factory is None:  # the default (the raw lookup below costs more)
            return default_loop_factory()
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
        if cls._asynctestkit_refused is None:  # else each test raises the refusal
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
        time_wall: Move ``time.time()`` (and datetime in targets) with the
            clock: True starts it at the real time, a timestamp or datetime
            at that time (``clock.set_wall()`` sets it later); False leaves
            the wall clock real. True.
        schedule_seed: Run the test on a loop seeded with this int, which
            orders what asyncio leaves open (see `virtual_event_loop`);
            ``None``: the default order. None.
        explore: Run the test under this many seeds (1 to N), stopping at
            the first that fails, then under the default order; a failure
            names its seed and the line that replays it. 0.
        schedule_jitter: Under half the seeds, how late each timer may
            fire, as a fraction of its own delay (``0``: never late; for
            tests that assert exact timestamps; ``ASYNCTESTKIT_JITTER=0``
            for a whole suite). 0.1.
        schedule_eager: Under a seed, on 3.12+, start the loop's tasks
            eagerly or lazily (one choice per seed). False.
        explore_jobs: Run an exploration's seeds in this many forked
            processes (``ASYNCTESTKIT_EXPLORE_JOBS``); the lowest failing
            seed is reported whatever the number. 1.
        network: ``"real"``: connections and servers use real sockets (the
            default). ``"virtual"``: every one the test's loop makes is in
            memory, on ``self.network``, a `VirtualNetwork` (docs/network.md).

    The environment overrides the schedule options with no code change:
    ``ASYNCTESTKIT_SEED=N`` runs every clocked test under seed N,
    ``ASYNCTESTKIT_EXPLORE=K`` explores K seeds per test, and
    ``ASYNCTESTKIT_CHECK_DETERMINISM=1`` runs each twice and fails a test
    whose two runs differ (see the guide, docs/exploring.md).

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
    explore_jobs: ClassVar[int]
    network: Any  # the option ("real", "virtual"); then the test's VirtualNetwork
    clock: VirtualClock
    # (seed, trace, choices) of this run's loop, set by _explore.run_test.
    _asynctestkit_schedule: tuple[int | None, Any, Any] | None = None
    clock_started_at: float
    # clock.now_ns when the test started: clock_elapsed subtracts integers.
    _asynctestkit_started_ns: int
    # The clock of the loop a class shares (loop_scope = "class").
    _asynctestkit_class_clock: ClassVar[VirtualClock]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls._asynctestkit_refused is None:
            try:
                _refuse_loop_factory(cls)
            except TypeError as exc:
                cls._asynctestkit_refused = exc

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
        seed, trace, choices = (_explore.single_seed(option), None, None) if schedule is None else schedule
        if seed is None and trace is None:
            loop = virtual_event_loop(self.clock)
        else:
            loop = _explore.seeded_loop(self.clock, seed, option, trace, choices)
        # self.network becomes the network: read the option from the method or the class.
        choice = self._asynctestkit_options.get("network", getattr(type(self), "network", "real"))
        if choice == "virtual":
            # The option's value on the class stays; the instance gets the network.
            self.network = network = VirtualNetwork()
            network.attach(loop)
        return loop

    def _asynctestkit_network_findings(self) -> list[str]:
        # What a virtual network was left with: servers and connections still
        # open fail the test, each named with the line that opened it.
        network = self.__dict__.get("network")
        if not isinstance(network, VirtualNetwork):
            return []
        leaks = network.leaks()
        return [leaks] if leaks else []

    @classmethod
    def _asynctestkit_make_class_loop(cls) -> asyncio.AbstractEventLoop:
        _refuse_loop_factory(cls)
        if getattr(cls, "network", "real") != "real":
            raise TypeError(
                f"{cls.__name__}: network = 'virtual' needs a loop per test; "
                "with loop_scope = 'class' use network = 'real'"
            )
        clock = _make_clock(lambda name: getattr(cls, name))
        cls._asynctestkit_class_clock = clock
        seed = _explore.class_seed(cls)
        if seed is None:
            return virtual_event_loop(clock)
        return _explore.seeded_loop(clock, seed, functools.partial(getattr, cls), None)

    def run(self, result: unittest.TestResult | None = None) -> unittest.TestResult | None:
        """Run the test once, or under the seeds its options and the environment ask for."""
        if type(self)._asynctestkit_refused is not None:
            return super().run(result)  # it errors with the refusal, once
        return _explore.run_test(self, result, super().run)  # type: ignore[no-any-return]

    def _asynctestkit_explain(self, exc: BaseException) -> None:
        # A test that waits for a wall-clock deadline with the wall clock left
        # real never reaches it: virtual time runs out (or nothing is left to
        # wait for). Say so where the loop gave up.
        if (
            isinstance(exc, LivelockError) and self._asynctestkit_option("time_wall") is False
            and exc.args and isinstance(exc.args[0], str) and _WALL_HINT not in exc.args[0]
        ):
            exc.args = (exc.args[0] + _WALL_HINT, *exc.args[1:])

    def _asynctestkit_setup_time(self, stack: Undo) -> None:
        option = self._asynctestkit_option
        stack.enter_context(
            patch_time(self.clock, targets=option("time_targets"), wall=option("time_wall"))
        )


_WALL_HINT = (
    "\nThe wall clock is real in this test (time_wall = False): code that waits until "
    "time.time() or datetime.now() passes a deadline never sees virtual time pass; set "
    "time_wall = True."
)


def _make_clock(option: Callable[[str], Any]) -> VirtualClock:
    """Make a test's (or a class's) clock from the clock options (checked in _options)."""
    return VirtualClock(
        autojump=option("autojump"), start=option("clock_start"),
        budget=option("clock_budget"), busy_poll_limit=option("busy_poll_limit"),
    )


_options.install_defaults(AsyncTestCase, "AsyncTestCase")
_options.install_defaults(ClockedTestCase, "ClockedTestCase")


# Attributes users of other toolkits (and of ClockedTestCase) reach for: what to use instead.
_MISSING_HINTS = {
    "clock": "only ClockedTestCase has a virtual clock; derive the class from ClockedTestCase",
    "loop": (
        "asynctestkit gives no self.loop (asynctest did): in async code use "
        "asyncio.get_running_loop(); to choose the loop class, set loop_factory"
    ),
    "advance": (
        "asynctest's ClockedTestCase.advance(t) is `await self.clock.advance(t)` here (ClockedTestCase); "
        "with autojump on (the default) a plain `await asyncio.sleep(t)` moves time too"
    ),
}


def _raise_refused(cls: type[AsyncTestCase]) -> None:
    """Raise (a new copy of) the error ``cls``'s options were refused with, if any."""
    refused = cls._asynctestkit_refused
    if refused is not None:
        raise type(refused)(*refused.args)


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

