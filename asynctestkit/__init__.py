"""asynctestkit: test asyncio code with unittest, on a virtual clock, honestly.

The public face of the package: every public name is re-exported here and
listed in ``__all__``. The code lives in private modules (``_clock``,
``_loop``, ``_timepatch``, ``_case``, ...), mapped in the README's "How it is
built" table: https://github.com/asynctestkit/asynctestkit#how-it-is-built
"""

from ._faketime._timepatch import TimePatch as TimePatch
from ._faketime._timepatch import patch_time as patch_time
from ._mock._autospec import autospec as autospec
from ._mock._mocks import AsyncContextManagerMock as AsyncContextManagerMock
from ._mock._mocks import AsyncIteratorMock as AsyncIteratorMock
from ._mock._mocks import AwaitableMock as AwaitableMock
from ._mock._mockwait import AwaitOrder as AwaitOrder
from ._mock._mockwait import ControlledAsyncMock as ControlledAsyncMock
from ._mock._mockwait import PendingAwait as PendingAwait
from ._mock._mockwait import latency as latency
from ._mock._mockwait import wait_awaited as wait_awaited
from ._net._network import VirtualNetwork as VirtualNetwork
from ._testcase._case import AsyncTestCase as AsyncTestCase
from ._testcase._case import ClockedTestCase as ClockedTestCase
from ._testcase._case import configure as configure
from ._verdict._hygiene import SlowCallbackWarning as SlowCallbackWarning
from ._verdict._watchdog import WatchdogTimeout as WatchdogTimeout
from ._virtual._clock import DeadlockError as DeadlockError
from ._virtual._clock import LivelockError as LivelockError
from ._virtual._clock import VirtualClock as VirtualClock
from ._virtual._factory import virtual_event_loop as virtual_event_loop

__version__ = "0.2.1"

# Users meet these in tracebacks and `except` clauses under their public
# name: `asynctestkit.DeadlockError`, not the private module's path.
for _public in (DeadlockError, LivelockError, SlowCallbackWarning, WatchdogTimeout):
    _public.__module__ = __name__
del _public

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
    "VirtualNetwork",
    "WatchdogTimeout",
    "autospec",
    "configure",
    "latency",
    "patch_time",
    "virtual_event_loop",
    "wait_awaited",
)
