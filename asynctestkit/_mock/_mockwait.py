"""Waiting on async mocks: held awaits, simulated latency, waiting for awaits, await order.

All waiting is in loop time (``asyncio.sleep``, ``asyncio.wait_for``): on a virtual
clock it costs no real time. Nothing here uses ``asyncio.timeout`` (3.11+ only).
"""

from __future__ import annotations

import asyncio
import functools
import math
import types
import typing
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Final
from unittest import mock

# The list type of await_args_list. CPython has appended every await to it, in
# AsyncMockMixin._execute_mock_call, since 3.8 (still so in 3.14); a subclass that
# observes append() is the only way to hear about an await as it starts.
from unittest.mock import _CallList

__all__ = (
    "AwaitOrder",
    "ControlledAsyncMock",
    "PendingAwait",
    "latency",
    "wait_awaited",
)

# Keep our frames out of the tracebacks of failing tests (CPython's unittest rule).
__unittest = True
__tracebackhide__ = True  # and out of pytest's (STYLE.md 14)

# Seconds of loop time the waiting helpers wait by default before failing.
_DEFAULT_TIMEOUT: Final = 10.0

_Call = type(mock.call)


def _check_timeout(owner: str, timeout: float | None) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
        math.isfinite(timeout) and timeout >= 0
    ):
        raise ValueError(
            f"{owner} needs timeout= to be a finite, non-negative number of seconds of loop "
            f"time, or None to wait without bound; got {timeout!r}."
        )


def _check_times(owner: str, times: int) -> None:
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ValueError(f"{owner} needs times= to be a whole number of at least 1; got {times!r}.")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _mock_name(target: Any) -> str:
    # _extract_mock_name() is how the stdlib's own assert_* messages name a mock
    # ("client.fetch", "mock.fetch"); it exists on every mock in 3.10-3.14.
    name: str = target._extract_mock_name()
    return name


@typing.final
class _Wakeup:
    """Futures to wake whenever something a test is waiting for may have happened."""

    def __init__(self) -> None:
        self._futures: set[asyncio.Future[None]] = set()

    def notify(self, *_: object) -> None:
        for future in self._futures:
            if not future.done():
                future.set_result(None)

    async def wait_until(
        self, predicate: Callable[[], bool], *, timeout: float | None, failure: Callable[[], str]
    ) -> None:
        if predicate():
            return
        loop = asyncio.get_running_loop()
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            self.notify()

        # A loop.call_later deadline rather than asyncio.timeout (3.11+) or wait_for
        # (its TimeoutError is not the builtin one on 3.10): loop time, every version.
        deadline = None if timeout is None else loop.call_later(timeout, expire)
        try:
            while not predicate():
                if expired:
                    raise AssertionError(failure())
                future: asyncio.Future[None] = loop.create_future()
                self._futures.add(future)
                try:
                    await future
                finally:
                    self._futures.discard(future)
        finally:
            if deadline is not None:
                deadline.cancel()


class _ObservedCallList(_CallList):
    """An ``await_args_list`` that tells its listeners about every new await."""

    def __init__(self, calls: Iterable[Any] = ()) -> None:
        super().__init__(calls)
        self.listeners: list[Callable[[Any], None]] = []

    def append(self, call: Any, /) -> None:
        super().append(call)
        for listener in tuple(self.listeners):
            listener(call)


def _observe(target: Any) -> _ObservedCallList:
    calls = target.await_args_list
    if isinstance(calls, _ObservedCallList):
        return calls
    observed = _ObservedCallList(calls)
    # object.__setattr__ runs the await_args_list property setter directly; going
    # through Mock.__setattr__ would be refused on spec_set mocks (autospec children).
    object.__setattr__(target, "await_args_list", observed)
    return observed


def _async_target(candidate: object, owner: str) -> Any:
    """The AsyncMock behind ``candidate``, or a TypeError that names the mistake."""
    if isinstance(candidate, mock.AsyncMock):
        return candidate
    # create_autospec(async_function) returns a plain function; its mock is `.mock`.
    inner = getattr(candidate, "mock", None) if isinstance(candidate, types.FunctionType) else None
    if isinstance(inner, mock.AsyncMock):
        return inner
    if isinstance(candidate, mock.NonCallableMock):
        kind = type(candidate).__name__
        raise TypeError(
            f"{owner} needs an AsyncMock, but {_mock_name(candidate)} is a {kind}: calling it "
            f"returns a {kind} that cannot be awaited, so it never records an await. Make it "
            "an AsyncMock, or build the parent with autospec() so the spec's async methods "
            "become AsyncMocks."
        )
    raise TypeError(f"{owner} needs an AsyncMock; got {candidate!r}.")


async def wait_awaited(
    mock_: object,
    expected: Any = None,
    /,
    *,
    times: int = 1,
    timeout: float | None = _DEFAULT_TIMEOUT,
) -> None:
    """Wait until an ``AsyncMock`` has been awaited (with given arguments), in loop time.

    Returns at once if it already has. Use it after starting a task, instead of
    sleeping and hoping: ``assert_awaited()`` right after ``create_task`` fails because
    the task has not run yet.

    Args:
        mock_: The ``AsyncMock`` (an autospec's async method, a ``ControlledAsyncMock``).
        expected: A ``call(...)`` the await must match (compared through the mock's
            signature, like ``assert_any_await``); any await counts if left out.
        times: How many (matching) awaits to wait for.
        timeout: Seconds of loop time to wait, or ``None`` for no bound.

    Raises:
        AssertionError: The awaits did not happen within ``timeout``.
        TypeError: ``mock_`` is not an ``AsyncMock`` (the message names it), or
            ``expected`` is not a ``call`` or cannot match the mock's signature.
        ValueError: ``times`` or ``timeout`` is out of range.

    Example:
        >>> # task = asyncio.create_task(service.refresh())
        >>> # await wait_awaited(client.fetch, call("users"))
        >>> # client.fetch.assert_awaited_once_with("users")
    """
    target = _async_target(mock_, "wait_awaited()")
    _check_times("wait_awaited()", times)
    _check_timeout("wait_awaited()", timeout)
    matcher: Callable[[Any], Any] = target._call_matcher
    wanted: Any = None
    if expected is not None:
        if not isinstance(expected, _Call):
            raise TypeError(
                f"wait_awaited() needs expected to be a call(...) object such as "
                f"call('users', limit=10); got {expected!r}."
            )
        # _call_matcher() binds a call to the mock's spec signature, as the stdlib's
        # assert_any_await() does, so fetch("a") matches call(key="a").
        wanted = matcher(expected)
        if isinstance(wanted, BaseException):
            raise TypeError(
                f"wait_awaited(): {expected!r} can never match {_mock_name(target)}: {wanted}."
            ) from wanted

    def count() -> int:
        if expected is None:
            return int(target.await_count)
        return sum(1 for c in tuple(target.await_args_list) if matcher(c) == wanted)

    def failure() -> str:
        what = f"awaited with {expected!r}" if expected is not None else "awaited"
        return (
            f"expected {_mock_name(target)} to be {what} at least {_plural(times, 'time')} "
            f"within {timeout:g} s of loop time; it was awaited "
            f"{_plural(target.await_count, 'time')}: {list(target.await_args_list)!r}. "
            "Check that the code under test reaches this await, or pass a larger timeout= "
            "(loop time: on a virtual clock it costs no real time)."
        )

    observed = _observe(target)
    wakeup = _Wakeup()
    observed.listeners.append(wakeup.notify)
    try:
        await wakeup.wait_until(lambda: count() >= times, timeout=timeout, failure=failure)
    finally:
        observed.listeners.remove(wakeup.notify)


@typing.final
class PendingAwait:
    """One await of a :class:`ControlledAsyncMock`, held until the test resolves it.

    Example:
        >>> # pending = await fetch.wait_awaited()
        >>> # pending.args == ("users",); pending.release(["ann"])
    """

    def __init__(self, call: Any, future: asyncio.Future[Any], wakeup: _Wakeup) -> None:
        #: The ``call(...)`` the mock was awaited with.
        self.call = call
        self._future = future
        self._wakeup = wakeup

    @property
    def args(self) -> tuple[Any, ...]:
        """The positional arguments of the await."""
        return tuple(self.call.args)

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the await."""
        return dict(self.call.kwargs)

    @property
    def done(self) -> bool:
        """Whether it was released, failed or cancelled."""
        return self._future.done()

    @property
    def cancelled(self) -> bool:
        """Whether the task awaiting it was cancelled (from the moment ``cancel()`` ran)."""
        return self._future.cancelled()

    def _state(self) -> str:
        if not self._future.done():
            return "waiting"
        if self._future.cancelled():
            return "cancelled"
        if self._future.exception() is not None:
            return f"failed with {self._future.exception()!r}"
        return f"released with {self._future.result()!r}"

    def _check_waiting(self, action: str) -> None:
        if self._future.done():
            raise RuntimeError(
                f"cannot {action} {self.call!r}: it is already {self._state()}. Resolve only "
                "awaits that are still waiting (see ControlledAsyncMock.pending)."
            )

    def release(self, value: object = mock.DEFAULT) -> None:
        """Let the await finish with ``value`` (the mock's ``return_value`` by default).

        Raises:
            RuntimeError: It was already released, failed or cancelled.

        Example:
            >>> # pending.release(b"row")
        """
        self._check_waiting("release")
        self._future.set_result(value)

    def fail(self, exception: BaseException | type[BaseException]) -> None:
        """Make the await raise ``exception`` (an instance or a class).

        Raises:
            RuntimeError: It was already released, failed or cancelled.
            TypeError: ``exception`` is not an exception.

        Example:
            >>> # pending.fail(ConnectionResetError("peer closed"))
        """
        if isinstance(exception, type) and issubclass(exception, BaseException):
            exception = exception()
        if not isinstance(exception, BaseException):
            raise TypeError(
                f"fail() needs an exception instance or class; got {exception!r}. "
                "To finish with a value, use release(value)."
            )
        self._check_waiting("fail")
        self._future.set_exception(exception)

    async def wait_cancelled(self, *, timeout: float | None = _DEFAULT_TIMEOUT) -> None:
        """Wait, in loop time, until the task awaiting this was cancelled.

        Raises:
            AssertionError: It was released or failed instead, or is still waiting
                after ``timeout`` seconds of loop time.
            ValueError: ``timeout`` is out of range.

        Example:
            >>> # task.cancel(); await pending.wait_cancelled()
        """
        _check_timeout("wait_cancelled()", timeout)
        await self._wakeup.wait_until(
            lambda: self._future.done(),
            timeout=timeout,
            failure=lambda: (
                f"expected the task awaiting {self.call!r} to be cancelled within {timeout:g} s "
                "of loop time; it is still waiting. Cancel the task (or let its timeout fire) "
                "first, or pass a larger timeout=."
            ),
        )
        if not self._future.cancelled():
            raise AssertionError(
                f"expected the task awaiting {self.call!r} to be cancelled; it was {self._state()} "
                "instead."
            )

    def __repr__(self) -> str:
        return f"<PendingAwait {self.call!r} {self._state()}>"


@typing.final
class ControlledAsyncMock(mock.AsyncMock):
    """An ``AsyncMock`` whose every await blocks until the test releases it.

    This pins the exact moment for cancellation and concurrency checks: start the
    code under test, wait until it is inside the await, then cancel it, release it
    with a value, or fail it with an exception. It is a full ``AsyncMock`` (``spec``,
    ``return_value``, ``assert_awaited_with``...); use it directly, or as the
    ``side_effect`` of an autospec's async method to keep the signature check.

    Args:
        *args: ``AsyncMock`` arguments (``spec``, ``return_value``, ``name``...).
        **kwargs: Likewise; ``side_effect`` and ``wraps`` are refused (the hold *is*
            the side effect).

    Raises:
        TypeError: ``side_effect`` or ``wraps`` is given.

    Example:
        >>> fetch = ControlledAsyncMock()
        >>> # task = asyncio.create_task(service.load(fetch))
        >>> # pending = await fetch.wait_awaited()
        >>> # task.cancel(); await pending.wait_cancelled()
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for refused in ("side_effect", "wraps"):
            if kwargs.get(refused) is not None:
                raise TypeError(
                    f"ControlledAsyncMock holds each await until the test resolves it, so it "
                    f"takes no {refused}=. Finish an await with release(value) or "
                    "fail(exception); for a plain AsyncMock, use AsyncMock."
                )
        super().__init__(*args, **kwargs)
        # Stored in __dict__: Mock.__setattr__ would refuse them under spec_set.
        self.__dict__["_asynctestkit_awaits"] = []
        self.__dict__["_asynctestkit_wakeup"] = _Wakeup()
        self.side_effect = self._asynctestkit_hold

    async def _asynctestkit_hold(self, *args: Any, **kwargs: Any) -> Any:
        wakeup: _Wakeup = self.__dict__["_asynctestkit_wakeup"]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.__dict__["_asynctestkit_awaits"].append(PendingAwait(mock.call(*args, **kwargs), future, wakeup))
        wakeup.notify()
        try:
            # A DEFAULT result makes AsyncMock return its return_value.
            return await future
        finally:
            wakeup.notify()

    def reset_mock(self, *args: Any, **kwargs: Any) -> None:
        """Reset as ``AsyncMock`` does, keep the hold, forget finished awaits."""
        super().reset_mock(*args, **kwargs)
        self.side_effect = self._asynctestkit_hold
        awaits: list[PendingAwait] = self.__dict__["_asynctestkit_awaits"]
        awaits[:] = [pending for pending in awaits if not pending.done]

    @property
    def awaits(self) -> tuple[PendingAwait, ...]:
        """Every await so far, in order, resolved or not."""
        return tuple(self.__dict__["_asynctestkit_awaits"])

    @property
    def pending(self) -> tuple[PendingAwait, ...]:
        """The awaits still waiting to be resolved, oldest first."""
        return tuple(p for p in self.__dict__["_asynctestkit_awaits"] if not p.done)

    async def wait_awaited(self, times: int = 1, *, timeout: float | None = _DEFAULT_TIMEOUT) -> PendingAwait:
        """Wait until the mock has been awaited ``times`` times; return that await.

        Args:
            times: Which await to wait for (1 is the first).
            timeout: Seconds of loop time to wait, or ``None`` for no bound.

        Returns:
            The ``times``-th :class:`PendingAwait`, which may already be resolved.

        Raises:
            AssertionError: Fewer awaits happened within ``timeout``.
            ValueError: ``times`` or ``timeout`` is out of range.

        Example:
            >>> # first = await fetch.wait_awaited(); second = await fetch.wait_awaited(2)
        """
        _check_times("wait_awaited()", times)
        _check_timeout("wait_awaited()", timeout)
        awaits: list[PendingAwait] = self.__dict__["_asynctestkit_awaits"]
        wakeup: _Wakeup = self.__dict__["_asynctestkit_wakeup"]
        await wakeup.wait_until(
            lambda: len(awaits) >= times,
            timeout=timeout,
            failure=lambda: (
                f"expected {_mock_name(self)} to be awaited at least {_plural(times, 'time')} "
                f"within {timeout:g} s of loop time; it was awaited {_plural(len(awaits), 'time')}"
                f": {[p.call for p in awaits]!r}. Check that the code under test reaches this "
                "await, or pass a larger timeout=."
            ),
        )
        return awaits[times - 1]

    def _oldest_pending(self, action: str) -> PendingAwait:
        pending = self.pending
        if not pending:
            raise RuntimeError(
                f"nothing to {action}: {_mock_name(self)} was awaited "
                f"{_plural(len(self.awaits), 'time')} and none of those awaits is waiting. "
                "Wait for the await first: pending = await mock.wait_awaited()."
            )
        return pending[0]

    def release(self, value: object = mock.DEFAULT) -> None:
        """Release the oldest waiting await with ``value`` (``return_value`` by default).

        Raises:
            RuntimeError: No await is waiting.

        Example:
            >>> # fetch.release(b"row")
        """
        self._oldest_pending("release").release(value)

    def fail(self, exception: BaseException | type[BaseException]) -> None:
        """Make the oldest waiting await raise ``exception``.

        Raises:
            RuntimeError: No await is waiting.
            TypeError: ``exception`` is not an exception.

        Example:
            >>> # fetch.fail(TimeoutError)
        """
        self._oldest_pending("fail").fail(exception)

    def release_all(self, value: object = mock.DEFAULT) -> int:
        """Release every waiting await with ``value``; return how many there were.

        Example:
            >>> # fetch.release_all(None)
        """
        pending = self.pending
        for item in pending:
            item.release(value)
        return len(pending)


def latency(
    seconds: float,
    /,
    result: object = mock.DEFAULT,
    *,
    raises: BaseException | type[BaseException] | None = None,
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """Make a side effect that takes ``seconds`` of loop time, then returns or raises.

    Set it as an ``AsyncMock``'s ``side_effect`` to test retries, timeouts and
    deadlines against a slow dependency; on a virtual clock no real time passes.

    Args:
        seconds: How long each await takes, in loop time.
        result: What the await returns (the mock's ``return_value`` by default).
        raises: An exception (instance or class) to raise after the delay instead.

    Returns:
        An async function for ``side_effect``.

    Raises:
        ValueError: ``seconds`` is negative, NaN or infinite.
        TypeError: ``raises`` is not an exception.

    Example:
        >>> client.fetch.side_effect = latency(30.0, raises=TimeoutError)
        >>> # with self.assertRaises(TimeoutError): await service.load()
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
        math.isfinite(seconds) and seconds >= 0
    ):
        raise ValueError(
            f"latency() needs a finite, non-negative number of seconds; got {seconds!r}."
        )
    if raises is not None and not (
        isinstance(raises, BaseException) or (isinstance(raises, type) and issubclass(raises, BaseException))
    ):
        raise TypeError(
            f"latency() needs raises= to be an exception instance or class; got {raises!r}."
        )

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(seconds)
        if raises is not None:
            raise raises
        return result

    slow.__name__ = slow.__qualname__ = f"latency({seconds!r})"
    return slow


@typing.final
class AwaitOrder:
    """Record the order in which several async mocks are awaited.

    The stdlib records each mock's awaits separately, and a parent mock's
    ``mock_calls`` holds the order of *calls*, which differs from the order of awaits
    as soon as coroutines are created before they run (``gather``, tasks, retries).

    Args:
        **mocks: The ``AsyncMock`` objects to watch, by the name to record them under.

    Raises:
        TypeError: No mocks are given, or one is not an ``AsyncMock`` (named).

    Example:
        >>> order = AwaitOrder(connect=db.connect, query=db.query)
        >>> # ... run the code under test ...
        >>> # order.assert_order("connect", "query")
        >>> # order.awaits == [call.connect(), call.query("SELECT 1")]
    """

    def __init__(self, **mocks: Any) -> None:
        if not mocks:
            raise TypeError(
                "AwaitOrder() needs the mocks to watch, by name: "
                "AwaitOrder(fetch=db.fetch, store=cache.set)."
            )
        self._watched = tuple(mocks)
        self._awaits: list[Any] = []
        targets = {name: _async_target(m, f"AwaitOrder({name}=...)") for name, m in mocks.items()}
        for name, target in targets.items():
            _observe(target).listeners.append(functools.partial(self._record, name))

    def _record(self, name: str, call: Any) -> None:
        self._awaits.append(_Call((name, tuple(call.args), dict(call.kwargs))))

    @property
    def awaits(self) -> list[Any]:
        """The awaits so far as ``call.<name>(...)`` objects, comparable with ``==``."""
        return list(self._awaits)

    @property
    def names(self) -> list[str]:
        """The names of the mocks in the order they were awaited."""
        return [c[0] for c in self._awaits]

    def clear(self) -> None:
        """Forget the awaits recorded so far."""
        self._awaits.clear()

    def assert_order(self, *names: str) -> None:
        """Assert that the watched mocks were awaited exactly in this order.

        Args:
            *names: The expected sequence of names (repeat a name for repeat awaits).

        Raises:
            AssertionError: The awaits happened in another order, or more or fewer.
            ValueError: A name is not one of the watched mocks.

        Example:
            >>> # order.assert_order("connect", "query", "query")
        """
        for name in names:
            if name not in self._watched:
                raise ValueError(
                    f"assert_order(): {name!r} is not watched; this AwaitOrder watches "
                    f"{', '.join(self._watched)}."
                )
        if list(names) != self.names:
            raise AssertionError(
                f"expected the awaits in this order: {', '.join(names) or '(none)'}; "
                f"got: {', '.join(self.names) or '(none)'}. All awaits: {self._awaits!r}. "
                "Check what the code under test awaits first; AwaitOrder counts an await when "
                "the mock's coroutine starts running, not when it is created."
            )

    def __repr__(self) -> str:
        return f"<AwaitOrder watching {', '.join(self._watched)}; {_plural(len(self._awaits), 'await')}>"
