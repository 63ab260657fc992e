"""A batching writer with a background flush task (tested in test_background_tasks.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Sink = Callable[[list[Any]], Awaitable[None]]


class BatchWriter:
    """Collect records and write them to ``sink`` in batches, every ``interval`` seconds.

    A failed write is logged and retried at the next tick, records kept in order.
    ``close()`` stops the background task and writes what is left.
    Use it as ``async with BatchWriter(sink) as writer: writer.add(record)``.
    """

    def __init__(self, sink: Sink, *, interval: float = 5.0, max_batch: int = 100) -> None:
        self._sink = sink
        self.interval = interval
        self.max_batch = max_batch
        self._pending: list[Any] = []
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("BatchWriter already started")
        self._task = asyncio.ensure_future(self._run())

    def add(self, record: Any) -> None:
        self._pending.append(record)

    async def flush(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            await self._sink(batch)
            del self._pending[: len(batch)]

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except OSError as exc:
                self.failures += 1
                log.warning("flush failed (%s); %d records kept for the next try", exc, len(self._pending))

    async def close(self) -> None:
        """Stop the background task, then write what is left (errors propagate)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self.flush()

    async def __aenter__(self) -> BatchWriter:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
