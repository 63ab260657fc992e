"""The one place that knows which Python this is.

asynctestkit runs a test's steps on its own loop in the same way on every
version (see ``_case.py``), so the gates here are few: which loop class is the
default, how a loop becomes the current one, and the small differences of
``unittest`` that tests can observe.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = (
    "PY311",
    "default_loop_factory",
    "set_current_loop",
)

PY311 = sys.version_info >= (3, 11)

if sys.version_info >= (3, 13):
    # 3.13 added asyncio.EventLoop, the platform's default loop class, which
    # is what IsolatedAsyncioTestCase gets with loop_factory=None.
    _DEFAULT: Callable[[], asyncio.AbstractEventLoop] = asyncio.EventLoop
elif sys.platform == "win32":  # pragma: no cover - CI runs on Linux
    _DEFAULT = asyncio.ProactorEventLoop
else:
    _DEFAULT = asyncio.SelectorEventLoop


def default_loop_factory() -> asyncio.AbstractEventLoop:
    """Return a new loop of the platform's default class, without the policy API.

    ``asyncio.new_event_loop()`` asks the event loop policy, which 3.14
    deprecates; creating the class directly gives the same loop everywhere.
    """
    return _DEFAULT()


def set_current_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Make ``loop`` the current loop of this thread (``None``: no current loop).

    ``asyncio.set_event_loop`` is not part of the policy API that 3.14
    deprecates (gh-127949), and it is the only public way to make
    ``asyncio.get_event_loop()`` in a sync ``setUp`` return the test's loop.
    """
    asyncio.set_event_loop(loop)
