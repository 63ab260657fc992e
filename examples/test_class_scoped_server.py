"""One localhost server for a whole test class: ``loop_scope = "class"``.

``AsyncTestCase`` (like ``IsolatedAsyncioTestCase``) gives every test a new
event loop, so anything bound to a loop (a server, a connection pool, an
app) must be made again for every test, in ``asyncSetUp``. That is the right
default: tests cannot see each other. When the resource is expensive to make
and safe to share, set ``loop_scope = "class"``: one loop lives for the whole
class, ``asyncSetUpClass`` makes the resource once on it, and
``enterAsyncClassContext`` (or ``addAsyncClassCleanup``) closes it after the
last test.

What you trade: the tests share the resource's state (here the server's
counters), so each test must not depend on what another did, nor on the
order the tests run in. What you keep: each test still starts from a copy of
the class's ``contextvars`` context, its own tasks are cancelled when it
ends, and the hygiene checks run per test. A task the shared server starts
because of *this test's* connection is this test's: wait for it
(``server.wait_idle()``) before the test ends, or it is reported as a leak.
"""

from __future__ import annotations

import asyncio
import unittest

from asynctestkit import AsyncTestCase, ClockedTestCase
from examples.echo_service import EchoClient, EchoServer


class TestEchoServer(AsyncTestCase):
    """The server starts once for the class; each test opens its own connection."""

    loop_scope = "class"
    server: EchoServer

    @classmethod
    async def asyncSetUpClass(cls) -> None:
        # Entered once, on the class's loop; exited after the last test (and
        # also when a later step of asyncSetUpClass fails).
        cls.server = await cls.enterAsyncClassContext(EchoServer())
        cls.server_loop = asyncio.get_running_loop()

    async def asyncSetUp(self) -> None:
        # Cleanups run last in, first out: the client closes, then the test
        # waits for the server's handler of that connection to finish.
        self.addAsyncCleanup(self.server.wait_idle)
        self.client = await self.enterAsyncContext(await EchoClient.connect(*self.server.address))

    async def test_echo(self) -> None:
        self.assertEqual(await self.client.request("ECHO hello"), "hello")

    async def test_upper(self) -> None:
        self.assertEqual(await self.client.request("UPPER hello"), "HELLO")

    async def test_unknown_command(self) -> None:
        self.assertEqual(await self.client.request("SHOUT hi"), "ERR unknown command 'SHOUT'")

    async def test_quit_closes_the_connection(self) -> None:
        self.assertEqual(await self.client.request("QUIT"), "BYE")
        with self.assertRaises(ConnectionError):
            await self.client.request("ECHO still there?")

    async def test_clients_are_served_concurrently(self) -> None:
        async with await EchoClient.connect(*self.server.address) as other:
            replies = await asyncio.gather(
                self.client.request("ECHO first"), other.request("UPPER second")
            )
        self.assertEqual(replies, ["first", "SECOND"])

    async def test_counters_are_shared_so_compare_deltas(self) -> None:
        # Other tests used the server before: never assert absolute values of
        # shared state, only what this test changed.
        before = self.server.lines
        for word in ("a", "b", "c"):
            await self.client.request(f"ECHO {word}")
        self.assertEqual(self.server.lines - before, 3)

    async def test_every_test_runs_on_the_class_loop(self) -> None:
        self.assertIs(asyncio.get_running_loop(), self.server_loop)


class TestIdleTimeout(ClockedTestCase):
    """On the virtual clock, with one clock for the class: a 5-minute idle timeout in no time."""

    loop_scope = "class"
    server: EchoServer

    @classmethod
    async def asyncSetUpClass(cls) -> None:
        cls.server = await cls.enterAsyncClassContext(EchoServer(idle_timeout=300))

    async def asyncSetUp(self) -> None:
        self.addAsyncCleanup(self.server.wait_idle)
        self.client = await self.enterAsyncContext(await EchoClient.connect(*self.server.address))

    async def test_an_idle_connection_is_closed(self) -> None:
        self.assertEqual(await self.client.read_line(), "ERR idle timeout")
        # Time keeps moving forward across the class: measure from the
        # test's own start, not from zero.
        self.assertEqual(self.clock.now - self.clock_started_at, 300)

    async def test_a_busy_connection_stays_open(self) -> None:
        for _ in range(3):
            await asyncio.sleep(200)
            self.assertEqual(await self.client.request("ECHO ping"), "ping")
        self.assertEqual(self.clock.now - self.clock_started_at, 600)


if __name__ == "__main__":
    unittest.main()
