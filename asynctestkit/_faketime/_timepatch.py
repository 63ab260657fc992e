"""Fake monotonic (and optionally wall) time on a `VirtualClock`, one thread at a time.

`patch_time` replaces ``time.monotonic``, ``time.monotonic_ns``,
``time.perf_counter`` and ``time.perf_counter_ns`` (and, with ``wall=``,
``time.time`` and ``time.time_ns``) by functions that read the clock on the
thread that owns it and call the real function everywhere else. The clock's
owner is ``clock._thread_id``: the thread a virtual event loop runs on, or the
thread that entered `patch_time` when no loop has run yet. It is read on every
call, so a loop that starts later on another thread takes effect at once.

This module is the public face (`patch_time`, `TimePatch`) and the activations
that install and restore everything. The rest lives in three modules below it:

* `_timefakes`: the fake time functions and the dispatch globals they read.
* `_walltime`: the ``datetime``/``date`` replacements and the ``wall=`` option.
* `_aliases`: finding, rebinding and restoring aliases in the target modules,
  and what the diagnostic (`TimePatch.patched`, ``unpatched``) reports.

Design, in short:

* Process-wide state is reference-counted: the first active patch installs the
  fakes into the ``time`` module, the last one puts back the very objects it
  found. Every activation (one ``with`` block, one decorated call) holds
  references; exits may come in any order.
* The fakes dispatch on one module global, ``_timefakes._top``: the only
  active clock, or a sentinel meaning "none" or "several" (then a scan of
  ``_timefakes._clocks``, innermost first). One global read keeps a reader
  from seeing half of an update made by another thread, and keeps the fast
  path to one attribute read, one ``get_ident()`` call and one integer compare.
* Aliases (``from time import monotonic``, ``timer=time.monotonic`` defaults,
  class attributes) are found by scanning only the modules the user names, so
  the cost grows with the targets, never with ``sys.modules``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
import types
from collections.abc import Callable, Iterable
from datetime import datetime as _real_datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast, final

from .._shield import deferred_interrupts, restore
from .._virtual._clock import VirtualClock
from . import _timefakes
from ._aliases import _apply, _check_targets, _resolve, _Scan, _Site, _sites, _unapply
from ._timefakes import (
    _MONO_FAKES,
    _MULTI,
    _NO_CLOCK,
    _NO_WALL,
    _WALL_FAKES,
    _WALL_MULTI,
    _get_ident,
    _set_real,
    _Wall,
)
from ._walltime import _check_wall

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ("TimePatch", "patch_time")

_F = TypeVar("_F", bound=Callable[..., Any])


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
    """Recompute the dispatch globals of `_timefakes` from the active entries, innermost first."""
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
        _timefakes._clocks = tuple(clocks)
        _timefakes._walls = tuple(walls)
        _timefakes._top = clocks[0] if len(clocks) == 1 else _MULTI if clocks else _NO_CLOCK
        _timefakes._wall_top = walls[0] if len(walls) == 1 else _WALL_MULTI if walls else _NO_WALL
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
        if name in _saved:  # idempotent: a restore may be run again after an interrupt
            setattr(time, name, _saved[name])
            del _saved[name]


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
        # A Ctrl-C waits until each change is recorded in a flag that stop() reads.
        with deferred_interrupts(), _lock:
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
        with deferred_interrupts(), _lock:
            failure: BaseException | None = None
            try:
                while self.refs:
                    site = self.refs[-1]
                    if site.count == 1:
                        _sites.pop(site.key, None)
                        try:
                            _unapply(site)
                        except Exception as exc:
                            failure = failure or exc
                    self.refs.pop()
                    site.count -= 1
            finally:
                # Each step is idempotent, or its flag and count change
                # together: a stop() cut short is finished by calling it again.
                if self.listed:
                    if self in _entries:
                        _entries.remove(self)
                    _bump()
                    _republish()
                    self.listed = False
                if self.has_wall:
                    self.has_wall = False
                    _wall_count -= 1
                if self.has_mono:
                    self.has_mono = False
                    _mono_count -= 1
                if _wall_count == 0:
                    _uninstall(_WALL_FAKES)
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
        try:
            with deferred_interrupts():
                self._stack.append(activation)
                activation.start(self)
        except BaseException:
            with deferred_interrupts():
                if activation in self._stack:
                    self._stack.remove(activation)
                restore(activation.stop)
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
        with deferred_interrupts():
            restore(self._stack.pop().stop)

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
                    restore(activation.stop)

            return cast(_F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            activation = self._start()
            try:
                return func(*args, **kwargs)
            finally:
                restore(activation.stop)

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

