"""The virtual clock: one notion of "now" for a test, kept in integer nanoseconds.

The clock knows nothing of unittest and imports nothing else of asynctestkit. A
virtual event loop (``_loop.py``) attaches itself as the clock's *driver*, which
is how the async stepping API (``advance``, ``next``, ``settle``) sees timers.
"""

from __future__ import annotations

import asyncio
import math
import threading
from typing import TYPE_CHECKING, Protocol, cast, final

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ("DeadlockError", "LivelockError", "VirtualClock")

# How many loop iterations settle() lets run before it calls the loop runaway:
# a loop that never becomes idle, nor counts as idle by the busy-poll rule.
_SETTLE_LIMIT = 100_000

# The last nanosecond of virtual time: CPython keeps time.monotonic_ns() in a
# C int64, so the virtual clock stays in that range too (about 292 years). A
# deadline past it (`sleep(math.inf)`, `sleep(1e300)`) is a timer that never
# fires, as on a real loop.
MAX_NS = 2**63 - 1
# The same in seconds: deadlines are floats, compared with this one.
HORIZON = MAX_NS / 1e9
# The default of `busy_poll_limit`: about as long as io_grace in real time
# (a loop iteration that only resumes a task takes a few microseconds).
BUSY_POLL_LIMIT = 1000


class DeadlockError(RuntimeError):
    """Every task waits, and nothing can ever wake them.

    Raised by a virtual event loop instead of hanging: no timer is pending (or,
    in manual mode, no one will advance the clock), no outside work is in
    flight and no real file descriptor can wake the loop. The message is a
    report of every pending task: its stack, what it awaits, where it was
    created.
    """


class LivelockError(DeadlockError):
    """The loop could only go on by spinning: a runaway timer or an exhausted budget.

    Raised when a timer is re-armed again and again at the same instant without
    time moving, when tasks or callbacks busy-poll with nothing that could
    ever end the spin (see `VirtualClock`, busy polling), when ``settle()``
    never finds the loop idle, or when autojump would move the clock past its
    virtual-time ``budget``. A subclass of
    `DeadlockError`, so one ``except`` catches every "this test cannot finish".
    """


class _Driver(Protocol):
    """What the clock needs from the event loop that runs on it."""

    def _atk_timers(self) -> list[asyncio.TimerHandle]: ...

    def _atk_next_when(self) -> float | None: ...

    def _atk_busy(self) -> bool: ...

    def _atk_wake(self) -> None: ...

    def is_closed(self) -> bool: ...


def _to_ns(seconds: float, what: str) -> int:
    """Convert a user's duration or instant to nanoseconds, refusing what makes no sense."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} needs a number of seconds; got {seconds!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(
            f"{what} needs a finite, non-negative number of seconds; got {seconds!r}"
        )
    if seconds > HORIZON:
        # Checked before the multiplication: 1e300 * 1e9 is a float infinity.
        raise ValueError(
            f"{what} needs at most {HORIZON!r} seconds, where virtual time ends "
            f"(2**63 - 1 nanoseconds, about 292 years); got {seconds!r}"
        )
    return round(seconds * 1_000_000_000)


def _check_limit(value: object, what: str) -> int | None:
    """Validate a count of loop iterations: a whole number >= 1, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{what} needs a whole number of loop iterations, or None; got {value!r}"
        )
    if value < 1:
        raise ValueError(
            f"{what} needs a whole number of loop iterations >= 1, or None to never "
            f"count busy polling as idle; got {value!r}"
        )
    return value


def due_until(now: float) -> float:
    """Return the latest deadline that counts as due when the clock reads ``now``.

    Time is whole nanoseconds, deadlines are floats: ``loop.time() + delay``
    can land a float step past the same instant counted in nanoseconds (0.1 +
    0.2 is 0.30000000000000004, but 300 ms is 0.3), and ``advance(d)`` rounds
    ``d`` to the nearest nanosecond. So a deadline is due up to half a
    nanosecond plus two float steps after now, as asyncio allows its clock
    resolution. Past about 24 days a nanosecond is below the float spacing;
    without the float steps ``now + 5e-10 == now`` and a timer due at exactly
    now could never fire.

    The virtual loop inlines the first branch.
    """
    if now < 65536.0:
        # Two float steps are under 3e-11 s here.
        return now + 5.3e-10
    return now + (5e-10 + 2 * math.ulp(now))


def due_ns(when: float) -> int:
    """Return the nearest whole nanosecond at which the deadline ``when`` is due.

    Deadlines are floats (``loop.time() + delay``) and drift a float step from
    the instant they name: three ``sleep(0.1)`` are due at 0.30000000000000004.
    Jumping to the nearest nanosecond keeps virtual time exact (0.3 s), and
    `due_until` counts the drifted deadline as due there; at large times, where
    a nanosecond is below the float spacing, the loop steps on until the
    deadline is due, so "a timer due at now fires" holds at any start value.
    """
    ns = round(when * 1e9)
    while due_until(ns / 1e9) < when:
        ns += 1
    return ns


def _last_deadline(limit_ns: int) -> float:
    """Return a float deadline at or before which `due_ns` is at most ``limit_ns``.

    Autojump compares a timer's deadline with it, one float comparison, before
    it works out the nanosecond to jump to. A later deadline goes the slow way,
    which checks exactly: past the budget (`LivelockError`), past the end of
    virtual time (a timer that never fires), or within a float step of it.
    """
    when = limit_ns / 1e9
    while due_ns(when) > limit_ns:
        when = math.nextafter(when, 0.0)
    return when


@final
class _Hold:
    """While entered, the clock does not autojump (see `VirtualClock.hold`)."""

    __slots__ = ("_clock",)

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def __enter__(self) -> VirtualClock:
        self._clock._change_holds(+1)
        return self._clock

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._clock._change_holds(-1)

    async def __aenter__(self) -> VirtualClock:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


@final
class VirtualClock:
    """A test's virtual time: moves only when the test or an idle loop says so.

    Time is kept as an integer number of nanoseconds, so it is exact whatever
    the start value, and it only ever moves forward. An event loop made by
    `virtual_event_loop` reads ``time()`` from here; `patch_time` makes
    ``time.monotonic()`` and ``time.perf_counter()`` read it too.

    In **autojump** mode (the default) the loop, when nothing is ready to run
    and no outside work is in flight, jumps straight to its next timer. In
    **manual** mode time moves only through `jump`, `advance`, `advance_to`
    and `next`.

    **Busy polling.** A task that polls (``while not done: await
    asyncio.sleep(0)``) keeps the loop from ever being idle. After
    ``busy_poll_limit`` loop iterations in a row that only resumed tasks
    that had yielded (``await asyncio.sleep(0)``) or ran callbacks that no
    future's completion scheduled (a ``call_soon`` that re-arms itself), with
    no timer fired, no IO, nothing from another thread and time not moved,
    the loop counts as idle: autojump moves time to the next timer, and
    `settle` returns. With no timer to move to and nothing outside the loop
    that could end the spin (no executor work, subprocess, ``hold()`` or
    real IO), ``30 * busy_poll_limit`` such callbacks in a row raise
    `LivelockError` naming the spinning tasks: about a second of real time.

    Args:
        autojump: Start in autojump mode (``True``) or manual mode.
        start: The virtual time to start at, in seconds.
        budget: At most this many virtual seconds may pass by autojump from
            now on; past it the loop raises `LivelockError` instead of spinning
            through, say, an endless retry loop. ``None``: no limit.
        busy_poll_limit: Loop iterations of pure busy polling after which the
            loop counts as idle (see above). ``None``: never, and no spin is a
            `LivelockError` either (for code that yields a great many times
            in a row on purpose). 1000.

    Raises:
        ValueError: ``start`` or ``budget`` is negative, NaN, infinite or past
            the end of virtual time (2**63 - 1 ns); ``busy_poll_limit`` is
            below 1.
        TypeError: an option has the wrong type.

    Example:
        >>> clock = VirtualClock(autojump=False, start=100)
        >>> clock.jump(2.5)
        >>> clock.now
        102.5
    """

    __slots__ = (
        "__weakref__",
        "_autojump",
        "_budget_given",
        "_budget_ns",
        "_busy_poll_limit",
        "_driver",
        "_end",
        "_holds",
        "_limit_s",
        "_lock",
        "_ns",
        "_read",
        "_s",
        "_stepping",
        "_thread_id",
    )

    def __init__(
        self,
        *,
        autojump: bool = True,
        start: float = 0.0,
        budget: float | None = None,
        busy_poll_limit: int | None = BUSY_POLL_LIMIT,
    ) -> None:
        self._ns = _to_ns(start, "VirtualClock(start=...)")
        self._s = self._ns / 1e9
        # Deadlines up to _end are due now (see due_until); kept with _s so the
        # loop reads it once per iteration.
        self._end = due_until(self._s)
        self._autojump = _check_bool(autojump, "autojump")
        self._holds = 0
        self._lock = threading.Lock()
        self._driver: _Driver | None = None
        # The thread whose time.monotonic() reads this clock (see _timepatch):
        # the loop's thread once a loop runs on it.
        self._thread_id: int | None = None
        self._budget_ns: int | None = None
        # Autojump never moves time past the budget's end, nor the end of
        # virtual time: a deadline after _limit_s is past one of them (the
        # loop compares each jump's deadline with it, see _last_deadline).
        self._limit_s = _last_deadline(MAX_NS)
        self._budget_given: float | None = None
        self.budget = budget
        self._busy_poll_limit = _check_limit(busy_poll_limit, "busy_poll_limit")
        # How many settle() calls are running: the loop never autojumps on
        # busy polling under them (advance() steps time itself).
        self._stepping = 0
        # Set by every read of virtual time (loop.time(), the time fakes),
        # cleared by the loop when a busy poll starts: a poll that reads the
        # time may be waiting for a deadline, which moving time ends.
        self._read = False

    # -- reading -----------------------------------------------------------

    @property
    def now(self) -> float:
        """The virtual time, in seconds."""
        return self._s

    @property
    def now_ns(self) -> int:
        """The virtual time, in whole nanoseconds."""
        return self._ns

    def time(self) -> float:
        """Return the virtual time in seconds (what the loop's ``time()`` returns)."""
        return self._s

    # -- options -----------------------------------------------------------

    @property
    def autojump(self) -> bool:
        """Whether an idle loop jumps to its next timer; settable at any time."""
        return self._autojump

    @autojump.setter
    def autojump(self, value: bool) -> None:
        self._autojump = _check_bool(value, "autojump")
        self._wake()

    @property
    def budget(self) -> float | None:
        """Virtual seconds autojump may still use, or ``None`` for no limit.

        Setting it starts the count again from now. Explicit stepping
        (`jump`, `advance`) is a test's own statement and is not limited.
        """
        if self._budget_ns is None:
            return None
        return max(0, self._budget_ns - self._ns) / 1e9

    @budget.setter
    def budget(self, value: float | None) -> None:
        if value is None:
            self._budget_ns = None
            self._limit_s = _last_deadline(MAX_NS)
        else:
            self._budget_ns = self._ns + _to_ns(value, "VirtualClock budget")
            self._limit_s = _last_deadline(min(self._budget_ns, MAX_NS))
        self._budget_given = value

    @property
    def busy_poll_limit(self) -> int | None:
        """Iterations of pure busy polling after which the loop counts as idle; settable.

        ``None``: busy polling never counts as idle. See the class docstring.
        """
        return self._busy_poll_limit

    @busy_poll_limit.setter
    def busy_poll_limit(self, value: int | None) -> None:
        self._busy_poll_limit = _check_limit(value, "busy_poll_limit")

    @property
    def holds(self) -> int:
        """How many `hold` blocks are active now."""
        return self._holds

    # -- moving time -------------------------------------------------------

    def jump(self, seconds: float) -> None:
        """Move time forward by ``seconds`` at once, running nothing.

        Timers that fall due fire the next time the loop runs, all at the new
        time. To fire each timer at its own deadline, use `advance`.

        Args:
            seconds: How far to move, a finite number >= 0.

        Raises:
            ValueError: ``seconds`` is negative, NaN or infinite, or would move
                time past the end of virtual time.

        Example:
            >>> clock = VirtualClock()
            >>> clock.jump(60)
            >>> clock.now
            60.0
        """
        self._set_ns(self._target_ns(seconds, "jump()"))

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing each timer at its own deadline.

        Timers fire in deadline order (FIFO among equal deadlines) and ready
        tasks run between steps, so two chained ``sleep(1)`` inside
        ``advance(2)`` wake at times 1 and 2. Must be awaited on the running
        loop this clock drives.

        Args:
            seconds: How far to move, a finite number >= 0.

        Raises:
            ValueError: ``seconds`` is negative, NaN or infinite, or would move
                time past the end of virtual time.
            RuntimeError: no running virtual event loop uses this clock.

        Example:
            >>> async def test():
            ...     task = asyncio.create_task(asyncio.sleep(10))
            ...     await clock.advance(10)
            ...     assert task.done()
        """
        await self._advance_to_ns(self._target_ns(seconds, "advance()"))

    async def advance_to(self, when: float) -> None:
        """Move time forward to the absolute virtual time ``when``, like `advance`.

        Raises:
            ValueError: ``when`` is before now ("time can't go backwards"), NaN,
                infinite or past the end of virtual time.
            RuntimeError: no running virtual event loop uses this clock.
        """
        target = _to_ns(when, "advance_to()")
        if target < self._ns:
            raise ValueError(
                f"time can't go backwards: advance_to({when!r}) but now is {self._s!r}"
            )
        await self._advance_to_ns(target)

    async def next(self) -> float | None:
        """Move time to the next pending timer, fire it, and let the loop settle.

        Returns:
            The new virtual time, or ``None`` when no timer was pending, or only
            timers that never fire (past the end of virtual time, such as
            ``sleep(math.inf)``); time does not move then.

        Raises:
            RuntimeError: no running virtual event loop uses this clock.
        """
        driver = self._running_driver("next()")
        await self.settle()
        when = driver._atk_next_when()
        if when is None or when > HORIZON:
            return None
        self._set_ns(max(self._ns, due_ns(when)))
        await self.settle()
        return self._s

    async def settle(self) -> None:
        """Run the loop until nothing is ready to run, without moving time.

        A task that busy-polls (see the class docstring) counts as idle
        after ``busy_poll_limit`` iterations, so settle() returns then.

        Raises:
            LivelockError: the loop never became idle (a task or callback that
                keeps scheduling new work forever).
            RuntimeError: no running virtual event loop uses this clock.
        """
        driver = self._running_driver("settle()")
        self._stepping += 1
        try:
            for _ in range(_SETTLE_LIMIT):
                await asyncio.sleep(0)
                if not driver._atk_busy():
                    return
        finally:
            self._stepping -= 1
        raise LivelockError(
            f"settle() ran {_SETTLE_LIMIT} loop iterations and the loop never became "
            "idle: some tasks or callbacks keep waking each other forever (busy polling "
            "would have counted as idle after busy_poll_limit iterations)"
        )

    def hold(self) -> _Hold:
        """Return a context manager (sync and async) that stops autojump inside it.

        Use it while a test waits on something outside the loop that the loop
        cannot see, such as a raw ``threading.Thread`` or another process:
        the loop then waits in real time. Holds nest; the clock still moves by
        explicit stepping.

        Example:
            >>> with clock.hold():
            ...     thread.start()
            ...     await asyncio.wait_for(reply, timeout=5)
        """
        return _Hold(self)

    def pending_timers(self) -> list[asyncio.TimerHandle]:
        """Return the loop's pending (not cancelled) timers, soonest first.

        Returns an empty list when no loop is attached.
        """
        driver = self._driver
        if driver is None or driver.is_closed():
            return []
        return driver._atk_timers()

    def __repr__(self) -> str:
        return (
            f"<VirtualClock now={self._s!r}s autojump={self._autojump} "
            f"holds={self._holds} timers={len(self.pending_timers())}>"
        )

    # -- for the loop and the time patch -----------------------------------

    def _attach(self, driver: _Driver) -> None:
        old = self._driver
        if old is not None and old is not driver and not old.is_closed():
            raise ValueError(
                f"{self!r} already drives {old!r}; a clock drives one open loop at "
                "a time: close that loop first, or make a new VirtualClock"
            )
        self._driver = driver

    def _set_ns(self, ns: int) -> None:
        # Where explicit stepping moves time; callers guarantee ns >= now. The
        # budget limits autojump only: what the test steps itself does not
        # count, so the budget's end moves along with it.
        if self._budget_ns is not None:
            self._budget_ns += ns - self._ns
            self._limit_s = _last_deadline(min(self._budget_ns, MAX_NS))
        self._ns = ns
        self._s = s = ns / 1e9
        self._end = due_until(s)

    def _change_holds(self, delta: int) -> None:
        with self._lock:
            if self._holds + delta < 0:
                raise RuntimeError("hold() exited more times than it was entered")
            self._holds += delta
        if delta < 0:
            self._wake()

    def _wake(self) -> None:
        # A hold released or autojump switched on from another thread must not
        # leave the loop waiting in real time for nothing.
        driver = self._driver
        if driver is not None and not driver.is_closed():
            driver._atk_wake()

    def _running_driver(self, what: str) -> _Driver:
        driver = self._driver
        running: object
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if driver is None or running is not cast(object, driver):
            raise RuntimeError(
                f"{what} must be awaited on the running loop this clock drives; "
                f"the running loop is {running!r}. Make the loop with "
                "virtual_event_loop(clock) (ClockedTestCase does this)."
            )
        return driver

    def _target_ns(self, seconds: float, what: str) -> int:
        # Where stepping by `seconds` lands, refused past the end of time.
        step = _to_ns(seconds, what)
        # A positive step moves at least 1 ns (jump(1e-12) is not nothing).
        ns = self._ns + (step or (seconds > 0))
        if ns > MAX_NS:
            raise ValueError(
                f"{what} needs a step that keeps virtual time within its end at "
                f"{HORIZON!r}s (2**63 - 1 nanoseconds); got {seconds!r}, from {self._s!r}s"
            )
        return ns

    async def _advance_to_ns(self, target: int) -> None:
        driver = self._running_driver("advance()")
        await self.settle()
        while True:
            when = driver._atk_next_when()
            if when is None or when > HORIZON:
                break
            ns = due_ns(when)
            if ns >= target:
                # Due at the target (or within due_until of it): fired below.
                break
            self._set_ns(max(self._ns, ns))
            await self.settle()
        if target > self._ns:
            self._set_ns(target)
        await self.settle()


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return value
