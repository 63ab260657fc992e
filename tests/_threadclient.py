"""A thread-backed client library, built the way aiosqlite and many SDK wrappers are.

The connection lives in its own ``threading.Thread``, started by ``connect()``
from the event loop. Each call puts ``(future, function)`` on a
``queue.SimpleQueue`` (aiosqlite 0.22's choice; ``queue.Queue`` with
``simple=False``); the thread runs the function (blocking work, here a dict
and an optional real-time latency) and answers through
``loop.call_soon_threadsafe``. Between requests the thread is parked in
``get()``: on 3.13+ ``SimpleQueue.put`` hands the item straight to it, so
the queue looks empty while the thread already has work.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ("FakeDatabase", "connect")

_STOP = object()


def _set_result(fut: asyncio.Future[Any], result: object) -> None:
    if not fut.done():
        fut.set_result(result)


def _set_exception(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


class FakeDatabase:
    """A key-value "database" whose connection runs in a thread of its own.

    Args:
        latency: Real seconds each query spends in the connection thread
            (``time.sleep``: the thread runs meanwhile).
        simple: Take requests from a ``queue.SimpleQueue`` (True) or a
            ``queue.Queue``.
    """

    def __init__(self, latency: float = 0.0, simple: bool = True) -> None:
        self.latency = latency
        self._rows: dict[str, object] = {}
        self._tx: queue.SimpleQueue[Any] | queue.Queue[Any] = (
            queue.SimpleQueue() if simple else queue.Queue()
        )
        self._thread = threading.Thread(target=self._run, name="fake-db-connection", daemon=True)
        # A lock the connection takes around each query, as a driver would.
        self.lock = threading.Lock()
        # Set by tests to make a query hang in the thread until released.
        self.stall = threading.Event()
        self.stall.set()

    def _run(self) -> None:
        while True:
            item = self._tx.get()
            if item is _STOP:
                break
            fut, function = item
            loop = fut.get_loop()
            try:
                result = function()
            except BaseException as exc:
                loop.call_soon_threadsafe(_set_exception, fut, exc)
            else:
                loop.call_soon_threadsafe(_set_result, fut, result)

    async def _execute(self, function: Callable[[], object]) -> Any:
        fut = asyncio.get_running_loop().create_future()
        self._tx.put_nowait((fut, function))
        return await fut

    def _query(self, function: Callable[[], object]) -> object:
        self.stall.wait()
        with self.lock:
            if self.latency:
                time.sleep(self.latency)
            return function()

    async def get(self, key: str) -> object:
        """Return the value stored under ``key`` (KeyError if none)."""
        return await self._execute(lambda: self._query(lambda: self._rows[key]))

    async def set(self, key: str, value: object) -> None:
        """Store ``value`` under ``key``."""
        await self._execute(lambda: self._query(lambda: self._rows.__setitem__(key, value)))

    async def close(self) -> None:
        """Stop the connection thread and wait for it to end."""
        self._tx.put_nowait(_STOP)
        await asyncio.to_thread(self._thread.join, 5)

    async def __aenter__(self) -> FakeDatabase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def connect(latency: float = 0.0, simple: bool = True) -> FakeDatabase:
    """Open a connection: start its thread and run a first round trip, as aiosqlite does."""
    db = FakeDatabase(latency, simple)
    db._thread.start()
    await db._execute(lambda: None)
    return db
