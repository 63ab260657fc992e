"""Keep a Ctrl-C from landing inside a restore: defer SIGINT for a critical section.

A KeyboardInterrupt may be raised between any two bytecodes of the main
thread. Landing inside the code that puts a global back (``time.monotonic``,
SIGALRM's handler, a hook, the current loop), it would leave that global
changed for the rest of the process. `deferred_interrupts` swaps SIGINT's
Python handler for one that only records the signal while the section runs,
then calls the original handler (which raises KeyboardInterrupt) once the
section is done: trio's KeyboardInterrupt protection, for a few lines at a
time.

Two SIGINTs are one interrupt: if a KeyboardInterrupt is already on its way
out of the section, a deferred one is dropped rather than raised over it.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType

__all__ = ("deferred_interrupts", "restore")

_main_thread = threading.main_thread
_get_ident = threading.get_ident
_getsignal = signal.getsignal
_signal = signal.signal
_SIGINT = signal.SIGINT

# The outermost active section on the main thread, or None.
_active: _Deferred | None = None


@final
class _Deferred:
    """One critical section; re-entrant (only the outermost swaps the handler)."""

    __slots__ = ("_got", "_old", "_outer")

    def __init__(self) -> None:
        self._old: Any = None
        self._got = False
        self._outer = False

    def __enter__(self) -> None:
        global _active
        if _active is not None or _get_ident() != _main_thread().ident:
            return  # nested, or off the main thread (SIGINT is handled on the main thread)
        old = _getsignal(_SIGINT)
        if not callable(old):
            return  # SIG_IGN, SIG_DFL or a C handler: nothing raises KeyboardInterrupt
        self._old = old
        _signal(_SIGINT, self._record)
        self._outer = True
        _active = self

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self._got = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _active
        if not self._outer:
            return
        self._outer = False
        old = self._old
        self._old = None
        _active = None
        # Only a handler of ours is replaced: code in the section that set its
        # own SIGINT handler keeps it.
        if _getsignal(_SIGINT) == self._record:
            _signal(_SIGINT, old)
        if self._got:
            self._got = False
            if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
                return  # one interrupt is already on its way out
            old(_SIGINT, None)


def deferred_interrupts() -> _Deferred:
    """Return a context manager that holds back Ctrl-C until its block is done.

    On the main thread, while the block runs, SIGINT only sets a flag; on
    exit the original handler is put back and, if a SIGINT came, called
    (the default one raises KeyboardInterrupt). Sections nest; elsewhere, or
    when SIGINT's handler is not a Python function, it does nothing.

    Example:
        >>> with deferred_interrupts():
        ...     time.monotonic = saved  # never half done
    """
    return _Deferred()


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
    with _Deferred():
        try:
            func(*args)
        except KeyboardInterrupt:
            func(*args)
            raise
