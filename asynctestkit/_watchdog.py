"""A per-test real-time timeout that ends a hung test with a report.

On the main thread of a POSIX process the watchdog is a ``SIGALRM`` timer:
arming it costs two system calls, and its handler runs *in* the loop's
thread, so it can both read where that thread is stuck and interrupt it, even
inside a blocking call such as ``time.sleep`` (the signal cuts the system call
short). Elsewhere (another thread, Windows, or when the program uses SIGALRM
itself) a timer thread asks the loop to cancel the test through
``call_soon_threadsafe``, and reports the loop thread's stack.
"""

from __future__ import annotations

import asyncio
import selectors
import signal
import threading
from typing import TYPE_CHECKING, Any, final

from ._report import format_tasks, format_thread

if TYPE_CHECKING:
    from types import FrameType

__all__ = ("Watchdog", "WatchdogTimeout")

_SELECTORS_FILE = selectors.__file__
_HAS_ALARM = hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")


class WatchdogTimeout(KeyboardInterrupt):
    """Raised into a test that ran past its real-time ``timeout``.

    A KeyboardInterrupt subclass, so that asyncio lets it through every task and
    callback straight out of the loop, as it does for Ctrl-C; the test case
    catches it before unittest sees it and turns it into a failure.
    """


@final
class Watchdog:
    """Arm a real-time deadline for one test; on expiry, stop it and explain why.

    Args:
        loop: The test's loop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.expired = False
        self.report = ""
        self.seconds: float | None = None
        # While True, expiry raises WatchdogTimeout into the loop's thread.
        self.interrupting = False
        # The task running the current test step, cancelled on expiry.
        self.step: asyncio.Future[Any] | None = None
        self._thread_id = threading.get_ident()
        self._old_handler: Any = None
        self._timer: threading.Timer | None = None

    def arm(self, seconds: float | None) -> None:
        """Start (or restart) the countdown of ``seconds`` real seconds; ``None`` disarms."""
        self.seconds = seconds
        if seconds is None:
            self.disarm()
        elif self._old_handler is not None:
            # Ours already: restarting the timer is one system call.
            signal.setitimer(signal.ITIMER_REAL, seconds)
        else:
            self.disarm()
            if self._can_use_alarm():
                self._old_handler = signal.signal(signal.SIGALRM, self._on_alarm)
                signal.setitimer(signal.ITIMER_REAL, seconds)
            else:
                self._timer = threading.Timer(seconds, self._on_timer)
                self._timer.daemon = True
                # Not a thread that can wake the loop's time (see _threads.py).
                self._timer._asynctestkit_ignore = True  # type: ignore[attr-defined]
                self._timer.start()

    def disarm(self) -> None:
        """Stop the countdown and put SIGALRM's handler back."""
        if self._old_handler is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old_handler)
            self._old_handler = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _can_use_alarm(self) -> bool:
        return (
            _HAS_ALARM
            and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        )

    # -- expiry ------------------------------------------------------------

    def _headline(self) -> str:
        return (
            f"The test ran longer than its timeout of {self.seconds} s (real time) and "
            "was stopped. Raise `timeout` on the class or with @configure(timeout=...) "
            "if it really needs longer; `timeout = None` turns the watchdog off."
        )

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the loop's (main) thread, between two bytecodes of whatever
        # it was doing, or right after a blocking system call was interrupted.
        self.expired = True
        parts = [self._headline()]
        if frame is not None and frame.f_code.co_filename != _SELECTORS_FILE:
            parts.append(format_thread(self._thread_id))
        parts.append(self._tasks_report())
        self.report = "\n\n".join(parts)
        if self.interrupting:
            raise WatchdogTimeout(self.report)

    def _on_timer(self) -> None:
        # Runs in the timer thread: only thread-safe calls into the loop.
        self.expired = True
        stack = format_thread(self._thread_id)
        self.report = f"{self._headline()}\n\n{stack}"
        loop = self.loop
        if not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._cancel_step, stack)
            except RuntimeError:  # pragma: no cover - closed in between
                pass

    def _cancel_step(self, stack: str) -> None:
        self.report = f"{self._headline()}\n\n{stack}\n\n{self._tasks_report()}"
        if self.step is not None and not self.step.done():
            self.step.cancel()

    def _tasks_report(self) -> str:
        tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        return format_tasks(tasks, "Pending tasks")

