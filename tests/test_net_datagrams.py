"""Datagram endpoints on the virtual network: delivery, loss, duplicates and reordering, seeded."""

from __future__ import annotations

import asyncio
import unittest
from typing import Any

from asynctestkit import ClockedTestCase, VirtualNetwork, virtual_event_loop


class Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[tuple[bytes, Any]] = []
        self.errors: list[Exception] = []
        self.closed = False

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.append((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True


class TestDatagrams(ClockedTestCase):
    """create_datagram_endpoint() works in memory, in virtual time."""

    network = "virtual"

    async def endpoint(self, **kwargs: Any) -> tuple[Any, Collector]:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(Collector, **kwargs)
        self.addCleanup(transport.close)
        return transport, protocol

    async def test_request_and_reply(self) -> None:
        """A datagram arrives after the latency, with the sender's address; replies go back."""
        self.network.set_link(latency=0.05)
        server, server_proto = await self.endpoint(local_addr=("dns.example", 53))
        client, client_proto = await self.endpoint(remote_addr=("dns.example", 53))
        client.sendto(b"query")
        await asyncio.sleep(0.05)
        self.assertEqual(server_proto.got, [(b"query", client.get_extra_info("sockname"))])
        server.sendto(b"answer", server_proto.got[0][1])
        await asyncio.sleep(0.05)
        self.assertEqual([d for d, _ in client_proto.got], [b"answer"])
        with self.assertRaisesRegex(ValueError, "Invalid address"):
            client.sendto(b"x", ("127.0.0.1", 9))
        with self.assertRaisesRegex(OSError, "Destination address required"):
            server.sendto(b"x")
        with self.assertRaisesRegex(TypeError, "bytes-like"):
            server.sendto("x", ("127.0.0.1", 9))

    async def test_port_unreachable_reaches_a_connected_sender(self) -> None:
        """Sending to a port nobody binds: dropped; a connected sender gets ConnectionRefusedError."""
        client, proto = await self.endpoint(remote_addr=("127.0.0.1", 9999))
        client.sendto(b"hello?")
        await asyncio.sleep(1)
        self.assertEqual(len(proto.errors), 1)
        self.assertIsInstance(proto.errors[0], ConnectionRefusedError)

    async def test_partition_and_crash(self) -> None:
        """A partition drops datagrams; a crash closes the host's endpoints."""
        with self.network.host("a"):
            a, _a_proto = await self.endpoint(local_addr=("a", 1000))
        with self.network.host("b"):
            b, b_proto = await self.endpoint(local_addr=("b", 1000))
        self.network.partition("a", "b")
        a.sendto(b"lost", ("b", 1000))
        await asyncio.sleep(1)
        self.network.heal()
        a.sendto(b"found", ("b", 1000))
        await asyncio.sleep(1)
        self.assertEqual([d for d, _ in b_proto.got], [b"found"])
        self.network.crash("b")
        await asyncio.sleep(0)
        self.assertTrue(b_proto.closed)
        self.assertTrue(b.is_closing())

    async def test_taken_port_is_refused(self) -> None:
        """Two endpoints cannot bind one address."""
        await self.endpoint(local_addr=("127.0.0.1", 5000))
        with self.assertRaisesRegex(OSError, "Address already in use"):
            await self.endpoint(local_addr=("127.0.0.1", 5000))

    async def test_left_open_is_a_leak(self) -> None:
        """An endpoint left open is reported by the network's leak check."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Collector, local_addr=("127.0.0.1", 0))
        self.assertRegex(self.network.leaks(), r"datagram endpoint on localhost 127\.0\.0\.1:\d+ .*opened at:")
        self.assertTrue(transport.is_closing())


class TestDatagramFaults(unittest.TestCase):
    """drop/duplicate/reorder chances, drawn from the schedule seed."""

    def run_burst(self, seed: int | None, **faults: float) -> list[int]:
        loop = virtual_event_loop(seed=seed)
        self.addCleanup(loop.close)
        network = VirtualNetwork(latency=0.01)
        network.attach(loop)
        network.set_link(**faults)  # type: ignore[arg-type]

        async def main() -> list[int]:
            rx, proto = await loop.create_datagram_endpoint(Collector, local_addr=("127.0.0.1", 7))
            tx, _ = await loop.create_datagram_endpoint(Collector, remote_addr=("127.0.0.1", 7))
            for i in range(200):
                tx.sendto(b"%d" % i)
                await asyncio.sleep(0.001)
            await asyncio.sleep(1)
            tx.close()
            rx.close()
            await asyncio.sleep(0)
            return [int(d) for d, _ in proto.got]

        return loop.run_until_complete(main())

    def test_no_faults_no_surprises(self) -> None:
        """By default every datagram arrives once, in order."""
        self.assertEqual(self.run_burst(None), list(range(200)))

    def test_faults_happen_as_asked_and_replay_by_seed(self) -> None:
        """Losses, duplicates and reordering happen at about their chance; a seed replays them."""
        got = self.run_burst(3, drop=0.2, duplicate=0.1, reorder=0.2)
        self.assertEqual(got, self.run_burst(3, drop=0.2, duplicate=0.1, reorder=0.2))
        self.assertNotEqual(got, self.run_burst(4, drop=0.2, duplicate=0.1, reorder=0.2))
        distinct = set(got)
        self.assertLess(len(distinct), 190)  # some lost
        self.assertGreater(len(got), len(distinct))  # some twice
        self.assertNotEqual(got, sorted(got))  # some overtaken
        with self.assertRaisesRegex(ValueError, "^drop needs a chance from 0 to 1; got 2$"):
            VirtualNetwork().set_link(drop=2)


if __name__ == "__main__":
    unittest.main()
