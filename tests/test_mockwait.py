"""Tests for waiting on mocks (asynctestkit._mock._mockwait).

Each stdlib gap the factories close has a test that first shows the gap with plain
``unittest.mock`` and then shows the factory closing it.
"""

from __future__ import annotations

import asyncio
import unittest
from unittest import mock
from unittest.mock import call

from asynctestkit._mock import _mockwait
from asynctestkit._mock._autospec import autospec
from asynctestkit._mock._mockwait import AwaitOrder, ControlledAsyncMock, PendingAwait, latency, wait_awaited
from tests._subjects import Connection, fetch_user

# --- waiting ----------------------------------------------------------------------------


class ControlledAsyncMockTest(unittest.IsolatedAsyncioTestCase):
    async def test_await_blocks_until_released(self) -> None:
        """Each await waits for release(); its value is what the await returns."""
        fetch = ControlledAsyncMock()
        task = asyncio.create_task(fetch("users", limit=1))
        pending = await fetch.wait_awaited()
        self.assertIsInstance(pending, PendingAwait)
        self.assertEqual((pending.args, pending.kwargs), (("users",), {"limit": 1}))
        await asyncio.sleep(0)
        self.assertFalse(task.done())
        pending.release(["ann"])
        self.assertEqual(await task, ["ann"])
        fetch.assert_awaited_once_with("users", limit=1)
        self.assertIn("released with ['ann']", repr(pending))

    async def test_release_defaults_to_return_value_and_fail_raises(self) -> None:
        """release() without a value gives return_value; fail() raises in the awaiter."""
        fetch = ControlledAsyncMock(return_value="default")
        first = asyncio.create_task(fetch(1))
        second = asyncio.create_task(fetch(2))
        await fetch.wait_awaited(2)
        fetch.release()
        fetch.fail(ConnectionResetError)
        self.assertEqual(await first, "default")
        with self.assertRaises(ConnectionResetError):
            await second
        self.assertEqual(fetch.pending, ())
        self.assertEqual(len(fetch.awaits), 2)

    async def test_cancellation_is_visible(self) -> None:
        """Cancelling the awaiting task shows on the pending await at once."""
        fetch = ControlledAsyncMock()
        task = asyncio.create_task(fetch())
        pending = await fetch.wait_awaited()
        task.cancel()
        self.assertTrue(pending.cancelled)
        await pending.wait_cancelled()
        with self.assertRaises(asyncio.CancelledError):
            await task
        with self.assertRaisesRegex(RuntimeError, r"^cannot release call\(\): it is already cancelled"):
            pending.release()

    async def test_pins_the_moment_for_a_timeout(self) -> None:
        """A timeout that fires inside the await cancels exactly that await."""
        fetch = ControlledAsyncMock()

        async def load() -> object:
            return await asyncio.wait_for(fetch("slow"), 0.001)

        task = asyncio.create_task(load())
        pending = await fetch.wait_awaited()
        await pending.wait_cancelled()
        with self.assertRaises(asyncio.TimeoutError):
            await task

    async def test_wait_cancelled_fails_when_released(self) -> None:
        """wait_cancelled() fails if the await was released instead."""
        fetch = ControlledAsyncMock()
        task = asyncio.create_task(fetch())
        pending = await fetch.wait_awaited()
        pending.release(1)
        with self.assertRaisesRegex(AssertionError, r"to be cancelled; it was released with 1 instead\.$"):
            await pending.wait_cancelled()
        await task

    async def test_as_side_effect_keeps_autospec_signature(self) -> None:
        """Used as an autospec method's side effect, the signature check stays."""
        conn = autospec(Connection)
        hold = ControlledAsyncMock()
        conn.fetch.side_effect = hold
        with self.assertRaises(TypeError):
            conn.fetch()
        task = asyncio.create_task(conn.fetch("k"))
        (await hold.wait_awaited()).release(b"v")
        self.assertEqual(await task, b"v")
        conn.fetch.assert_awaited_once_with("k")

    async def test_release_all(self) -> None:
        """release_all() releases every waiting await and says how many."""
        fetch = ControlledAsyncMock()
        tasks = [asyncio.create_task(fetch(i)) for i in range(3)]
        await fetch.wait_awaited(3)
        self.assertEqual(fetch.release_all("x"), 3)
        self.assertEqual(await asyncio.gather(*tasks), ["x", "x", "x"])

    async def test_misuse_is_explained(self) -> None:
        """Releasing with nothing waiting, side_effect=, and timeouts fail clearly."""
        fetch = ControlledAsyncMock(name="fetch")
        with self.assertRaisesRegex(RuntimeError, r"^nothing to release: fetch was awaited 0 times"):
            fetch.release()
        with self.assertRaisesRegex(TypeError, r"takes no side_effect="):
            ControlledAsyncMock(side_effect=OSError)
        with self.assertRaisesRegex(AssertionError, r"^expected fetch to be awaited at least 1 time within 0\.001 s of loop time; it was awaited 0 times"):
            await fetch.wait_awaited(timeout=0.001)
        with self.assertRaisesRegex(ValueError, r"times= to be a whole number of at least 1; got 0"):
            await fetch.wait_awaited(0)
        with self.assertRaisesRegex(TypeError, r"^fail\(\) needs an exception"):
            PendingAwait(call(), asyncio.get_running_loop().create_future(), _mockwait._Wakeup()).fail("x")  # type: ignore[arg-type]

    async def test_reset_mock_keeps_the_hold(self) -> None:
        """reset_mock() keeps awaits blocking and forgets finished ones."""
        fetch = ControlledAsyncMock()
        task = asyncio.create_task(fetch())
        (await fetch.wait_awaited()).release(1)
        await task
        fetch.reset_mock(side_effect=True)
        self.assertEqual(fetch.awaits, ())
        task = asyncio.create_task(fetch())
        (await fetch.wait_awaited()).release(2)
        self.assertEqual(await task, 2)


class LatencyTest(unittest.IsolatedAsyncioTestCase):
    async def test_sleeps_in_loop_time_then_returns(self) -> None:
        """The side effect sleeps with asyncio.sleep for the given time, then returns."""
        fetch = mock.AsyncMock(side_effect=latency(30.0, b"late"))
        with mock.patch("asyncio.sleep", new=mock.AsyncMock()) as sleep:
            self.assertEqual(await fetch("k"), b"late")
        sleep.assert_awaited_once_with(30.0)

    async def test_raises_after_the_delay_and_defaults_to_return_value(self) -> None:
        """raises= raises after the delay; with no result the mock's return_value is used."""
        failing = mock.AsyncMock(side_effect=latency(0, raises=TimeoutError("upstream")))
        with self.assertRaisesRegex(TimeoutError, "^upstream$"):
            await failing()
        self.assertEqual(await mock.AsyncMock(return_value=7, side_effect=latency(0))(), 7)

    async def test_timeout_fires_against_slow_dependency(self) -> None:
        """A caller's timeout cancels the slow await, as with a real slow service."""
        fetch = autospec(fetch_user)
        fetch.side_effect = latency(3600.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with self.assertRaises(asyncio.TimeoutError):
            await asyncio.wait_for(fetch(1), 0.001)
        self.assertLess(loop.time() - started, 60)

    def test_invalid_seconds(self) -> None:
        """Negative, NaN and infinite delays are refused, naming the value."""
        for bad in (-1, float("nan"), float("inf")):
            with self.subTest(bad=bad), self.assertRaisesRegex(ValueError, r"^latency\(\) needs a finite, non-negative number of seconds; got "):
                latency(bad)
        with self.assertRaisesRegex(TypeError, r"raises= to be an exception"):
            latency(1, raises=42)  # type: ignore[arg-type]


class WaitAwaitedTest(unittest.IsolatedAsyncioTestCase):
    async def test_stdlib_has_no_way_to_wait(self) -> None:
        """Right after create_task, a plain AsyncMock has not been awaited yet."""
        fetch = mock.AsyncMock()
        task = asyncio.create_task(fetch("a"))
        with self.assertRaises(AssertionError):
            fetch.assert_awaited()
        await wait_awaited(fetch)
        fetch.assert_awaited_once_with("a")
        await task

    async def test_waits_for_matching_arguments_through_the_signature(self) -> None:
        """expected= matches through the autospec signature; times= counts matches."""
        conn = autospec(Connection)

        async def worker() -> None:
            await conn.fetch("a")
            await asyncio.sleep(0)
            await conn.fetch("b")
            await asyncio.sleep(0)
            await conn.fetch(key="b")

        task = asyncio.create_task(worker())
        await wait_awaited(conn.fetch, call(key="b"), times=2)
        self.assertEqual(conn.fetch.await_count, 3)
        await task

    async def test_returns_at_once_when_already_awaited(self) -> None:
        """Awaits that already happened count."""
        fetch = mock.AsyncMock()
        await fetch()
        await wait_awaited(fetch, timeout=0)

    async def test_timeout_failure_message(self) -> None:
        """A timeout fails the test with what was expected and what happened."""
        fetch = mock.AsyncMock(name="fetch")
        await fetch("x")
        with self.assertRaisesRegex(AssertionError, r"^expected fetch to be awaited with call\('y'\) at least 1 time within 0\.001 s of loop time; it was awaited 1 time: \[call\('x'\)\]\."):
            await wait_awaited(fetch, call("y"), timeout=0.001)

    async def test_sync_mock_is_named(self) -> None:
        """A MagicMock where an AsyncMock is needed is refused, naming it."""
        client = mock.MagicMock(name="client")
        with self.assertRaisesRegex(TypeError, r"^wait_awaited\(\) needs an AsyncMock, but client\.fetch is a MagicMock"):
            await wait_awaited(client.fetch)

    async def test_bad_expected_call(self) -> None:
        """expected= must be a call that can bind to the mock's signature."""
        conn = autospec(Connection)
        with self.assertRaisesRegex(TypeError, r"needs expected to be a call\(\.\.\.\) object"):
            await wait_awaited(conn.fetch, "a")
        with self.assertRaisesRegex(TypeError, r"can never match"):
            await wait_awaited(conn.fetch, call("a", "b", "c"))
        with self.assertRaisesRegex(ValueError, r"timeout= to be a finite, non-negative number"):
            await wait_awaited(conn.fetch, timeout=-1)

    async def test_stdlib_autospec_function(self) -> None:
        """The function create_autospec makes for an async function is accepted too."""
        fetch = mock.create_autospec(fetch_user)
        await fetch(1)
        await wait_awaited(fetch, call(1), timeout=0)


class AwaitOrderTest(unittest.IsolatedAsyncioTestCase):
    async def test_stdlib_records_calls_not_awaits(self) -> None:
        """A parent's mock_calls keeps call order; AwaitOrder keeps await order."""
        manager = mock.MagicMock()
        first, second = mock.AsyncMock(), mock.AsyncMock()
        manager.attach_mock(first, "first")
        manager.attach_mock(second, "second")
        order = AwaitOrder(first=first, second=second)
        a, b = first(1), second(2)
        await b
        await a
        self.assertEqual(manager.mock_calls, [call.first(1), call.second(2)])
        self.assertEqual(order.awaits, [call.second(2), call.first(1)])
        order.assert_order("second", "first")

    async def test_assert_order_failure(self) -> None:
        """assert_order() shows the expected and the actual order."""
        conn = autospec(Connection)
        order = AwaitOrder(connect=conn.connect, fetch=conn.fetch)
        await asyncio.gather(conn.fetch("k"), conn.connect("dsn"))
        self.assertEqual(order.names, ["fetch", "connect"])
        with self.assertRaisesRegex(AssertionError, r"^expected the awaits in this order: connect, fetch; got: fetch, connect\."):
            order.assert_order("connect", "fetch")
        order.clear()
        order.assert_order()
        self.assertEqual(repr(order), "<AwaitOrder watching connect, fetch; 0 awaits>")

    def test_misuse(self) -> None:
        """Unknown names, no mocks and sync mocks are refused clearly."""
        order = AwaitOrder(fetch=mock.AsyncMock())
        with self.assertRaisesRegex(ValueError, r"^assert_order\(\): 'fecth' is not watched; this AwaitOrder watches fetch\.$"):
            order.assert_order("fecth")
        with self.assertRaisesRegex(TypeError, r"^AwaitOrder\(\) needs the mocks to watch"):
            AwaitOrder()
        with self.assertRaisesRegex(TypeError, r"^AwaitOrder\(store=\.\.\.\) needs an AsyncMock, but store is a MagicMock"):
            AwaitOrder(store=mock.MagicMock(name="store"))


if __name__ == "__main__":
    unittest.main()
