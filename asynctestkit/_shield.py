"""Keep a Ctrl-C out of asynctestkit's own bookkeeping: defer SIGINT in critical sections.

A KeyboardInterrupt may be raised between any two bytecodes of the main
thread. Landing inside the code that puts a global back (``time.monotonic``,
SIGALRM's handler, a hook, the current loop) or between making something and
recording how to undo it, it would leave that global changed, or that loop
open, for the rest of the process. trio's answer is to protect its own code
from KeyboardInterrupt and let it through only in user code; this module does
the same with SIGINT's Python handler:

* `deferred_interrupts` swaps the handler for one that only records the
  signal; when the outermost section ends, the original handler is put back
  and, if a SIGINT came, called (the default one raises KeyboardInterrupt).
  Sections nest; only the outermost one costs system calls.
* `allowed_interrupts`, inside such a section, lets SIGINT through again
  while user code runs (a test's step): a SIGINT recorded before it is
  raised on entry, one during it is raised where it lands, as usual.
* `restore` calls one function that puts something back inside such a
  section; `Undo` keeps a test's list of them and runs them in reverse
  order, all in one section.

Two SIGINTs are one interrupt: if a KeyboardInterrupt is already on its way
out of a section, a deferred one is dropped rather than raised over it. On
other threads (where SIGINT is never handled) both do nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, final

# The C functions under `signal`: no enum round trips (see _compat).
from ._compat import c_getsignal as _getsignal
from ._compat import c_signal as _signal

if TYPE_CHECKING:
    from types import FrameType, TracebackType

__all__ = ("Undo", "allowed_interrupts", "deferred_interrupts", "restore")

_get_ident = threading.get_ident
_main_ident = threading.main_thread().ident


def _after_fork() -> None:
    global _main_ident
    _main_ident = threading.main_thread().ident  # the forking thread is the child's main


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_after_fork)

_SIGINT = int(signal.SIGINT)

# The sections open on the main thread, innermost last: True defers SIGINT,
# False lets it through. Empty: SIGINT's handler is the program's own;
# otherwise it is _dispatch, which looks at the innermost section. Entering and
# leaving an inner section is then a list operation, not a system call.
_modes: list[bool] = []
_original: Any = None  # the program's SIGINT handler while _modes is not empty
_pending = False  # a SIGINT came while deferred


def _dispatch(signum: int, frame: FrameType | None) -> None:
    global _pending
    if _modes and not _modes[-1]:
        _original(signum, frame)  # in the user's code: as if we were not there
    else:
        _pending = True


def _raise_pending(exc_type: type[BaseException] | None = None) -> None:
    """Hand a deferred SIGINT to the program's handler (dropped if an interrupt is on its way)."""
    global _pending
    if _pending:
        _pending = False
        if exc_type is not KeyboardInterrupt:
            _original(_SIGINT, None)


@final
class _Section:
    """One section: defer SIGINT (``defer=True``) or let it through (``False``)."""

    __slots__ = ("_defer", "_depth")

    def __init__(self, defer: bool) -> None:
        self._defer = defer
        self._depth = 0  # its place in _modes, from 1; 0: it changed nothing

    def __enter__(self) -> None:
        global _original, _pending
        if _get_ident() != _main_ident:
            return
        defer = self._defer
        if not _modes:
            if not defer:
                return  # nothing deferred around it: SIGINT already goes through
            old = _getsignal(_SIGINT)
            if not callable(old):
                return  # SIG_IGN, SIG_DFL or a C handler: nothing raises KeyboardInterrupt
            _original = old
            _pending = False
            _signal(_SIGINT, _dispatch)
        elif not defer and _modes[-1]:
            _raise_pending()  # held back until now: raised before the user's code runs
        _modes.append(defer)
        self._depth = len(_modes)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _original, _pending
        depth = self._depth
        if not depth:
            return
        self._depth = 0
        if not self._defer:
            current = _getsignal(_SIGINT)
            if current is not _dispatch and callable(current):
                # The user's code installed its own SIGINT handler: adopt it
                # (put back when the outermost section ends).
                _original = current
                _signal(_SIGINT, _dispatch)
        # Cut back to where this section started: an inner section whose exit
        # was skipped (interrupted on its first line) is closed too.
        del _modes[depth - 1 :]
        if not _modes:
            original = _original
            _original = None
            # Only a handler of ours is replaced: code in the section that set
            # its own SIGINT handler keeps it.
            if _getsignal(_SIGINT) is _dispatch:
                _signal(_SIGINT, original)
            if _pending:
                _pending = False
                if exc_type is not KeyboardInterrupt:
                    original(_SIGINT, None)
        elif not _modes[-1]:
            _raise_pending(exc_type)


def deferred_interrupts() -> _Section:
    """Return a context manager that holds back Ctrl-C until its block is done.

    On the main thread, while the block runs, SIGINT only sets a flag; when
    the outermost such block ends, the original handler is put back and, if a
    SIGINT came, called (the default one raises KeyboardInterrupt). Sections
    nest; elsewhere, or when SIGINT's handler is not a Python function, it does
    nothing.

    Example:
        >>> with deferred_interrupts():
        ...     time.monotonic = saved  # never half done
    """
    return _Section(True)


def allowed_interrupts() -> _Section:
    """Return a context manager that lets Ctrl-C through again inside a deferred section.

    For the user's code inside asynctestkit's own: a SIGINT held back so far
    is raised on entry; one that comes during the block is raised where it
    lands. Outside any deferred section it does nothing.
    """
    return _Section(False)


def restore(func: Callable[..., object], /, *args: Any) -> None:
    """Call the idempotent restore ``func(*args)`` with Ctrl-C held back until it returns.

    A KeyboardInterrupt raised inside it anyway (by code it calls, or off the
    main thread) does not leave the job half done: ``func`` is called once
    more, then that first interrupt goes on.

    Args:
        func: Puts something back; calling it twice must be harmless.
        *args: Passed to ``func``.

    Example:
        >>> stack.callback(restore, signal.signal, signal.SIGALRM, old)
    """
    if _modes and _modes[-1] and _get_ident() == _main_ident:
        section = None  # inside a deferred section already
    else:
        section = _Section(True)
        section.__enter__()
    try:
        func(*args)
    except KeyboardInterrupt:
        func(*args)
        raise
    finally:
        if section is not None:
            section.__exit__(*sys.exc_info())


@final
class Undo:
    """The calls that put back what one test (or one part of it) changed, run last first.

    A lean ``contextlib.ExitStack`` for the per-test path, where a test
    records a dozen of them: `close` runs them all inside one deferred
    section, each as `restore` would (a KeyboardInterrupt raised by the
    call itself calls it once more), and goes on past a call that raises;
    then it raises the first such exception. Each call must be idempotent.
    `close` empties the list: a second one does nothing.

    Example:
        >>> undo = Undo()
        >>> undo.callback(loop.set_task_factory, loop.get_task_factory())
        >>> undo.close()
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: list[tuple[Callable[..., object], tuple[Any, ...]]] = []

    def callback(self, func: Callable[..., object], /, *args: Any) -> None:
        """Record ``func(*args)``, which puts something back (idempotent), to be run by `close`."""
        self._calls.append((func, args))

    def enter_context(self, cm: Any) -> Any:
        """Enter ``cm`` (looked up on its type, as ``with`` does); `close` exits it."""
        kind = type(cm)
        result = kind.__enter__(cm)
        self._calls.append((kind.__exit__, (cm, None, None, None)))
        return result

    def close(self) -> None:
        """Run the recorded calls, last first; raise the first exception one of them raised."""
        calls = self._calls
        if not calls:
            return
        error: BaseException | None = None
        section = _Section(True)
        section.__enter__()
        try:
            while calls:
                func, args = calls.pop()
                try:
                    func(*args)
                except KeyboardInterrupt as exc:
                    # Raised by code it calls: finish the job, then let it go on.
                    try:
                        func(*args)
                    except BaseException:  # the first interrupt is the one raised
                        pass
                    error = error or exc
                except BaseException as exc:  # raised once every call ran
                    error = error or exc
        finally:
            section.__exit__(type(error) if error is not None else None, error, None)
        if error is not None:
            raise error
