"""Fake monotonic (and optionally wall) time on a `VirtualClock`, one thread at a time.

`patch_time` replaces ``time.monotonic``, ``time.monotonic_ns``,
``time.perf_counter`` and ``time.perf_counter_ns`` (and, with ``wall=``,
``time.time`` and ``time.time_ns``) by functions that read the clock on the
thread that owns it and call the real function everywhere else. The clock's
owner is ``clock._thread_id``: the thread a virtual event loop runs on, or the
thread that entered `patch_time` when no loop has run yet. It is read on every
call, so a loop that starts later on another thread takes effect at once.

Design, in short:

* Process-wide state is reference-counted: the first active patch installs the
  fakes into the ``time`` module, the last one puts back the very objects it
  found. Every activation (one ``with`` block, one decorated call) holds
  references; exits may come in any order.
* The fakes dispatch on one module global, ``_top``: the only active clock,
  or a sentinel meaning "none" or "several" (then a scan of ``_clocks``,
  innermost first). One global read keeps a reader from seeing half of an
  update made by another thread, and keeps the fast path to one attribute
  read, one ``get_ident()`` call and one integer compare.
* Aliases (``from time import monotonic``, ``timer=time.monotonic`` defaults,
  class attributes) are found by scanning only the modules the user names, so
  the cost grows with the targets, never with ``sys.modules``.
"""

from __future__ import annotations

import asyncio
import datetime as _datetime_module
import functools
import importlib
import inspect
import math
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterable
from datetime import date as _real_date
from datetime import datetime as _real_datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar, Union, cast, final

from ._clock import VirtualClock

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ("TimePatch", "patch_time")

_F = TypeVar("_F", bound=Callable[..., Any])

_get_ident: Final = threading.get_ident
_UTC: Final = _datetime_module.timezone.utc

# CPython 3.12+ deprecate datetime.datetime.utcnow() (gh-103857). The fake
# warns exactly where the real one would, attributed to the caller's line.
_UTCNOW_WARNS: Final = sys.version_info >= (3, 12)
_UTCNOW_MESSAGE: Final = (
    "datetime.datetime.utcnow() is deprecated and scheduled for removal in a future "
    "version. Use timezone-aware objects to represent datetimes in UTC: "
    "datetime.datetime.now(datetime.UTC)."
)

# How many items of one container (list, dict, ...) the alias diagnostic looks
# at: a module holding a million-row table must not make patch_time slow.
_CONTAINER_SCAN_LIMIT: Final = 1000


# ---------------------------------------------------------------------------
# Dispatch state, read by the fakes without a lock
# ---------------------------------------------------------------------------


@final
class _NoClock:
    """Stands in for "no clock" or "several clocks" in the dispatch globals."""

    __slots__ = ("_ns", "_s", "_thread_id")

    def __init__(self) -> None:
        # get_ident() never returns -1, and an int compare stays on the fast path.
        self._thread_id = -1
        self._s = 0.0
        self._ns = 0


_Owner = Union[VirtualClock, _NoClock]  # noqa: UP007 (a runtime alias on 3.10)


@final
class _Wall:
    """One wall-clock patch: wall time = ``delta_ns`` + the clock's virtual time."""

    __slots__ = ("clock", "delta_ns")

    def __init__(self, clock: _Owner, delta_ns: int) -> None:
        self.clock = clock
        self.delta_ns = delta_ns


_NO_CLOCK: Final = _NoClock()
_MULTI: Final = _NoClock()
_NO_WALL: Final = _Wall(_NO_CLOCK, 0)
_WALL_MULTI: Final = _Wall(_MULTI, 0)

_top: _Owner = _NO_CLOCK
_clocks: tuple[VirtualClock, ...] = ()
_wall_top: _Wall = _NO_WALL
_walls: tuple[_Wall, ...] = ()

# What the fakes call off the owner thread: the objects found in `time` when
# the fakes were installed (the import-time ones until then).
_real_monotonic: Callable[[], float] = time.monotonic
_real_monotonic_ns: Callable[[], int] = time.monotonic_ns
_real_perf_counter: Callable[[], float] = time.perf_counter
_real_perf_counter_ns: Callable[[], int] = time.perf_counter_ns
_real_time: Callable[[], float] = time.time
_real_time_ns: Callable[[], int] = time.time_ns


def _find_clock() -> VirtualClock | None:
    me = _get_ident()
    for clock in _clocks:
        if clock._thread_id == me:
            return clock
    return None


def _find_wall() -> _Wall | None:
    me = _get_ident()
    for wall in _walls:
        if wall.clock._thread_id == me:
            return wall
    return None


# The four fakes repeat their body instead of sharing a helper: one more
# Python call would cost about a third of the budget (bench/bench_timepatch.py).


def _virtual_monotonic() -> float:
    """Return the virtual clock's seconds on its owner thread, else real ``time.monotonic()``."""
    top = _top
    if top._thread_id == _get_ident():
        return top._s
    if top is _MULTI:
        clock = _find_clock()
        if clock is not None:
            return clock._s
    return _real_monotonic()


def _virtual_monotonic_ns() -> int:
    """Return the virtual clock's nanoseconds on its owner thread, else the real value."""
    top = _top
    if top._thread_id == _get_ident():
        return top._ns
    if top is _MULTI:
        clock = _find_clock()
        if clock is not None:
            return clock._ns
    return _real_monotonic_ns()


def _virtual_perf_counter() -> float:
    """Return the virtual clock's seconds on its owner thread, else real ``time.perf_counter()``."""
    top = _top
    if top._thread_id == _get_ident():
        return top._s
    if top is _MULTI:
        clock = _find_clock()
        if clock is not None:
            return clock._s
    return _real_perf_counter()


def _virtual_perf_counter_ns() -> int:
    """Return the virtual clock's nanoseconds on its owner thread, else the real value."""
    top = _top
    if top._thread_id == _get_ident():
        return top._ns
    if top is _MULTI:
        clock = _find_clock()
        if clock is not None:
            return clock._ns
    return _real_perf_counter_ns()


def _virtual_time_ns() -> int:
    """Return the patched wall time in nanoseconds on the owner thread, else the real one."""
    wall = _wall_top
    clock = wall.clock
    if clock._thread_id == _get_ident():
        return wall.delta_ns + clock._ns
    if wall is _WALL_MULTI:
        found = _find_wall()
        if found is not None:
            return found.delta_ns + found.clock._ns
    return _real_time_ns()


def _virtual_time() -> float:
    """Return the patched wall time in seconds on the owner thread, else real ``time.time()``."""
    wall = _wall_top
    clock = wall.clock
    if clock._thread_id == _get_ident():
        return (wall.delta_ns + clock._ns) / 1e9
    if wall is _WALL_MULTI:
        found = _find_wall()
        if found is not None:
            return (found.delta_ns + found.clock._ns) / 1e9
    return _real_time()


_MONO_FAKES: Final[dict[str, Callable[[], object]]] = {
    "monotonic": _virtual_monotonic,
    "monotonic_ns": _virtual_monotonic_ns,
    "perf_counter": _virtual_perf_counter,
    "perf_counter_ns": _virtual_perf_counter_ns,
}
_WALL_FAKES: Final[dict[str, Callable[[], object]]] = {
    "time": _virtual_time,
    "time_ns": _virtual_time_ns,
}


def _set_real(name: str, func: Callable[[], Any]) -> None:
    # Rebind the module global _real_<name> that the fake of that name calls.
    globals()["_real_" + name] = func


# ---------------------------------------------------------------------------
# datetime: the C types cannot be patched, so target modules get subclasses
# ---------------------------------------------------------------------------


class _VirtualDateMeta(type):
    # Code in a target module may test isinstance(x, datetime) with x made
    # elsewhere: answer for the real class.
    _atk_real: type

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls._atk_real)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._atk_real)


@final
class _VirtualDatetime(_real_datetime, metaclass=_VirtualDateMeta):
    """``datetime.datetime`` whose ``now``/``utcnow``/``today`` read the patched wall time.

    Every constructor returns a real ``datetime.datetime``, so no instance of
    this class outlives the patch (pickles, reprs and ``type()`` stay real).
    """

    _atk_real = _real_datetime

    def __new__(cls, *args: Any, **kwargs: Any) -> _real_datetime:  # type: ignore[misc]
        # The C alternate constructors (fromtimestamp, fromisoformat, combine,
        # strptime) call cls(...) for a subclass, so they all land here.
        return _real_datetime(*args, **kwargs)

    @classmethod
    def now(cls, tz: _datetime_module.tzinfo | None = None) -> _real_datetime:  # type: ignore[override]
        return _real_datetime.fromtimestamp(_virtual_time(), tz)

    @classmethod
    def today(cls) -> _real_datetime:  # type: ignore[override]
        return _real_datetime.fromtimestamp(_virtual_time())

    @classmethod
    def utcnow(cls) -> _real_datetime:  # type: ignore[override]
        if _UTCNOW_WARNS:
            warnings.warn(_UTCNOW_MESSAGE, DeprecationWarning, stacklevel=2)
        utc = _real_datetime.fromtimestamp(_virtual_time(), _UTC)
        return utc.replace(tzinfo=None)


@final
class _VirtualDate(_real_date, metaclass=_VirtualDateMeta):
    """``datetime.date`` whose ``today()`` reads the patched wall time."""

    _atk_real = _real_date

    def __new__(cls, *args: Any, **kwargs: Any) -> _real_date:  # type: ignore[misc]
        return _real_date(*args, **kwargs)

    @classmethod
    def today(cls) -> _real_date:  # type: ignore[override]
        return _real_date.fromtimestamp(_virtual_time())


def _make_datetime_proxy() -> types.ModuleType:
    # For `import datetime` in a target: a module object like the real one
    # whose `datetime` and `date` are the virtual classes.
    proxy = types.ModuleType(_datetime_module.__name__, _datetime_module.__doc__)
    vars(proxy).update(vars(_datetime_module))
    proxy.datetime = _VirtualDatetime  # type: ignore[attr-defined]
    proxy.date = _VirtualDate  # type: ignore[attr-defined]
    return proxy


_DATETIME_PROXY: Final = _make_datetime_proxy()

# Real object -> (fake, label). Keyed by id(): _KEEP_ALIVE holds the real
# objects for as long as this module lives, so an id found here is that very
# object, whatever is later bound in `time`.
_KEEP_ALIVE: Final = (
    *(getattr(time, name) for name in (*_MONO_FAKES, *_WALL_FAKES)),
    _real_datetime,
    _real_date,
    _datetime_module,
)
_MONO_SWAPS: Final[dict[int, tuple[object, str]]] = {
    id(getattr(time, name)): (fake, "time." + name) for name, fake in _MONO_FAKES.items()
}
_WALL_SWAPS: Final[dict[int, tuple[object, str]]] = {
    id(time.time): (_virtual_time, "time.time"),
    id(time.time_ns): (_virtual_time_ns, "time.time_ns"),
    id(_real_datetime): (_VirtualDatetime, "datetime.datetime"),
    id(_real_date): (_VirtualDate, "datetime.date"),
    id(_datetime_module): (_DATETIME_PROXY, "the datetime module"),
}
_METHOD_SWAPS: Final[dict[tuple[type, str], object]] = {
    (_real_datetime, "now"): _VirtualDatetime.now,
    (_real_datetime, "utcnow"): _VirtualDatetime.utcnow,
    (_real_datetime, "today"): _VirtualDatetime.today,
    (_real_date, "today"): _VirtualDate.today,
}


def _swap_for(value: object, wall: bool) -> tuple[object, str] | None:
    """Return (fake, label) when ``value`` is a real time function we replace."""
    hit = _MONO_SWAPS.get(id(value))
    if hit is not None or not wall:
        return hit
    hit = _WALL_SWAPS.get(id(value))
    if hit is not None:
        return hit
    # datetime.datetime.now is a new bound builtin method on every access.
    if type(value) is types.BuiltinMethodType:
        owner = getattr(value, "__self__", None)
        if owner is _real_datetime or owner is _real_date:
            fake = _METHOD_SWAPS.get((owner, value.__name__))
            if fake is not None:
                return fake, f"{owner.__module__}.{owner.__name__}.{value.__name__}"
    return None


# ---------------------------------------------------------------------------
# Rebindable references ("sites") and their reference counts
# ---------------------------------------------------------------------------

_ATTR: Final = "attribute"
_DEFAULT: Final = "default"
_KWDEFAULT: Final = "kwdefault"

_SiteKey = tuple[int, str, Union[str, int]]  # noqa: UP007 (a runtime alias on 3.10)


@final
class _Site:
    """One reference we rebind: an attribute, or one default of one function."""

    __slots__ = ("count", "fake", "key", "kind", "name", "original", "owner", "wall", "what", "where")

    def __init__(
        self,
        owner: object,
        kind: str,
        name: str | int,
        original: object,
        fake: object,
        where: str,
        what: str,
        wall: bool,
    ) -> None:
        self.key: _SiteKey = (id(owner), kind, name)
        self.owner = owner
        self.kind = kind
        self.name = name
        self.original = original
        self.fake = fake
        self.where = where
        self.what = what
        self.wall = wall
        self.count = 0  # how many activations hold it; applied while > 0

    @property
    def label(self) -> str:
        return f"{self.where} ({self.what})"


@final
class _Defaults:
    """A function whose defaults we rebind: its original objects and active sites."""

    __slots__ = ("defaults", "func", "kwdefaults", "sites")

    def __init__(self, func: types.FunctionType) -> None:
        self.func = func
        self.defaults = func.__defaults__
        self.kwdefaults = func.__kwdefaults__
        self.sites: list[_Site] = []

    def refresh(self) -> None:
        # Rebuild from the originals; with nothing active put back the very
        # original tuple and dict objects.
        by_index = {s.name: s.fake for s in self.sites if s.kind == _DEFAULT}
        by_name = {s.name: s.fake for s in self.sites if s.kind == _KWDEFAULT}
        if by_index and self.defaults is not None:
            self.func.__defaults__ = tuple(
                by_index.get(i, v) for i, v in enumerate(self.defaults)
            )
        else:
            self.func.__defaults__ = self.defaults
        if by_name and self.kwdefaults is not None:
            self.func.__kwdefaults__ = {
                k: by_name.get(k, v) for k, v in self.kwdefaults.items()
            }
        else:
            self.func.__kwdefaults__ = self.kwdefaults


_sites: dict[_SiteKey, _Site] = {}
_defaults: dict[int, _Defaults] = {}


def _apply(site: _Site) -> None:
    if site.kind == _ATTR:
        setattr(site.owner, cast(str, site.name), site.fake)
        return
    func = cast(types.FunctionType, site.owner)
    record = _defaults.get(id(func))
    if record is None:
        record = _defaults[id(func)] = _Defaults(func)
    record.sites.append(site)
    record.refresh()


def _unapply(site: _Site) -> None:
    if site.kind == _ATTR:
        setattr(site.owner, cast(str, site.name), site.original)
        return
    record = _defaults[id(site.owner)]
    record.sites.remove(site)
    if not record.sites:
        del _defaults[id(site.owner)]
    record.refresh()


# ---------------------------------------------------------------------------
# Scanning target modules
# ---------------------------------------------------------------------------


# Cheap first filter of the scan, by identity: a value is worth a closer look
# only if it is one of these objects (a real function we replace, or one of
# our fakes in a reference an active patch rebound), or of these types.
_MONO_IDS: Final = frozenset(_MONO_SWAPS) | {id(f) for f in _MONO_FAKES.values()}
_WALL_IDS: Final = (
    _MONO_IDS
    | frozenset(_WALL_SWAPS)
    | {id(fake) for fake, _ in _WALL_SWAPS.values()}
    | {id(fake) for fake in _METHOD_SWAPS.values()}
)
_REAL_MONO_IDS: Final = frozenset(_MONO_SWAPS)
_REAL_WALL_IDS: Final = frozenset(_MONO_SWAPS) | frozenset(_WALL_SWAPS)
_CONTAINERS: Final = (list, tuple, dict, set, frozenset, functools.partial)
_WRAPPERS: Final = (staticmethod, classmethod, property, functools.cached_property)
_CLASS_SKIP: Final = frozenset({"__dict__", "__weakref__", "__module__", "__doc__"})


@final
class _Scan:
    """Walk target modules; collect rebindable references and the unpatchable ones.

    The cost is a few dictionary and identity checks per name in the targets'
    namespaces (modules, classes defined there, function defaults); strings
    for the report are built only for what is found.
    """

    __slots__ = ("_ids", "_real_ids", "_seen", "_special", "refs", "unpatched", "wall")

    def __init__(self, wall: bool) -> None:
        self.wall = wall
        self.refs: list[_Site] = []  # shared active sites, and new ones (count 0)
        self.unpatched: list[str] = []
        self._seen: set[int] = set()
        self._ids = _WALL_IDS if wall else _MONO_IDS
        self._real_ids = _REAL_WALL_IDS if wall else _REAL_MONO_IDS
        # staticmethod(time.monotonic) in a class body; with wall, the bound
        # builtin datetime.datetime.now held as a default.
        self._special: tuple[type, ...] = (
            (staticmethod, types.BuiltinMethodType) if wall else (staticmethod,)
        )

    def module(self, mod: types.ModuleType) -> None:
        modname = mod.__name__
        self._namespace(mod, modname, modname, list(vars(mod).items()))

    def _namespace(
        self, owner: object, modname: str, prefix: str, items: list[tuple[str, Any]]
    ) -> None:
        ids = self._ids
        special = self._special
        for name, value in items:
            kind = type(value)
            if id(value) in ids or kind in special:
                self._slot(owner, _ATTR, name, value, f"{prefix}.{name}")
            if kind is types.FunctionType or kind in _WRAPPERS:
                for func in _functions_in(value):
                    if func.__module__ == modname:
                        self._function(func, f"{prefix}.{name}")
            elif isinstance(value, type):
                if value.__module__ == modname and id(value) not in self._seen:
                    self._seen.add(id(value))
                    items = [item for item in vars(value).items() if item[0] not in _CLASS_SKIP]
                    self._namespace(value, modname, f"{modname}.{value.__qualname__}", items)
            elif name[:2] == "__":
                continue  # __builtins__ and friends
            elif isinstance(value, _CONTAINERS):
                self._container(value, f"{prefix}.{name}")
            elif kind.__module__ == modname and type(kind) is type:
                self._instance(value, f"{prefix}.{name}")

    def _function(self, func: types.FunctionType, where: str) -> None:
        if id(func) in self._seen:
            return
        self._seen.add(id(func))
        ids = self._ids
        special = self._special
        defaults = func.__defaults__
        if defaults:
            for i, value in enumerate(defaults):
                if id(value) in ids or type(value) in special or isinstance(value, _CONTAINERS):
                    code = func.__code__
                    param = code.co_varnames[code.co_argcount - len(defaults) + i]
                    self._slot(func, _DEFAULT, i, value, _default_label(func, param))
        kwdefaults = func.__kwdefaults__
        if kwdefaults:
            for param, value in list(kwdefaults.items()):
                if id(value) in ids or type(value) in special or isinstance(value, _CONTAINERS):
                    self._slot(func, _KWDEFAULT, param, value, _default_label(func, param))
        closure = func.__closure__
        if closure:
            real_ids = self._real_ids
            for var, cell in zip(func.__code__.co_freevars, closure, strict=True):
                try:
                    value = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                if id(value) in real_ids:
                    self._report(f"{where} closure variable {var!r}", value, "closure cells are")

    def _slot(
        self,
        owner: object,
        kind: str,
        name: str | int,
        value: object,
        where: str,
    ) -> None:
        key: _SiteKey = (id(owner), kind, name)
        site = _sites.get(key)
        if site is not None:
            # Rebound by an activation still active: share it.
            if self.wall or not site.wall:
                self.refs.append(site)
            return
        inner = value.__func__ if kind == _ATTR and isinstance(value, staticmethod) else value
        swap = _swap_for(inner, self.wall)
        if swap is None:
            if kind != _ATTR and isinstance(value, _CONTAINERS):
                self._container(value, where)
            return
        fake, what = swap
        if inner is not value:
            fake = staticmethod(cast(Callable[..., Any], fake))
        is_wall = id(inner) not in _MONO_SWAPS
        self.refs.append(_Site(owner, kind, name, value, fake, where, what, is_wall))

    def _container(self, value: object, where: str) -> None:
        limit = _CONTAINER_SCAN_LIMIT
        items: list[tuple[str, object]]
        if isinstance(value, (list, tuple)):
            kind = type(value).__name__
            items = [(f"[{i}]", v) for i, v in enumerate(value[:limit])]
        elif isinstance(value, (set, frozenset)):
            kind = type(value).__name__
            items = [("", v) for v in list(value)[:limit]]
        elif isinstance(value, dict):
            kind = "dict"
            items = [(f"[{k!r}]", v) for k, v in list(value.items())[:limit]]
        elif isinstance(value, functools.partial):
            kind = "functools.partial"
            items = [(".func", value.func)]
            items += [(f".args[{i}]", v) for i, v in enumerate(value.args)]
            items += [(f".keywords[{k!r}]", v) for k, v in value.keywords.items()]
        else:
            return
        real_ids = self._real_ids
        for suffix, item in items:
            if id(item) in real_ids:
                self._report(f"{where}{suffix}", item, f"a {kind} item is")

    def _instance(self, obj: object, where: str) -> None:
        # A module-level instance (a default cache, say) that captured the real
        # function at import: report it, as instances are not rebound.
        try:
            attrs = object.__getattribute__(obj, "__dict__")
        except Exception:
            return
        if not isinstance(attrs, dict):
            return
        real_ids = self._real_ids
        for name, value in list(attrs.items())[:_CONTAINER_SCAN_LIMIT]:
            if id(value) in real_ids:
                self._report(f"{where}.{name}", value, "an instance attribute is")

    def _report(self, where: str, value: object, what_is: str) -> None:
        swap = _swap_for(value, self.wall)
        if swap is not None:
            self.unpatched.append(f"{where} holds {swap[1]} ({what_is} not rebound)")


def _default_label(func: types.FunctionType, param: str) -> str:
    return f"{func.__module__}.{func.__qualname__}() default {param!r}"


def _functions_in(value: object) -> list[types.FunctionType]:
    """Return the plain functions behind a function, method wrapper or property."""
    if type(value) is types.FunctionType and not hasattr(value, "__wrapped__"):
        return [value]
    if isinstance(value, (staticmethod, classmethod)):
        candidates: list[object] = [value.__func__]
    elif isinstance(value, property):
        candidates = [value.fget, value.fset, value.fdel]
    elif isinstance(value, functools.cached_property):
        candidates = [value.func]
    else:
        candidates = [value]
    found: list[types.FunctionType] = []
    for candidate in candidates:
        # Follow functools.wraps chains: the defaults live on the inner function.
        seen: set[int] = set()
        while isinstance(candidate, types.FunctionType) and id(candidate) not in seen:
            seen.add(id(candidate))
            found.append(candidate)
            candidate = getattr(candidate, "__wrapped__", None)
    return found


# ---------------------------------------------------------------------------
# Validating and resolving the options
# ---------------------------------------------------------------------------


def _refused_reason(modname: str) -> str | None:
    top = modname.partition(".")[0]
    if top == "asynctestkit":
        return "asynctestkit itself is never rebound"
    if top in sys.stdlib_module_names or top == "builtins":
        return (
            "the standard library is never rebound (threading, queue, asyncio and "
            "subprocess must keep real time)"
        )
    return None


def _check_targets(targets: object) -> tuple[str | types.ModuleType, ...]:
    if isinstance(targets, (str, types.ModuleType)):
        targets = (targets,)
    if not isinstance(targets, Iterable):
        raise TypeError(
            "patch_time(targets=...) takes module objects or dotted module names; "
            f"got {targets!r}"
        )
    checked: list[str | types.ModuleType] = []
    for i, target in enumerate(targets):
        if isinstance(target, types.ModuleType):
            name = target.__name__
        elif isinstance(target, str):
            name = target
            if not name or name.startswith(".") or not all(
                part.isidentifier() for part in name.split(".")
            ):
                raise ValueError(
                    f"patch_time(targets=...) needs absolute dotted module names; got "
                    f"{name!r} at position {i}"
                )
        else:
            raise TypeError(
                "patch_time(targets=...) takes module objects or dotted module names; "
                f"got {target!r} ({type(target).__name__}) at position {i}"
            )
        reason = _refused_reason(name)
        if reason is not None:
            raise ValueError(
                f"patch_time(targets=...) refuses {name!r}: {reason}. Name the modules "
                "of the code under test"
            )
        checked.append(target)
    return tuple(checked)


def _check_wall(wall: object) -> bool | int:
    """Return False, True (start at entry) or the start as integer nanoseconds."""
    if isinstance(wall, bool):
        return wall
    if isinstance(wall, (int, float)):
        if not math.isfinite(wall):
            raise ValueError(f"patch_time(wall=...) needs a finite timestamp; got {wall!r}")
        start_ns = wall * 1_000_000_000 if isinstance(wall, int) else round(wall * 1e9)
        what = f"timestamp {wall!r}"
    elif isinstance(wall, _real_datetime):
        if wall.tzinfo is not None and wall.utcoffset() is None:
            raise ValueError(
                f"patch_time(wall=...) got {wall!r}, whose tzinfo gives no UTC offset: it "
                "is neither naive nor aware, so it names no instant. Pass an aware "
                "datetime (tzinfo=datetime.timezone.utc) or a naive one meant as local time"
            )
        what = repr(wall)
        aware = wall
        if wall.tzinfo is None:
            # A naive datetime is local time; astimezone() resolves it (fold
            # picks between the two readings of an hour that repeats).
            try:
                aware = wall.astimezone()
            except (OverflowError, OSError, ValueError):
                raise ValueError(
                    f"patch_time(wall=...) got {what}, outside what the local time zone "
                    "can represent"
                ) from None
            if aware.replace(tzinfo=None) != wall:
                raise ValueError(
                    f"patch_time(wall=...) got the naive {what}, which does not exist "
                    "in the local time zone (a daylight-saving gap); pass an aware "
                    "datetime instead"
                )
        start_ns = _aware_ns(aware)
    else:
        raise TypeError(
            "patch_time(wall=...) takes True, False, a timestamp in seconds or a "
            f"datetime.datetime; got {wall!r} ({type(wall).__name__})"
        )
    try:
        _real_datetime.fromtimestamp(start_ns // 1_000_000_000, _UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(
            f"patch_time(wall=...) got {what}, outside what datetime can represent"
        ) from None
    return int(start_ns)


def _aware_ns(moment: _real_datetime) -> int:
    # Exact: no float on the way.
    epoch = _real_datetime(1970, 1, 1, tzinfo=_UTC)
    delta = moment - epoch
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000


def _resolve(targets: tuple[str | types.ModuleType, ...]) -> list[types.ModuleType]:
    """Import the targets and add their already-imported submodules."""
    modules: list[types.ModuleType] = []
    seen: set[int] = set()

    def add(mod: types.ModuleType) -> None:
        if id(mod) in seen:
            return
        seen.add(id(mod))
        modules.append(mod)
        if not hasattr(mod, "__path__"):
            return
        # The import system binds every imported submodule as an attribute of
        # its package, so looking up the package's own names finds them in a
        # time that grows with the package, not with sys.modules. A submodule
        # whose attribute the package shadows keeps its name in vars(), so
        # sys.modules.get() still finds it.
        prefix = mod.__name__ + "."
        for name in list(vars(mod)):
            sub = sys.modules.get(prefix + name)
            if isinstance(sub, types.ModuleType):
                add(sub)

    for target in targets:
        if isinstance(target, types.ModuleType):
            add(target)
            continue
        mod = sys.modules.get(target)
        if mod is None:
            try:
                mod = importlib.import_module(target)
            except ModuleNotFoundError as exc:
                raise ModuleNotFoundError(
                    f"patch_time(targets=...) names {target!r}, which cannot be "
                    f"imported ({exc}); give the dotted name of an importable module "
                    "or the module object itself",
                    name=target,
                ) from exc
        if not isinstance(mod, types.ModuleType):
            raise TypeError(
                f"patch_time(targets=...) names {target!r}, but sys.modules holds "
                f"{mod!r} there, which is not a module"
            )
        add(mod)
    return modules


# ---------------------------------------------------------------------------
# Activations: one per `with` block or decorated call
# ---------------------------------------------------------------------------

_lock = threading.RLock()  # an RLock: a generator finalised by gc may exit a patch while we hold it
_entries: list[_Activation] = []
_clock_refs: dict[int, list[Any]] = {}  # id(clock) -> [clock, count, thread id we set or None]
_saved: dict[str, object] = {}  # time attribute -> the object to put back
_mono_count = 0
_wall_count = 0
_generation = 0  # bumped on every change of _entries


def _republish() -> None:
    """Recompute the dispatch globals from the active entries, innermost first."""
    global _top, _clocks, _wall_top, _walls
    while True:
        # A generator collected by gc in here may exit a patch (the lock is an
        # RLock) and change _entries under us: publish again until stable.
        generation = _generation
        clocks: list[VirtualClock] = []
        walls: list[_Wall] = []
        for entry in reversed(tuple(_entries)):
            if entry.clock not in clocks:
                clocks.append(entry.clock)
            if entry.wall is not None and all(w.clock is not entry.clock for w in walls):
                walls.append(entry.wall)
        # The tuples first: a reader who then sees _MULTI scans current tuples.
        _clocks = tuple(clocks)
        _walls = tuple(walls)
        _top = clocks[0] if len(clocks) == 1 else _MULTI if clocks else _NO_CLOCK
        _wall_top = walls[0] if len(walls) == 1 else _WALL_MULTI if walls else _NO_WALL
        if generation == _generation:
            return


def _bump() -> None:
    global _generation
    _generation += 1


def _install(fakes: dict[str, Callable[[], object]]) -> None:
    for name, fake in fakes.items():
        current = getattr(time, name)
        _saved[name] = current
        if current is not fake:
            _set_real(name, current)
        setattr(time, name, fake)


def _uninstall(fakes: dict[str, Callable[[], object]]) -> None:
    for name in fakes:
        setattr(time, name, _saved.pop(name))


@final
class _Activation:
    """The process-wide changes one `with` block or one decorated call holds."""

    __slots__ = (
        "clock",
        "has_clock",
        "has_mono",
        "has_wall",
        "listed",
        "refs",
        "unpatched",
        "wall",
    )

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.wall: _Wall | None = None
        self.has_clock = self.listed = self.has_mono = self.has_wall = False
        self.refs: list[_Site] = []
        self.unpatched: list[str] = []

    def start(self, patch: TimePatch) -> None:
        global _mono_count, _wall_count
        modules = _resolve(patch._targets)  # may import: outside the lock
        with _lock:
            try:
                clock = self.clock
                _check_owner(clock)
                ref = _clock_refs.get(id(clock))
                if ref is None:
                    ref = _clock_refs[id(clock)] = [clock, 0, None]
                    if clock._thread_id is None:
                        ref[2] = clock._thread_id = _get_ident()
                ref[1] += 1
                self.has_clock = True
                if patch._wall is not False:
                    start_ns = time.time_ns() if patch._wall is True else patch._wall
                    self.wall = _Wall(clock, start_ns - clock._ns)
                _entries.append(self)
                self.listed = True
                _bump()
                _republish()
                if _mono_count == 0:
                    _install(_MONO_FAKES)
                _mono_count += 1
                self.has_mono = True
                if self.wall is not None:
                    if _wall_count == 0:
                        _install(_WALL_FAKES)
                    _wall_count += 1
                    self.has_wall = True
                scan = _Scan(self.wall is not None)
                for mod in modules:
                    scan.module(mod)
                self.unpatched = scan.unpatched
                for site in scan.refs:
                    self._acquire(site)
            except BaseException:
                self.stop()
                raise

    def _acquire(self, site: _Site) -> None:
        if site.count == 0:
            shared = _sites.get(site.key)
            if shared is not None:  # found twice in one scan
                site = shared
            else:
                try:
                    _apply(site)
                except (AttributeError, TypeError) as exc:  # a metaclass that refuses setattr
                    self.unpatched.append(f"{site.label} could not be rebound: {exc!r}")
                    return
                _sites[site.key] = site
        site.count += 1
        self.refs.append(site)

    def stop(self) -> None:
        """Release everything this activation holds; safe on a partial start."""
        global _mono_count, _wall_count
        with _lock:
            failure: BaseException | None = None
            try:
                while self.refs:
                    site = self.refs.pop()
                    site.count -= 1
                    if site.count == 0:
                        del _sites[site.key]
                        try:
                            _unapply(site)
                        except Exception as exc:
                            failure = failure or exc
            finally:
                if self.listed:
                    self.listed = False
                    _entries.remove(self)
                    _bump()
                    _republish()
                if self.has_wall:
                    self.has_wall = False
                    _wall_count -= 1
                    if _wall_count == 0:
                        _uninstall(_WALL_FAKES)
                if self.has_mono:
                    self.has_mono = False
                    _mono_count -= 1
                    if _mono_count == 0:
                        _uninstall(_MONO_FAKES)
                if self.has_clock:
                    self.has_clock = False
                    ref = _clock_refs[id(self.clock)]
                    ref[1] -= 1
                    if ref[1] == 0:
                        del _clock_refs[id(self.clock)]
                        # Give the clock back only if no loop claimed it meanwhile.
                        if ref[2] is not None and self.clock._thread_id == ref[2]:
                            self.clock._thread_id = None
            if failure is not None:
                raise failure


def _check_owner(clock: VirtualClock) -> None:
    # A plain asyncio loop on the owner thread reads time.monotonic() for its
    # timers: under the patch it would see frozen time and never wake up, the
    # very hang that made time-machine stop patching monotonic.
    owner = clock._thread_id
    if owner is not None and owner != _get_ident():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return
    if cast(object, running) is not clock._driver:
        raise RuntimeError(
            f"patch_time() was entered on a thread running {running!r}, which {clock!r} "
            "does not drive: that loop's timers would read a frozen time.monotonic() and "
            "never fire. Run the test on virtual_event_loop(clock) (ClockedTestCase does "
            "this), or enter patch_time() outside the running loop"
        )


# ---------------------------------------------------------------------------
# The public face
# ---------------------------------------------------------------------------


@final
class TimePatch:
    """What `patch_time` returns: a sync/async context manager and a decorator.

    Each ``with`` block and each decorated call is its own activation; the
    object may be entered again (nested) and used to decorate many functions.
    Make one object per thread if several threads enter it as a context
    manager at once: ``__exit__`` leaves this object's innermost block.

    After entering, `patched` and `unpatched` tell what the scan of
    ``targets`` found; `report` formats both.
    """

    __slots__ = ("_clock", "_last", "_stack", "_targets", "_wall")

    def __init__(
        self,
        clock: VirtualClock,
        *,
        targets: Iterable[str | types.ModuleType] | str | types.ModuleType = (),
        wall: bool | float | _real_datetime = False,
    ) -> None:
        if not isinstance(clock, VirtualClock):
            raise TypeError(
                "patch_time() needs an asynctestkit.VirtualClock as its clock; got "
                f"{clock!r} ({type(clock).__name__}). Make one with VirtualClock(), or "
                "use ClockedTestCase's self.clock"
            )
        self._clock = clock
        self._targets = _check_targets(targets)
        self._wall = _check_wall(wall)
        self._stack: list[_Activation] = []
        self._last: tuple[list[_Site], list[str]] | None = None  # of the latest entry

    # -- context manager ---------------------------------------------------

    def _start(self) -> _Activation:
        activation = _Activation(self._clock)
        activation.start(self)
        self._last = (list(activation.refs), activation.unpatched)
        return activation

    def __enter__(self) -> TimePatch:
        # A KeyboardInterrupt inside start() is rolled back there. One that
        # lands after __enter__ returns but before the `with` body is set up
        # skips __exit__: a CPython limit we cannot reach from here (bpo-29988).
        activation = _Activation(self._clock)
        self._stack.append(activation)
        try:
            activation.start(self)
        except BaseException:
            self._stack.remove(activation)
            raise
        self._last = (list(activation.refs), activation.unpatched)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._stack:
            raise RuntimeError(
                f"{self!r} was exited more times than it was entered; pair every "
                "__exit__ with one __enter__ (or use it in a with block)"
            )
        self._stack.pop().stop()

    async def __aenter__(self) -> TimePatch:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator ---------------------------------------------------------

    def __call__(self, func: _F) -> _F:
        """Return ``func`` wrapped so that every call runs under this patch.

        For a coroutine function the patch is active while the coroutine runs
        (between awaits too), entered on the thread that runs it.

        Raises:
            TypeError: ``func`` is not a function, or is a class, a generator
                function or an async generator function.
        """
        if isinstance(func, type) or not callable(func):
            raise TypeError(
                f"patch_time() decorates functions and methods; got {func!r}. For a "
                "TestCase, use ClockedTestCase or enter the patch in setUp with "
                "self.enterContext()"
            )
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"patch_time() cannot decorate the generator function {func!r}: the "
                "patch would cover only creating the generator. Use `with "
                "patch_time(...)` inside it"
            )
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                activation = self._start()
                try:
                    return await func(*args, **kwargs)
                finally:
                    activation.stop()

            return cast(_F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            activation = self._start()
            try:
                return func(*args, **kwargs)
            finally:
                activation.stop()

        return cast(_F, wrapper)

    # -- diagnostics -------------------------------------------------------

    def _scan_report(self) -> tuple[list[str], list[str]]:
        if self._last is None:
            # Not entered yet: scan without patching.
            scan = _Scan(self._wall is not False)
            modules = _resolve(self._targets)
            with _lock:
                for mod in modules:
                    scan.module(mod)
            return [site.label for site in scan.refs], scan.unpatched
        sites, unpatched = self._last
        return [site.label for site in sites], unpatched

    @property
    def patched(self) -> tuple[str, ...]:
        """The references in ``targets`` rebound by the latest entry.

        Each is ``"<where> (<what>)"``, for example
        ``"myapp.cache.TTLCache.__init__() default 'timer' (time.monotonic)"``.
        Before the first entry, what an entry would rebind (this imports the
        targets).
        """
        return tuple(self._scan_report()[0])

    @property
    def unpatched(self) -> tuple[str, ...]:
        """The references in ``targets`` that hold a patched function and were not rebound.

        Closure cells, items of lists, tuples, sets, dicts and
        ``functools.partial`` objects, and attributes of module-level
        instances, each as ``"<where> holds <what> (<why>)"``, for example
        ``"myapp.retry.TIMERS[0] holds time.monotonic (a list item is not
        rebound)"``. Such code keeps real time; make it look the function
        up when it calls it. Before the first entry, what an entry would
        find (this imports the targets).
        """
        return tuple(self._scan_report()[1])

    def report(self) -> str:
        """Return a human-readable summary of `patched` and `unpatched`.

        Example:
            >>> with patch_time(clock, targets=["myapp"]) as tp:
            ...     print(tp.report())
        """
        patched, unpatched = self._scan_report()
        lines = [
            (
                f"patch_time: {len(patched)} reference(s) rebound, "
                f"{len(unpatched)} not patched, in targets {self._target_names()}"
            )
        ]
        lines += [f"  rebound: {label}" for label in patched]
        lines += [f"  NOT patched: {label}" for label in unpatched]
        if unpatched:
            lines.append(
                "  (code that reaches a function through these keeps real time: make "
                "it call time.monotonic() etc. at call time, or build it after entering "
                "patch_time)"
            )
        return "\n".join(lines)

    def _target_names(self) -> list[str]:
        return [t if isinstance(t, str) else t.__name__ for t in self._targets]

    def __repr__(self) -> str:
        wall = self._wall if isinstance(self._wall, bool) else f"{self._wall / 1e9!r}"
        return (
            f"<TimePatch clock={self._clock!r} targets={self._target_names()!r} "
            f"wall={wall} active={len(self._stack)}>"
        )


def patch_time(
    clock: VirtualClock,
    *,
    targets: Iterable[str | types.ModuleType] | str | types.ModuleType = (),
    wall: bool | float | _real_datetime = False,
) -> TimePatch:
    """Make ``time.monotonic()`` and ``time.perf_counter()`` read ``clock`` on its own thread.

    While active, ``time.monotonic``, ``time.monotonic_ns``,
    ``time.perf_counter`` and ``time.perf_counter_ns`` return ``clock``'s
    virtual time on the thread that owns the clock (the thread its virtual
    event loop runs on, or, before any loop ran, the thread that entered the
    patch) and the real time on every other thread, so executor workers,
    ``threading``, ``queue`` and ``subprocess`` timeouts keep working.
    On the owner thread ``time.monotonic()`` equals ``loop.time()`` and
    ``monotonic_ns()`` equals ``clock.now_ns``, and neither goes backwards.
    Virtual time is its own timeline: the owner thread switches from real to
    virtual time on entry and back on exit.

    Works as a ``with``/``async with`` block and as a decorator of functions,
    coroutine functions and methods. Patches nest (the innermost clock wins on
    a thread) and may be exited in any order; when the last one exits, the
    ``time`` module and every rebound reference hold the very objects they
    held before, whatever way the block ended.

    Not covered: ``time.sleep`` (it really sleeps and does not move the
    clock), ``time.clock_gettime``, ``time.localtime()``/``gmtime()``/
    ``strftime()`` without an argument, ``datetime`` outside the targets, and
    C code. The standard library's own captured references (``threading``,
    ``queue``, ``subprocess``) keep real time by design. A module imported
    while a patch is active may capture a fake (``from time import
    monotonic``); the fake keeps working after exit, reading the real clock.

    Args:
        clock: The clock to read.
        targets: Modules (objects or dotted names; a single one is accepted)
            of the code under test, whose references to the patched functions
            are rebound while active: module-level names (``from time import
            monotonic``), class attributes (``staticmethod(time.monotonic)``
            too) and the default arguments of functions and methods defined
            there (``def __init__(self, timer=time.monotonic)``). A package
            includes its already-imported submodules. With ``wall``, names
            bound to ``datetime.datetime``, ``datetime.date`` or the
            ``datetime`` module are rebound to versions whose ``now()``,
            ``utcnow()``, ``today()`` and ``date.today()`` read the patched
            wall time (``datetime.datetime.now`` held as a default too). What
            could not be rebound is listed in `TimePatch.unpatched`.
        wall: ``False`` (default) leaves the wall clock alone. Otherwise
            ``time.time()`` and ``time.time_ns()`` on the owner thread return a
            start plus the virtual time elapsed since entry: ``True`` starts
            at the wall time at entry; a number is a POSIX timestamp; an aware
            ``datetime`` is that instant; a naive one is local time.

    Returns:
        A `TimePatch`; entering it returns itself.

    Raises:
        TypeError: ``clock`` is not a `VirtualClock`; a target is neither a
            module nor a name; ``wall`` is of another type.
        ValueError: a target is in the standard library or asynctestkit, or is
            not an absolute dotted name; ``wall`` is not finite, out of range,
            a datetime whose tzinfo gives no offset, or a naive datetime that
            does not exist in local time.
        ModuleNotFoundError: on entry, a target name cannot be imported.
        RuntimeError: on entry, the owner thread runs an event loop that
            ``clock`` does not drive (its timers would never fire).

    Example:
        >>> clock = VirtualClock(autojump=False)
        >>> with patch_time(clock, targets=["myapp.cache"]):
        ...     start = time.monotonic()
        ...     clock.jump(5)
        ...     assert time.monotonic() - start == 5
    """
    return TimePatch(clock, targets=targets, wall=wall)
