"""What the kernel says about another thread of this process (Linux ``/proc``).

Small files per thread, all safe to read from any thread at any time (the
kernel answers; nothing of the thread's own memory is touched):

* ``/proc/self/task/<tid>/wchan``: where the thread is blocked, or ``0``
  unless it is asleep. The kernel answers under the lock a wake-up takes,
  and says ``0`` for a thread running, waiting for a CPU, or being woken.
* ``/proc/self/task/<tid>/schedstat``: how many times the thread has been
  given a CPU so far, a wake count: a thread that was asleep, was woken, ran
  and fell asleep again has a higher count; one woken but not yet run is not
  asleep.
* ``/proc/self/task/<tid>/status``: the same two facts, slower to read (the
  kernel formats two dozen fields): the scheduler state (``S``: asleep in an
  interruptible wait; ``R``: running, or woken and waiting for a CPU) and
  ``voluntary_ctxt_switches`` + ``nonvoluntary_ctxt_switches``. Read where
  ``schedstat`` counts nothing (a kernel without scheduler statistics), and
  for the state of a thread ``wchan`` does not show asleep (a kernel may
  hide wait channels).
* ``/proc/self/task/<tid>/syscall``: the system call it is blocked in and its
  arguments: a ``futex`` wait (every lock, condition, queue, event and join
  of CPython ends in one), or ``epoll_wait``/``poll``/``select`` and whether
  it has a timeout of its own.

`AVAILABLE` is False where these files cannot be read or the architecture's
system call numbers are unknown: then nothing here answers, and the caller
counts every thread as running (time waits in real time).
"""

from __future__ import annotations

import os
import platform
import threading
import time
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ("AVAILABLE", "blocked", "sample")

# System call numbers: futex-like waits, and polls with the index (among the
# six arguments) of their timeout, an int (milliseconds; negative: none) or a
# pointer (NULL: none). x86_64: arch/x86/entry/syscalls/syscall_64.tbl;
# aarch64 (and riscv64, which share the generic table):
# include/uapi/asm-generic/unistd.h.
_TABLES: Final[dict[str, tuple[frozenset[int], dict[int, int], dict[int, int]]]] = {
    "x86_64": (
        frozenset({202, 449}),  # futex, futex_waitv
        {232: 3, 281: 3, 7: 2},  # epoll_wait, epoll_pwait, poll: int timeout
        {441: 3, 271: 2, 23: 4, 270: 4},  # epoll_pwait2, ppoll, select, pselect6: pointer
    ),
    "aarch64": (
        frozenset({98, 449}),
        {22: 3},  # epoll_pwait
        {441: 3, 73: 2, 72: 4},  # epoll_pwait2, ppoll, pselect6
    ),
}
_TABLES["amd64"] = _TABLES["x86_64"]
_TABLES["arm64"] = _TABLES["aarch64"]
_TABLES["riscv64"] = _TABLES["aarch64"]

_FUTEX, _INT_TIMEOUT, _PTR_TIMEOUT = _TABLES.get(platform.machine().lower(), (frozenset(), {}, {}))
_open = os.open
_read = os.read
# Windows has no os.pread (nor /proc): never called there (AVAILABLE is False).
_pread: Callable[[int, int, int], bytes] | None = getattr(os, "pread", None)
_close = os.close
_RDONLY = os.O_RDONLY

# A wait that only another thread ends: a futex, or a poll without timeout.
FUTEX: Final = "futex"
POLL: Final = "poll"


def _slurp(path: str) -> bytes | None:
    try:
        fd = _open(path, _RDONLY)
    except OSError:
        return None
    try:
        return _read(fd, 4096)
    except OSError:  # pragma: no cover - the thread ended between open and read
        return None
    finally:
        _close(fd)


# Per file name, thread id -> an open descriptor of that file: read again
# from offset 0, a /proc file shows the state anew, at a third of the cost of
# opening it each time (the loop samples each thread of its own at every idle
# check). A descriptor keeps naming the thread it was opened for: once that
# thread has ended, reading fails (ESRCH) and the entry goes, even if a new
# thread reuses the id.
_fds: dict[str, dict[int, int]] = {"status": {}, "wchan": {}, "schedstat": {}}
_MAX_FDS = 512


def _reread(name: str, tid: int) -> bytes | None:
    fds = _fds[name]
    fd = fds.get(tid)
    if fd is None:
        if len(fds) >= _MAX_FDS:  # pragma: no cover - a process with hundreds of threads
            _forget_all()
        try:
            fd = _open(f"/proc/self/task/{tid}/{name}", _RDONLY)
        except OSError:
            return None
        fds[tid] = fd
    try:
        data = _pread(fd, 4096, 0)  # type: ignore[misc]  # not None where AVAILABLE
    except OSError:
        data = b""
    if not data:
        del fds[tid]
        _close(fd)
        return None
    return data


def _forget_all() -> None:
    # Also in a forked child: the descriptors name the parent's threads.
    for fds in _fds.values():
        for fd in fds.values():
            try:
                _close(fd)
            except OSError:  # pragma: no cover - closed by someone else
                pass
        fds.clear()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_forget_all)


def sample(tid: int) -> tuple[bytes, int] | None:
    """Return thread ``tid``'s scheduler state (one letter) and its wake count so far; None if gone.

    ``S``: asleep; any other letter: running, runnable, being woken or
    ending. The count grows each time the thread runs again.
    """
    if _SCHEDSTAT:
        where = _reread("wchan", tid)
        if where is None:
            return None
        if where != b"0":
            # Asleep, with the kernel's lock on wake-ups held as it answered.
            runs = _runs(tid)
            return None if runs is None else (b"S", runs)
        # Not asleep, or a kernel that hides wait channels: the state from
        # status (what a running thread costs is waited for anyway).
        state = _status(tid)
        runs = _runs(tid)
        return None if state is None or runs is None else (state[0], runs)
    return _status(tid)


def _runs(tid: int) -> int | None:
    # schedstat's last field: the times the thread was given a CPU.
    data = _reread("schedstat", tid)
    return None if data is None else int(data[data.rindex(b" ") + 1 :])


def _status(tid: int) -> tuple[bytes, int] | None:
    # The state and the context switches, from the status file.
    data = _reread("status", tid)
    if not data:
        return None
    at = data.find(b"\nState:\t")
    vol = data.find(b"\nvoluntary_ctxt_switches:\t")
    non = data.find(b"\nnonvoluntary_ctxt_switches:\t")
    if at < 0 or vol < 0 or non < 0:  # pragma: no cover - a kernel without these lines
        return None
    switches = int(data[vol + 26 : data.index(b"\n", vol + 26)])
    switches += int(data[non + 29 : data.index(b"\n", non + 29)])
    return data[at + 8 : at + 9], switches


def blocked(tid: int) -> tuple[str, bool, bytes] | None:
    """Return the wait thread ``tid`` is blocked in: FUTEX or POLL, whether timed, the raw line.

    None: not blocked in a system call, or in one that ends by itself (a
    sleep, a poll with a timeout, a read from a socket or pipe, ...). A futex
    wait with a timeout (``Event.wait(5)``) is returned, marked timed.
    """
    data = _slurp(f"/proc/self/task/{tid}/syscall")
    if not data:
        return None
    fields = data.split()
    try:
        number = int(fields[0])
    except ValueError:  # "running"
        return None
    if number in _FUTEX:
        # futex(uaddr, op, val, timeout, ...); futex_waitv(waiters, n, flags, timeout, ...)
        return FUTEX, int(fields[4], 16) != 0, data
    index = _INT_TIMEOUT.get(number)
    if index is not None:
        timeout = int(fields[1 + index], 16)
        # An int argument: -1 shows as 0xffffffff or 0xffffffffffffffff.
        return (POLL, False, data) if timeout >= 0x80000000 else None
    index = _PTR_TIMEOUT.get(number)
    if index is not None and int(fields[1 + index], 16) == 0:
        return POLL, False, data
    return None


def _probe() -> bool:
    if not _FUTEX or _pread is None:  # pragma: no cover - an architecture without a table; Windows
        return False
    tid = threading.get_native_id()
    return _status(tid) is not None and _slurp(f"/proc/self/task/{tid}/syscall") is not None


def _counts_runs() -> bool:
    # schedstat's third field counts the times the thread got a CPU, where the
    # kernel keeps scheduler statistics; elsewhere it reads "0 0 0". A short
    # sleep gives this thread the CPU once more: the count must grow.
    if not AVAILABLE:  # pragma: no cover - no /proc
        return False
    tid = threading.get_native_id()
    try:
        before = _runs(tid)
        time.sleep(1e-6)
        after = _runs(tid)
        if before is None or after is None or _reread("wchan", tid) is None:
            return False  # pragma: no cover - a kernel without these files
        return after > before
    except ValueError:  # pragma: no cover - another format
        return False
    finally:
        _forget_all()


# Read once at import: Linux with /proc mounted and a known architecture, and
# whether the cheaper wchan + schedstat pair can stand in for status.
AVAILABLE: Final = _probe()
_SCHEDSTAT: Final = _counts_runs()
