"""An in-process event bus with async handlers (tested in test_event_bus.py)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[None]]


class EventBus:
    """Publish events to the async handlers subscribed to their topic.

    ``publish`` does not wait: each handler runs in its own task, so a slow or
    failing handler delays or breaks no one else. ``drain()`` waits for them.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._running: set[asyncio.Task[None]] = set()
        self.errors: list[tuple[str, BaseException]] = []

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        """Call ``handler(event)`` for every event on ``topic``; return an unsubscribe function."""
        self._handlers[topic].append(handler)
        return lambda: self._handlers[topic].remove(handler)

    def publish(self, topic: str, event: Any) -> int:
        """Hand ``event`` to every handler of ``topic``; return how many."""
        handlers = list(self._handlers.get(topic, ()))
        for handler in handlers:
            task = asyncio.ensure_future(self._call(topic, handler, event))
            self._running.add(task)  # keep a reference: the loop only keeps a weak one
            task.add_done_callback(self._running.discard)
        return len(handlers)

    async def _call(self, topic: str, handler: Handler, event: Any) -> None:
        try:
            await handler(event)
        except Exception as exc:
            log.exception("handler %r failed on %r", handler, topic)
            self.errors.append((topic, exc))

    async def drain(self) -> None:
        """Wait until every handler started so far (and those they start) has finished."""
        while self._running:
            await asyncio.gather(*self._running)
