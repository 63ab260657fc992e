"""asynctestkit: test asyncio code with unittest, on a virtual clock, honestly.

The public face of the package: every public name is re-exported here and
listed in ``__all__``. The code lives in private modules (``_clock``,
``_loop``, ``_timepatch``, ``_case``, ...), mapped in the README's "How it is
built" table: https://github.com/asynctestkit/asynctestkit#how-it-is-built
"""

from ._autospec import autospec as autospec
from ._case import AsyncTestCase as AsyncTestCase
from ._case import ClockedTestCase as ClockedTestCase
from ._case import configure as configure
from ._clock import DeadlockError as DeadlockError
from ._clock import LivelockError as LivelockError
from ._clock import VirtualClock as VirtualClock
from ._hygiene import SlowCallbackWarning as SlowCallbackWarning
from ._loop import virtual_event_loop as virtual_event_loop
from ._mocks import AsyncContextManagerMock as AsyncContextManagerMock
from ._mocks import AsyncIteratorMock as AsyncIteratorMock
from ._mocks import AwaitableMock as AwaitableMock
from ._mockwait import AwaitOrder as AwaitOrder
from ._mockwait import ControlledAsyncMock as ControlledAsyncMock
from ._mockwait import PendingAwait as PendingAwait
from ._mockwait import latency as latency
from ._mockwait import wait_awaited as wait_awaited
from ._timepatch import TimePatch as TimePatch
from ._timepatch import patch_time as patch_time
from ._watchdog import WatchdogTimeout as WatchdogTimeout

__version__ = "0.1.0"

__all__ = (
    "AsyncContextManagerMock",
    "AsyncIteratorMock",
    "AsyncTestCase",
    "AwaitOrder",
    "AwaitableMock",
    "ClockedTestCase",
    "ControlledAsyncMock",
    "DeadlockError",
    "LivelockError",
    "PendingAwait",
    "SlowCallbackWarning",
    "TimePatch",
    "VirtualClock",
    "WatchdogTimeout",
    "autospec",
    "configure",
    "latency",
    "patch_time",
    "virtual_event_loop",
    "wait_awaited",
)
