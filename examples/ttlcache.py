"""An async TTL cache with single-flight loading (tested in test_ttlcache.py).

``TTLCache`` takes its clock as a default argument, ``timer=time.monotonic``,
bound once when the module is imported: a test names this module in
``time_targets`` so that the default reads virtual time too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """Cache what ``load(key)`` returns for ``ttl`` seconds.

    Concurrent misses for one key share a single load ("single flight").
    """

    def __init__(
        self,
        load: Callable[[K], Awaitable[V]],
        ttl: float,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.ttl = ttl
        self._timer = timer
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}
        self.hits = self.misses = 0

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is not None and self._timer() < entry[0]:
            self.hits += 1
            return entry[1]
        self.misses += 1
        if key in self._loading:
            return await asyncio.shield(self._loading[key])
        future = asyncio.ensure_future(self._load(key))
        self._loading[key] = future
        try:
            value = await asyncio.shield(future)
        finally:
            del self._loading[key]
        self._entries[key] = (self._timer() + self.ttl, value)
        return value

    def invalidate(self, key: K) -> None:
        self._entries.pop(key, None)

    def purge(self) -> int:
        """Drop expired entries; return how many."""
        now = self._timer()
        expired = [k for k, (deadline, _) in self._entries.items() if deadline <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)

    def __len__(self) -> int:
        return len(self._entries)
