"""Which threads can wake a virtual loop, and whether each of them is parked.

The virtual loop may move time only when nothing else can happen. Threads are
the hard part: a thread that computes, sleeps or does IO may wake the loop at
any moment, while a thread blocked in a wait that only another thread can end
(**parked**) cannot. When every thread that can wake the loop is parked or
has ended, the loop is idle and may jump; with no timer pending either,
nothing can ever happen and the loop reports a deadlock naming the parked
threads.

`ThreadWatch` is owned by one loop and knows its threads:

* every thread started after the loop was made (a library's connection
  thread, a new executor's workers), while it lives;
* every thread that called ``call_soon_threadsafe`` on the loop (so also
  ``run_coroutine_threadsafe`` and executor futures completing), while it
  lives;
* every thread running a job the loop gave ``run_in_executor`` on a thread
  pool; a job no worker has started yet counts as running work.

What is read, and why it is safe
--------------------------------
Only two things, both only while the loop is idle and on the loop's thread:

* the thread's innermost Python frame from ``sys._current_frames()``: its
  code object and instruction offset (``f_code``, ``f_lasti``), and for a
  report its stack. These are plain reads of the frame; the loop's thread
  holds the GIL while it reads them, so the other thread runs no Python code
  meanwhile. Never ``f_locals``: building a running frame's locals writes to
  the frame (before 3.13 it copies fast locals into a dict) and crashed the
  interpreter on 3.12; nor any object the thread's code may change.
* the kernel's view of the thread (`_kernel`, Linux ``/proc/self/task``): its
  scheduler state, its wake count (the times it got a CPU) and the system call it
  is blocked in.

The decision
------------
A thread is parked when, at two looks with the GIL released in between:

1. its innermost frame is at a call site ``x.acquire()``, ``x.get()``,
   ``x.join()``, ``x.wait()``, ``x.result()`` or ``with x:`` (a ``Lock``,
   ``RLock``, ``SimpleQueue``, a thread handle), read from the code object's
   bytecode; that covers the waits inside ``Condition.wait`` (so ``Event``,
   ``Semaphore``, ``Barrier``, ``queue.Queue``, ``Future.result``,
   ``concurrent.futures.wait``) and ``Thread.join``; or in a selector's
   ``select()``;
2. the kernel says it sleeps (state ``S``) in a ``futex`` wait (every such
   primitive ends in one), or for ``select()`` in a poll without a timeout;
3. nothing changed between the looks: the same frame at the same offset, the
   same system call, the same wake count, still asleep.

Why it cannot be wrong in the direction that hurts (a jump past work, a false
deadlock): a thread that has work to do was woken by whoever handed it the
work, and the kernel marks a woken thread runnable (``R``) at once, before it
gets a CPU; once it runs, every later sleep adds to its wake count. So a
thread woken at any time before the second look is ``R`` there, or shows a
higher count, or a different frame: it counts as running. A thread that
waits for the GIL also sleeps in a ``futex``, maybe at a line that looks like
a wait (back from ``q.get()`` with work in hand). Releasing the GIL between
the looks (and around every file read) wakes one GIL waiter, which may be
another thread; but CPython's ``take_gil`` waits with the switch interval
(``sys.getswitchinterval()``) as its timeout, so every GIL waiter wakes by
itself within it. When a thread's new wait has a timeout, the pause between
the looks outlasts the interval: a GIL waiter is ``R`` or has run by the
second look. (Waits with no timeout cannot be the GIL's.) Readiness left behind by a thread that posted
a callback and parked again before the first look is in the loop's ready
queue and self-pipe, which the loop looks at after the threads (`_jump`).
The state of the primitive itself is never read: since 3.13
``SimpleQueue.put`` hands its item straight to a waiting ``get``, so an empty
queue no longer means an idle reader.

A look whose answer equals the last confirmed one (each thread asleep in the
same call with the same wake count) needs no second look: the thread has not
woken since it was confirmed parked.

Where it errs, and which way
----------------------------
* A wait with a real-time timeout (``Event.wait(5)``,
  ``Future.result(timeout=5)``) is parked: virtual time does not wait for a
  real timeout (``run_coroutine_threadsafe(...).result(timeout=5)`` waits for
  the loop, which must be free to jump).
* A thread woken by something the loop cannot see (a thread older than the
  loop that never called in, another process, a signal) may be woken just
  after the look: time may have jumped meanwhile.
* A C extension's own wait at a call site named like the above, woken by a
  C thread Python does not know, looks parked.
* Where the kernel cannot tell (not Linux, ``/proc`` not mounted, an unknown
  architecture) every thread of the loop that is alive counts as running:
  time waits in real time while such a thread lives, never jumps past it.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread
import dis
import queue
import selectors
import sys
import threading
import time
import traceback
import types
import weakref
from typing import TYPE_CHECKING, Any, Final, final

from . import _kernel

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ("ThreadWatch", "active_threads", "last_thread")

_current_frames = sys._current_frames
_get_ident = threading.get_ident
# threading's registries of started threads (_limbo: started, not yet running).
# Both dicts live as long as the module, `_after_fork` clears them in place
# (3.10-3.15). Their sizes, and the thread inserted last into _active, say
# cheaply whether a thread started: the size alone misses a thread that started
# while another ended (seen in a full test run: a new executor's worker jumped
# past), the last key alone misses a new thread reusing an ended one's id.
_active: Final[dict[int, threading.Thread]] = threading._active  # type: ignore[attr-defined]
_limbo: Final[dict[threading.Thread, threading.Thread]] = threading._limbo  # type: ignore[attr-defined]
_active_threads: Final = _active.values()  # a live view
_real_sleep = time.sleep

# Real seconds between looks at a thread that runs: short at first, for the
# common hand-off, then up to the cap (a thread that finishes its work usually
# wakes the loop itself, through call_soon_threadsafe).
_POLL_FIRST = 0.001
_POLL_CAP = 0.05
# The pause, GIL released, between the two looks that confirm threads parked.
_CONFIRM = 0.0002
# Real seconds beyond the GIL's switch interval that the confirming pause
# lasts when a thread's new wait has a timeout (see ThreadWatch.idle).
_GIL_MARGIN = 0.001

_COND_WAIT: Final = threading.Condition.wait.__code__
# Thread.join blocks in C in join() itself (3.13+: the thread handle's join)
# or in _wait_for_tstate_lock (3.10-3.12).
_JOIN_CODES: Final = frozenset(
    getattr(threading.Thread, name).__code__
    for name in ("join", "_wait_for_tstate_lock")
    if hasattr(threading.Thread, name)
)
_SELECT_CODES: Final = frozenset(
    cls.select.__code__
    for cls in vars(selectors).values()
    if isinstance(cls, type) and issubclass(cls, selectors.BaseSelector)
    and isinstance(getattr(cls, "select", None), types.FunctionType)
)
# Methods whose call, blocked in C, is a wait on a primitive: Lock and RLock
# (acquire, `with`), SimpleQueue.get, a thread handle's join, and the like.
# Condition.wait takes its lock back with _acquire_restore (an RLock's own).
_WAIT_METHODS: Final = frozenset({
    "acquire", "_acquire_restore", "__enter__", "get", "join", "wait", "result",
})


def _codes(*owners: object) -> frozenset[types.CodeType]:
    codes = set()
    for owner in owners:
        items = vars(owner).values() if isinstance(owner, type) else [owner]
        for item in items:
            code = getattr(item, "__code__", None)
            if isinstance(code, types.CodeType):
                codes.add(code)
    return frozenset(codes)


# The standard library's blocking calls, named in reports by the outermost of
# them on a parked thread's stack: Event.wait, not the Condition.wait inside.
_WAIT_API: Final = _codes(
    threading.Condition, threading.Event, threading.Semaphore, threading.BoundedSemaphore,
    threading.Barrier, queue.Queue, concurrent.futures.Future, concurrent.futures.wait,
    concurrent.futures.as_completed,
) | _JOIN_CODES

# Bytecode of a call site, as the frame's f_lasti shows it while the thread is
# blocked in C: the call (or `with` entry) and what loads its receiver. 3.10:
# LOAD_METHOD/CALL_METHOD, SETUP_WITH; 3.11: PRECALL/CALL, BEFORE_WITH; 3.12:
# LOAD_ATTR(method)/CALL, KW_NAMES; 3.13: CALL_KW; 3.14+: `with` is
# COPY/LOAD_SPECIAL/SWAP then CALL 0.
_CALLS: Final = frozenset({"CALL", "CALL_METHOD", "CALL_FUNCTION", "CALL_FUNCTION_KW", "CALL_KW"})
_KW_CALLS: Final = frozenset({"CALL_FUNCTION_KW", "CALL_KW"})
_WITH: Final = frozenset({"SETUP_WITH", "BEFORE_WITH"})
_FILLER: Final = frozenset({"KW_NAMES", "PRECALL", "PUSH_NULL", "NOP", "EXTENDED_ARG", "CACHE"})
_ONE_LOAD: Final = frozenset({
    "LOAD_CONST", "LOAD_SMALL_INT", "LOAD_COMMON_CONSTANT", "LOAD_FAST", "LOAD_FAST_BORROW",
    "LOAD_FAST_CHECK", "LOAD_DEREF", "LOAD_GLOBAL", "LOAD_NAME",
})
_TWO_LOADS: Final = frozenset({"LOAD_FAST_LOAD_FAST", "LOAD_FAST_BORROW_LOAD_FAST_BORROW"})
_LOCAL_BASES: Final = frozenset({
    "LOAD_FAST", "LOAD_FAST_BORROW", "LOAD_FAST_CHECK", "LOAD_DEREF", "LOAD_CLOSURE",
})
_GLOBAL_BASES: Final = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})

# (is_local, name, attributes, method) of a call site, or None: not a call
# whose receiver we can read without running code.
_Site = tuple[bool, str, tuple[str, ...], str]
_sites: dict[tuple[types.CodeType, int], _Site | None] = {}

# An idle ThreadPoolExecutor worker, where the kernel cannot tell: in
# _worker (3.10-3.15), blocked at its `work_queue.get(block=True)`.
_POOL_WORKER: Final = concurrent.futures.thread._worker.__code__

# One parked thread, for the deadlock report: its id, innermost frame and wait
# ("": described from the frame when a report is made).
_Parked = tuple[int, types.FrameType, str]
# What confirms a thread parked, compared between looks: its frame's code and
# offset, its wake count, and the system call it sleeps in. No frame: holding
# one would keep the thread's objects alive.
# Timed: the wait has a real-time timeout of its own (ends by itself).
_Key = tuple[types.CodeType, int, int, bytes, bool]


def active_threads() -> int:
    """Return how many threads ``threading`` knows, started or starting (cheap, lock-free)."""
    return len(_active) + len(_limbo)


def _weak(thread: threading.Thread | None) -> Callable[[], threading.Thread | None]:
    # A thread started by C code has no Thread object: "None" then.
    return (lambda: None) if thread is None else weakref.ref(thread)


# What last_thread() answers while threads start and end too fast to read.
_IN_FLUX: Final = threading.Thread(name="asynctestkit: threads starting or ending")


def last_thread() -> threading.Thread | None:
    """Return the thread that started last among those alive (cheap, lock-free).

    Read without threading's lock: another thread that starts or ends
    meanwhile changes the registry's size, which a reader sees as a
    RuntimeError; it reads again, and after three tries answers `_IN_FLUX`,
    a thread that is never any registry's last (callers then look).
    """
    for _ in range(3):
        try:
            return next(reversed(_active_threads), None)
        except RuntimeError:  # "dictionary changed size during iteration"
            continue
    return _IN_FLUX


@final
class _Job:
    """A thread-pool job of ``run_in_executor``: registers its worker when it starts."""

    __slots__ = ("_func", "_watch")

    def __init__(self, watch: ThreadWatch, func: Callable[..., Any]) -> None:
        self._watch = watch
        self._func = func

    def __call__(self, *args: Any) -> Any:
        watch = self._watch
        watch._callers.add(_get_ident())
        watch._unstarted.discard(self)
        return self._func(*args)


@final
class ThreadWatch:
    """The threads that can wake one virtual loop, and whether they are all parked.

    Owned by the loop; `idle` is called only when the loop has nothing to do.
    """

    __slots__ = (
        "_baseline", "_callers", "_confirmed", "_kernel", "_poll", "_report", "_unstarted",
        "_wrapped", "last", "quiet",
    )

    def __init__(self) -> None:
        # Threads alive when the loop was made are not the loop's unless they
        # call into it: a debugger's or the test runner's threads.
        # By thread object too (weakly): a new thread may reuse an ended one's id.
        self._baseline = {ident: _weak(_active.get(ident)) for ident in _current_frames()}
        self._callers: set[int] = set()
        self._unstarted: set[_Job] = set()
        self._report = ""
        self._poll = _POLL_FIRST
        # The threads the last confirmed look found parked, and how.
        self._confirmed: dict[int, _Key] = {}
        self._kernel = _kernel.AVAILABLE
        # Futures the loop awaits through asyncio.wrap_future, not yet done:
        # while any is, every thread of the process is watched (see wrapped).
        self._wrapped = 0
        # active_threads() and the last thread started when the loop last found
        # no thread of its own; the loop skips the look while both are still
        # these (quiet -1: never; also when the registry was in flux, as
        # _IN_FLUX stored here would equal the next in-flux read).
        self.last = last_thread()
        self.quiet = -1 if self.last is _IN_FLUX else active_threads()

    def saw_thread(self) -> None:
        """Remember the calling thread (not the loop's) as one that can wake the loop."""
        ident = _get_ident()
        if ident not in self._callers:
            self._callers.add(ident)
            self.quiet = -1

    def job(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Return ``func`` wrapped for a thread pool: work in flight until a worker starts it."""
        job = _Job(self, func)
        self._unstarted.add(job)
        self.quiet = -1
        return job

    def landed(self, job: object) -> None:
        """Forget a job whose future is done (cancelled before it started, say)."""
        self._unstarted.discard(job)

    def wrapped(self, delta: int) -> None:
        """Count a future awaited through ``asyncio.wrap_future`` (+1), or one done (-1).

        Whoever runs it (a module-level executor's worker, older than the
        loop, say) is unknown: while one is pending, every thread of the
        process is watched, so time waits while any runs and jumps once all
        are parked (a future nobody can complete any more).
        """
        self._wrapped += delta
        self.quiet = -1

    def idle(self, loop_thread: int | None, final: bool = False) -> float | None:
        """Look at the loop's threads: ``None`` if every one is parked or gone, else seconds to wait.

        Called by the loop with nothing ready to run. Otherwise some thread
        runs (or a job waits for a worker): the loop waits that many real
        seconds, or until woken, and looks again. ``final``: the loop raises
        `DeadlockError` if every thread is parked; a thread in a wait with a
        real-time timeout then counts as running (it ends by itself, so no
        deadlock yet), and the parked threads are described for `report`.
        """
        self._report = ""
        count = active_threads()
        last = last_thread()
        callers = self._callers
        known = len(callers)
        first = self._look(loop_thread)
        if first is None:
            self._confirmed = {}
            return self._running()
        keys, parked = first
        confirmed = self._confirmed
        if keys != confirmed:
            # Something changed since the last confirmed look (or this is the
            # first): look again after a pause with the GIL released, in which
            # a thread that was woken, or waits for the GIL, runs.
            del parked[:]
            pause = _CONFIRM
            if any(key[4] and confirmed.get(ident) != key for ident, key in keys.items()):
                # A new wait with a timeout may be a thread waiting for the
                # GIL at a line that looks like a wait (just back from
                # `q.get()`, work in hand): CPython's take_gil waits on a
                # futex with the switch interval as its timeout. Releasing the
                # GIL wakes one waiter, maybe another thread's; but every
                # waiter wakes by itself within the interval, and so is seen
                # running, or woken, by a look after it.
                pause = max(_CONFIRM, sys.getswitchinterval() + _GIL_MARGIN)
            _real_sleep(pause)
            second = self._look(loop_thread)
            if second is None or second[0] != keys:
                self._confirmed = {}
                return self._running()
            parked = second[1]
        self._confirmed = keys
        if final and any(key[4] for key in keys.values()):
            # Nothing but a thread's own real-time timeout can end the wait.
            return self._running()
        self._poll = _POLL_FIRST
        if final and parked:
            # Formatted now: holding frames would keep the threads' objects alive.
            self._report = _format(parked)
        if not parked and not self._unstarted and not self._wrapped:
            # No thread of ours: skip the look until threads start or end, or
            # one calls in (saw_thread sets -1, maybe while we looked).
            self.quiet = count
            self.last = last
            if len(callers) != known or last is _IN_FLUX:
                # A thread called in as we looked, or threads started and
                # ended too fast to read which came last: look next time
                # (_IN_FLUX stored here would equal the next in-flux read).
                self.quiet = -1
        return None

    def report(self) -> str:
        """Describe the threads parked at the last `idle` with ``keep`` ("" when none)."""
        return self._report

    # -- looking -----------------------------------------------------------

    def _running(self) -> float:
        poll = self._poll
        self._poll = min(poll * 2, _POLL_CAP)
        return poll

    def _look(self, loop_thread: int | None) -> tuple[dict[int, _Key], list[_Parked]] | None:
        # One snapshot of every thread's innermost frame, then the kernel's
        # word on each thread of ours. None: one of them may run.
        if self._unstarted or _limbo:
            # A job no worker took yet; a thread starting (Thread.start()
            # waits for it, and it has no frame to look at yet).
            return None
        frames = _current_frames()
        # Our own entry is this very frame: drop it, or the dict and the
        # frame would hold each other (and every thread's frames) until gc.
        del frames[_get_ident()]
        callers = self._callers
        if not callers.issubset(frames):
            callers.intersection_update(frames)  # forget callers that ended
        baseline = self._baseline
        confirmed = self._confirmed
        keys: dict[int, _Key] = {}
        parked: list[_Parked] = []
        for ident, frame in frames.items():
            thread = _active.get(ident)
            if ident == loop_thread or (
                ident in baseline and baseline[ident]() is thread and ident not in callers
                and not self._wrapped
            ):
                continue
            if getattr(thread, "_asynctestkit_ignore", False):
                continue  # our own watchdog's timer thread
            wait = _wait_site(frame)
            if wait is None:
                return None
            kind, text = wait
            code = frame.f_code
            lasti = frame.f_lasti
            if not self._kernel:
                # Nothing tells a hand-off from a wait: only an idle pool
                # worker, with no job of ours waiting for one, is parked
                # (not while a wrapped future may be queued for it).
                if code is not _POOL_WORKER or self._wrapped:
                    return None
                keys[ident] = (code, lasti, 0, b"", False)
                parked.append((ident, frame, text))
                continue
            native = getattr(thread, "native_id", None)
            if native is None:  # pragma: no cover - a thread from _thread.start_new_thread
                return None
            seen = _kernel.sample(native)
            if seen is None or seen[0] != b"S":
                return None  # running, runnable (woken), or ending
            switches = seen[1]
            old = confirmed.get(ident)
            if old is not None and old[0] is code and old[1] == lasti and old[2] == switches:
                # Asleep, and not woken since it was confirmed parked.
                keys[ident] = old
            else:
                call = _kernel.blocked(native)
                if call is None or call[0] != kind:
                    return None
                keys[ident] = (code, lasti, switches, call[2], call[1])
            parked.append((ident, frame, text))
        return keys, parked


def _wait_site(frame: types.FrameType) -> tuple[str, str] | None:
    """Return the kind of wait ``frame`` is blocked in and how to name it, or None if it may run.

    Read from the code object and offset only (no locals, no objects).
    """
    code = frame.f_code
    if code in _SELECT_CODES:
        return _kernel.POLL, "a selector's select() without timeout (an event loop waiting for IO)"
    site = _site(code, frame.f_lasti)
    if site is None or site[3] not in _WAIT_METHODS:
        # Anywhere else, even inside Condition.wait (its bookkeeping around
        # the wait), the thread may be waiting for the GIL only: it runs.
        return None
    if code is _COND_WAIT or code in _JOIN_CODES:
        return _kernel.FUTEX, ""  # named from the stack: Event.wait(), Thread.join()
    receiver = ".".join((site[1], *site[2]))
    if site[3] == "__enter__":
        return _kernel.FUTEX, f"`with {receiver}:`"
    return _kernel.FUTEX, f"{receiver}.{site[3]}()"


def _format(parked: list[_Parked]) -> str:
    threads = {t.ident: t for t in threading.enumerate()}
    lines = [f"Parked threads ({len(parked)}), each blocked until another thread acts:"]
    for ident, frame, wait in parked:
        thread = threads.get(ident)
        name = thread.name if thread is not None else f"thread {ident}"
        lines.append(f"- thread {name!r} parked in {wait or _describe(frame)} (most recent call last):")
        lines.append("".join(traceback.format_stack(frame)).rstrip())
        if thread is not None and not thread.daemon:
            lines.append(
                f"  (thread {name!r} is not a daemon thread: the interpreter waits for it at "
                "exit, so a process whose tests leave it parked does not end; release what "
                "it waits for in a cleanup, or start it with daemon=True)"
            )
    return "\n".join(lines)


def _describe(frame: types.FrameType) -> str:
    # The outermost of the consecutive standard-library wait frames: for an
    # Event.wait that is Event.wait, not the Condition.wait inside it.
    name = _frame_name(frame)
    f = frame.f_back
    while f is not None and f.f_code in _WAIT_API:
        name = _frame_name(f)
        f = f.f_back
    return name + "()"


def _frame_name(frame: types.FrameType) -> str:
    code = frame.f_code
    # 3.11+ code objects have co_qualname; 3.10's only co_name.
    qualname = getattr(code, "co_qualname", None) or _QUALNAMES.get(code, code.co_name)
    module = frame.f_globals.get("__name__", "?")
    return f"{module}.{qualname}"


# 3.10: the qualified names of the standard library's wait functions, which
# its code objects do not carry.
_QUALNAMES: Final = {
    item.__code__: item.__qualname__
    for owner in (
        threading.Condition, threading.Event, threading.Semaphore, threading.BoundedSemaphore,
        threading.Barrier, threading.Thread, queue.Queue, concurrent.futures.Future,
    )
    for item in vars(owner).values()
    if isinstance(getattr(item, "__code__", None), types.CodeType)
}


def _site(code: types.CodeType, lasti: int) -> _Site | None:
    key = (code, lasti)
    try:
        return _sites[key]
    except KeyError:
        pass
    site = _parse_site(list(dis.get_instructions(code)), lasti)
    if len(_sites) > 4096:  # pragma: no cover - code generated at run time, say
        _sites.clear()
    _sites[key] = site
    return site


def _parse_site(instrs: list[dis.Instruction], lasti: int) -> _Site | None:
    """Read ``receiver.method(simple args)`` or ``with receiver:`` ending at offset ``lasti``."""
    instrs = [i for i in instrs if i.opname != "CACHE"]
    idx = next((n for n, i in enumerate(instrs) if i.offset == lasti), None)
    if idx is None:
        return None
    op = instrs[idx]
    j = idx - 1
    if op.opname in _WITH:
        method = "__enter__"
    elif op.opname in _CALLS:
        if j >= 0 and instrs[j].opname == "LOAD_SPECIAL":  # 3.14+ `with`
            while j >= 0 and instrs[j].opname in ("LOAD_SPECIAL", "SWAP"):
                j -= 1
            if j < 0 or instrs[j].opname != "COPY":
                return None
            method = "__enter__"
            j -= 1
        else:
            nargs = (op.arg or 0) + (op.opname in _KW_CALLS)
            while j >= 0 and instrs[j].opname in _FILLER:
                j -= 1
            while nargs > 0 and j >= 0:
                name = instrs[j].opname
                if name in _ONE_LOAD:
                    nargs -= 1
                elif name in _TWO_LOADS:
                    nargs -= 2
                elif name not in _FILLER:
                    return None
                j -= 1
            if nargs != 0 or j < 0 or instrs[j].opname not in ("LOAD_METHOD", "LOAD_ATTR"):
                return None
            method = str(instrs[j].argval)
            j -= 1
    else:
        return None
    attrs: list[str] = []
    while j >= 0 and instrs[j].opname == "LOAD_ATTR":
        attrs.append(str(instrs[j].argval))
        j -= 1
    if j < 0:
        return None
    base = instrs[j]
    if base.opname in _LOCAL_BASES:
        return True, str(base.argval), tuple(reversed(attrs)), method
    if base.opname in _GLOBAL_BASES:
        return False, str(base.argval), tuple(reversed(attrs)), method
    return None
