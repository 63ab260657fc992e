"""The virtual network's API edges: argument checks, refusals, transport and server details, reports."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import unittest
from typing import Any

from asynctestkit import ClockedTestCase


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(1000):
            writer.write(data)
            await writer.drain()
    writer.close()


class Sink(asyncio.Protocol):
    """A protocol that records what happens to it."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.events: list[str] = []
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.events.append("eof")
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)


class TestArguments(ClockedTestCase):
    """The network's calls check their arguments as asyncio's do."""

    network = "virtual"

    async def test_create_connection_checks(self) -> None:
        """Bad argument combinations raise asyncio's errors."""
        loop = asyncio.get_running_loop()
        with self.assertRaisesRegex(ValueError, "host and port was not specified"):
            await loop.create_connection(asyncio.Protocol)
        with self.assertRaisesRegex(ValueError, "server_hostname is only meaningful with ssl"):
            await loop.create_connection(asyncio.Protocol, "localhost", 1, server_hostname="x")
        with self.assertRaisesRegex(ValueError, "ssl_handshake_timeout is only meaningful with ssl"):
            await loop.create_connection(asyncio.Protocol, "localhost", 1, ssl_handshake_timeout=1)
        with self.assertRaisesRegex(ValueError, "ssl_shutdown_timeout is only meaningful with ssl"):
            await loop.create_connection(asyncio.Protocol, "localhost", 1, ssl_shutdown_timeout=1)
        with self.assertRaisesRegex(ValueError, "You must set server_hostname"):
            await loop.create_connection(asyncio.Protocol, sock=object(), ssl=True)
        with self.assertRaisesRegex(ValueError, "host/port and sock can not be specified"):
            await loop.create_connection(asyncio.Protocol, "localhost", 1, sock=object())
        with self.assertRaisesRegex(ValueError, "local_addr and sock can not be specified"):
            await loop.create_connection(asyncio.Protocol, sock=object(), local_addr=("localhost", 0))
        with self.assertRaisesRegex(OverflowError, "port must be 0-65535"):
            await loop.create_connection(asyncio.Protocol, "localhost", 70000)
        with self.assertRaises(socket.gaierror):
            await loop.create_connection(asyncio.Protocol, "localhost", "no-such-service")
        with self.assertRaises(socket.gaierror):
            await loop.create_connection(asyncio.Protocol, "localhost", 1, family=socket.AF_INET6)
        with self.assertRaisesRegex(OSError, "Cannot assign requested address"):
            await loop.create_connection(asyncio.Protocol, "localhost", 1, local_addr=("10.9.9.9", 0))

    async def test_create_server_checks(self) -> None:
        """ssl must be a context; taken ports and unknown addresses are refused."""
        loop = asyncio.get_running_loop()
        with self.assertRaisesRegex(TypeError, "ssl argument must be an SSLContext or None"):
            await loop.create_server(asyncio.Protocol, "localhost", 0, ssl=True)
        with self.assertRaisesRegex(TypeError, "ssl argument must be an SSLContext or None"):
            await loop.create_server(asyncio.Protocol, "localhost", 0, ssl="yes")
        with self.assertRaisesRegex(ValueError, "ssl_handshake_timeout is only meaningful"):
            await loop.create_server(asyncio.Protocol, "localhost", 0, ssl_handshake_timeout=1)
        with self.assertRaisesRegex(ValueError, "ssl_shutdown_timeout is only meaningful"):
            await loop.create_server(asyncio.Protocol, "localhost", 0, ssl_shutdown_timeout=1)
        with self.assertRaisesRegex(ValueError, "host/port and sock can not be specified"):
            await loop.create_server(asyncio.Protocol, "localhost", 0, sock=object())
        with self.assertRaisesRegex(OSError, "cannot assign requested address"):
            await loop.create_server(asyncio.Protocol, "10.200.0.1", 80)
        with self.assertRaisesRegex(TypeError, "a socket.socket is expected"):
            await loop.create_server(asyncio.Protocol, sock=object())
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        with self.assertRaisesRegex(RuntimeError, r"^loop\.create_server\(sock=\.\.\.\): .* is not a TCP socket"):
            await loop.create_server(asyncio.Protocol, sock=udp)
        unbound = socket.socket()
        self.addCleanup(unbound.close)
        with self.assertRaisesRegex(RuntimeError, "is not bound"):
            await loop.create_server(asyncio.Protocol, sock=unbound)

    async def test_server_on_several_hosts_and_a_bound_socket(self) -> None:
        """A list of hosts listens on each; a real bound socket only names the address."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, ["a.example", "b.example"], 80)
        self.assertEqual([s.getsockname()[1] for s in server.sockets], [80, 80])
        with self.assertRaisesRegex(OSError, "getpeername|not connected"):
            server.sockets[0].getpeername()
        self.assertRegex(repr(server.sockets[0]), r"^<VirtualSocket laddr=\('10\.")
        server.close()
        await server.wait_closed()
        real = socket.socket()
        real.bind(("127.0.0.1", 0))
        port = real.getsockname()[1]
        server = await asyncio.start_server(echo, sock=real)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"!")
        self.assertEqual(await reader.read(1), b"!")
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        self.assertEqual(real.fileno(), -1)  # closed with the server
        await asyncio.sleep(1)

    async def test_refused_calls_name_themselves(self) -> None:
        """What is not virtual is refused at once, naming the call."""
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        self.addCleanup(sock.close)
        for call, coro in [
            ("loop.sock_accept()", loop.sock_accept(sock)),
            ("loop.create_datagram_endpoint(sock=...)",
             loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sock)),
            ("loop.connect_accepted_socket()", loop.connect_accepted_socket(asyncio.Protocol, sock)),
            ("loop.sock_recv()", loop.sock_recv(sock, 1)),
            ("loop.create_unix_connection(sock=...)", loop.create_unix_connection(asyncio.Protocol, sock=sock)),
            ("loop.create_unix_server(sock=...)", loop.create_unix_server(asyncio.Protocol, sock=sock)),
        ]:
            with self.subTest(call=call), self.assertRaises(RuntimeError) as caught:
                await coro
            self.assertTrue(str(caught.exception).startswith(call + ":"), caught.exception)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        with self.assertRaisesRegex(RuntimeError, r"^loop\.sock_connect\(\): only TCP"):
            await loop.sock_connect(udp, ("localhost", 1))

    async def test_socketpair_stays_real_and_local(self) -> None:
        """A socket.socketpair() is in-process, not a network: it works as on a real loop."""
        a, b = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=a)
        loop = asyncio.get_running_loop()
        b.setblocking(False)
        await loop.sock_sendall(b, b"pair")
        self.assertEqual(await reader.readexactly(4), b"pair")
        writer.write(b"back")
        await writer.drain()
        self.assertEqual(await loop.sock_recv(b, 4), b"back")
        writer.close()
        await writer.wait_closed()
        b.close()
        sock = writer.get_extra_info("socket")
        self.assertEqual(sock.family, socket.AF_UNIX)

    async def test_buffer_sizes_answer_the_networks(self) -> None:
        """SO_SNDBUF and SO_RCVBUF read the network's buffer_size."""
        server = await asyncio.start_server(echo, "localhost", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("localhost", port)
        sock = writer.get_extra_info("socket")
        self.assertEqual(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF), self.network.buffer_size)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(1)

    async def test_unix_arguments(self) -> None:
        """Unix calls need a path; ssl needs server_hostname; a taken path is refused."""
        loop = asyncio.get_running_loop()
        with self.assertRaisesRegex(ValueError, "no path and sock were specified"):
            await loop.create_unix_connection(asyncio.Protocol)
        with self.assertRaisesRegex(ValueError, "you have to pass server_hostname"):
            await loop.create_unix_connection(asyncio.Protocol, "/p", ssl=True)
        with self.assertRaisesRegex(ValueError, "path was not specified"):
            await loop.create_unix_server(asyncio.Protocol)
        server = await loop.create_unix_server(asyncio.Protocol, "/run/x.sock", start_serving=False)
        with self.assertRaisesRegex(OSError, "already in use"):
            await loop.create_unix_server(asyncio.Protocol, "/run/x.sock")
        server.close()
        await server.wait_closed()

    async def test_getaddrinfo_and_getnameinfo_details(self) -> None:
        """Passive lookups, IPv6 localhost, numeric names, family checks."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(None, 0, flags=socket.AI_PASSIVE, type=socket.SOCK_STREAM)
        self.assertEqual(infos[0][4], ("0.0.0.0", 0))
        infos = await loop.getaddrinfo("::1", b"80", type=socket.SOCK_STREAM)
        self.assertEqual(infos[0][0], socket.AF_INET6)
        self.assertEqual(infos[0][4], ("::1", 80, 0, 0))
        infos = await loop.getaddrinfo(b"localhost", None, type=socket.SOCK_DGRAM)
        self.assertEqual(infos[0][2], socket.IPPROTO_UDP)
        with self.assertRaises(socket.gaierror):
            await loop.getaddrinfo("localhost", 80, family=socket.AF_INET6)
        with self.assertRaisesRegex(TypeError, "host must be a str"):
            await loop.getaddrinfo(12, 80)
        self.assertEqual(await loop.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICHOST), ("127.0.0.1", "80"))
        self.assertEqual(await loop.getnameinfo(("10.99.0.1", 80)), ("10.99.0.1", "80"))

    async def test_ipv6_localhost_reaches_ipv4_listener(self) -> None:
        """localhost is dual-stack: ::1 reaches a server on 127.0.0.1."""
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("::1", port)
        self.assertEqual(writer.get_extra_info("peername"), ("::1", port, 0, 0))
        self.assertEqual(writer.get_extra_info("socket").family, socket.AF_INET6)
        writer.write(b"6")
        self.assertEqual(await reader.read(1), b"6")
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(1)


class TestNetworkSettings(ClockedTestCase):
    """set_link, hosts, partitions and reports."""

    network = "virtual"

    async def test_link_settings_apply_per_link_host_and_network(self) -> None:
        """A link's setting beats its hosts', which beat the network's."""
        network = self.network
        for name in ("a", "b", "c"):
            network.add_host(name)
        network.set_link(latency=1.0)
        network.set_link("a", latency=2.0, jitter=0.0)
        network.set_link("a", "b", latency=3.0, bandwidth=None)
        self.assertEqual(network._link("a", "b").latency, 3.0)
        self.assertEqual(network._link("a", "c").latency, 2.0)
        self.assertEqual(network._link("b", "c").latency, 1.0)
        with self.assertRaisesRegex(ValueError, "^latency needs"):
            network.set_link(latency=float("inf"))
        with self.assertRaisesRegex(ValueError, "^no host named 'zz' on this network"):
            network.set_link("zz", latency=1)

    async def test_hosts(self) -> None:
        """add_host gives addresses once; a taken address or a rename is refused."""
        network = self.network
        ip = network.add_host("db", "10.1.1.1")
        self.assertEqual(network.add_host("DB."), ip)
        with self.assertRaisesRegex(ValueError, "already 10.1.1.1"):
            network.add_host("db", "10.1.1.2")
        with self.assertRaisesRegex(ValueError, "already 'db'"):
            network.add_host("other", "10.1.1.1")
        with self.assertRaises(ValueError):
            network.add_host("bad", "not-an-ip")

    async def test_partitions_heal_selectively_and_show_in_reports(self) -> None:
        """heal(a, b) heals only that cut; the report lists cuts and hosts down."""
        network = self.network
        for name in ("a", "b", "c"):
            network.add_host(name)
        network.partition(["a"], ["b", "c"])
        network.crash("c")
        report = network.report()
        self.assertIn("partitioned: a-b, a-c", report)
        self.assertIn("down: c", report)
        network.heal("a", "b")
        self.assertIn("partitioned: a-c", network.report())
        network.heal("c")
        network.restart("c")
        self.assertEqual(network.report(), "")
        self.assertEqual(network.servers(), [])
        self.assertEqual(network.connections(), [])

    async def test_connections_are_listed(self) -> None:
        """connections() describes each open end; reset() finds one by its local address."""
        server = await asyncio.start_server(echo, "localhost", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("localhost", port)
        await asyncio.sleep(0)
        lines = self.network.connections()
        self.assertEqual(len(lines), 2)
        self.assertIn(f"-> localhost 127.0.0.1:{port}", lines[0])
        self.assertEqual(len(self.network.servers()), 1)
        self.network.reset(writer.get_extra_info("sockname"))
        with self.assertRaises(ConnectionResetError):
            await reader.read(1)
        writer.close()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(1)


class TestTransportDetails(ClockedTestCase):
    """The transport's API beyond what streams use."""

    network = "virtual"

    async def asyncSetUp(self) -> None:
        loop = asyncio.get_running_loop()
        self.accepted: list[Sink] = []

        def factory() -> Sink:
            self.accepted.append(Sink())
            return self.accepted[-1]

        self.server = await loop.create_server(factory, "localhost", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.transport, self.client = await loop.create_connection(Sink, "localhost", port)
        await asyncio.sleep(0)
        self.peer = self.accepted[0]

    async def asyncTearDown(self) -> None:
        self.transport.abort()
        self.peer.transport.abort()
        self.server.close()
        await self.server.wait_closed()
        await asyncio.sleep(0)

    async def test_write_checks_and_writelines(self) -> None:
        """write() takes bytes-like objects; writelines() writes each; writes after close are dropped."""
        transport = self.transport
        with self.assertRaisesRegex(TypeError, "data argument must be a bytes-like object, not 'str'"):
            transport.write("text")
        transport.write(b"")
        transport.writelines([b"a", bytearray(b"b"), memoryview(b"c")])
        await asyncio.sleep(0)
        self.assertEqual(self.peer.data, b"abc")
        self.assertIs(transport.get_protocol(), self.client)
        self.assertIsNone(transport.get_extra_info("nothing"))
        self.assertEqual(transport.get_extra_info("nothing", 1), 1)
        transport.close()
        transport.close()  # idempotent
        transport.write(b"dropped")
        transport.write_eof()  # no effect once closing
        self.assertIsNone(await self.client.lost)
        await asyncio.sleep(0)
        self.assertEqual(self.peer.events, ["made", "eof"])
        self.assertEqual(self.peer.data, b"abc")

    async def test_buffer_limits_are_checked(self) -> None:
        """set_write_buffer_limits() checks high >= low >= 0, with asyncio's defaults."""
        transport = self.transport
        with self.assertRaisesRegex(ValueError, r"high \(1\) must be >= low \(2\) must be >= 0"):
            transport.set_write_buffer_limits(high=1, low=2)
        transport.set_write_buffer_limits(low=100)
        self.assertEqual(transport.get_write_buffer_limits(), (100, 400))
        transport.set_write_buffer_limits()
        self.assertEqual(transport.get_write_buffer_limits(), (16384, 65536))

    async def test_reading_pause_is_idempotent_and_holds_eof(self) -> None:
        """EOF waits behind paused reading, after the data."""
        peer = self.peer.transport
        peer.pause_reading()
        peer.pause_reading()
        self.transport.write(b"held")
        self.transport.write_eof()
        self.transport.write_eof()
        await asyncio.sleep(1)
        self.assertEqual((self.peer.data, self.peer.events), (b"", ["made"]))
        peer.resume_reading()
        peer.resume_reading()
        await asyncio.sleep(0)
        self.assertEqual((self.peer.data, self.peer.events), (b"held", ["made", "eof"]))

    async def test_a_failing_protocol_is_reported_and_aborted(self) -> None:
        """A protocol callback that raises reaches the exception handler; the connection aborts."""
        caught: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: caught.append(context))

        def broken(data: bytes) -> None:
            raise ValueError("bad data")

        self.peer.data_received = broken  # type: ignore[method-assign]
        self.transport.write(b"x")
        exc = await self.client.lost
        self.assertIsInstance(exc, ConnectionResetError)
        self.assertEqual(caught[0]["message"], "Fatal error: protocol.data_received() call failed.")
        self.assertIsInstance(caught[0]["exception"], ValueError)

    async def test_server_clients_and_serve_forever_checks(self) -> None:
        """close_clients/abort_clients end accepted connections; serve_forever refuses misuse."""
        server: Any = self.server
        forever = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        with self.assertRaisesRegex(RuntimeError, "is already being awaited on serve_forever"):
            await server.serve_forever()
        server.abort_clients()
        self.assertIsInstance(await self.client.lost, ConnectionResetError)
        server.close_clients()
        server.close()
        with self.assertRaises(asyncio.CancelledError):
            await forever
        with self.assertRaisesRegex(RuntimeError, "is closed"):
            await server.serve_forever()
        await server.start_serving()  # a closed server stays closed
        self.assertFalse(server.is_serving())

    async def test_sock_api_details(self) -> None:
        """sock_recv_into fills a buffer; sock_sendall to a lost connection is a broken pipe."""
        port = self.server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setblocking(False)
        self.addCleanup(sock.close)
        await loop.sock_connect(sock, ("localhost", port))
        await asyncio.sleep(0)
        accepted = self.accepted[-1]
        accepted.transport.write(b"12345")
        buf = bytearray(3)
        self.assertEqual(await loop.sock_recv_into(sock, buf), 3)
        self.assertEqual(buf, b"123")
        self.assertEqual(await loop.sock_recv(sock, 10), b"45")
        accepted.transport.abort()
        with self.assertRaises(ConnectionResetError):
            await loop.sock_recv(sock, 10)
        with self.assertRaises(BrokenPipeError) as caught:
            await loop.sock_sendall(sock, b"x")
        self.assertEqual(caught.exception.errno, errno.EPIPE)
        other = socket.socket()
        self.addCleanup(other.close)
        with self.assertRaisesRegex(RuntimeError, r"^loop\.create_connection\(sock=\.\.\.\)"):
            await loop.create_connection(asyncio.Protocol, sock=other)


if __name__ == "__main__":
    unittest.main()
