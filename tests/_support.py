"""Helpers shared by the test modules that drive a virtual loop by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asynctestkit import VirtualClock, virtual_event_loop

T = TypeVar("T")


def run_virtual(clock: VirtualClock, main: Callable[[], Awaitable[T]], **options: Any) -> T:
    """Run ``main()`` on a new virtual loop on ``clock``, then close the loop cleanly."""
    loop = virtual_event_loop(clock, **options)
    try:
        return loop.run_until_complete(main())
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
