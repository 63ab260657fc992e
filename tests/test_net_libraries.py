"""Real network libraries, unchanged, on the virtual network (skipped where they are not installed)."""

from __future__ import annotations

import asyncio
import unittest
from typing import Any

from asynctestkit import ClockedTestCase, VirtualNetwork

try:
    import aiohttp
    from aiohttp import test_utils, web
except ImportError:  # pragma: no cover - CI installs it where it installs
    aiohttp = None  # type: ignore[assignment]

try:
    import websockets
    from websockets.asyncio.client import connect as ws_connect
    from websockets.asyncio.server import serve as ws_serve
except ImportError:  # pragma: no cover
    websockets = None  # type: ignore[assignment]


def make_app() -> Any:
    async def hello(request: Any) -> Any:
        return web.Response(text=f"hello {request.match_info['name']}")

    async def slow(request: Any) -> Any:
        await asyncio.sleep(30)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/hello/{name}", hello)
    app.router.add_get("/slow", slow)
    return app


@unittest.skipIf(aiohttp is None, "aiohttp is not installed")
class TestAiohttp(ClockedTestCase):
    """aiohttp's client and server talk over the virtual network, with timeouts in virtual time."""

    network = "virtual"

    async def asyncSetUp(self) -> None:
        self.runner = web.AppRunner(make_app())
        await self.runner.setup()
        site = web.TCPSite(self.runner, "api.example.com", 8080)
        await site.start()
        self.addAsyncCleanup(self.runner.cleanup)

    async def test_client_session_gets_a_page(self) -> None:
        """A ClientSession request is answered by the aiohttp server, in no real time."""
        self.network.set_link(latency=0.05)
        async with aiohttp.ClientSession() as session, session.get(
            "http://api.example.com:8080/hello/world"
        ) as response:
            self.assertEqual(response.status, 200)
            self.assertEqual(await response.text(), "hello world")
        self.assertGreaterEqual(self.clock.now, 0.2)  # connect + request round trips

    async def test_client_timeout_in_virtual_time(self) -> None:
        """ClientTimeout(total=5) fires after 5 virtual seconds against a 30 s handler."""
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            start = self.clock.now
            with self.assertRaises(asyncio.TimeoutError):
                await session.get("http://api.example.com:8080/slow")
            self.assertAlmostEqual(self.clock.now - start, 5, places=6)
        # The server's handler was cancelled when the client went away.
        await asyncio.sleep(60)

    async def test_unknown_host_is_a_connector_error(self) -> None:
        """A name the network does not know fails as DNS would."""
        async with aiohttp.ClientSession() as session:
            with self.assertRaises(aiohttp.ClientConnectorError):
                await session.get("http://nowhere.example.org/")


if aiohttp is not None:

    class TestAioHTTPTestCase(ClockedTestCase, test_utils.AioHTTPTestCase):
        """aiohttp's own AioHTTPTestCase, combined with ClockedTestCase, on the virtual network."""

        network = "virtual"

        async def get_application(self) -> Any:
            return make_app()

        async def test_client_fixture(self) -> None:
            """self.client reaches the app through the virtual network."""
            response = await self.client.get("/hello/test")
            self.assertEqual(await response.text(), "hello test")
            self.assertIsInstance(self.network, VirtualNetwork)
            self.assertTrue(self.network.connections())

        async def test_slow_handler_in_virtual_time(self) -> None:
            """A 30 s handler answers after 30 virtual seconds."""
            response = await self.client.get("/slow")
            self.assertEqual(await response.text(), "late")
            self.assertGreaterEqual(self.clock.now, 30)


@unittest.skipIf(websockets is None, "websockets is not installed")
class TestWebsockets(ClockedTestCase):
    """websockets' client and server, with keepalive pings timing out across a partition."""

    network = "virtual"

    async def test_echo_and_keepalive_timeout_across_a_partition(self) -> None:
        """A partition makes the keepalive ping time out: the client sees the connection closed."""
        async def echo(ws: Any) -> None:
            try:
                async for message in ws:
                    await ws.send(message)
            except websockets.ConnectionClosed:
                pass  # the client gave up across the partition

        with self.network.host("server"):
            server = await ws_serve(echo, "server", 8765, ping_interval=None)
        with self.network.host("client"):
            ws = await ws_connect("ws://server:8765", ping_interval=20, ping_timeout=10)
        await ws.send("hi")
        self.assertEqual(await ws.recv(), "hi")
        start = self.clock.now
        self.network.partition("client", "server")
        with self.assertRaises(websockets.ConnectionClosed):
            await ws.recv()
        # The ping goes out at 20 s and times out 10 s later; closing then waits
        # for the close handshake (close_timeout, 10 s) that cannot come back.
        self.assertLessEqual(self.clock.now - start, 20 + 10 + 10 + 1)
        self.assertGreaterEqual(self.clock.now - start, 30)
        self.network.heal()
        await ws.close()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(60)


if __name__ == "__main__":
    unittest.main()
