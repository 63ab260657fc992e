"""A value kept fresh in the background (tested in test_schedule_exploration.py).

A service holds a value it re-fetches every ``ttl`` seconds (a config, a
token, a price list) that readers read many times a second. Two versions:

* `NaiveRefreshingValue`: ``get()`` never waits. A timer armed for the
  instant the value expires starts the fetch of the next one. It looks
  right and its tests pass, but a reader whose own timer is due at that same
  instant may run first: asyncio promises no order between timers due
  together. That reader finds the value expired and fails. On a real loop
  it happens now and then; on the virtual clock's default order, never;
  ``explore = 100`` finds it at once.
* `RefreshingValue`, the fix: ``read()`` awaits the refresh when it finds
  the value expired (one fetch, shared by every reader that waits).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class StaleValueError(RuntimeError):
    """A reader found the value expired."""


class NaiveRefreshingValue(Generic[V]):
    """Hold what ``fetch()`` returns; re-fetch it in the background when it expires.

    The bug: ``get()`` races the refresh at the instant the value expires.
    """

    def __init__(self, fetch: Callable[[], Awaitable[V]], ttl: float) -> None:
        self._fetch = fetch
        self.ttl = ttl
        self._value: V
        self._expires = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._refresh_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Fetch the first value; from then on each expiry starts the next fetch."""
        await self._refresh()

    async def aclose(self) -> None:
        """Stop refreshing."""
        if self._timer is not None:
            self._timer.cancel()
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            await asyncio.gather(self._refresh_task, return_exceptions=True)

    def get(self) -> V:
        """Return the value (fresh: it is renewed the instant it expires)."""
        now = asyncio.get_running_loop().time()
        if now >= self._expires:
            raise StaleValueError(f"read at {now!r}s a value that expired at {self._expires!r}s")
        return self._value

    async def _refresh(self) -> None:
        self._value = await self._fetch()
        loop = asyncio.get_running_loop()
        self._expires = loop.time() + self.ttl
        self._timer = loop.call_at(self._expires, self._on_expiry)

    def _on_expiry(self) -> None:
        self._refresh_task = asyncio.ensure_future(self._refresh())


class RefreshingValue(NaiveRefreshingValue[V]):
    """`NaiveRefreshingValue`, fixed: a reader that finds the value expired awaits the refresh."""

    async def read(self) -> V:
        """Return the value, waiting for the refresh if it has just expired."""
        if asyncio.get_running_loop().time() >= self._expires:
            if self._refresh_task is None or self._refresh_task.done():
                # The reader came first: start the refresh the timer would have.
                if self._timer is not None:
                    self._timer.cancel()
                self._on_expiry()
            assert self._refresh_task is not None
            await asyncio.shield(self._refresh_task)
        return self._value
