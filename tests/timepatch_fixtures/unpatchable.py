"""References patch_time cannot rebind, and lists in TimePatch.unpatched."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable


def _make_reader() -> Callable[[], float]:
    clock = time.monotonic

    def read() -> float:
        return clock()

    return read


read = _make_reader()
TIMERS = [time.monotonic]
BY_NAME = {"perf": time.perf_counter}
PARTIAL = functools.partial(time.monotonic)


class Holder:
    """Keeps the timer it was given, as an instance attribute."""

    def __init__(self) -> None:
        self.timer = time.monotonic


DEFAULT_HOLDER = Holder()


def with_tuple_default(timers: tuple[Callable[[], float], ...] = (time.monotonic,)) -> float:
    """Read the first of a tuple of timers held as a default."""
    return timers[0]()
