"""Tests for patching in test cases (asynctestkit._mock._patching).

Each stdlib gap the factories close has a test that first shows the gap with plain
``unittest.mock`` and then shows the factory closing it.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
import unittest
from unittest import mock

from asynctestkit._mock._mocks import AwaitableMock
from asynctestkit._mock._patching import PatchingMixin
from tests._subjects import Connection, fetch_user, format_user, stream_users

# --- real code to patch -----------------------------------------------------------------


# Patched by name in this module: load_user_name() must look fetch_user up here.
async def load_user_name(user_id: int) -> str:
    return format_user(await fetch_user(user_id))


SETTINGS: dict[str, str] = {"mode": "prod"}


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

        async def check() -> list[str]:
            with mock.patch(f"{__name__}.fetch_user", new=mock.MagicMock()):  # accepted
                try:
                    await load_user_name(1)
                except TypeError as exc:  # the wording is CPython's (it changed in 3.14)
                    return [frame.name for frame in traceback.extract_tb(exc.__traceback__)]
            return []

        # Raised by the await in the code under test, not at the patch.
        self.assertEqual(asyncio.run(check())[-1:], ["load_user_name"])

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

    def test_replacements_that_can_be_awaited_are_accepted(self) -> None:
        """For an async original, an async function, an AsyncMock and a mock with an async
        side_effect are accepted and awaited; a non-callable mock is refused."""
        events: list[object] = []

        async def fake_fetch(user_id: int) -> dict[str, str]:
            return {"name": "fake"}

        async def side(user_id: int) -> dict[str, str]:
            return {"name": "side"}

        class Inner(PatchingMixin, unittest.IsolatedAsyncioTestCase):
            async def check(self, new: object) -> None:
                self.patch(f"{__name__}.fetch_user", new=new)
                events.append(await load_user_name(2))

            async def test_function(self) -> None:
                await self.check(fake_fetch)

            async def test_async_mock(self) -> None:
                await self.check(mock.AsyncMock(return_value={"name": "am"}))

            async def test_async_side_effect(self) -> None:
                await self.check(mock.MagicMock(side_effect=side))

            async def test_non_callable(self) -> None:
                with self.assertRaises(TypeError) as caught:
                    self.patch(f"{__name__}.fetch_user", new=mock.NonCallableMagicMock())
                events.append(str(caught.exception))

        for name in ("test_function", "test_async_mock", "test_async_side_effect", "test_non_callable"):
            result = run_case(Inner, name)
            self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertIs(globals()["fetch_user"], fetch_user)
        self.assertEqual(events[:3], ["Fake", "Am", "Side"])
        self.assertRegex(str(events[3]), r"^patch\('[\w.]+\.fetch_user'\): the original is an async function, .* new= is a NonCallableMagicMock whose result cannot be awaited")

    def test_patch_refuses_a_name_without_an_owner(self) -> None:
        """patch() needs 'owner.attribute': a bare name or a leading dot is refused."""
        errors: list[str] = []

        class Inner(PatchingMixin, unittest.IsolatedAsyncioTestCase):
            async def test_it(self) -> None:
                for target in ("fetch_user", ".fetch_user"):
                    with self.assertRaises(TypeError) as caught:
                        self.patch(target)
                    errors.append(str(caught.exception))

        result = run_case(Inner)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(len(errors), 2)
        self.assertRegex(errors[0], r"^patch\(\) needs a dotted name such as 'module\.attribute'; got 'fetch_user'\.$")
        self.assertRegex(errors[1], r"^patch\(\) needs a dotted name such as 'module\.attribute'; got '\.fetch_user'\.$")

    def test_plain_autospec_spec_and_new_for_a_missing_target(self) -> None:
        """With no options the autospec answers with an awaitable mock and checks the signature;
        spec= goes to mock.patch as given; new= for a missing attribute needs create=True
        and then adds it for the test only."""
        events: list[object] = []

        class Inner(PatchingMixin, unittest.IsolatedAsyncioTestCase):
            async def test_it(self) -> None:
                fetch = self.patch(f"{__name__}.fetch_user")
                fetch.return_value = {"name": "spec"}
                events.append(await load_user_name(3))
                fetch.assert_awaited_once_with(3)
                with self.assertRaises(TypeError):
                    await fetch_user()  # type: ignore[call-arg]
                specced = self.patch(f"{__name__}.SETTINGS", spec=dict)
                events.append(isinstance(specced, mock.NonCallableMagicMock) or callable(specced))
                with self.assertRaises(AttributeError):
                    specced.no_such_dict_method  # noqa: B018
                added = mock.AsyncMock(return_value=5)
                self.assertIs(self.patch(f"{__name__}.not_there_either", new=added, create=True), added)
                events.append(await globals()["not_there_either"]())

        result = run_case(Inner)
        self.assertTrue(result.wasSuccessful(), result.errors + result.failures)
        self.assertEqual(events, ["Spec", True, 5])
        self.assertNotIn("not_there_either", globals())
        self.assertEqual(SETTINGS, {"mode": "prod"})


if __name__ == "__main__":
    unittest.main()
