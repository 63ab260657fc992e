"""TLS on the virtual network: asyncio's own TLS layer (sslproto) over in-memory transports."""

from __future__ import annotations

import asyncio
import ssl
import unittest

from asynctestkit import ClockedTestCase, VirtualNetwork


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1000):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


class TestTLS(ClockedTestCase):
    """ssl= and start_tls() work over the virtual network, in virtual time."""

    network = "virtual"

    async def asyncSetUp(self) -> None:
        self.server_ctx, self.client_ctx = VirtualNetwork.tls_contexts()

    async def test_streams_with_tls(self) -> None:
        """A TLS echo over asyncio streams, with the peer's certificate checked."""
        self.network.set_link(latency=0.01)
        server = await asyncio.start_server(echo, "db", 5432, ssl=self.server_ctx)
        reader, writer = await asyncio.open_connection("db", 5432, ssl=self.client_ctx)
        self.assertIsNotNone(writer.get_extra_info("ssl_object"))
        self.assertEqual(writer.get_extra_info("peercert")["subject"], ((("commonName", "localhost"),),))
        self.assertEqual(writer.get_extra_info("peername")[1], 5432)
        writer.write(b"secret")
        self.assertEqual(await reader.readexactly(6), b"secret")
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(1)
        self.assertGreater(self.clock.now, 0.05)  # handshake round trips took virtual time

    async def test_wrong_host_name_fails_verification(self) -> None:
        """Host names are checked as on a real network."""
        self.network.add_host("elsewhere.org")
        server = await asyncio.start_server(echo, "elsewhere.org", 443, ssl=self.server_ctx)
        with self.assertRaises(ssl.SSLCertVerificationError):
            await asyncio.open_connection("elsewhere.org", 443, ssl=self.client_ctx)
        server.close()
        await server.wait_closed()
        await asyncio.sleep(1)

    async def test_start_tls_upgrades_a_connection(self) -> None:
        """writer.start_tls() (3.11+) or loop.start_tls() upgrades a plain connection."""
        loop = asyncio.get_running_loop()
        upgraded = asyncio.Event()

        async def starttls_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            assert await reader.readline() == b"STARTTLS\n"
            writer.write(b"GO\n")
            await writer.drain()
            protocol = writer.transport.get_protocol()
            tls = await loop.start_tls(writer.transport, protocol, self.server_ctx, server_side=True)
            # StreamReaderProtocol follows its transport (3.11+ _replace_transport; 3.10 attribute).
            writer._transport = tls  # type: ignore[attr-defined]
            protocol._transport = tls  # type: ignore[attr-defined]
            protocol._over_ssl = True  # type: ignore[attr-defined]  # as StreamWriter.start_tls sets it
            upgraded.set()
            data = await reader.readexactly(5)
            tls.write(data.upper())
            await asyncio.sleep(1)
            tls.close()

        server = await asyncio.start_server(starttls_server, "localhost", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("localhost", port)
        writer.write(b"STARTTLS\n")
        self.assertEqual(await reader.readline(), b"GO\n")
        protocol = writer.transport.get_protocol()
        tls = await loop.start_tls(writer.transport, protocol, self.client_ctx, server_hostname="localhost")
        writer._transport = tls  # type: ignore[attr-defined]
        protocol._transport = tls  # type: ignore[attr-defined]
        protocol._over_ssl = True  # type: ignore[attr-defined]
        self.assertIsNotNone(tls.get_extra_info("ssl_object"))
        tls.write(b"hello")
        self.assertEqual(await reader.readexactly(5), b"HELLO")
        await upgraded.wait()
        tls.close()
        await asyncio.sleep(2)
        server.close()
        await server.wait_closed()


if __name__ == "__main__":
    unittest.main()
