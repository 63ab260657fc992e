"""Which threads can wake a virtual loop, and whether each of them is parked.

The virtual loop may move time only when nothing else can happen. Threads are
the hard part: a thread that computes, sleeps or does IO may wake the loop at
any moment, while a thread blocked in a wait on a standard-library primitive,
whose condition has not happened yet, can only be woken by someone else. When
every thread that can wake the loop is in the second state (**parked**) or has
ended, the loop is idle and may jump; when no timer is pending either, nothing
can ever happen and the loop reports a deadlock naming the parked threads.

`ThreadWatch` is owned by one loop and knows its threads:

* every thread started after the loop was made (a library's connection
  thread, a new executor's workers), while it lives;
* every thread that called ``call_soon_threadsafe`` on the loop (so also
  ``run_coroutine_threadsafe`` and executor futures completing), while it
  lives;
* every thread running a job the loop gave ``run_in_executor`` on a thread
  pool; a job no worker has started yet counts as running work.

Whether a thread is parked is read from its innermost Python frame
(``sys._current_frames()``), only when the loop is idle, and from the state of
the primitive it waits on: a ``Condition`` waiter still in the condition's
queue (not notified: this covers ``Event``, ``Semaphore``, ``Barrier``,
``queue.Queue``, ``concurrent.futures`` ``Future.result`` and ``wait``), a
``Thread.join`` on a thread still alive, a ``SimpleQueue.get`` on an empty
queue (the executor's idle workers), a ``Lock``/``RLock`` held by another
thread. Anything else (Python code running, ``time.sleep``, a socket read, an
unknown C call) counts as running, so time never jumps past possible work. A
wait with a timeout is parked too: the timeout is real time, which virtual
time does not wait for (``run_coroutine_threadsafe(...).result(timeout=5)``
waits for the loop, which must be free to jump).

Handing work to a parked thread is seen at once: ``queue.put`` notifies the
waiter (no longer in the queue), ``Event.set`` too, a released lock is no
longer locked. A plain ``Lock`` does not say who holds it, so a thread found
blocked on one (or in a selector's ``select``) is confirmed by a second look
after a short real-time pause, in which a thread that just got the lock
returns from ``acquire()``; on Linux, a thread the OS has woken but not yet
run (state R in ``/proc``) is running too, however loaded the machine.
"""

from __future__ import annotations

import _thread
import concurrent.futures
import dis
import inspect
import queue
import re
import selectors
import sys
import threading
import time
import traceback
import types
import weakref
from typing import TYPE_CHECKING, Any, Final, final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ("ThreadWatch", "active_threads")

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
# The pause between the two looks that confirm a thread parked on a plain Lock.
_CONFIRM = 0.001

_LOCK: Final = _thread.LockType
_RLOCK: Final = type(threading.RLock())
_SIMPLE_QUEUE: Final = queue.SimpleQueue
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
_RLOCK_OWNER = re.compile(r"owner=(\d+) count=(\d+)")


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

# What a look at one thread found: None (running), or why it is parked and
# whether that needs a second look to be sure.
_Wait = tuple[str, bool]


def active_threads() -> int:
    """Return how many threads ``threading`` knows, started or starting (cheap, lock-free)."""
    return len(_active) + len(_limbo)


def _weak(thread: threading.Thread | None) -> Callable[[], threading.Thread | None]:
    # A thread started by C code has no Thread object: "None" then.
    return (lambda: None) if thread is None else weakref.ref(thread)


def last_thread() -> threading.Thread | None:
    """Return the thread that started last among those alive (cheap, lock-free)."""
    return next(reversed(_active_threads), None)


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


# One parked thread, for the deadlock report: its id, innermost frame and wait
# (described only when a report is made).
_Parked = tuple[int, types.FrameType, str]


@final
class ThreadWatch:
    """The threads that can wake one virtual loop, and whether they are all parked.

    Owned by the loop; `idle` is called only when the loop has nothing to do.
    """

    __slots__ = ("_baseline", "_callers", "_poll", "_report", "_unstarted", "last", "quiet")

    def __init__(self) -> None:
        # Threads alive when the loop was made are not the loop's unless they
        # call into it: a debugger's or the test runner's threads.
        # By thread object too (weakly): a new thread may reuse an ended one's id.
        self._baseline = {ident: _weak(_active.get(ident)) for ident in _current_frames()}
        self._callers: set[int] = set()
        self._unstarted: set[_Job] = set()
        self._report = ""
        self._poll = _POLL_FIRST
        # active_threads() and the last thread started when the loop last found
        # no thread of its own; the loop skips the look while both are still
        # these (quiet -1: never).
        self.quiet = active_threads()
        self.last = last_thread()

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

    def idle(self, loop_thread: int | None, keep: bool = False) -> float | None:
        """Look at the loop's threads: ``None`` if every one is parked or gone, else seconds to wait.

        Called by the loop with nothing ready to run. Otherwise some thread
        runs (or a job waits for a worker): the loop waits that many real
        seconds, or until woken, and looks again. With ``keep``, the parked
        threads are kept for `report` (their frames: only when one is made).
        """
        self._report = ""
        count = active_threads()
        last = last_thread()
        callers = self._callers
        alive = _current_frames().keys() - {_get_ident()}  # no frame kept: see _look
        for gone in [i for i in list(callers) if i not in alive]:
            callers.discard(gone)
        known = len(callers)
        verdict = self._look(loop_thread)
        if verdict is None:
            return self._running()
        confirm, parked, frames = verdict
        if confirm:
            # Someone blocked on a plain Lock or in select(): look again after
            # a pause in which a thread that just got its lock returns.
            _real_sleep(_CONFIRM)
            second = self._look(loop_thread)
            if second is None or any(
                (frames[i] is not second[2].get(i)) or frames[i].f_lasti != second[2][i].f_lasti
                for i in frames
            ) or any(map(_runnable, second[2])):
                return self._running()
            parked = second[1]
        self._poll = _POLL_FIRST
        if keep and parked:
            # Formatted now: holding frames would keep the threads' objects alive.
            self._report = _format(parked)
        if not parked and not self._unstarted:
            # No thread of ours: skip the look until threads start or end, or
            # one calls in (saw_thread sets -1, maybe while we looked).
            self.quiet = count
            self.last = last
            if len(callers) != known:  # pragma: no cover - a thread called in as we looked
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

    def _look(
        self, loop_thread: int | None
    ) -> tuple[bool, list[_Parked], dict[int, types.FrameType]] | None:
        # One snapshot of every thread's innermost frame, then the state of
        # what each waits on, read after the snapshot: a waiter still queued
        # now was blocked all along since (each wait makes its own waiter).
        if self._unstarted or _limbo:
            # A job no worker took yet; a thread starting (Thread.start()
            # waits for it, and it has no frame to look at yet).
            return None
        frames = _current_frames()
        # Our own entry is this very frame: drop it, or the dict and the
        # frame would hold each other (and every thread's frames) until gc.
        del frames[_get_ident()]
        callers = self._callers
        baseline = self._baseline
        confirm = False
        parked: list[_Parked] = []
        mine: dict[int, types.FrameType] = {}
        for ident, frame in frames.items():
            if ident == loop_thread or (
                ident in baseline and baseline[ident]() is _active.get(ident) and ident not in callers
            ):
                continue
            if getattr(_active.get(ident), "_asynctestkit_ignore", False):
                continue  # our own watchdog's timer thread
            wait = _wait_of(frame, ident, frames)
            if wait is None:
                return None
            mine[ident] = frame
            confirm = confirm or wait[1]
            parked.append((ident, frame, wait[0]))
        return confirm, parked, mine


def _runnable(ident: int) -> bool:
    """Whether thread ``ident`` is runnable now: woken, if not yet given a CPU (Linux).

    The pause before the second look is no proof on a loaded machine: a
    thread that got its lock, or whose selector has an event, may wait
    longer than that for a CPU, still showing the same frame. Linux says
    so: its state is R (runnable) from its wakeup, S while it sleeps.
    Elsewhere, or for a thread not made with `threading`, False: the pause
    is all there is.
    """
    native = getattr(_active.get(ident), "native_id", None)
    if native is None:  # pragma: no cover - a thread from _thread.start_new_thread
        return False
    try:
        with open(f"/proc/self/task/{native}/stat", "rb") as stat:
            data = stat.read()
    except OSError:  # pragma: no cover - not Linux, or it has just ended
        return False
    # "pid (comm) S ...": the name may hold spaces and parentheses.
    return data[data.rindex(b")") + 2 : data.rindex(b")") + 3] == b"R"


def _format(parked: list[_Parked]) -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    lines = [f"Parked threads ({len(parked)}), each blocked until another thread acts:"]
    for ident, frame, wait in parked:
        name = names.get(ident, f"thread {ident}")
        lines.append(f"- thread {name!r} parked in {wait or _describe(frame)} (most recent call last):")
        lines.append("".join(traceback.format_stack(frame)).rstrip())
    return "\n".join(lines)


def _wait_of(frame: types.FrameType, ident: int, frames: dict[int, types.FrameType]) -> _Wait | None:
    """Return what ``frame``'s thread is parked in, or None if it may run."""
    code = frame.f_code
    try:
        if code is _COND_WAIT:
            local = frame.f_locals
            waiter = local.get("waiter")
            cond = local.get("self")
            if waiter is None or not isinstance(cond, threading.Condition):
                return None
            # Still queued: not notified yet (notify() dequeues the waiter).
            if not any(w is waiter for w in list(cond._waiters)):  # type: ignore[attr-defined]
                return None
            return "", False  # described in report()
        if code in _JOIN_CODES:
            target = frame.f_locals.get("self")
            # Joining a thread that lives (the loop's own thread was taken out
            # of `frames`): parked until it ends.
            if isinstance(target, threading.Thread) and target.ident != ident and (
                target.ident in frames or target.ident == _get_ident()
            ):
                return f"{target!r}.join()", False
            return None
        if code in _SELECT_CODES:
            # Another event loop: with a timeout it wakes by itself (a timer
            # of its own, like time.sleep); without, only IO wakes it.
            # (EpollSelector.select turns None into -1 before it blocks.)
            timeout = frame.f_locals.get("timeout", 0)
            if timeout is None or (isinstance(timeout, (int, float)) and timeout < 0):
                return "a selector's select() without timeout (an event loop waiting for IO)", True
            return None
        site = _site(code, frame.f_lasti)
        if site is None:
            return None
        obj = _resolve(frame, site)
        method = site[3]
        if method in ("acquire", "__enter__"):
            if type(obj) is _LOCK:
                return (f"Lock.acquire() on {_held(obj)}", True) if obj.locked() else None
            if type(obj) is _RLOCK:
                found = _RLOCK_OWNER.search(repr(obj))
                if found is None:
                    return None
                owner, count = int(found.group(1)), int(found.group(2))
                if count and owner not in (0, ident):
                    return f"RLock.acquire() on {_held(obj)}", False
            return None
        if method == "get" and type(obj) is _SIMPLE_QUEUE and obj.empty():
            return f"SimpleQueue.get() on an empty {_held(obj)}", False
    except (AttributeError, KeyError, TypeError, ValueError, RuntimeError):
        # A frame that changed under us, a mutated deque: it may run.
        return None
    return None


def _held(obj: object) -> str:
    return f"{type(obj).__name__} at {id(obj):#x}"


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
    qualname = getattr(code, "co_qualname", None)  # 3.11+
    if qualname is None:  # pragma: no cover - 3.10 only: code objects have co_qualname on 3.11+
        owner = frame.f_locals.get("self")
        qualname = f"{type(owner).__name__}.{code.co_name}" if owner is not None else code.co_name
    module = frame.f_globals.get("__name__", "?")
    return f"{module}.{qualname}"


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


def _resolve(frame: types.FrameType, site: _Site) -> object:
    """Evaluate a call site's receiver in ``frame`` without running code (KeyError if not)."""
    is_local, name, attrs, _ = site
    if is_local:
        obj = frame.f_locals[name]
    else:
        try:
            obj = frame.f_globals[name]
        except KeyError:
            obj = frame.f_builtins[name]
    for attr in attrs:
        # getattr_static: no property or __getattr__ runs in the loop's thread.
        value = inspect.getattr_static(obj, attr)
        if type(value).__name__ == "member_descriptor":  # a __slots__ attribute
            value = value.__get__(obj, type(obj))
        elif isinstance(value, (property, types.MethodDescriptorType, types.GetSetDescriptorType)):
            raise KeyError(attr)
        obj = value
    return obj
