"""Tests for the mock factories (asynctestkit._mocks and asynctestkit._mockwait).

Each stdlib gap the factories close has a test that first shows the gap with plain
``unittest.mock`` and then shows the factory closing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
import types
import unittest
from collections.abc import AsyncIterator
from unittest import mock
from unittest.mock import call

from asynctestkit import _mocks, _mockwait
from asynctestkit._mocks import (
    AsyncContextManagerMock,
    AsyncIteratorMock,
    AwaitableMock,
    PatchingMixin,
    autospec,
)
from asynctestkit._mockwait import (
    AwaitOrder,
    ControlledAsyncMock,
    PendingAwait,
    latency,
    wait_awaited,
)

# --- real code to mock ------------------------------------------------------------------


class Connection:
    """A class with every kind of attribute autospec() must handle."""

    timeout = 5.0

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def describe(self, verbose: bool = False) -> str:
        return self.dsn

    async def fetch(self, key: str, *, limit: int = 10) -> bytes:
        return key.encode()

    async def rows(self, query: str) -> AsyncIterator[int]:
        yield len(query)

    @property
    def closed(self) -> bool:
        return False

    @classmethod
    async def connect(cls, dsn: str) -> Connection:
        return cls(dsn)

    @staticmethod
    async def ping(host: str) -> bool:
        return True

    @classmethod
    def from_env(cls) -> Connection:
        return cls("env")

    @staticmethod
    def parse(dsn: str) -> dict[str, str]:
        return {"dsn": dsn}

    async def __aenter__(self) -> Connection:  # noqa: PYI034 - typing.Self is 3.11+
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class Cursor:
    """An async iterator: __aiter__ returns self, __anext__ gives rows."""

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self) -> int:
        raise StopAsyncIteration


class Table:
    """An async iterable whose __aiter__ is an async generator."""

    async def __aiter__(self) -> AsyncIterator[int]:
        yield 1


async def fetch_user(user_id: int) -> dict[str, str]:
    return {"name": f"user{user_id}"}


def format_user(user: dict[str, str]) -> str:
    return user["name"].title()


async def stream_users(batch: int) -> AsyncIterator[dict[str, str]]:
    yield {"name": "real"}


async def load_user_name(user_id: int) -> str:
    return format_user(await fetch_user(user_id))


SETTINGS: dict[str, str] = {"mode": "prod"}

FUNCTION_KINDS = ("describe", "fetch", "rows", "connect", "ping", "from_env", "parse")
COROUTINE_FUNCTIONS = {"fetch", "connect", "ping"}


def make_module() -> types.ModuleType:
    module = types.ModuleType("fake_users")
    module.fetch_user = fetch_user  # type: ignore[attr-defined]
    module.format_user = format_user  # type: ignore[attr-defined]
    module.stream_users = stream_users  # type: ignore[attr-defined]
    return module


# --- autospec ---------------------------------------------------------------------------


class AutospecMethodsTest(unittest.IsolatedAsyncioTestCase):
    async def test_async_method_is_awaitable_with_configured_value(self) -> None:
        """An async method is an AsyncMock returning the value from returns=."""
        conn = autospec(Connection, returns={"fetch": b"row"})
        self.assertIsInstance(conn.fetch, mock.AsyncMock)
        self.assertEqual(await conn.fetch("k", limit=2), b"row")
        conn.fetch.assert_awaited_once_with("k", limit=2)

    async def test_signature_is_checked(self) -> None:
        """Calling a method with arguments the real one refuses raises TypeError."""
        conn = autospec(Connection)
        with self.assertRaises(TypeError):
            conn.fetch("k", "unexpected")

    async def test_side_effects_configure_in_one_call(self) -> None:
        """side_effects= sets exceptions and sequences for several methods at once."""
        conn = autospec(Connection, side_effects={"fetch": [b"a", OSError("down")], "describe": ["x"]})
        self.assertEqual(await conn.fetch("k"), b"a")
        with self.assertRaisesRegex(OSError, "^down$"):
            await conn.fetch("k")
        self.assertEqual(conn.describe(), "x")

    def test_stdlib_sync_methods_claim_to_be_coroutine_functions(self) -> None:
        """gh-85794: create_autospec makes sync methods look like coroutine functions."""
        if sys.version_info >= (3, 14):
            self.skipTest("observed on 3.10-3.13 only")
        stdlib = mock.create_autospec(Connection, instance=True)
        self.assertTrue(inspect.iscoroutinefunction(stdlib.describe))
        self.assertTrue(inspect.iscoroutinefunction(stdlib.rows))

    def test_coroutine_function_flags_are_right_for_every_kind(self) -> None:
        """Only async methods are coroutine functions, on instance and class mocks alike."""
        instance = autospec(Connection)
        klass = autospec(Connection, instance=False)
        for target in (instance, klass, klass.return_value):
            for name in FUNCTION_KINDS:
                with self.subTest(target=target, name=name):
                    attribute = getattr(target, name)
                    self.assertIs(inspect.iscoroutinefunction(attribute), name in COROUTINE_FUNCTIONS)
                    self.assertIs(inspect.isasyncgenfunction(attribute), name == "rows")

    def test_stdlib_async_classmethod_is_not_a_coroutine_function_on_313(self) -> None:
        """On 3.13, create_autospec's async classmethods fail iscoroutinefunction()."""
        if sys.version_info[:2] != (3, 13):
            self.skipTest("observed on 3.13")
        stdlib = mock.create_autospec(Connection, instance=True)
        self.assertFalse(inspect.iscoroutinefunction(stdlib.connect))
        self.assertTrue(inspect.iscoroutinefunction(autospec(Connection).connect))

    async def test_async_class_and_static_methods(self) -> None:
        """Async class and static methods are awaitable on the class mock and instances."""
        klass = autospec(Connection, instance=False, returns={"ping": True, "connect": "conn"})
        self.assertIs(await klass.ping("host"), True)
        self.assertEqual(await klass.connect("dsn"), "conn")
        self.assertEqual(await klass.return_value.connect("dsn"), "conn")
        klass.connect.assert_awaited_once_with("dsn")
        self.assertEqual(klass.parse("dsn") is not None, True)

    async def test_class_mock_returns_instance_mock(self) -> None:
        """instance=False gives a class mock whose calls return the wired instance."""
        klass = autospec(Connection, instance=False, returns={"fetch": b"x"})
        conn = klass("dsn")
        self.assertIs(conn, klass.return_value)
        async with conn as entered:
            self.assertEqual(await entered.fetch("k"), b"x")
        klass.assert_called_once_with("dsn")

    async def test_property_value_and_side_effect(self) -> None:
        """A property reads the configured value, or raises its side effect."""
        conn = autospec(Connection, returns={"closed": True})
        self.assertIs(conn.closed, True)
        inspect.getattr_static(conn, "closed").assert_called_once_with()
        failing = autospec(Connection, side_effects={"closed": ConnectionError("gone")})
        with self.assertRaisesRegex(ConnectionError, "^gone$"):
            _ = failing.closed

    def test_plain_attribute_value(self) -> None:
        """returns= sets a plain class attribute's value."""
        self.assertEqual(autospec(Connection, returns={"timeout": 0.5}).timeout, 0.5)

    def test_spec_set_is_strict_by_default(self) -> None:
        """Setting an attribute the class lacks fails unless spec_set=False."""
        with self.assertRaises(AttributeError):
            autospec(Connection).fetchh = 1
        loose = autospec(Connection, spec_set=False)
        loose.extra = 1
        self.assertEqual(loose.extra, 1)

    async def test_async_function(self) -> None:
        """An async function becomes a coroutine-function AsyncMock with its signature."""
        fetch = autospec(fetch_user, return_value={"name": "ann"})
        self.assertTrue(inspect.iscoroutinefunction(fetch))
        self.assertEqual(inspect.signature(fetch), inspect.signature(fetch_user))
        self.assertEqual(await fetch(1), {"name": "ann"})
        self.assertEqual(fetch.await_count, 1)
        with self.assertRaises(TypeError):
            fetch(1, 2)

    def test_stdlib_async_function_autospec_is_no_coroutine_function(self) -> None:
        """create_autospec(async_function) fails iscoroutinefunction() before 3.13."""
        if sys.version_info >= (3, 13):
            self.skipTest("fixed in 3.13")
        self.assertFalse(inspect.iscoroutinefunction(mock.create_autospec(fetch_user)))
        self.assertTrue(inspect.iscoroutinefunction(autospec(fetch_user)))

    def test_sync_function(self) -> None:
        """A sync function stays a plain callable mock that is no coroutine function."""
        fmt = autospec(format_user, return_value="Ann", name="fmt")
        self.assertFalse(inspect.iscoroutinefunction(fmt))
        self.assertEqual(fmt({"name": "ann"}), "Ann")
        self.assertIn("fmt", repr(fmt))

    async def test_module(self) -> None:
        """A module's async functions are AsyncMocks and its sync ones are not."""
        users = autospec(make_module(), returns={"fetch_user": {"name": "x"}, "stream_users": [{}]})
        self.assertEqual(await users.fetch_user(1), {"name": "x"})
        self.assertFalse(inspect.iscoroutinefunction(users.format_user))
        self.assertEqual([u async for u in users.stream_users(1)], [{}])


class AutospecAsyncGeneratorTest(unittest.IsolatedAsyncioTestCase):
    async def test_stdlib_async_generator_method_cannot_yield_items(self) -> None:
        """With create_autospec, setting the items as return_value breaks `async for`."""
        stdlib = mock.create_autospec(Connection, instance=True)
        stdlib.rows.return_value = [1, 2]
        with self.assertRaisesRegex(TypeError, "async for"):
            async for _ in stdlib.rows("q"):
                pass

    async def test_items_from_returns(self) -> None:
        """returns= gives the items; every call iterates them afresh."""
        conn = autospec(Connection, returns={"rows": [1, 2]})
        self.assertEqual([r async for r in conn.rows("q")], [1, 2])
        self.assertEqual([r async for r in conn.rows("q")], [1, 2])
        self.assertEqual(conn.rows.call_args_list, [call("q"), call("q")])

    async def test_return_value_can_be_set_later(self) -> None:
        """Setting return_value to a list afterwards works, as users expect."""
        conn = autospec(Connection)
        self.assertEqual([r async for r in conn.rows("q")], [])
        conn.rows.return_value = [3]
        self.assertEqual([r async for r in conn.rows("q")], [3])

    async def test_async_iterator_is_returned_as_is(self) -> None:
        """An AsyncIteratorMock as return value is handed out unchanged."""
        feed = AsyncIteratorMock([1], raises=OSError("reset"))
        conn = autospec(Connection, returns={"rows": feed})
        self.assertIs(conn.rows("q"), feed)
        with self.assertRaisesRegex(OSError, "^reset$"):
            async for _ in conn.rows("q"):
                pass
        feed.assert_consumed()

    def test_non_iterable_return_value_names_the_method(self) -> None:
        """A return value that cannot be iterated fails at the call, naming the method."""
        conn = autospec(Connection)
        conn.rows.return_value = 5
        with self.assertRaisesRegex(TypeError, r"^Connection\.rows is an async generator method"):
            conn.rows("q")

    async def test_async_generator_function(self) -> None:
        """An async generator function yields return_value and passes isasyncgenfunction."""
        stream = autospec(stream_users, return_value=[{"name": "a"}])
        self.assertTrue(inspect.isasyncgenfunction(stream))
        self.assertFalse(inspect.iscoroutinefunction(stream))
        self.assertEqual([u async for u in stream(10)], [{"name": "a"}])


class AutospecAsyncProtocolsTest(unittest.IsolatedAsyncioTestCase):
    async def test_stdlib_async_with_binds_a_different_mock(self) -> None:
        """With create_autospec, `async with conn as c` gives a fresh mock, not conn."""
        stdlib = mock.create_autospec(Connection, instance=True)
        async with stdlib as entered:
            self.assertIsNot(entered, stdlib)

    async def test_async_with_binds_the_instance(self) -> None:
        """`async with` binds the mock itself, and the exit sees the block's error."""
        conn = autospec(Connection)
        with self.assertRaisesRegex(KeyError, "k"):
            async with conn as entered:
                self.assertIs(entered, conn)
                raise KeyError("k")
        conn.__aenter__.assert_awaited_once()
        self.assertIs(conn.__aexit__.await_args.args[0], KeyError)

    async def test_enter_value_error_and_suppression(self) -> None:
        """returns/side_effects configure the enter value, suppression and enter errors."""
        conn = autospec(Connection, returns={"__aenter__": "session", "__aexit__": True})
        async with conn as entered:
            self.assertEqual(entered, "session")
            raise KeyError("suppressed")
        refused = autospec(Connection, side_effects={"__aenter__": ConnectionRefusedError})
        with self.assertRaises(ConnectionRefusedError):
            async with refused:
                self.fail("the block must not run")

    async def test_stdlib_async_iterator_anext_never_stops(self) -> None:
        """With create_autospec, `async for` is empty but anext() returns mocks forever."""
        stdlib = mock.create_autospec(Cursor, instance=True)
        self.assertEqual([r async for r in stdlib], [])
        self.assertIsInstance(await stdlib.__anext__(), mock.NonCallableMock)

    async def test_async_iterator_items(self) -> None:
        """An async iterator mock yields its items through `async for` and anext() alike."""
        cursor = autospec(Cursor, returns={"__aiter__": [1, 2, 3]})
        self.assertEqual(await cursor.__anext__(), 1)
        self.assertEqual([r async for r in cursor], [2, 3])
        with self.assertRaises(StopAsyncIteration):
            await cursor.__anext__()

    async def test_async_iterable_starts_over(self) -> None:
        """An async iterable mock restarts its items on every `async for`."""
        table = autospec(Table, returns={"__aiter__": (1, 2)})
        self.assertEqual([r async for r in table], [1, 2])
        self.assertEqual([r async for r in table], [1, 2])
        self.assertEqual([r async for r in autospec(Table)], [])

    async def test_async_iteration_error(self) -> None:
        """An AsyncIteratorMock source raises mid-iteration."""
        cursor = autospec(Cursor, returns={"__aiter__": AsyncIteratorMock([1], raises=OSError)})
        seen = []
        with self.assertRaises(OSError):
            async for row in cursor:
                seen.append(row)
        self.assertEqual(seen, [1])


class AutospecErrorsTest(unittest.TestCase):
    def test_spec_must_be_class_function_or_module(self) -> None:
        """Instances, strings and mocks are refused with what to pass instead."""
        with self.assertRaisesRegex(TypeError, r"^autospec\(\) needs a class, a function or a module; got an instance of Connection"):
            autospec(Connection("dsn"))
        with self.assertRaisesRegex(TypeError, r"^autospec\(\) needs the object to copy, not its name; got the string 'app.Client'"):
            autospec("app.Client")
        with self.assertRaisesRegex(TypeError, r"^autospec\(\) cannot copy a mock"):
            autospec(mock.MagicMock())
        with self.assertRaisesRegex(TypeError, r"^autospec\(\) needs a class, a function or a module; got an instance of int \(42\)"):
            autospec(42)

    def test_unknown_attribute_lists_close_names(self) -> None:
        """Configuring a missing attribute names the closest ones (difflib)."""
        with self.assertRaisesRegex(AttributeError, r"^autospec\(Connection\): returns\['fetchh'\] names an attribute Connection does not have; did you mean 'fetch'\?"):
            autospec(Connection, returns={"fetchh": b""})
        with self.assertRaisesRegex(AttributeError, r"side_effects\['zzz'\] .*it has: "):
            autospec(Connection, side_effects={"zzz": OSError})

    def test_async_protocol_key_needs_the_protocol(self) -> None:
        """Configuring __aenter__ of a class without it says it is no context manager."""
        with self.assertRaisesRegex(AttributeError, r"has no __aenter__, so it is not an async context manager"):
            autospec(Cursor, returns={"__aenter__": 1})
        with self.assertRaisesRegex(AttributeError, r"got '__len__'"):
            autospec(Connection, returns={"__len__": 1})

    def test_return_value_needs_a_callable(self) -> None:
        """return_value= on a non-callable instance is refused."""
        with self.assertRaisesRegex(TypeError, r"^autospec\(Connection\): return_value= and side_effect= configure calling"):
            autospec(Connection, return_value=1)

    def test_side_effect_on_plain_attribute(self) -> None:
        """side_effects= on a plain attribute is refused."""
        with self.assertRaisesRegex(TypeError, r"'timeout' is a plain attribute"):
            autospec(Connection, side_effects={"timeout": OSError})


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


# --- patching ---------------------------------------------------------------------------


def run_case(case: type[unittest.TestCase], name: str = "test_it") -> unittest.TestResult:
    result = unittest.TestResult()
    case(name).run(result)
    return result


class PatchingMixinTest(unittest.TestCase):
    def test_patch_is_undone_even_when_the_test_fails(self) -> None:
        """The patch is in place during the test and undone after a failure."""
        original = fetch_user
        events: list[object] = []

        class Inner(PatchingMixin, unittest.IsolatedAsyncioTestCase):
            async def test_it(self) -> None:
                fetch = self.patch(f"{__name__}.fetch_user", return_value={"name": "ann"})
                events.append(fetch is globals()["fetch_user"])
                events.append(await load_user_name(1))
                fetch.assert_awaited_once_with(1)
                self.fail("deliberate")

        result = run_case(Inner)
        self.assertEqual(len(result.failures), 1)
        self.assertEqual(events, [True, "Ann"])
        self.assertIs(globals()["fetch_user"], original)

    def test_autospec_by_default(self) -> None:
        """Without new=, the replacement is an autospec: async-aware and signature-checked."""
        events: list[object] = []

        class Inner(PatchingMixin, unittest.IsolatedAsyncioTestCase):
            async def test_it(self) -> None:
                klass = self.patch(f"{__name__}.Connection", **{"return_value.rows.return_value": [7]})
                async with Connection("dsn") as conn:
                    events.append(conn is klass.return_value)
                    events.append([r async for r in conn.rows("q")])
                    events.append(inspect.iscoroutinefunction(conn.describe))
                with self.assertRaises(TypeError):
                    Connection()  # type: ignore[call-arg]
                stream = self.patch(f"{__name__}.stream_users", return_value=[{"name": "x"}])
                events.append([u async for u in stream_users(1)])
                events.append(stream.call_count)

        result = run_case(Inner)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(events, [True, [7], False, [{"name": "x"}], 1])
        self.assertTrue(isinstance(Connection, type))

    def test_patch_object_and_method_binding(self) -> None:
        """patch_object replaces attributes; an instance method keeps binding self."""
        events: list[object] = []

        class Inner(PatchingMixin, unittest.IsolatedAsyncioTestCase):
            async def test_it(self) -> None:
                fetch = self.patch_object(Connection, "fetch", return_value=b"patched")
                conn = Connection("dsn")
                events.append(await conn.fetch("k"))
                fetch.assert_awaited_once_with(conn, "k")
                ping = self.patch_object(Connection, "ping", return_value=False)
                events.append(await Connection.ping("h"))
                events.append(inspect.iscoroutinefunction(ping))

        result = run_case(Inner)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(events, [b"patched", False, True])
        self.assertEqual(Connection("d").parse("x"), {"dsn": "x"})

    def test_stdlib_accepts_a_sync_mock_for_an_async_function(self) -> None:
        """With mock.patch, a MagicMock for an async function fails only at the await."""

        async def check() -> None:
            with mock.patch(f"{__name__}.fetch_user", new=mock.MagicMock()), self.assertRaisesRegex(
                TypeError, r"^object MagicMock can't be used in 'await' expression$"
            ):
                await load_user_name(1)

        asyncio.run(check())

    def test_sync_mock_for_async_function_is_refused(self) -> None:
        """self.patch refuses a sync mock for an async function, naming the target."""
        errors: list[str] = []

        class Inner(PatchingMixin, unittest.IsolatedAsyncioTestCase):
            async def test_it(self) -> None:
                with self.assertRaises(TypeError) as caught:
                    self.patch(f"{__name__}.fetch_user", new=mock.MagicMock())
                errors.append(str(caught.exception))
                with self.assertRaises(TypeError) as caught:
                    self.patch_object(Connection, "ping", mock.Mock())
                errors.append(str(caught.exception))
                self.patch(f"{__name__}.fetch_user", new=mock.MagicMock(return_value=AwaitableMock({})))
                self.patch(f"{__name__}.fetch_user", new=mock.AsyncMock())

        result = run_case(Inner)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertRegex(errors[0], rf"^patch\('{__name__}\.fetch_user'\): the original is an async function, .* new= is a MagicMock whose result cannot be awaited")
        self.assertRegex(errors[1], r"^patch_object\(Connection, 'ping'\): the original is an async function")

    def test_pass_through_options_and_missing_targets(self) -> None:
        """autospec=False, create=True and missing attributes behave as documented."""
        events: list[object] = []

        class Inner(PatchingMixin, unittest.IsolatedAsyncioTestCase):
            async def test_it(self) -> None:
                plain = self.patch(f"{__name__}.fetch_user", autospec=False)
                events.append(type(plain).__name__)
                self.patch(f"{__name__}.not_there", create=True)
                with self.assertRaisesRegex(AttributeError, r"has no attribute 'fetch_usr'; did you mean 'fetch_user' or 'format_user'\? Pass create=True"):
                    self.patch(f"{__name__}.fetch_usr")
                with self.assertRaisesRegex(TypeError, r"^patch\(\) needs the dotted name"):
                    self.patch(fetch_user)  # type: ignore[arg-type]

        result = run_case(Inner)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(events, ["AsyncMock"])
        self.assertNotIn("not_there", globals())

    def test_patch_dict(self) -> None:
        """patch_dict updates (or clears) a mapping for the test and restores it."""
        events: list[object] = []

        class Inner(PatchingMixin, unittest.IsolatedAsyncioTestCase):
            async def test_it(self) -> None:
                patched = self.patch_dict(SETTINGS, {"mode": "test"}, extra="1")
                events.append(dict(patched))
                self.patch_dict(f"{__name__}.SETTINGS", clear=True)
                events.append(dict(SETTINGS))
                raise RuntimeError("error, not failure")

        result = run_case(Inner)
        self.assertEqual(len(result.errors), 1)
        self.assertEqual(events, [{"mode": "test", "extra": "1"}, {}])
        self.assertEqual(SETTINGS, {"mode": "prod"})


class PublicNamesTest(unittest.TestCase):
    def test_all_is_sorted_documented_and_complete(self) -> None:
        """__all__ is sorted, every name exists and has a docstring with an example."""
        for module in (_mocks, _mockwait):
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
