"""Assertions about tasks and time, mixed into `AsyncTestCase`.

Every duration here is loop time: on a virtual loop, waiting costs no real
time and the result does not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import unittest
from typing import TYPE_CHECKING, Any, TypeVar

from .._report import format_tasks

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__unittest = True  # keep these frames out of failure tracebacks
__tracebackhide__ = True  # and out of pytest's (STYLE.md 14)

__all__ = ("AssertionsMixin",)

T = TypeVar("T")


def _check_seconds(value: float, what: str, awaitable: object = None) -> float:
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{what} needs a number of seconds; got {value!r}")
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{what} needs a finite, non-negative number of seconds; got {value!r}")
    except (TypeError, ValueError):
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # refused, so not "never awaited" on top of the error
        raise
    return float(value)


def _state(fut: asyncio.Future[Any]) -> str:
    """Say how a done future ended."""
    if fut.cancelled():
        return "cancelled"
    exc = fut.exception()
    if exc is not None:
        return f"done, raised {exc!r}"
    return f"done, result {fut.result()!r}"


class AssertionsMixin(unittest.TestCase):
    """Assertions on tasks and on time; see `AsyncTestCase`."""

    def assertDone(self, task: asyncio.Future[Any], msg: str | None = None) -> None:
        """Fail unless ``task`` (a task or future) is done.

        Example:
            >>> self.assertDone(task)
        """
        if not task.done():
            detail = (
                format_tasks([task], "It is still pending")
                if isinstance(task, asyncio.Task) else f"It is {task!r}"
            )
            self.fail(self._formatMessage(msg, f"Expected {_name(task)} to be done.\n{detail}"))

    def assertNotDone(self, task: asyncio.Future[Any], msg: str | None = None) -> None:
        """Fail if ``task`` (a task or future) is done; say how it ended."""
        if task.done():
            self.fail(self._formatMessage(
                msg, f"Expected {_name(task)} to be pending; it is {_state(task)}"
            ))

    async def assertTimesOut(self, awaitable: Awaitable[Any], seconds: float) -> float:
        """Await ``awaitable``; fail unless it is still not done after ``seconds``.

        The awaitable is cancelled at the deadline, like ``asyncio.wait_for``.

        Returns:
            The loop time that passed (``seconds`` on a virtual clock).

        Example:
            >>> await self.assertTimesOut(client.fetch(), 30)
        """
        seconds = _check_seconds(seconds, "assertTimesOut()", awaitable)
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            result = await asyncio.wait_for(awaitable, seconds)
        except asyncio.TimeoutError:
            return loop.time() - start
        self.fail(
            f"Expected to time out after {seconds} s, but it completed after "
            f"{loop.time() - start:.6g} s (loop time) with result {result!r}"
        )

    async def assertCompletesWithin(self, awaitable: Awaitable[T], seconds: float) -> T:
        """Await ``awaitable``; fail if it takes more than ``seconds`` of loop time.

        On failure the message shows where the awaitable was waiting at the
        deadline, then it is cancelled.

        Returns:
            The awaitable's result.

        Example:
            >>> reply = await self.assertCompletesWithin(client.fetch(), 5)
        """
        seconds = _check_seconds(seconds, "assertCompletesWithin()", awaitable)
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if not done:
            report = format_tasks([task], "At the deadline it was")
            task.cancel()
            await asyncio.wait({task})
            self.fail(f"Expected completion within {seconds} s (loop time); it did not.\n{report}")
        return task.result()

    async def assertEventually(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,
        interval: float = 0.01,
        msg: str | None = None,
    ) -> Any:
        """Poll ``predicate`` every ``interval`` s until it is true; fail after ``timeout``.

        ``predicate`` may be a plain function or return an awaitable. Polling
        happens in loop time: on a virtual clock it is instant and exact.

        Returns:
            The first true value ``predicate`` returned.

        Example:
            >>> await self.assertEventually(lambda: cache.size() == 0, timeout=60)
        """
        timeout = _check_seconds(timeout, "assertEventually(timeout=...)")
        interval = _check_seconds(interval, "assertEventually(interval=...)")
        if interval == 0:
            raise ValueError("assertEventually() needs interval > 0; got 0")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        checks = 0
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            checks += 1
            if value:
                return value
            if loop.time() >= deadline:
                self.fail(self._formatMessage(msg, (
                    f"Expected {_callable_name(predicate)} to become true within "
                    f"{timeout} s (loop time); it was still {value!r} after {checks} checks"
                )))
            await asyncio.sleep(interval)


def _name(fut: asyncio.Future[Any]) -> str:
    if isinstance(fut, asyncio.Task):
        return f"task {fut.get_name()!r}"
    return repr(fut)


def _callable_name(func: Callable[..., Any]) -> str:
    name = getattr(func, "__qualname__", None)
    if getattr(func, "__name__", None) == "<lambda>":
        try:
            return f"the lambda in `{inspect.getsource(func).strip()}`"
        except (OSError, TypeError):  # pragma: no cover - made by exec() or eval()
            pass
    return repr(func) if name is None else f"{name}()"
