"""A debounced autosave and a checksum computed in a thread (tested in test_virtual_clock.py)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable


class Autosave:
    """Save ``delay`` seconds after the last edit; a burst of edits saves once.

    A save is also forced when edits have kept coming for ``max_wait`` seconds.
    """

    def __init__(self, save: Callable[[str], Awaitable[None]], *, delay: float = 2.0, max_wait: float = 10.0) -> None:
        self._save = save
        self.delay = delay
        self.max_wait = max_wait
        self._text = ""
        self._timer: asyncio.TimerHandle | None = None
        self._first_edit: float | None = None
        self._saving: set[asyncio.Task[None]] = set()

    def edit(self, text: str) -> None:
        loop = asyncio.get_running_loop()
        self._text = text
        if self._first_edit is None:
            self._first_edit = loop.time()
        if self._timer is not None:
            self._timer.cancel()
        when = min(loop.time() + self.delay, self._first_edit + self.max_wait)
        self._timer = loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = self._first_edit = None
        task = asyncio.ensure_future(self._save(self._text))
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def close(self) -> None:
        """Save pending edits now and wait for saves in progress."""
        if self._timer is not None:
            self._timer.cancel()
            self._fire()
        await asyncio.gather(*self._saving)


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


async def checksum(path: str, *, timeout: float = 30.0) -> str:
    """Hash a file in a worker thread, so the loop stays responsive."""
    return await asyncio.wait_for(asyncio.to_thread(_sha256_file, path), timeout)
