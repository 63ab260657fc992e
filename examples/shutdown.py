"""A server whose shutdown gives in-flight requests a grace period, and its race.

`Server.shutdown` waits up to ``grace`` seconds for the requests in flight,
then cancels the rest. A 10 s request started at t=0 and a 5 s grace period
started at t=5 both end at t=10: in production either may come first. The
default order of the virtual clock lets the request finish; exploring finds
the order where the grace period ends first and the request is aborted.
`Server.shutdown` with ``drain=True`` waits until the request is done, or
until a deadline well past it: no tie left.
"""

from __future__ import annotations

import asyncio


class Server:
    """Runs requests as tasks; shutdown() waits for them up to a grace period."""

    def __init__(self) -> None:
        self.inflight: set[asyncio.Task[None]] = set()
        self.completed: list[str] = []
        self.aborted: list[str] = []

    async def _handle(self, name: str, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)  # the request's work
        except asyncio.CancelledError:
            self.aborted.append(name)
            raise
        self.completed.append(name)

    def submit(self, name: str, seconds: float) -> None:
        """Start serving a request that takes ``seconds``."""
        task = asyncio.get_running_loop().create_task(self._handle(name, seconds))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def shutdown(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the requests in flight, then cancel the others."""
        if not self.inflight:
            return
        _, pending = await asyncio.wait(self.inflight, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
