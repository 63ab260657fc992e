"""Async generators and iterators over a paginated API and a clock (tested in test_async_iterators.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

Page = dict[str, Any]


async def paginate(fetch_page: Callable[[str | None], Awaitable[Page]]) -> AsyncIterator[Any]:
    """Yield every item of a cursor-paginated API, fetching a page only when needed."""
    cursor = None
    while True:
        page = await fetch_page(cursor)
        for item in page["items"]:
            yield item
        cursor = page.get("next")
        if cursor is None:
            return


class Ticker:
    """An async iterator that yields the tick number every ``interval`` seconds, without drift.

    Ticks are scheduled from the start time, so slow consumers do not push the
    schedule back; ticks missed by a consumer that was too slow are skipped.
    """

    def __init__(self, interval: float, *, limit: int | None = None) -> None:
        self.interval = interval
        self.limit = limit
        self._start: float | None = None
        self._count = 0

    def __aiter__(self) -> Ticker:
        return self

    async def __anext__(self) -> int:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        if self.limit is not None and self._count >= self.limit:
            raise StopAsyncIteration
        elapsed = loop.time() - self._start
        self._count = max(self._count + 1, int(elapsed // self.interval) + 1)
        await asyncio.sleep(self._start + self._count * self.interval - loop.time())
        return self._count


async def batched(source: AsyncIterator[Any], size: int) -> AsyncIterator[list[Any]]:
    """Group the items of ``source`` in lists of ``size`` (the last may be shorter)."""
    batch: list[Any] = []
    try:
        async for item in source:
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        # Close the source too when our consumer stops early (aclose() / aclosing).
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
