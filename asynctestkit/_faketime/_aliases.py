"""Aliases of the time functions in target modules: found, rebound, restored, reported.

Aliases (``from time import monotonic``, ``timer=time.monotonic`` defaults,
class attributes) are found by scanning only the modules the user names, so
the cost grows with the targets, never with ``sys.modules``. Each rebindable
reference is a `_Site`, reference-counted across activations and put back to
the very object it held when the last one lets go; what cannot be rebound
(closure cells, container items, instance attributes) is reported instead.
"""

from __future__ import annotations

import datetime as _datetime_module
import functools
import importlib
import sys
import time
import types
from collections.abc import Callable, Iterable
from datetime import date as _real_date
from datetime import datetime as _real_datetime
from typing import Any, Final, Union, cast, final

from ._timefakes import _MONO_FAKES, _WALL_FAKES, _virtual_time, _virtual_time_ns
from ._walltime import _DATETIME_PROXY, _VirtualDate, _VirtualDatetime

__all__ = (
    "_Scan",
    "_Site",
    "_apply",
    "_check_targets",
    "_resolve",
    "_sites",
    "_unapply",
)

# How many items of one container (list, dict, ...) the alias diagnostic looks
# at: a module holding a million-row table must not make patch_time slow.
_CONTAINER_SCAN_LIMIT: Final = 1000


# ---------------------------------------------------------------------------
# The fake that replaces each real object
# ---------------------------------------------------------------------------

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
# Validating and resolving the targets
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
