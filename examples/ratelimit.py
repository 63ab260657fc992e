"""A token-bucket rate limiter that reads time.monotonic() (tested in test_ratelimit.py)."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """Allow ``rate`` operations per second on average, in bursts of up to ``capacity``.

    Reads ``time.monotonic()`` when it is called (not an alias bound at import),
    so a ``ClockedTestCase`` needs no ``time_targets`` for it.
    """

    def __init__(self, rate: float, capacity: int) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError(f"need rate > 0 and capacity >= 1; got rate={rate!r}, capacity={capacity!r}")
        self.rate = rate
        self.capacity = capacity
        self._tokens = float(capacity)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def try_acquire(self) -> bool:
        """Take a token if one is available now."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait (first come, first served) until a token is available, then take it."""
        async with self._lock:
            while not self.try_acquire():
                await asyncio.sleep((1 - self._tokens) / self.rate)
