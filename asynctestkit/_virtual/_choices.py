"""The choices a seeded loop makes: kept or reverted one by one, and recorded to explain a race.

A seeded loop (`_schedule.SeededEventLoop`) meets *choice points*, numbered
in the order it meets them: each timer it arms with a positive delay under a
late seed (how late it fires), each group of timers due at one instant (their
order), each iteration where another thread's callbacks or real IO are ready
with due timers (which go first), and, with ``schedule_eager``, the loop's
eager start. At each point it draws from the seed's generator, always the
same number of draws, and the draw either departs from the default order
(the unseeded loop's order) or not.

A `Choices` given to the loop says which departures to keep (``keep``: the
point numbers; None keeps all) and, with ``record``, collects what the run
did: each departure it kept, described in the user's terms (the source line
that armed a timer, the line where a task waited), and each step with its
virtual time. Reverting a departure makes that point take the default; the
run may then diverge, and later numbers name other points: it is still one
deterministic run per (seed, keep), which is all delta debugging needs
(`_testcase._explain`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from typing import TYPE_CHECKING, Any, Final, final

if TYPE_CHECKING:
    from collections.abc import Collection

__all__ = ("Choices", "Departure", "describe_handle", "timer_site")

_ASYNCIO_DIR: Final = os.path.dirname(asyncio.__file__) + os.sep
_OUR_DIR: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# Library frames between the user's call and the timer: asyncio's and ours,
# and the stdlib helpers an `async with` or a partial goes through.
_PASS_THROUGH: Final = frozenset({"contextlib.py", "functools.py", "threading.py", "concurrent"})

# What a timer's callback is, by its name: the sleep's wake-up, a timeout.
_TIMER_KINDS: Final = {
    "_set_result_unless_cancelled": "the sleep",
    "Timeout._on_timeout": "the timeout",
    "_release_waiter": "the timeout",
    "_on_timeout": "the timeout",
}


@final
class Departure:
    """One kept departure from the default order, as recorded (see `Choices`)."""

    __slots__ = ("amount", "handles", "index", "kind", "ns", "step")

    def __init__(
        self, index: int, kind: str, ns: int, handles: tuple[Any, ...], amount: float, step: int
    ) -> None:
        self.index = index  # the choice point's number
        self.kind = kind  # "late", "tie", "outside" or "eager"
        self.ns = ns  # virtual time it was made at
        self.handles = handles  # late: (timer,); tie: timers in the order run; outside: held back
        self.amount = amount  # late: seconds late
        self.step = step  # the steps run before it was made

    def __repr__(self) -> str:
        return f"<Departure #{self.index} {self.kind} at {self.ns / 1e9!r}s>"


@final
class Choices:
    """Which departures a seeded loop keeps, and (``record=True``) what the run did.

    Args:
        keep: The choice point numbers whose departure to keep; every other
            point takes the default order. None: keep every departure.
        record: Record kept departures, the timers' creation sites and each
            step run with its virtual time (slower; for explaining a failure).
    """

    __slots__ = ("fingerprint", "keep", "late", "made", "points", "record", "sites", "steps")

    def __init__(self, keep: Collection[int] | None = None, *, record: bool = False) -> None:
        self.keep = None if keep is None else frozenset(keep)
        self.record = record
        self.made: list[Departure] = []
        # (virtual ns, handle, description) for each step run, when recording.
        self.steps: list[tuple[int, Any, str]] = []
        # id(timer) -> (timer, its description, the virtual time it was due by default)
        self.sites: dict[int, tuple[Any, str, float]] = {}
        self.points = 0  # choice points met
        self.late = False  # the seed makes timers late
        self.fingerprint = 0  # a hash of the loop's iterations (distinct schedules)

    def kept(self, index: int) -> bool:
        """Whether the departure at choice point ``index`` is kept."""
        keep = self.keep
        return keep is None or index in keep

    def departed(
        self, index: int, kind: str, ns: int, handles: tuple[Any, ...] = (), amount: float = 0.0
    ) -> None:
        """Note a kept departure (recording only)."""
        if self.record:
            self.made.append(Departure(index, kind, ns, handles, amount, len(self.steps)))

    def timer(self, handle: Any, nominal: float) -> None:
        """Note where a timer was armed and when it was due by default (recording only)."""
        self.sites[id(handle)] = (handle, timer_site(handle._callback), nominal)

    def step(self, ns: int, handle: Any) -> None:
        """Note a step about to run (recording only)."""
        self.steps.append((ns, handle, self.describe(handle)))

    def describe(self, handle: Any) -> str:
        """Describe a handle in the user's terms: the timer's site, the line a task waits at."""
        site = self.sites.get(id(handle))
        if site is not None and site[0] is handle:
            return site[1]
        return describe_handle(handle)


def _shown_path(filename: str) -> str:
    try:
        rel = os.path.relpath(filename)
    except ValueError:  # pragma: no cover - another drive (Windows)
        return os.path.basename(filename)
    return os.path.basename(filename) if rel.startswith("..") else rel


def _is_library(filename: str) -> bool:
    return (
        filename.startswith((_ASYNCIO_DIR, _OUR_DIR))
        or os.path.basename(filename) in _PASS_THROUGH
        or os.sep + "concurrent" + os.sep in filename
    )


def _qualname(frame: Any) -> str:
    code: Any = frame.f_code
    short: str = code.co_name
    qualified: str | None = getattr(code, "co_qualname", None)
    if qualified is not None:
        return qualified
    # 3.10 (co_qualname is 3.11+): a method is named by the class that defines it.
    owner = frame.f_locals.get("self")
    if owner is not None:
        for klass in type(owner).__mro__:
            if getattr(klass.__dict__.get(short), "__code__", None) is code:
                return f"{klass.__qualname__}.{short}"
    return short


def _callback_name(callback: Any) -> str:
    while isinstance(callback, functools.partial):
        callback = callback.func
    func = getattr(callback, "__func__", callback)
    return getattr(func, "__qualname__", None) or type(callback).__qualname__


def timer_site(callback: Any) -> str:
    """Describe a timer being armed now: what it is and the user line whose call armed it.

    Walks out of asyncio's and this package's frames to the first other frame;
    the outermost asyncio function on the way is the API the user called
    (``asyncio.wait()``), e.g. "the timeout of asyncio.wait() in Server.stop
    (server.py:112)".
    """
    frame: Any = sys._getframe(1)
    api = None
    while frame is not None and _is_library(frame.f_code.co_filename):
        if frame.f_code.co_filename.startswith(_ASYNCIO_DIR):
            api = frame.f_code.co_name
        frame = frame.f_back
    name = _callback_name(callback)
    kind = _TIMER_KINDS.get(name)
    if kind == "the sleep" and api in (None, "sleep"):
        what = "the sleep"
    elif kind == "the timeout":
        what = f"the timeout of asyncio.{api}()" if api else "a timeout"
    elif api is not None:
        what = f"the timer of asyncio.{api}() ({name})"
    else:
        what = f"the timer {name}()"
    if frame is None:  # pragma: no cover - armed with no user frame at all
        return what
    return f"{what} in {_qualname(frame)} ({_shown_path(frame.f_code.co_filename)}:{frame.f_lineno})"


def _waiting_frame(coro: Any) -> Any:
    # The innermost user frame of a coroutine chain: where the task waits.
    found = None
    seen = 0
    while coro is not None and seen < 100:
        seen += 1
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        if not _is_library(frame.f_code.co_filename):
            found = frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return found


def describe_handle(handle: Any) -> str:
    """Describe a ready callback: a task's step by the line it waits at, else the callback's name."""
    callback = handle._callback
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        frame = _waiting_frame(owner.get_coro())
        if frame is None:
            return f"a step of task {owner.get_name()}"
        where = f"{_shown_path(frame.f_code.co_filename)}:{frame.f_lineno}"
        return f"the task in {_qualname(frame)} waiting at {where}"
    name = _callback_name(callback)
    if name == "BaseSelectorEventLoop._read_from_self":
        return "the loop woken by another thread"
    if type(handle).__name__ == "_OutsideHandle":
        if name in ("_chain_future.<locals>._call_set_state", "_call_set_state"):
            return "a thread's result (to_thread, run_in_executor)"
        return f"{name}() called in from another thread"
    return f"the callback {name}()"
