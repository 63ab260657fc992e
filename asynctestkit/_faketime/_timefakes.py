"""The fake time functions and the dispatch state they read, without a lock.

While a patch is active, ``time.monotonic``, ``time.monotonic_ns``,
``time.perf_counter`` and ``time.perf_counter_ns`` (and, with ``wall=``,
``time.time`` and ``time.time_ns``) are the functions defined here. Each reads
the clock on the thread that owns it and calls the real function everywhere
else. This module only holds what the fakes read; `_timepatch` decides what
they read (``_republish``) and installs them into ``time``.

On the owner thread, code of the standard library reads real time from the
four monotonic fakes, and everyone else virtual time. The standard library
computes real-time deadlines from them for its own blocking helpers
(``multiprocessing.connection.wait``, ``concurrent.futures.wait``, a
``ProcessPoolExecutor`` starting a worker), which would never end on a clock
that only the loop moves; and an event loop the toolkit did not make
(``asyncio.run()`` in a synchronous test, or under ``patch_time``) reads its
time through ``BaseEventLoop.time()``: it runs in real time instead of
hanging on a clock nothing moves. The caller's code object says which it is,
looked up once per code object (`_std`).

The fakes dispatch on one module global, ``_top``: the only active clock, or a
sentinel meaning "none" or "several" (then a scan of ``_clocks``, innermost
first). One global read keeps a reader from seeing half of an update made by
another thread, and keeps the fast path to one attribute read, one
``get_ident()`` call and one integer compare. ``_wall_top`` and ``_walls`` do
the same for the wall clock.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any, Final, Union, final

from .._report import whose
from .._virtual._clock import VirtualClock

__all__ = (
    "_MONO_FAKES",
    "_MULTI",
    "_NO_CLOCK",
    "_NO_WALL",
    "_WALL_FAKES",
    "_WALL_MULTI",
    "_Wall",
    "_clocks",
    "_get_ident",
    "_set_real",
    "_std",
    "_top",
    "_virtual_time",
    "_virtual_time_ns",
    "_wall_top",
    "_walls",
)

_get_ident: Final = threading.get_ident
_getframe: Final = sys._getframe


# ---------------------------------------------------------------------------
# Who reads: the standard library reads real time
# ---------------------------------------------------------------------------

# Code object -> whether it is the standard library's (True: it reads real time).
# Keyed by id(code): hashing a code object costs more than the rest of a fake
# call (it hashes the name, the constants and the bytecode each time). The
# entry holds the code object, so its id cannot be reused while it is cached.
_std: dict[int, tuple[types.CodeType, bool]] = {}


def _learn(code: types.CodeType) -> bool:
    """Return (and remember) whether ``code`` is the standard library's."""
    std = whose(code.co_filename) == "stdlib"
    if len(_std) > 65536:  # pragma: no cover - code generated at run time, say
        _std.clear()
    _std[id(code)] = (code, std)
    return std


# ---------------------------------------------------------------------------
# Dispatch state, read by the fakes without a lock
# ---------------------------------------------------------------------------


@final
class _NoClock:
    """Stands in for "no clock" or "several clocks" in the dispatch globals."""

    __slots__ = ("_ns", "_read", "_s", "_thread_id")

    def __init__(self) -> None:
        self._read = False
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
    """Return virtual seconds on the owner thread (outside the standard library), else real time."""
    top = _top
    if top._thread_id == _get_ident():
        code = _getframe(1).f_code
        std = _std.get(id(code))
        if not (_learn(code) if std is None else std[1]):
            top._read = True
            return top._s
    elif top is _MULTI:
        clock = _find_clock()
        if clock is not None:
            code = _getframe(1).f_code
            std = _std.get(id(code))
            if not (_learn(code) if std is None else std[1]):
                clock._read = True
                return clock._s
    return _real_monotonic()


def _virtual_monotonic_ns() -> int:
    """Return virtual nanoseconds on the owner thread (outside the standard library), else real."""
    top = _top
    if top._thread_id == _get_ident():
        code = _getframe(1).f_code
        std = _std.get(id(code))
        if not (_learn(code) if std is None else std[1]):
            top._read = True
            return top._ns
    elif top is _MULTI:
        clock = _find_clock()
        if clock is not None:
            code = _getframe(1).f_code
            std = _std.get(id(code))
            if not (_learn(code) if std is None else std[1]):
                clock._read = True
                return clock._ns
    return _real_monotonic_ns()


def _virtual_perf_counter() -> float:
    """Return virtual seconds on the owner thread (outside the standard library), else real time."""
    top = _top
    if top._thread_id == _get_ident():
        code = _getframe(1).f_code
        std = _std.get(id(code))
        if not (_learn(code) if std is None else std[1]):
            top._read = True
            return top._s
    elif top is _MULTI:
        clock = _find_clock()
        if clock is not None:
            code = _getframe(1).f_code
            std = _std.get(id(code))
            if not (_learn(code) if std is None else std[1]):
                clock._read = True
                return clock._s
    return _real_perf_counter()


def _virtual_perf_counter_ns() -> int:
    """Return virtual nanoseconds on the owner thread (outside the standard library), else real."""
    top = _top
    if top._thread_id == _get_ident():
        code = _getframe(1).f_code
        std = _std.get(id(code))
        if not (_learn(code) if std is None else std[1]):
            top._read = True
            return top._ns
    elif top is _MULTI:
        clock = _find_clock()
        if clock is not None:
            code = _getframe(1).f_code
            std = _std.get(id(code))
            if not (_learn(code) if std is None else std[1]):
                clock._read = True
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


def _real_time_in_child() -> None:
    """In a forked child, let every fake read real time: no clock is owned there.

    A child forked inside a patched region (``os.fork``, ``multiprocessing``'s
    fork start method, a fork ``ProcessPoolExecutor``) keeps one thread, with
    the forking thread's id: if that thread owned a clock, the child would
    read the parent's virtual time, frozen, forever (an ``asyncio.run`` there
    never wakes). The child's copies of the clocks are given up; a virtual
    loop run anew in the child claims its clock again.
    """
    for clock in _clocks:
        clock._thread_id = None
    for wall in _walls:
        if isinstance(wall.clock, VirtualClock):  # pragma: no branch - always one; narrows the type
            wall.clock._thread_id = None


# Once per process, at import: the patch's state lives in this module.
if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_real_time_in_child)
