"""A crawler: one producer and a pool of workers over an asyncio.Queue (tested in test_queue.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

Fetch = Callable[[str], Awaitable[bytes]]


async def crawl(urls: Iterable[str], fetch: Fetch, *, workers: int = 3, backlog: int = 5) -> dict[str, int]:
    """Fetch every URL with ``workers`` concurrent workers; return each page's size.

    The queue holds at most ``backlog`` URLs, so a slow pool pushes back on the
    producer instead of buffering everything. Failed fetches are recorded as -1.
    The workers are cancelled and awaited before returning, whatever happens.
    """
    queue: asyncio.Queue[str] = asyncio.Queue(maxsize=backlog)
    sizes: dict[str, int] = {}

    async def worker() -> None:
        while True:
            url = await queue.get()
            try:
                sizes[url] = len(await fetch(url))
            except OSError:
                sizes[url] = -1
            finally:
                queue.task_done()

    pool = [asyncio.ensure_future(worker()) for _ in range(workers)]
    try:
        for url in urls:
            await queue.put(url)  # blocks while the backlog is full
        await queue.join()
    finally:
        for task in pool:
            task.cancel()
        await asyncio.gather(*pool, return_exceptions=True)
    return sizes
