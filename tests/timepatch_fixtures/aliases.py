"""References to the time functions in every form patch_time rebinds."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from time import monotonic, perf_counter, perf_counter_ns
from time import monotonic_ns as mono_ns
from time import time as wall_time
from typing import Any


def elapsed_since(start: float) -> float:
    """Return the seconds since ``start``, through the module-level alias."""
    return monotonic() - start


def deadline(budget: float, clock: Callable[[], float] = time.monotonic) -> float:
    """Return the moment ``budget`` seconds from now, read from a default argument."""
    return clock() + budget


def stamp(*, clock: Callable[[], int] = time.monotonic_ns) -> int:
    """Return the time from a keyword-only default argument."""
    return clock()


def stamp_wall(clock: Callable[[], float] = time.time) -> float:
    """Return the wall time from a default argument (rebound only with wall=)."""
    return clock()


def _traced(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


@_traced
def wrapped_deadline(budget: float, clock: Callable[[], float] = time.monotonic) -> float:
    """Like deadline(), behind a functools.wraps decorator."""
    return clock() + budget


class TTLCache:
    """A cache whose entries expire after ``ttl`` seconds of its timer."""

    timer = time.monotonic
    static_timer = staticmethod(time.perf_counter)

    def __init__(self, ttl: float, timer: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.read = timer
        self.born = timer()

    def expired(self) -> bool:
        """Return whether ``ttl`` seconds passed since the cache was made."""
        return self.read() - self.born >= self.ttl

    @staticmethod
    def static_now(timer: Callable[[], float] = time.monotonic) -> float:
        """Return the time from a staticmethod's default argument."""
        return timer()

    @classmethod
    def class_now(cls, timer: Callable[[], float] = time.perf_counter) -> float:
        """Return the time from a classmethod's default argument."""
        return timer()

    @property
    def age(self, timer: Callable[[], float] = time.monotonic) -> float:
        """The seconds since the cache was made, from a property's default argument."""
        return timer() - self.born

    class Entry:
        """A nested class, scanned too."""

        def stamp(self, timer: Callable[[], int] = time.perf_counter_ns) -> int:
            """Return the time from a nested class method's default argument."""
            return timer()


__all__ = (
    "TTLCache",
    "deadline",
    "elapsed_since",
    "mono_ns",
    "monotonic",
    "perf_counter",
    "perf_counter_ns",
    "stamp",
    "stamp_wall",
    "wall_time",
    "wrapped_deadline",
)
