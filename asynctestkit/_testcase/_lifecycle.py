"""Running one test: its loop, its steps and its verdict, on every Python version.

`TestLifecycle` is the engine under `AsyncTestCase`: it runs every step of a
test (setUp, asyncSetUp, the test, asyncTearDown, tearDown, cleanups) on the
test's own loop, in one shared ``contextvars`` context, the same way on every
Python version: rather than lean on ``IsolatedAsyncioTestCase``'s private
machinery (a queue-fed task on 3.10, an ``asyncio.Runner`` on 3.11+,
``loop_factory`` on 3.13+), it drives the loop itself. Each async step runs
as a task in a copy of the test's context, and the context it ends with
becomes the test's context for the next step. The last cleanup is the
verdict: the hygiene checks.

Where the loop comes from (a new one, or the class's) and what the options
mean is `AsyncTestCase`'s business (``_case.py``), through the hooks
declared at the top of the class.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import sys
import unittest
import warnings
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .._compat import (
    ACLOSE,
    PY311,
    PY314,
    has_async_generators,
    has_default_executor,
    idle_async_generators,
    make_current,
    queued_aclose,
)
from .._report import at_user_line, raise_failure
from .._shield import Undo, allowed_interrupts, deferred_interrupts
from .._verdict._hygiene import Hygiene, SlowCallbackWarning, format_problems
from .._verdict._onereport import one_report
from .._verdict._resources import Resources, format_resources, resource_kinds
from .._verdict._watchdog import Watchdog, WatchdogTimeout, bury, is_buried
from .._virtual._clock import DeadlockError
from ._step import LoopRun, run_step, start_step, step_context

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Iterable

__unittest = True  # keep these frames out of failure tracebacks
__tracebackhide__ = True  # and out of pytest's (STYLE.md 14)

__all__ = ("TestLifecycle", "cancel_and_wait", "context_methods", "run_loop_until_complete", "settle_step")

T = TypeVar("T")


class TestLifecycle(unittest.IsolatedAsyncioTestCase):
    """Run a test's steps on its own loop and end with the hygiene verdict.

    Not for direct use: `AsyncTestCase` supplies the loop
    (``_asynctestkit_acquire_loop``), the first step's context
    (``_asynctestkit_initial_context``) and the options.
    """

    if TYPE_CHECKING:
        # Supplied by AsyncTestCase.
        def _asynctestkit_acquire_loop(self) -> tuple[asyncio.AbstractEventLoop, bool]: ...
        def _asynctestkit_initial_context(self) -> contextvars.Context: ...

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
        self._asynctestkit_stack: Undo | None = None
        self._asynctestkit_timed_out = False
        # Set when debug() raised with cleanups left: the test's loop stays
        # open for doCleanups() (see debug()).
        self._asynctestkit_paused = False
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

    # -- one test ------------------------------------------------------------

    def _asynctestkit_start(self) -> None:
        option = self._asynctestkit_option
        stack = Undo()
        self._asynctestkit_stack = stack
        # Once the loop exists, a Ctrl-C waits until each change is recorded in `stack`.
        shield = deferred_interrupts()
        try:
            loop, owned = self._asynctestkit_acquire_loop()
            shield.__enter__()
            if owned:
                stack.callback(loop.close)
            self._asynctestkit_owns_loop = owned
            loop.set_debug(bool(option("debug")))
            # Whatever loop was current before the test is current again after
            # (and no event loop policy if there was none).
            stack.callback(make_current(loop))
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
                timers=option("check_timers"),
                baseline=not owned,
            )
            stack.callback(hygiene.uninstall)
            hygiene.install()
            self._asynctestkit_hygiene = hygiene
            resources = Resources(loop, resource_kinds(option("check_resources")), shared=not owned)
            stack.callback(resources.uninstall)
            resources.install()
            self._asynctestkit_resources = resources
            watchdog = Watchdog(loop)
            stack.callback(watchdog.disarm)
            watchdog.arm(option("timeout"))
            self._asynctestkit_watchdog = watchdog
        except BaseException:
            self._asynctestkit_stack = None
            self._asynctestkit_loop = None
            stack.close()
            raise
        finally:
            shield.__exit__(None, None, None)

    def _asynctestkit_setup_time(self, stack: Undo) -> None:
        """Hook for ClockedTestCase: patch time for the whole test."""

    def _asynctestkit_explain(self, exc: BaseException) -> None:
        """Hook for ClockedTestCase: add what may explain an error the loop raised."""

    def _asynctestkit_network_findings(self) -> list[str]:
        """Hook for ClockedTestCase: what a virtual network was left with (report sections)."""
        return []

    def _asynctestkit_finish(self) -> None:
        """End the test: cancel what is left, close the loop, put back every global. Idempotent."""
        self._asynctestkit_paused = False
        stack = self._asynctestkit_stack
        loop = self._asynctestkit_loop
        if stack is None or loop is None:
            return
        self._asynctestkit_stack = None
        watchdog = self._asynctestkit_watchdog
        try:
            watchdog.arm_rest()
            watchdog.interrupting = True
            self._asynctestkit_hygiene.lap()
            try:
                with allowed_interrupts():  # it runs what the test left
                    if self._asynctestkit_owns_loop:
                        _shut_down(loop)
                    else:
                        _cancel(loop, self._asynctestkit_hygiene.new_tasks())
            except (WatchdogTimeout, RuntimeError):
                # Stopped by the watchdog: what did not end is abandoned.
                if not watchdog.expired:
                    raise
            except KeyboardInterrupt:
                # Ctrl-C: the loop closes with what did not end, silently.
                made = [ref() for ref in self._asynctestkit_hygiene.created]
                for task in (*asyncio.all_tasks(loop), *filter(None, made)):
                    if not task.done():
                        task._log_destroy_pending = False  # type: ignore[attr-defined]
                    elif not task.cancelled():
                        task.exception()  # the interrupt itself, raised from here
                raise
        finally:
            watchdog.interrupting = False
            self._asynctestkit_loop = None
            stack.close()  # Ctrl-C held back, each undo finished (Undo.close)

    def run(self, result: unittest.result.TestResult | None = None) -> unittest.result.TestResult | None:
        # The loop is made in _callSetUp, inside unittest's error handling: a
        # bad loop_factory is this test's error, and a skipped test costs no loop.
        # A Ctrl-C waits while asynctestkit (or unittest) keeps its books, and
        # goes through while the test's own code runs (_asynctestkit_call).
        try:
            with deferred_interrupts():
                self._asynctestkit_finish()  # a test an earlier debug() left paused
                try:
                    # One report per test: the mess a failing test left joins its failure.
                    # TestCase.run called from here: the frames above _callTestMethod's
                    # deprecation warning stay those of IsolatedAsyncioTestCase.
                    with one_report(self, result) as shown:
                        unittest.TestCase.run(self, shown)  # type: ignore[arg-type]
                except KeyboardInterrupt:
                    # A Ctrl-C comes out as itself, whatever ending the test
                    # then runs into (a loop it left stopping, "Event loop
                    # stopped before Future completed"): the loop still closes.
                    with contextlib.suppress(Exception):
                        self._asynctestkit_finish()
                    raise
                except BaseException:
                    self._asynctestkit_finish()
                    raise
                self._asynctestkit_finish()
                return shown.result
        except KeyboardInterrupt:
            self._asynctestkit_interrupted()
            raise

    def _asynctestkit_interrupted(self) -> None:
        """Hook for AsyncTestCase: a Ctrl-C is stopping the whole run."""

    def debug(self) -> None:
        """Run the test without a result, raising its first error (as TestCase.debug).

        As with ``IsolatedAsyncioTestCase``: when it raises, the cleanups not
        run yet stay registered and the test's loop stays open (and current);
        ``doCleanups()`` then runs them on that loop and ends the test. The
        watchdog does not run in between.
        """
        self._asynctestkit_finish()  # a test an earlier debug() left paused
        try:
            unittest.TestCase.debug(self)
        except Exception:
            if getattr(self, "_cleanups", None) and self._asynctestkit_stack is not None:
                self._asynctestkit_paused = True
                self._asynctestkit_watchdog.disarm()
            else:
                self._asynctestkit_finish()
            raise
        except BaseException:  # Ctrl-C, SystemExit: put everything back
            self._asynctestkit_finish()
            raise
        self._asynctestkit_finish()

    def doCleanups(self) -> Any:  # TestCase's: True if every cleanup passed (typeshed: None)
        """Run the cleanups on the test's loop, then end the test (close its loop).

        ``TestCase.run`` calls it after tearDown: ending the test here, before
        unittest reads ``time.perf_counter()`` for ``--durations`` (3.12+),
        means a ClockedTestCase's time patch is gone by then and durations
        are real. After a ``debug()`` that raised, it resumes the test.
        """
        if self._asynctestkit_paused:
            self._asynctestkit_paused = False
            if self._asynctestkit_timed_out:
                self._asynctestkit_watchdog.arm_rest()
            else:
                self._asynctestkit_watchdog.arm(self._asynctestkit_option("timeout"))
        try:
            return super().doCleanups()
        finally:
            self._asynctestkit_finish()

    # CPython's own tests of IsolatedAsyncioTestCase end a debug() run with
    # these private methods (3.10: _tearDownAsyncioLoop; 3.11+:
    # _tearDownAsyncioRunner): both end the test here.
    def _tearDownAsyncioRunner(self) -> None:
        self._asynctestkit_finish()

    _tearDownAsyncioLoop = _tearDownAsyncioRunner

    def __del__(self) -> None:
        # A test left paused by debug() and never resumed: end it, as
        # IsolatedAsyncioTestCase.__del__ does, unless a loop runs here now.
        if getattr(self, "_asynctestkit_paused", False) and asyncio._get_running_loop() is None:
            self._asynctestkit_finish()

    # -- running the steps -------------------------------------------------

    def _callSetUp(self) -> None:
        self._asynctestkit_start()
        # Registered first, so it runs last: after asyncTearDown and cleanups.
        self.addCleanup(self._asynctestkit_verdict)
        # A step that does nothing costs nothing (TestCase's own setUp and tearDown).
        if getattr(self.setUp, "__func__", None) is not _NOOP_SET_UP:
            self._asynctestkit_call(self.setUp, sync=True)
        if getattr(self.asyncSetUp, "__func__", None) is not _NOOP_ASYNC_SET_UP:
            self._asynctestkit_call(self.asyncSetUp)

    def _callTestMethod(self, method: Callable[[], Any]) -> None:
        result = self._asynctestkit_call(method)
        if result is not None and PY311:
            # What TestCase and IsolatedAsyncioTestCase do on 3.11+; 3.14 added the type.
            returned = f" returned {type(result).__name__!r}" if PY314 else ""
            warnings.warn(
                f"It is deprecated to return a value that is not None from a test case ({method}{returned})",
                DeprecationWarning, stacklevel=self._asynctestkit_caller_level(),
            )

    def _asynctestkit_caller_level(self) -> int:
        """The stacklevel, from _callTestMethod, of whoever called this test's outermost run().

        IsolatedAsyncioTestCase names the caller of ``run()`` (its
        ``stacklevel=4``); ClockedTestCase's run (and its seeds) add frames in
        between, so count them (CPython's test_async_case checks the file).
        """
        # (Exploring seeds runs fresh copies of the test: the same class and method.)
        frame = sys._getframe(2)  # _callTestMethod's caller
        level = outermost = 2
        while frame is not None:
            if frame.f_code.co_name == "run" and _same_test(frame.f_locals.get("self"), self):
                outermost = level
            frame = frame.f_back  # type: ignore[assignment]
            level += 1
        return outermost + 1

    def _callTearDown(self) -> None:
        if getattr(self.asyncTearDown, "__func__", None) is not _NOOP_ASYNC_TEAR_DOWN:
            self._asynctestkit_call(self.asyncTearDown)
        if getattr(self.tearDown, "__func__", None) is not _NOOP_TEAR_DOWN:
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
            # It went off between two steps: this step is where the test fails.
            self._asynctestkit_expire()
        watchdog.interrupting = True
        result = None
        try:
            with allowed_interrupts():
                result = self._asynctestkit_context.run(func, *args, **kwargs)
            if not sync and inspect.isawaitable(result):
                result = self._asynctestkit_await(result, getattr(func, "__name__", "step"))
            return result
        except WatchdogTimeout:
            self._asynctestkit_expire()
            return None  # a step cut short after the timeout's report: one report only
        except KeyboardInterrupt:
            if inspect.iscoroutine(result) and inspect.getcoroutinestate(result) == inspect.CORO_CREATED:
                result.close()  # interrupted before it started: not "never awaited"
            raise
        finally:
            watchdog.interrupting = False

    def _asynctestkit_expire(self) -> None:
        """Fail the current step with the watchdog's report; the steps left share the grace.

        Only the first expiry fails the test: a step stopped later (a tearDown
        that hangs too) adds no second report.
        """
        watchdog = self._asynctestkit_watchdog
        watchdog.expired = False
        watchdog.arm_rest()
        if not self._asynctestkit_timed_out:
            self._asynctestkit_timed_out = True
            raise_failure(self.failureException, watchdog.report)

    def _asynctestkit_await(self, awaitable: Awaitable[T], name: str = "step") -> T:
        loop = self._asynctestkit_loop
        assert loop is not None, "the test's loop is not running"
        context = self._asynctestkit_context
        # The task's coroutine is the step's own, as under IsolatedAsyncioTestCase
        # (code walks current_task().get_coro()); our own steps need no creation
        # site, nor a look at the verdict: they skip the hygiene's task factory.
        factory = self._asynctestkit_hygiene.task_factory
        own = factory is not None and loop.get_task_factory() is factory
        task = start_step(loop, awaitable, context, f"{self.id()}: {name}", via_factory=not own)
        watchdog = self._asynctestkit_watchdog
        watchdog.step = task
        interrupted = True
        try:
            result: T = run_step(loop, task)
            interrupted = False
        except (asyncio.CancelledError, RuntimeError) as exc:
            if watchdog.expired:  # the watchdog cancelled the step, or stopped the loop
                raise WatchdogTimeout(watchdog.report) from None
            self._asynctestkit_explain(exc)
            if isinstance(exc, DeadlockError):
                # Raised by the loop's internals: shown at the user's line
                # the step waits at instead.
                raise at_user_line(exc, task) from None
            raise
        finally:
            self._asynctestkit_context = step_context(task, context)
            # The slow-callback timing lets go of the callback run last; one
            # that an interrupt (the watchdog, Ctrl-C) cut short is not timed,
            # as on the virtual loop.
            self._asynctestkit_hygiene.lap(interrupted=interrupted)
            settle_step(loop, task, watchdog)
            watchdog.step = None
        if watchdog.expired:  # it caught the cancellation and returned
            raise WatchdogTimeout(watchdog.report)
        return result

    def _asynctestkit_verdict(self) -> Coroutine[Any, Any, None] | None:
        """The hygiene checks: fail the test if it left a mess (the last cleanup).

        Awaits only when there is something to await: async generators to
        close, or leaked tasks to cancel. A clean test pays for no extra task
        and no extra loop run.
        """
        # `leaked` holds the leaked tasks before unretrieved() lets go of the
        # test's tasks: a pending task held only by a reference cycle would
        # otherwise be collected in between and reported "destroyed but pending".
        leaked = self._asynctestkit_hygiene.leaked_tasks(self._asynctestkit_owned)
        # A step the watchdog gave up on is never run again: reaping it as a
        # leak would cancel it, and resume it, in the cleanups.
        leaked = [t for t in leaked if not is_buried(t)]
        loop = self._asynctestkit_loop
        assert loop is not None, "the test's loop is not running"
        closing = [t for t in leaked if type(t.get_coro()) is ACLOSE]
        # On a loop a class shares, live generators may be the class's: they
        # are closed with the class's loop.
        owned = self._asynctestkit_owns_loop
        if closing or queued_aclose(loop) or (owned and idle_async_generators(loop)):
            leaked = [t for t in leaked if type(t.get_coro()) is not ACLOSE]
            return self._asynctestkit_close_generators_then_judge(loop, leaked, owned)
        return self._asynctestkit_judge(leaked)

    async def _asynctestkit_close_generators_then_judge(
        self, loop: asyncio.AbstractEventLoop, leaked: list[asyncio.Task[Any]], live: bool
    ) -> None:
        # What asyncio.Runner.close() does when IsolatedAsyncioTestCase's test
        # ends, before the verdict: the aclose() tasks the finalizer hook made
        # for generators dropped unfinished are not leaks, and an error in a
        # generator's finally is the test's.
        await close_async_generators(loop, live=live)
        judging = self._asynctestkit_judge([t for t in leaked if not t.done()])
        if judging is not None:
            await judging

    def _asynctestkit_judge(self, leaked: list[asyncio.Task[Any]]) -> Coroutine[Any, Any, None] | None:
        hygiene = self._asynctestkit_hygiene
        option = self._asynctestkit_option
        # First: closing what a virtual network was left with ends its timers.
        network = self._asynctestkit_network_findings()
        hygiene.unretrieved()
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
        ) + network
        left_open = self._asynctestkit_resources.findings(patient=not timed_out)
        reaping = None
        if left_open:
            sections.append(format_resources(left_open))
            reaping = self._asynctestkit_resources.close_left_open()
        for timer in timers:
            timer.cancel()
        # After a timeout the watchdog's report already shows what blocked.
        slow = None if timed_out else hygiene.slow_report()
        if slow:
            if option("slow_callback_fails"):
                sections.append(slow)
            else:
                warnings.warn(slow, SlowCallbackWarning, stacklevel=1)
        if leaked or reaping:
            return self._asynctestkit_reap_leaked(leaked, sections, reaping)
        if sections:
            raise_failure(self.failureException, format_problems(sections), mess=True)
        return None

    async def _asynctestkit_reap_leaked(
        self, leaked: list[asyncio.Task[Any]], sections: list[str], reaping: Awaitable[None] | None = None
    ) -> None:
        await cancel_and_wait(leaked)
        if reaping is not None:
            await reaping  # the processes left running, killed
        if sections:
            raise_failure(self.failureException, format_problems(sections), mess=True)


def _same_test(obj: object, test: unittest.TestCase) -> bool:
    return type(obj) is type(test) and getattr(obj, "_testMethodName", None) == test._testMethodName


def context_methods(cm: object, *, asynchronous: bool) -> tuple[Any, Any]:
    """Return ``cm``'s enter and exit methods, looked up on its type as ``with`` does.

    Raises:
        TypeError: ``cm`` does not support the (asynchronous) context manager
            protocol; the message is the one ``enterContext`` gives on 3.11+.
    """
    kind = type(cm)
    enter, exit_ = ("__aenter__", "__aexit__") if asynchronous else ("__enter__", "__exit__")
    try:
        return getattr(kind, enter), getattr(kind, exit_)
    except AttributeError:
        protocol = "asynchronous context manager" if asynchronous else "context manager"
        raise TypeError(
            f"'{kind.__module__}.{kind.__qualname__}' object does not support the {protocol} protocol"
        ) from None


# Loop seconds (real, or virtual on a virtual clock) after which a task that
# did not end is asked to cancel again.
_RECANCEL_EVERY = 0.05


def settle_step(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any], watchdog: Watchdog) -> None:
    """Let a step the loop stopped under (a deadlock, the watchdog, Ctrl-C) unwind, within the grace.

    A step that does not end then is buried: never run again. Its exception,
    if it raised one, counts as seen (it was raised where the step ran, like
    Ctrl-C): not "exception was never retrieved" later.
    """
    if not task.done() and not is_buried(task):
        if watchdog.expired:
            watchdog.arm_rest()
        task.cancel()
        with contextlib.suppress(BaseException), LoopRun(loop), allowed_interrupts():
            loop.run_until_complete(task)
    if not task.done():
        bury(task)
    elif not task.cancelled():
        task.exception()


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until every one of them has ended.

    A task still running a round later is cancelled again: on 3.10 and 3.11
    ``wait_for()`` swallows a cancellation that arrives as its inner future
    completes (gh-86296), and code may catch one ``CancelledError`` and go on;
    after a single request the wait would never end.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=_RECANCEL_EVERY)


# Rounds of closing: a generator's finally may drop another unfinished one.
_CLOSING_ROUNDS = 10


async def close_async_generators(loop: asyncio.AbstractEventLoop, *, live: bool = True) -> None:
    """Close the async generators a test left unfinished, as ``asyncio.Runner.close()`` would.

    Waits for the ``aclose()`` tasks asyncio's finalizer hook started (or
    queued) for generators the garbage collector finalized, and closes the
    live generators nobody is iterating; those a leaked task is iterating are
    closed after it is cancelled, when the loop shuts down. An error raised
    while closing goes to the loop's exception handler, as
    ``loop.shutdown_asyncgens()`` reports it. Unlike that method, it leaves
    the loop able to run generators afterwards. ``live=False`` leaves the
    live generators alone (on a loop a class shares, they may be the class's).
    """
    for _ in range(_CLOSING_ROUNDS):
        if queued_aclose(loop):
            await asyncio.sleep(0)  # let the hook's create_task() calls run
        closing = [t for t in asyncio.all_tasks(loop) if type(t.get_coro()) is ACLOSE and not t.done()]
        idle = idle_async_generators(loop) if live else []
        if not closing and not idle:
            return
        for agen in idle:
            loop._asyncgens.discard(agen)  # type: ignore[attr-defined]
        results = await asyncio.gather(*(agen.aclose() for agen in idle), return_exceptions=True)
        for agen, result in zip(idle, results, strict=True):
            if isinstance(result, Exception):
                loop.call_exception_handler({
                    "message": f"an error occurred during closing of asynchronous generator {agen!r}",
                    "exception": result,
                    "asyncgen": agen,
                })
        if closing:
            await asyncio.wait(closing)


def run_loop_until_complete(loop: asyncio.AbstractEventLoop, awaitable: Awaitable[T]) -> T:
    """``loop.run_until_complete()``, putting back what an interrupt in asyncio's setup leaves (`LoopRun`)."""
    with LoopRun(loop):
        return loop.run_until_complete(awaitable)


def _cancel(loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` (but those the watchdog gave up on) and run the loop until they end."""
    tasks = [task for task in tasks if not is_buried(task)]
    if tasks:
        run_loop_until_complete(loop, cancel_and_wait(tasks))


def _shut_down(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left, close async generators and the default executor."""
    _cancel(loop, [t for t in asyncio.all_tasks(loop) if not t.done()])
    # Each run of the loop costs a task and an iteration; most tests need neither.
    if has_async_generators(loop):
        run_loop_until_complete(loop, loop.shutdown_asyncgens())
    if has_default_executor(loop):
        run_loop_until_complete(loop, loop.shutdown_default_executor())


_NOOP_SET_UP = unittest.TestCase.setUp
_NOOP_TEAR_DOWN = unittest.TestCase.tearDown
_NOOP_ASYNC_SET_UP = unittest.IsolatedAsyncioTestCase.asyncSetUp
_NOOP_ASYNC_TEAR_DOWN = unittest.IsolatedAsyncioTestCase.asyncTearDown
