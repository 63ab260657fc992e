"""Tests for the ready-made mock shapes (asynctestkit._mock._mocks).

Each stdlib gap the factories close has a test that first shows the gap with plain
``unittest.mock`` and then shows the factory closing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import unittest

from asynctestkit._mock import _autospec, _mocks, _mockwait, _patching
from asynctestkit._mock._mocks import AsyncContextManagerMock, AsyncIteratorMock, AwaitableMock

# --- shapes -----------------------------------------------------------------------------


class AsyncIteratorMockTest(unittest.IsolatedAsyncioTestCase):
    async def test_yields_items_then_stops(self) -> None:
        """Items come out in order, exceptions among them as values."""
        error = ValueError("an item")
        feed = AsyncIteratorMock([1, error])
        self.assertEqual([x async for x in feed], [1, error])
        self.assertTrue(feed.consumed)
        self.assertEqual([x async for x in feed], [])

    async def test_raises_at_position(self) -> None:
        """raises= at a position interrupts the items; the iterator is then finished."""
        feed = AsyncIteratorMock([1, 2, 3], raises=ConnectionResetError("peer"), at=1)
        seen = []
        with self.assertRaisesRegex(ConnectionResetError, "^peer$"):
            async for x in feed:
                seen.append(x)
        self.assertEqual(seen, [1])
        feed.assert_consumed()
        with self.assertRaises(StopAsyncIteration):
            await feed.__anext__()

    async def test_assert_consumed_failure(self) -> None:
        """assert_consumed() says how far the consumer got and what was left."""
        feed = AsyncIteratorMock("abc", raises=OSError)
        await feed.__anext__()
        with self.assertRaisesRegex(AssertionError, r"^expected the async iterator to be consumed to its end; it yielded 1 of 3 items and was left unfinished\. Not reached: \['b', 'c'\], then raise <class 'OSError'>"):
            feed.assert_consumed()
        self.assertIn("yielded=1/3", repr(feed))

    async def test_aclose(self) -> None:
        """aclose() works with contextlib.aclosing and ends the iteration."""
        feed = AsyncIteratorMock([1, 2])
        async with contextlib.aclosing(feed):
            async for _ in feed:
                break
        self.assertTrue(feed.closed)
        with self.assertRaisesRegex(AssertionError, "closed early by aclose"):
            feed.assert_consumed()

    def test_invalid_options(self) -> None:
        """at= without raises=, out of range, or a non-exception raises= is refused."""
        with self.assertRaisesRegex(ValueError, r"^AsyncIteratorMock\(at=0\) needs raises="):
            AsyncIteratorMock([1], at=0)
        with self.assertRaisesRegex(ValueError, r"a position from 0 to 1 .*got 2"):
            AsyncIteratorMock([1], raises=OSError, at=2)
        with self.assertRaisesRegex(TypeError, r"raises= to be an exception"):
            AsyncIteratorMock([1], raises="boom")  # type: ignore[arg-type]


class AsyncContextManagerMockTest(unittest.IsolatedAsyncioTestCase):
    async def test_value_and_counts(self) -> None:
        """The value is bound on enter; enters, exits and exit exceptions are recorded."""
        cm = AsyncContextManagerMock("conn")
        async with cm as value:
            self.assertEqual(value, "conn")
            self.assertTrue(cm.active)
        with self.assertRaises(KeyError):
            async with cm:
                raise KeyError("x")
        self.assertEqual((cm.enter_count, cm.exit_count), (2, 2))
        self.assertIsNone(cm.exit_exceptions[0])
        self.assertIsInstance(cm.exit_exceptions[1], KeyError)
        self.assertFalse(cm.active)

    async def test_enter_raises(self) -> None:
        """An enter error skips the block and the exit, as with a real manager."""
        cm = AsyncContextManagerMock(enter_raises=ConnectionRefusedError)
        with self.assertRaises(ConnectionRefusedError):
            async with cm:
                self.fail("the block must not run")
        self.assertEqual((cm.enter_count, cm.exit_count), (1, 0))

    async def test_suppress_and_exit_raises(self) -> None:
        """suppress=True swallows the block's error; exit_raises= fails the exit."""
        async with AsyncContextManagerMock(suppress=True):
            raise KeyError("swallowed")
        cm = AsyncContextManagerMock(exit_raises=OSError("close failed"))
        with self.assertRaisesRegex(OSError, "^close failed$"):
            async with cm:
                pass
        self.assertEqual(cm.exit_count, 1)

    async def test_cancellation_reaches_exit(self) -> None:
        """A cancelled block exits with CancelledError, visible in exit_exceptions."""
        cm = AsyncContextManagerMock()

        async def work() -> None:
            async with cm:
                await asyncio.sleep(3600)

        task = asyncio.create_task(work())
        await asyncio.sleep(0)
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        self.assertIsInstance(cm.exit_exceptions[-1], asyncio.CancelledError)


class AwaitableMockTest(unittest.IsolatedAsyncioTestCase):
    async def test_value_and_count(self) -> None:
        """It resolves to its value every time it is awaited, gather included."""
        ready = AwaitableMock(42)
        self.assertEqual(await ready, 42)
        self.assertEqual(await ready, 42)
        self.assertEqual(await asyncio.gather(ready, AwaitableMock(1)), [42, 1])
        self.assertEqual(ready.await_count, 3)
        ready.assert_awaited()

    async def test_raises(self) -> None:
        """raises= makes every await raise."""
        with self.assertRaisesRegex(TimeoutError, "^slow$"):
            await AwaitableMock(raises=TimeoutError("slow"))

    def test_assert_awaited_failure(self) -> None:
        """assert_awaited() fails for an awaitable nobody awaited."""
        with self.assertRaisesRegex(AssertionError, r"^expected <AwaitableMock value=None awaited=0> to be awaited; it never was"):
            AwaitableMock().assert_awaited()


class PublicNamesTest(unittest.TestCase):
    def test_all_is_sorted_documented_and_complete(self) -> None:
        """__all__ is sorted, every name exists and has a docstring with an example."""
        for module in (_mocks, _autospec, _patching, _mockwait):
            with self.subTest(module=module.__name__):
                self.assertEqual(list(module.__all__), sorted(module.__all__))
                for name in module.__all__:
                    doc = inspect.getdoc(getattr(module, name)) or ""
                    self.assertIn("Example:", doc, name)
                public = {
                    n
                    for n, v in vars(module).items()
                    if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
                }
                self.assertEqual(public, set(module.__all__))


if __name__ == "__main__":
    unittest.main()
