"""The fake time functions and the dispatch state they read, without a lock.

While a patch is active, ``time.monotonic``, ``time.monotonic_ns``,
``time.perf_counter`` and ``time.perf_counter_ns`` (and, with ``wall=``,
``time.time`` and ``time.time_ns``) are the functions defined here. Each reads
the clock on the thread that owns it and calls the real function everywhere
else. This module only holds what the fakes read; `_timepatch` decides what
they read (``_republish``) and installs them into ``time``.

The fakes dispatch on one module global, ``_top``: the only active clock, or a
sentinel meaning "none" or "several" (then a scan of ``_clocks``, innermost
first). One global read keeps a reader from seeing half of an update made by
another thread, and keeps the fast path to one attribute read, one
``get_ident()`` call and one integer compare. ``_wall_top`` and ``_walls`` do
the same for the wall clock.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Union, final

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
    "_top",
    "_virtual_time",
    "_virtual_time_ns",
    "_wall_top",
    "_walls",
)

_get_ident: Final = threading.get_ident


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
