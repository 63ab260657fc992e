"""Mock factories for async code, built on ``create_autospec`` and ``AsyncMock``.

The standard library's mocks almost fit async code; this module closes the gaps:

* ``create_autospec`` turns an async generator method into a MagicMock whose result
  cannot be set to the items to yield;
* async context managers and async iterators need ``__aenter__``/``__aiter__`` wired by
  hand (``async with`` gives a fresh mock, not the instance; ``anext()`` never stops);
* autospecced sync methods claim to be coroutine functions (gh-85794);
* a ``MagicMock`` passed where an ``AsyncMock`` was needed fails at the ``await``, far
  from the line that made the mistake.

Waiting on mocks (held awaits, latency, await order) lives in ``_mockwait.py``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import pkgutil
import types
import typing
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, Final, Protocol
from unittest import mock

__all__ = (
    "AsyncContextManagerMock",
    "AsyncIteratorMock",
    "AwaitableMock",
    "PatchingMixin",
    "autospec",
)

# Keep our frames out of the tracebacks of failing tests (CPython's unittest rule).
__unittest = True

_ExceptionSpec = typing.Union[BaseException, "type[BaseException]"]

# The async protocol methods autospec() wires and lets `returns=`/`side_effects=` set.
_ASYNC_PROTOCOL: Final = ("__aenter__", "__aexit__", "__aiter__")

_MISSING: Final[Any] = object()


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


def _label(obj: object) -> str:
    for attribute in ("__qualname__", "__name__"):
        name = getattr(obj, attribute, None)
        if isinstance(name, str):
            return name
    return f"{type(obj).__qualname__} instance"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


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


# --- autospec --------------------------------------------------------------------------


def _check_spec(spec: object) -> None:
    if isinstance(spec, type) or inspect.ismodule(spec) or inspect.isroutine(spec):
        if isinstance(spec, mock.NonCallableMock):
            raise TypeError(
                f"autospec() cannot copy a mock; got {spec!r}. Pass the real class, function "
                "or module the mock stands for."
            )
        return
    if isinstance(spec, str):
        raise TypeError(
            f"autospec() needs the object to copy, not its name; got the string {spec!r}. "
            f"Import it and pass it, or use self.patch({spec!r}) to replace it by name."
        )
    if isinstance(spec, mock.NonCallableMock):
        raise TypeError(
            f"autospec() cannot copy a mock; got {spec!r}. Pass the real class, function "
            "or module the mock stands for."
        )
    name = type(spec).__qualname__
    raise TypeError(
        f"autospec() needs a class, a function or a module; got an instance of {name} "
        f"({spec!r}). Pass the class {name} itself: autospec() mocks an instance of it "
        "by default (instance=True)."
    )


def _underlying_function(static: object) -> types.FunctionType | None:
    """The Python function behind an attribute found by ``inspect.getattr_static``."""
    if isinstance(static, (staticmethod, classmethod, types.MethodType)):
        static = static.__func__
    return static if isinstance(static, types.FunctionType) else None


def _fix_function_flags(child: Any, function: types.FunctionType) -> None:
    # gh-85794: a function child of create_autospec has __class__ == FunctionType, so
    # inspect.iscoroutinefunction() reads child.__code__.co_flags -- a MagicMock whose
    # `& CO_COROUTINE` is a truthy MagicMock: sync methods claim to be coroutine
    # functions on 3.10-3.13. Give sync children the real code object (correct for
    # isasyncgenfunction() too). AsyncMock already stores a CO_COROUTINE code stand-in.
    # We write __dict__ directly, as AsyncMock.__init__ does, because spec_set forbids
    # setting attributes the spec lacks through setattr().
    if not isinstance(child, mock.AsyncMock):
        child.__dict__["__code__"] = function.__code__
    # A child specced on a bound method (a classmethod, or any method of an instance
    # spec) has __class__ == MethodType, so inspect follows child.__func__ -- an
    # unspecced MagicMock. That made async classmethods look sync on 3.13 only.
    # Point it at the real function, whose flags are the truth.
    if isinstance(child, types.MethodType):
        child.__dict__["__func__"] = function


@typing.final
class _AsyncItems:
    """Side effect of an async generator method (or ``__aiter__``) mock.

    Each call iterates the mock's current ``return_value`` afresh, so a retry sees the
    same items again and ``mock.stream.return_value = [1, 2]`` just works. An async
    iterator (an ``AsyncIteratorMock``, a MagicMock) is returned as it is.
    """

    def __init__(self, owner: Any, label: str) -> None:
        self._owner = owner
        self._label = label

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        value = self._owner.return_value
        if hasattr(value, "__aiter__"):
            return mock.DEFAULT
        if isinstance(value, Iterable):
            return AsyncIteratorMock(value)
        raise TypeError(
            f"{self._label} is an async generator method, so its return_value must be the "
            f"items to yield (an iterable) or an async iterator; got {value!r}. "
            f"Set {self._label}.return_value = [item, ...] or an AsyncIteratorMock(...)."
        )


def _wire_async_generator(child: Any, label: str) -> None:
    child.return_value = ()
    child.side_effect = _AsyncItems(child, label)


def _finish_functions(target: Any, spec: object, label: str) -> None:
    """Fix coroutine flags and wire async generators on every function child."""
    for entry in dir(spec):
        if entry.startswith("__") and entry.endswith("__"):
            continue  # create_autospec leaves magic methods to MagicMock
        function = _underlying_function(inspect.getattr_static(spec, entry, None))
        if function is None:
            continue
        child = getattr(target, entry)
        _fix_function_flags(child, function)
        if inspect.isasyncgenfunction(function):
            _wire_async_generator(child, f"{label}.{entry}")


def _wire_async_protocols(instance: Any, spec: object, label: str, returns: Mapping[str, object]) -> None:
    """Make ``async with`` and ``async for`` work on an instance mock out of the box."""
    # MagicMock's own __aenter__ returns a fresh AsyncMock; real managers mostly
    # `return self`, so the instance is the better default.
    if hasattr(spec, "__aenter__"):
        instance.__aenter__.return_value = returns.get("__aenter__", instance)
    if hasattr(spec, "__aexit__"):
        instance.__aexit__.return_value = returns.get("__aexit__", False)
    if not hasattr(spec, "__aiter__"):
        return
    source = returns.get("__aiter__", ())
    if hasattr(spec, "__anext__"):
        # An iterator (its __aiter__ returns self): drive both `async for` and
        # `anext(instance)` from one item source, so they agree. Plain MagicMock
        # gives an empty `async for` and an `anext()` that never stops.
        items = source if hasattr(source, "__anext__") else AsyncIteratorMock(_iterable(source, label))
        instance.__aiter__.side_effect = None
        instance.__aiter__.return_value = instance
        instance.__anext__.side_effect = items.__anext__
    else:
        # An iterable: every `async for` starts over, as with a real iterable.
        instance.__aiter__.return_value = source
        instance.__aiter__.side_effect = _AsyncItems(instance.__aiter__, f"{label}.__aiter__")


def _iterable(value: object, label: str) -> Iterable[object]:
    if isinstance(value, Iterable):
        return value
    raise TypeError(
        f"returns['__aiter__'] for {label} must be the items to iterate (an iterable) or an "
        f"async iterator; got {value!r}."
    )


def _close_names(name: str, spec: object) -> str:
    public = [n for n in dir(spec) if not n.startswith("_")]
    public += [n for n in _ASYNC_PROTOCOL if hasattr(spec, n)]
    close = difflib.get_close_matches(name, public, n=3)
    if close:
        return "did you mean " + " or ".join(repr(n) for n in close) + "?"
    if public:
        shown = ", ".join(public[:12]) + (", ..." if len(public) > 12 else "")
        return f"it has: {shown}."
    return "it has no public attributes."


def _check_keys(spec: object, label: str, argument: str, values: Mapping[str, object]) -> None:
    for key in values:
        if not isinstance(key, str):
            raise TypeError(
                f"autospec({label}): the keys of {argument}= are attribute names; got {key!r}."
            )
        if key in _ASYNC_PROTOCOL:
            if not hasattr(spec, key):
                kind = "an async context manager" if key != "__aiter__" else "async iterable"
                raise AttributeError(
                    f"autospec({label}): {argument}[{key!r}] configures {key}, but {label} has no "
                    f"{key}, so it is not {kind}. Drop the key, or spec a class that defines it."
                )
            continue
        if key.startswith("__") and key.endswith("__"):
            raise AttributeError(
                f"autospec({label}): {argument}= configures methods, properties and "
                f"{', '.join(_ASYNC_PROTOCOL)}; got {key!r}. Use return_value= / side_effect= "
                "for calling the mock itself."
            )
        if key not in dir(spec):
            raise AttributeError(
                f"autospec({label}): {argument}[{key!r}] names an attribute {label} does not "
                f"have; {_close_names(key, spec)} Configure only attributes the spec defines."
            )


def _configure(
    spec: object,
    label: str,
    targets: list[Any],
    instance: Any,
    returns: Mapping[str, object],
    side_effects: Mapping[str, object],
) -> None:
    for key in {**returns, **side_effects}:
        if key in _ASYNC_PROTOCOL:
            if key in side_effects and instance is not None:
                getattr(instance, key).side_effect = side_effects[key]
            continue  # return values were wired with the protocol
        static = inspect.getattr_static(spec, key, None)
        if isinstance(static, (property, functools.cached_property)):
            if instance is None:
                raise TypeError(
                    f"autospec({label}): {key!r} is a property, which only an instance has; "
                    "spec the class (not a module or function) to configure it."
                )
            # The mock is its own subclass, so a PropertyMock on type(mock) is private
            # to it; inspect.getattr_static(mock, key) gives it back for assertions.
            prop = mock.PropertyMock(
                return_value=returns.get(key, mock.DEFAULT), side_effect=side_effects.get(key)
            )
            setattr(type(instance), key, prop)
            continue
        if not callable(getattr(spec, key, None)):
            if key in side_effects:
                raise TypeError(
                    f"autospec({label}): {key!r} is a plain attribute, not a method or property, "
                    f"so side_effects[{key!r}] cannot apply. Set it with returns= instead."
                )
            for target in targets:
                setattr(target, key, returns[key])
            continue
        for target in targets:
            child = getattr(target, key)
            if key in returns:
                child.return_value = returns[key]
            if key in side_effects:
                child.side_effect = side_effects[key]


def _autospec_function(function: Any, *, spec_set: bool, name: str | None) -> Any:
    # create_autospec(function) returns a plain function wrapper that is no coroutine
    # function on 3.10-3.12 (and whose await_count never moves). Methods are better
    # served: they become real (Async)Mock objects with a checked signature. So we
    # autospec a one-method holder class and hand out its method.
    attribute = getattr(function, "__name__", None)
    if not isinstance(attribute, str) or not attribute.isidentifier():
        attribute = "function"
    holder = type(attribute, (), {attribute: staticmethod(function)})
    child = getattr(mock.create_autospec(holder, spec_set, instance=True, name=name), attribute)
    real = function.__func__ if isinstance(function, types.MethodType) else function
    if isinstance(real, types.FunctionType):
        _fix_function_flags(child, real)
        if inspect.isasyncgenfunction(real):
            _wire_async_generator(child, _label(function))
    return child


def _autospec(
    spec: object,
    *,
    instance: bool,
    spec_set: bool,
    name: str | None,
    return_value: object = mock.DEFAULT,
    side_effect: object = None,
    returns: Mapping[str, object] | None = None,
    side_effects: Mapping[str, object] | None = None,
) -> Any:
    """Build the mock; accepts any spec (``patch`` also mocks instances and data)."""
    label = _label(spec)
    returns = dict(returns or {})
    side_effects = dict(side_effects or {})
    _check_keys(spec, label, "returns", returns)
    _check_keys(spec, label, "side_effects", side_effects)
    instance_mock: Any = None
    if inspect.isroutine(spec):
        top = _autospec_function(spec, spec_set=spec_set, name=name)
        targets = [top]
    else:
        is_class = isinstance(spec, type)
        top = mock.create_autospec(spec, spec_set, instance=instance and is_class, name=name)
        if is_class and not instance:
            instance_mock = top.return_value
            targets = [top, instance_mock]
        else:
            targets = [top]
            if not inspect.ismodule(spec):
                instance_mock = top
        for target in targets:
            _finish_functions(target, spec, label)
        if instance_mock is not None:
            _wire_async_protocols(instance_mock, spec, label, returns)
    _configure(spec, label, targets, instance_mock, returns, side_effects)
    if return_value is not mock.DEFAULT or side_effect is not None:
        if not callable(top):
            raise TypeError(
                f"autospec({label}): return_value= and side_effect= configure calling the mock, "
                f"but a {label} {'instance' if instance_mock is top else 'module'} is not callable. "
                "Use returns= / side_effects= to configure its methods."
            )
        if return_value is not mock.DEFAULT:
            top.return_value = return_value
        if side_effect is not None:
            top.side_effect = side_effect
    return top


def autospec(
    spec: object,
    /,
    *,
    instance: bool = True,
    spec_set: bool = True,
    name: str | None = None,
    return_value: object = mock.DEFAULT,
    side_effect: object = None,
    returns: Mapping[str, object] | None = None,
    side_effects: Mapping[str, object] | None = None,
) -> Any:
    """Create a strict mock of a class, function or module that is right for async code.

    Built on ``unittest.mock.create_autospec``, it adds what async code needs:

    * async methods (plain, class and static) are ``AsyncMock``; sync methods are not
      reported as coroutine functions by ``inspect.iscoroutinefunction`` (gh-85794);
    * an async generator method returns, on each call, a fresh async iterator over its
      ``return_value`` (the items; ``()`` by default);
    * if the class has ``__aenter__``/``__aexit__``, ``async with mock as value`` binds
      the mock itself and does not suppress exceptions; if it has ``__aiter__``
      (and ``__anext__``), ``async for`` (and ``anext()``) iterate configured items;
    * ``returns=`` and ``side_effects=`` configure many attributes in one call.

    What ``returns[name]`` means depends on the attribute: a method's return value
    (awaited value for an async method), the items an async generator method yields,
    a property's value, a plain attribute's value, the value ``__aenter__`` gives, the
    suppression flag ``__aexit__`` returns, the items ``__aiter__`` iterates.
    ``side_effects[name]`` is the method's ``side_effect`` (a property's side effect
    raises on access; ``__aenter__``'s raises on enter).

    Args:
        spec: The class, function or module to copy.
        instance: For a class, mock an instance (default) rather than the class.
        spec_set: Refuse attributes the spec lacks, for setting as well as getting.
        name: The mock's name, shown in its repr and in assertion messages.
        return_value: What calling the mock returns (for a function, or a callable
            instance); for an async generator function, the items it yields.
        side_effect: The side effect of calling the mock.
        returns: Attribute name -> what it returns or gives (see above).
        side_effects: Attribute name -> side effect.

    Returns:
        The mock: an ``AsyncMock``/``MagicMock`` for a function, an instance (or class)
        mock for a class, a module mock for a module.

    Raises:
        TypeError: ``spec`` is not a class, function or module; ``return_value=`` is
            given for something that cannot be called.
        AttributeError: ``returns=`` or ``side_effects=`` names an attribute the spec
            does not have; the message lists the closest names.

    Example:
        >>> client = autospec(Client, returns={"fetch": b"data", "stream": [1, 2]})
        >>> # await client.fetch("key") == b"data"
        >>> # [item async for item in client.stream()] == [1, 2]
        >>> # async with client as same: same is client
    """
    _check_spec(spec)
    return _autospec(
        spec,
        instance=instance,
        spec_set=spec_set,
        name=name,
        return_value=return_value,
        side_effect=side_effect,
        returns=returns,
        side_effects=side_effects,
    )


# --- patching --------------------------------------------------------------------------


class _CleanupHost(Protocol):
    def addCleanup(self, function: Callable[..., object], /, *args: Any, **kwargs: Any) -> None: ...


def _is_sync_mock(new: object) -> bool:
    """Whether ``new`` is a mock whose call result cannot be awaited."""
    if not isinstance(new, mock.NonCallableMock) or isinstance(new, mock.AsyncMock):
        return False
    if not callable(new):
        return True
    if inspect.iscoroutinefunction(new.side_effect):
        return False
    return not inspect.isawaitable(new.return_value)


def _check_replacement(label: str, original: object, new: object) -> None:
    if original is _MISSING or not inspect.iscoroutinefunction(original):
        return
    if not _is_sync_mock(new):
        return
    kind = type(new).__name__
    raise TypeError(
        f"{label}: the original is an async function, so the code under test awaits what it "
        f"returns, but new= is a {kind} whose result cannot be awaited; the test would fail "
        f"later with \"object {kind} can't be used in 'await' expression\", far from here. "
        "Pass an AsyncMock, or leave out new= to get an autospec."
    )


def _make_patcher(
    label: str,
    get_owner: Callable[[], object],
    attribute: str,
    new: object,
    kwargs: dict[str, Any],
    make: Callable[..., Any],
) -> Any:
    if new is not mock.DEFAULT:
        try:
            original = getattr(get_owner(), attribute)
        except (ImportError, AttributeError):
            original = _MISSING
        _check_replacement(label, original, new)
        return make(new, **kwargs)
    explicit = kwargs.pop("autospec", None)
    if explicit not in (None, True) or kwargs.keys() & {"new_callable", "spec", "spec_set"}:
        if explicit is not None:
            kwargs["autospec"] = explicit
        return make(mock.DEFAULT, **kwargs)
    create = bool(kwargs.pop("create", False))
    owner = get_owner()
    static = inspect.getattr_static(owner, attribute, _MISSING)
    if static is _MISSING:
        if create:
            return make(mock.DEFAULT, create=True, **kwargs)
        raise AttributeError(
            f"{label}: {_label(owner)} has no attribute {attribute!r}; "
            f"{_close_names(attribute, owner)} Pass create=True to add it for the test."
        )
    if isinstance(owner, type) and isinstance(static, types.FunctionType):
        # An instance method replaced on its class must stay a function so that it
        # binds `self`; the standard library's autospec does exactly that.
        return make(mock.DEFAULT, autospec=True, create=create, **kwargs)
    new_mock = _autospec(getattr(owner, attribute), instance=False, spec_set=True, name=attribute)
    if kwargs:
        new_mock.configure_mock(**kwargs)
    return make(new_mock, create=create)


def _start(host: _CleanupHost, patcher: Any) -> Any:
    started = patcher.start()
    host.addCleanup(patcher.stop)
    return started


class PatchingMixin:
    """``patch``, ``patch_object`` and ``patch_dict`` for a TestCase, undone automatically.

    Each helper starts a ``unittest.mock`` patcher, registers its ``stop`` with
    ``addCleanup`` (so the patch is undone however the test ends) and returns the mock.
    Without ``new=``, the replacement is an :func:`autospec` of the original, so async
    methods, async generators and async context managers work.

    Example:
        >>> class ServiceTest(PatchingMixin, unittest.IsolatedAsyncioTestCase):
        ...     async def test_load(self) -> None:
        ...         fetch = self.patch("app.db.fetch", return_value=b"row")
        ...         await app.service.load()
        ...         fetch.assert_awaited_once()
    """

    def patch(self: _CleanupHost, target: str, new: Any = mock.DEFAULT, **kwargs: Any) -> Any:
        """Replace ``target`` (a dotted name) for the rest of the test.

        Args:
            target: The dotted name to replace, such as ``"app.db.fetch"``.
            new: The replacement; by default an autospec of the original. Passing a
                sync mock for an async function is refused.
            **kwargs: ``unittest.mock.patch`` options (``create``, ``autospec=False``,
                ``new_callable``, ``spec``, ``spec_set``), or attributes to configure on
                the mock, such as ``return_value=`` or ``**{"method.side_effect": exc}``.

        Returns:
            The object now at ``target``.

        Raises:
            TypeError: ``new`` is a sync mock but the original is an async function.
            AttributeError: The target does not exist (and ``create`` is not set).

        Example:
            >>> # fetch = self.patch("app.db.fetch", return_value=b"row")
        """
        if not isinstance(target, str):
            raise TypeError(
                f"patch() needs the dotted name of what to replace, such as 'app.db.fetch'; "
                f"got {target!r}. To patch an attribute of an object you hold, use "
                "patch_object(obj, 'attribute')."
            )
        owner_path, dot, attribute = target.rpartition(".")
        if not dot or not owner_path:
            raise TypeError(
                f"patch() needs a dotted name such as 'module.attribute'; got {target!r}."
            )
        patcher = _make_patcher(
            f"patch({target!r})",
            lambda: pkgutil.resolve_name(owner_path),
            attribute,
            new,
            kwargs,
            lambda replacement, **options: mock.patch(target, replacement, **options),
        )
        return _start(self, patcher)

    def patch_object(
        self: _CleanupHost, target: object, attribute: str, new: Any = mock.DEFAULT, **kwargs: Any
    ) -> Any:
        """Replace ``target.attribute`` for the rest of the test.

        Args:
            target: The object holding the attribute (a module, class or instance).
            attribute: The attribute's name.
            new: The replacement; by default an autospec of the original.
            **kwargs: As for :meth:`patch`.

        Returns:
            The object now at ``target.attribute``.

        Raises:
            TypeError: ``new`` is a sync mock but the original is an async function.
            AttributeError: The attribute does not exist (and ``create`` is not set).

        Example:
            >>> # close = self.patch_object(Client, "close")
        """
        patcher = _make_patcher(
            f"patch_object({_label(target)}, {attribute!r})",
            lambda: target,
            attribute,
            new,
            kwargs,
            lambda replacement, **options: mock.patch.object(target, attribute, replacement, **options),
        )
        return _start(self, patcher)

    def patch_dict(
        self: _CleanupHost,
        in_dict: Any,
        values: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = (),
        *,
        clear: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Update a dictionary for the rest of the test, restoring it afterwards.

        Args:
            in_dict: The mapping, or its dotted name (``"os.environ"``).
            values: Items to set.
            clear: Empty the mapping first.
            **kwargs: More items to set (string keys).

        Returns:
            The patched mapping.

        Example:
            >>> # env = self.patch_dict("os.environ", {"MODE": "test"})
        """
        patcher = mock.patch.dict(in_dict, values, clear=clear, **kwargs)
        return _start(self, patcher)
