"""The ``autospec`` factory: ``create_autospec`` made right for async code.

The standard library's ``create_autospec`` almost fits async code; this module closes
the gaps:

* ``create_autospec`` turns an async generator method into a MagicMock whose result
  cannot be set to the items to yield;
* an autospecced async context manager or async iterator gives a fresh mock from
  ``async with`` rather than the instance, and an ``anext()`` that never stops;
* autospecced sync methods claim to be coroutine functions (gh-85794).

The async iterator it hands out comes from ``_mocks.py``; ``_patching.py`` builds on it.
"""

from __future__ import annotations

import collections.abc
import difflib
import functools
import inspect
import re
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Final
from unittest import mock

from ._mocks import AsyncIteratorMock

__all__ = ("autospec",)

# Keep our frames out of the tracebacks of failing tests (CPython's unittest rule).
__unittest = True
__tracebackhide__ = True  # and out of pytest's (STYLE.md 14)

# The async protocol methods autospec() wires and lets `returns=`/`side_effects=` set.
_ASYNC_PROTOCOL: Final = ("__aenter__", "__aexit__", "__aiter__")


def _label(obj: object) -> str:
    for attribute in ("__qualname__", "__name__"):
        name = getattr(obj, attribute, None)
        if isinstance(name, str):
            return name
    return f"{type(obj).__qualname__} instance"


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
        if not isinstance(child, mock.AsyncMock) and _returns_awaitable(function):
            _make_awaitable(target, spec, entry)
            continue
        _fix_function_flags(child, function)
        if inspect.isasyncgenfunction(function):
            _wire_async_generator(child, f"{label}.{entry}")


# A return annotation written as text (``from __future__ import annotations``)
# that names an awaitable: ``Awaitable[int]``, ``typing.Coroutine[...]``.
_AWAITABLE_TEXT = re.compile(r"^(?:[\w.]*\.)?(?:Awaitable|Coroutine)\b")
_CO_ASYNC = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE


def _returns_awaitable(function: Any) -> bool:
    """Whether a sync-looking function returns an awaitable, by what it says of itself.

    ``create_autospec`` makes an ``AsyncMock`` only for ``async def``. Many
    libraries' async methods are plain ``def`` that return an awaitable
    (aiosqlite's ``Connection.execute`` returns a ``Result`` made from the
    ``async def`` it wraps): then ``await mock.execute(...)`` raised
    TypeError. A function counts as returning an awaitable when its code
    flags say coroutine, when a function it wraps (``__wrapped__``, as
    ``functools.wraps`` sets) is a coroutine function, or when its return
    annotation is ``Awaitable``/``Coroutine`` or a class with ``__await__``.
    """
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        return False  # create_autospec sees these itself
    code = getattr(function, "__code__", None)
    if isinstance(code, types.CodeType) and code.co_flags & _CO_ASYNC:
        return True
    wrapped = function
    for _ in range(100):  # a __wrapped__ chain can loop
        wrapped = getattr(wrapped, "__wrapped__", None)
        if wrapped is None:
            break
        if inspect.iscoroutinefunction(wrapped):
            return True
    try:
        annotation = function.__annotations__.get("return")
    except Exception:  # 3.14+ evaluates annotations here: a missing name
        return False
    if isinstance(annotation, str):
        if _AWAITABLE_TEXT.match(annotation):
            return True
        head = annotation.split("[", 1)[0].strip()
        annotation = getattr(function, "__globals__", {}).get(head) if head.isidentifier() else None
    origin = typing.get_origin(annotation) or annotation
    if origin in (collections.abc.Awaitable, collections.abc.Coroutine):
        return True
    return isinstance(origin, type) and hasattr(origin, "__await__")


def _make_awaitable(target: Any, spec: object, entry: str) -> None:
    """Make ``target.entry`` an AsyncMock, as create_autospec makes one for an ``async def``."""
    # The same steps as create_autospec's for a coroutine function (3.10-3.15):
    # a child AsyncMock specced on the function, its signature checked.
    original = getattr(spec, entry)
    skip_first = mock._must_skip(spec, entry, isinstance(spec, type))  # type: ignore[attr-defined]
    spec_set = getattr(target, "_spec_set", None) is not None
    kwargs: dict[str, Any] = {"spec_set" if spec_set else "spec": original, "_eat_self": skip_first}
    child = mock.AsyncMock(parent=target, name=entry, _new_name=entry, _new_parent=target, **kwargs)
    target._mock_children[entry] = child
    if entry in vars(target):
        vars(target)[entry] = child  # where the first getattr() cached the sync child
    child.return_value = mock.AsyncMock()
    mock._check_signature(original, child, skipfirst=skip_first)  # type: ignore[attr-defined]


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


def _check_side_effect(label: str, where: str, value: object) -> None:
    """Refuse a side effect mock would only choke on at the first call (``side_effects={"f": 5}``)."""
    # None, a function or an exception class (callable), an exception, an iterable.
    if value is None or callable(value) or isinstance(value, (BaseException, Iterable)):
        return
    raise TypeError(
        f"autospec({label}): {where} must be a callable, an exception (class or instance) or an "
        f"iterable of results; got {value!r} ({type(value).__name__}). To set what it returns, "
        "use returns= (or return_value=)."
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
    for key, value in side_effects.items():
        _check_side_effect(label, f"side_effects[{key!r}]", value)
    if side_effect is not None:
        _check_side_effect(label, "side_effect", side_effect)
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
