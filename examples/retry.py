"""Retries with backoff, timeouts and deadlines (tested in test_timeouts_and_retries.py).

``retry_for`` measures its deadline with ``monotonic`` imported from ``time``:
a test names this module in ``time_targets`` so that alias reads virtual time too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from time import monotonic
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRYABLE = (ConnectionError, asyncio.TimeoutError)


async def retry(
    operation: Callable[[], Awaitable[T]],
    *,
    attempts: int = 5,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
) -> T:
    """Call ``operation`` until it succeeds, sleeping 1, 2, 4, ... s (at most ``max_delay``) between tries.

    Raises:
        The last error, once ``attempts`` calls have failed with a retryable error.
    """
    delay = base_delay
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except RETRYABLE as exc:
            if attempt == attempts:
                raise
            log.warning("attempt %d failed (%r); retrying in %g s", attempt, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")


async def with_timeout(operation: Callable[[], Awaitable[T]], seconds: float, default: T) -> T:
    """Return what ``operation`` returns, or ``default`` if it takes more than ``seconds``."""
    try:
        return await asyncio.wait_for(operation(), seconds)
    except asyncio.TimeoutError:
        return default


async def first_of(operations: list[Callable[[], Awaitable[T]]], per_try: float, overall: float) -> T:
    """Try each operation in turn, each for ``per_try`` s, all within ``overall`` s (3.11+).

    Raises:
        TimeoutError: the overall deadline passed.
        LookupError: every operation timed out before the deadline.
    """
    async with asyncio.timeout(overall):  # type: ignore[attr-defined,unused-ignore]
        for operation in operations:
            try:
                async with asyncio.timeout(per_try):  # type: ignore[attr-defined,unused-ignore]
                    return await operation()
            except TimeoutError:
                continue
    raise LookupError("every operation timed out")


async def retry_for(operation: Callable[[], Awaitable[T]], *, deadline: float, pause: float = 5.0) -> T:
    """Call ``operation`` until it succeeds, for at most ``deadline`` seconds of ``monotonic()`` time.

    A retry that could not start before the deadline is not attempted.

    Raises:
        The last error, once the deadline leaves no room for another try.
    """
    start = monotonic()
    while True:
        try:
            return await operation()
        except RETRYABLE:
            if monotonic() + pause - start >= deadline:
                raise
        await asyncio.sleep(pause)
