"""Tests for the autospec factory (asynctestkit._mock._autospec).

Each stdlib gap the factories close has a test that first shows the gap with plain
``unittest.mock`` and then shows the factory closing it.
"""

from __future__ import annotations

import inspect
import sys
import unittest
from unittest import mock
from unittest.mock import call

from asynctestkit._mock._autospec import autospec
from asynctestkit._mock._mocks import AsyncIteratorMock
from tests._subjects import (
    COROUTINE_FUNCTIONS,
    FUNCTION_KINDS,
    Connection,
    Cursor,
    Table,
    fetch_user,
    format_user,
    make_module,
    stream_users,
)

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


if __name__ == "__main__":
    unittest.main()
