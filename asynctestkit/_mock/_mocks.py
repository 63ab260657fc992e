"""Ready-made async mock shapes: an async iterator, an async context manager, an awaitable.

The standard library's mocks almost fit async code; this module closes one gap:
async context managers and async iterators need ``__aenter__``/``__aiter__`` wired by
hand (``async with`` gives a fresh mock, not the instance; ``anext()`` never stops).

Strict mocks of real classes live in ``_autospec.py``, patching for test cases in
``_patching.py``, and waiting on mocks (held awaits, latency, await order) in
``_mockwait.py``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Generator, Iterable
from typing import Any

__all__ = (
    "AsyncContextManagerMock",
    "AsyncIteratorMock",
    "AwaitableMock",
)

# Keep our frames out of the tracebacks of failing tests (CPython's unittest rule).
__unittest = True
__tracebackhide__ = True  # and out of pytest's (STYLE.md 14)

_ExceptionSpec = typing.Union[BaseException, "type[BaseException]"]


def _is_exception(value: object) -> bool:
    return isinstance(value, BaseException) or (
        isinstance(value, type) and issubclass(value, BaseException)
    )


def _check_exception(owner: str, argument: str, value: object) -> None:
    if value is not None and not _is_exception(value):
        raise TypeError(
            f"{owner} needs {argument}= to be an exception instance or class; got {value!r}. "
            f"Pass e.g. {argument}=OSError('connection reset')."
        )


@typing.final
class AsyncIteratorMock:
    """An async iterator over given items that can raise at a chosen position.

    Items are yielded as they are, exceptions included; only ``raises`` is raised.
    After the end (or after ``raises``) every ``__anext__`` raises ``StopAsyncIteration``,
    like a finished async generator. ``aclose()`` is supported, so
    ``contextlib.aclosing`` works.

    Args:
        items: The items to yield, in order. Read once, at construction.
        raises: An exception instance or class to raise instead of an item.
        at: The position (0-based count of items yielded before it) where ``raises``
            is raised; defaults to after the last item.

    Raises:
        ValueError: ``at`` is given without ``raises``, or is not a position from 0 to
            ``len(items)``.
        TypeError: ``raises`` is not an exception.

    Example:
        >>> feed = AsyncIteratorMock([1, 2, 3], raises=ConnectionResetError(), at=2)
        >>> # async for item in feed: ... yields 1, 2, then raises
        >>> # feed.assert_consumed()
    """

    def __init__(
        self,
        items: Iterable[object] = (),
        *,
        raises: _ExceptionSpec | None = None,
        at: int | None = None,
    ) -> None:
        self._items: tuple[object, ...] = tuple(items)
        _check_exception("AsyncIteratorMock()", "raises", raises)
        if at is not None:
            if raises is None:
                raise ValueError(
                    f"AsyncIteratorMock(at={at!r}) needs raises=: at is the position where "
                    "that exception is raised. Pass raises=SomeError() as well, or drop at=."
                )
            if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at <= len(self._items):
                raise ValueError(
                    f"AsyncIteratorMock() needs at= to be a position from 0 to {len(self._items)} "
                    f"(the number of items); got {at!r}."
                )
        elif raises is not None:
            at = len(self._items)
        self._raises = raises
        self._at = at
        #: How many items have been yielded so far.
        self.yielded: int = 0
        #: Whether the end (``StopAsyncIteration`` or ``raises``) has been reached.
        self.finished: bool = False
        #: Whether ``aclose()`` has been called.
        self.closed: bool = False

    def __aiter__(self) -> AsyncIteratorMock:
        return self

    async def __anext__(self) -> object:
        if self.finished or self.closed:
            raise StopAsyncIteration
        if self._raises is not None and self.yielded == self._at:
            self.finished = True
            raise self._raises
        if self.yielded >= len(self._items):
            self.finished = True
            raise StopAsyncIteration
        self.yielded += 1
        return self._items[self.yielded - 1]

    async def aclose(self) -> None:
        """Close the iterator, as ``async_generator.aclose()`` does: no more items."""
        self.closed = True

    @property
    def remaining(self) -> tuple[object, ...]:
        """The items not yielded yet that would be reached before ``raises``."""
        end = len(self._items) if self._at is None else self._at
        return self._items[self.yielded : end]

    @property
    def consumed(self) -> bool:
        """Whether every item was taken (and ``raises``, if any, was raised)."""
        if self._raises is not None:
            return self.finished
        return self.finished or self.yielded == len(self._items)

    def assert_consumed(self) -> None:
        """Assert that the iterator was consumed to its end.

        Raises:
            AssertionError: Some items (or the configured exception) were never reached.

        Example:
            >>> feed = AsyncIteratorMock([1])
            >>> # after `async for item in feed: ...`
            >>> # feed.assert_consumed()
        """
        if self.consumed:
            return
        total = len(self._items) if self._at is None else self._at
        how = "was closed early by aclose()" if self.closed else "was left unfinished"
        tail = f", then raise {self._raises!r}" if self._raises is not None else ""
        raise AssertionError(
            f"expected the async iterator to be consumed to its end; it yielded {self.yielded} "
            f"of {total} items and {how}. Not reached: {list(self.remaining)!r}{tail}. "
            "Iterate it to the end, or assert on .yielded if stopping early is intended."
        )

    def __repr__(self) -> str:
        total = len(self._items) if self._at is None else self._at
        raises = f" raises={self._raises!r}" if self._raises is not None else ""
        return (
            f"<AsyncIteratorMock yielded={self.yielded}/{total}{raises} "
            f"finished={self.finished} closed={self.closed}>"
        )


@typing.final
class AsyncContextManagerMock:
    """An async context manager that gives a value on enter and counts its use.

    Args:
        value: What ``async with cm as value`` binds.
        enter_raises: An exception (instance or class) ``__aenter__`` raises; the block
            does not run and ``__aexit__`` is not called, as with a real manager.
        exit_raises: An exception ``__aexit__`` raises after recording the exit.
        suppress: Whether ``__aexit__`` swallows an exception raised in the block.

    Raises:
        TypeError: ``enter_raises`` or ``exit_raises`` is not an exception.

    Example:
        >>> session = AsyncContextManagerMock("connection", suppress=False)
        >>> # async with session as conn: ...
        >>> # (session.enter_count, session.exit_count) == (1, 1)
    """

    def __init__(
        self,
        value: object = None,
        *,
        enter_raises: _ExceptionSpec | None = None,
        exit_raises: _ExceptionSpec | None = None,
        suppress: bool = False,
    ) -> None:
        _check_exception("AsyncContextManagerMock()", "enter_raises", enter_raises)
        _check_exception("AsyncContextManagerMock()", "exit_raises", exit_raises)
        self.value = value
        self._enter_raises = enter_raises
        self._exit_raises = exit_raises
        self._suppress = bool(suppress)
        #: How many times ``__aenter__`` was awaited (including failed enters).
        self.enter_count: int = 0
        #: How many times ``__aexit__`` was awaited.
        self.exit_count: int = 0
        #: The exception each exit saw (``None`` for a clean exit), in order.
        self.exit_exceptions: list[BaseException | None] = []
        self._open = 0

    @property
    def active(self) -> bool:
        """Whether a successful enter has not been matched by an exit yet."""
        return self._open > 0

    async def __aenter__(self) -> object:
        self.enter_count += 1
        if self._enter_raises is not None:
            raise self._enter_raises
        self._open += 1
        return self.value

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> bool:
        self.exit_count += 1
        self._open -= 1
        self.exit_exceptions.append(exc)
        if self._exit_raises is not None:
            raise self._exit_raises
        return self._suppress

    def __repr__(self) -> str:
        return (
            f"<AsyncContextManagerMock value={self.value!r} entered={self.enter_count} "
            f"exited={self.exit_count} suppress={self._suppress}>"
        )


@typing.final
class AwaitableMock:
    """An awaitable that resolves to a value or raises, as often as it is awaited.

    Use it where code awaits something that is not a coroutine function call: a
    sync method returning a future, a ``__await__`` attribute, an item handed to
    ``asyncio.gather``.

    Args:
        value: What ``await`` evaluates to.
        raises: An exception (instance or class) to raise instead.

    Raises:
        TypeError: ``raises`` is not an exception.

    Example:
        >>> ready = AwaitableMock(42)
        >>> # await ready == 42; ready.await_count == 1
    """

    def __init__(self, value: object = None, *, raises: _ExceptionSpec | None = None) -> None:
        _check_exception("AwaitableMock()", "raises", raises)
        self.value = value
        self._raises = raises
        #: How many times it was awaited.
        self.await_count: int = 0

    def __await__(self) -> Generator[Any, None, object]:
        self.await_count += 1
        if self._raises is not None:
            raise self._raises
        return self.value
        yield  # never reached; makes __await__ a generator, as the protocol needs

    def assert_awaited(self) -> None:
        """Assert that it was awaited at least once.

        Raises:
            AssertionError: It was never awaited.

        Example:
            >>> ready = AwaitableMock()
            >>> # await ready; ready.assert_awaited()
        """
        if self.await_count == 0:
            raise AssertionError(
                f"expected {self!r} to be awaited; it never was. Check that the code under "
                "test awaits it rather than only calling or storing it."
            )

    def __repr__(self) -> str:
        what = f"raises={self._raises!r}" if self._raises is not None else f"value={self.value!r}"
        return f"<AwaitableMock {what} awaited={self.await_count}>"
