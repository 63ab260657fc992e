"""The virtual network's TCP semantics: asyncio streams and protocols on VirtualNetwork."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import unittest
from typing import Any
from unittest import mock

from asynctestkit import ClockedTestCase, VirtualNetwork, configure, virtual_event_loop


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1000):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


class NetCase(ClockedTestCase):
    network = "virtual"

    async def serve(self, handler: Any = echo, host: str = "localhost", port: int = 0) -> tuple[asyncio.AbstractServer, int]:
        server = await asyncio.start_server(handler, host, port)

        async def close() -> None:
            server.close()
            await server.wait_closed()

        self.addAsyncCleanup(close)
        return server, server.sockets[0].getsockname()[1]

    async def connect(self, host: str, port: int, **kwargs: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(host, port, **kwargs)

        async def close() -> None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

        self.addAsyncCleanup(close)
        return reader, writer


class TestStreams(NetCase):
    """asyncio streams run unchanged, in memory and in virtual time."""

    async def test_echo_round_trip_without_real_sockets(self) -> None:
        """A server and a client exchange bytes; no real socket is ever made."""
        with mock.patch("socket.socket", side_effect=AssertionError("a real socket")):
            _, port = await self.serve()
            reader, writer = await self.connect("localhost", port)
            writer.write(b"hello")
            await writer.drain()
            self.assertEqual(await reader.readexactly(5), b"hello")

    async def test_names_and_addresses(self) -> None:
        """localhost, 127.0.0.1 and a server's own name reach it; addresses are as a socket gives them."""
        _, port = await self.serve()
        for host in ("localhost", "127.0.0.1", "LOCALHOST"):
            reader, writer = await self.connect(host, port)
            self.assertEqual(writer.get_extra_info("peername"), ("127.0.0.1", port))
            sockname = writer.get_extra_info("sockname")
            self.assertEqual(sockname[0], "127.0.0.1")
            sock = writer.get_extra_info("socket")
            self.assertEqual(sock.getpeername(), ("127.0.0.1", port))
            self.assertEqual(sock.getsockname(), sockname)
            self.assertEqual(sock.family, socket.AF_INET)
            self.assertEqual(sock.type, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 1)
            self.assertEqual(sock.fileno(), -1)
        _, db_port = await self.serve(host="db.internal", port=5432)
        self.assertEqual(db_port, 5432)
        reader, writer = await self.connect("db.internal", 5432)
        ip = writer.get_extra_info("peername")[0]
        self.assertTrue(ip.startswith("10."), ip)
        writer.write(b"x")
        self.assertEqual(await reader.read(1), b"x")

    async def test_port_zero_picks_free_ports_and_taken_ports_are_refused(self) -> None:
        """Port 0 gives a new port each time; binding a taken port raises EADDRINUSE."""
        _, a = await self.serve()
        _, b = await self.serve()
        self.assertNotEqual(a, b)
        with self.assertRaisesRegex(OSError, "address already in use") as caught:
            await asyncio.start_server(echo, "localhost", a)
        self.assertEqual(caught.exception.errno, errno.EADDRINUSE)

    async def test_unknown_name_and_closed_port(self) -> None:
        """An unknown name raises socket.gaierror; a port nobody listens on ConnectionRefusedError."""
        with self.assertRaises(socket.gaierror):
            await asyncio.open_connection("nowhere.invalid", 80)
        self.network.set_link(latency=0.5)
        with self.assertRaisesRegex(ConnectionRefusedError, r"^\[Errno 111\] Connect call failed"):
            await asyncio.open_connection("localhost", 9)
        self.assertEqual(self.clock_elapsed, 1.0)  # SYN out, RST back

    async def test_getaddrinfo_and_getnameinfo(self) -> None:
        """The loop's resolver answers from the network's names."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        self.assertEqual(infos, [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 80))])
        ip = self.network.add_host("api.example")
        infos = await loop.getaddrinfo("api.example", "https")
        self.assertEqual({info[4] for info in infos}, {(ip, 443)})
        self.assertEqual(await loop.getnameinfo((ip, 443)), ("api.example", "443"))
        with self.assertRaises(socket.gaierror):
            await loop.getaddrinfo("missing.example", 80)

    async def test_latency_and_bandwidth_in_virtual_time(self) -> None:
        """A round trip costs twice the latency; a megabyte at 1 MB/s one second."""
        _, port = await self.serve()
        reader, writer = await self.connect("localhost", port)
        self.network.set_link(latency=0.25)
        start = self.clock.now
        writer.write(b"ping")
        self.assertEqual(await reader.readexactly(4), b"ping")
        self.assertEqual(self.clock.now - start, 0.5)

        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(1_000_000)
            writer.write(b"k")
            writer.close()
            await writer.wait_closed()

        _, sink_port = await self.serve(sink)
        reader, writer = await self.connect("localhost", sink_port)
        self.network.set_link(latency=0.0, bandwidth=1_000_000)
        start = self.clock.now
        writer.write(b"x" * 1_000_000)
        self.assertEqual(await reader.read(), b"k")
        self.assertAlmostEqual(self.clock.now - start, 1.0, places=5)  # 1 MB at 1 MB/s

    async def test_write_eof_half_closes(self) -> None:
        """write_eof() gives the peer EOF while the other direction stays open."""
        async def upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.read()  # to EOF
            writer.write(data.upper())
            writer.close()
            await writer.wait_closed()

        _, port = await self.serve(upper)
        reader, writer = await self.connect("localhost", port)
        self.assertTrue(writer.can_write_eof())
        writer.write(b"abc")
        writer.write_eof()
        self.assertEqual(await reader.read(), b"ABC")
        self.assertTrue(reader.at_eof())
        with self.assertRaises(RuntimeError):
            writer.write(b"more")

    async def test_close_gives_eof_and_abort_a_reset(self) -> None:
        """close() reaches the peer as EOF; abort() as ConnectionResetError."""
        accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

        async def keep(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await accepted.put((reader, writer))

        _, port = await self.serve(keep)
        _, writer = await asyncio.open_connection("localhost", port)
        reader_s, writer_s = await accepted.get()
        writer.close()
        await writer.wait_closed()
        self.assertEqual(await reader_s.read(), b"")
        writer_s.close()
        await writer_s.wait_closed()

        _reader, writer = await asyncio.open_connection("localhost", port)
        reader_s, writer_s = await accepted.get()
        writer.transport.abort()
        with self.assertRaises(ConnectionResetError):
            await reader_s.read(10)
        writer_s.close()
        with self.assertRaises(ConnectionResetError):
            await writer_s.wait_closed()

    async def test_slow_reader_makes_drain_wait(self) -> None:
        """A reader that does not read fills the window; drain() waits until it reads."""
        network: VirtualNetwork = self.network
        accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()
        done = asyncio.Event()

        async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await accepted.put(reader)
            await done.wait()
            writer.close()
            await writer.wait_closed()

        _, port = await self.serve(slow)
        _, writer = await self.connect("localhost", port)
        reader = await accepted.get()
        sent = 0
        chunk = b"x" * 65536
        drained = True
        while drained:
            writer.write(chunk)
            sent += len(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 10)
            except asyncio.TimeoutError:
                drained = False
        self.assertGreater(writer.transport.get_write_buffer_size(), 64 * 1024)
        self.assertGreaterEqual(sent, network.buffer_size + 2 * 65536)
        # The reader reads: the writer's drain completes.
        drain = asyncio.ensure_future(writer.drain())
        await asyncio.sleep(1)
        self.assertFalse(drain.done())
        got = 0
        while got < sent:
            got += len(await reader.read(1 << 20))
            if drain.done():
                break
        await drain
        done.set()

    async def test_protocol_flow_control_calls(self) -> None:
        """pause_writing/resume_writing reach the protocol; pause_reading holds data until resume_reading."""
        events: list[str] = []
        received = bytearray()

        class Recorder(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def data_received(self, data: bytes) -> None:
                received.extend(data)

            def pause_writing(self) -> None:
                events.append("pause")

            def resume_writing(self) -> None:
                events.append("resume")

        server_side: list[Recorder] = []

        def factory() -> Recorder:
            server_side.append(Recorder())
            return server_side[-1]

        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, "127.0.0.1", 0)
        self.addAsyncCleanup(server.wait_closed)
        self.addCleanup(server.close)
        port = server.sockets[0].getsockname()[1]
        transport, _client = await loop.create_connection(Recorder, "127.0.0.1", port)
        await asyncio.sleep(0)
        peer = server_side[0].transport
        peer.pause_reading()
        self.assertFalse(peer.is_reading())
        transport.set_write_buffer_limits(high=1000)
        self.assertEqual(transport.get_write_buffer_limits(), (250, 1000))
        transport.write(b"y" * (self.network.buffer_size + 5000))
        self.assertEqual(events, ["pause"])
        await asyncio.sleep(1)
        self.assertEqual(received, b"")
        peer.resume_reading()
        await asyncio.sleep(1)
        self.assertEqual(len(received), self.network.buffer_size + 5000)
        self.assertEqual(events, ["pause", "resume"])
        transport.close()
        self.assertTrue(transport.is_closing())
        peer.close()
        await asyncio.sleep(0)

    async def test_server_lifecycle(self) -> None:
        """start_serving=False, serve_forever, close and wait_closed behave as asyncio's Server."""
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(echo, "localhost", 0, start_serving=False)
        self.assertFalse(server.is_serving())
        port = server.sockets[0].getsockname()[1]
        connecting = asyncio.ensure_future(asyncio.open_connection("localhost", port))
        forever = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        self.assertTrue(server.is_serving())
        self.assertIs(server.get_loop(), loop)
        reader, writer = await connecting
        writer.write(b"z")
        self.assertEqual(await reader.read(1), b"z")
        writer.close()
        await writer.wait_closed()
        forever.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await forever
        self.assertFalse(server.is_serving())
        self.assertEqual(server.sockets, ())
        await server.wait_closed()
        with self.assertRaises(ConnectionRefusedError):
            await asyncio.open_connection("localhost", port)

    async def test_server_as_async_context_manager(self) -> None:
        """`async with server:` closes it."""
        async with await asyncio.start_server(echo, "localhost", 0) as server:
            port = server.sockets[0].getsockname()[1]
        with self.assertRaises(ConnectionRefusedError):
            await asyncio.open_connection("localhost", port)

    async def test_real_connected_socket_is_refused(self) -> None:
        """A socket connected to the real network cannot be made virtual: refused, naming the call."""
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        real = socket.create_connection(listener.getsockname())
        self.addCleanup(real.close)
        with self.assertRaisesRegex(RuntimeError, r"^loop\.create_connection\(sock=\.\.\.\): .*nothing falls back"):
            await asyncio.open_connection(sock=real)

    async def test_sock_connect_then_create_connection(self) -> None:
        """loop.sock_connect() on a new socket, then create_connection(sock=) (aiohappyeyeballs' path)."""
        _, port = await self.serve()
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, b"raw")
        self.assertEqual(await loop.sock_recv(sock, 10), b"raw")
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(b"streamed")
        self.assertEqual(await reader.readexactly(8), b"streamed")
        writer.close()
        await writer.wait_closed()
        self.assertEqual(sock.fileno(), -1)  # closed with the transport

    async def test_unix_sockets(self) -> None:
        """start_unix_server/open_unix_connection work on the network, with no file made."""
        server = await asyncio.start_unix_server(echo, "/nonexistent/dir/app.sock")
        reader, writer = await asyncio.open_unix_connection("/nonexistent/dir/app.sock")
        writer.write(b"unix")
        self.assertEqual(await reader.readexactly(4), b"unix")
        self.assertEqual(writer.get_extra_info("peername"), "/nonexistent/dir/app.sock")
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        with self.assertRaises(ConnectionRefusedError):
            await asyncio.open_unix_connection("/nonexistent/dir/app.sock")

    async def test_blocking_sockets_in_a_thread_use_the_real_network(self) -> None:
        """A thread's blocking socket calls are not virtual: they never reach a virtual server."""
        import os
        import tempfile

        path = os.path.join(tempfile.mkdtemp(), "virtual.sock")
        self.addCleanup(os.rmdir, os.path.dirname(path))
        server = await asyncio.start_unix_server(echo, path)

        def blocking_client() -> None:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(path)  # the real file system: no such socket file

        with self.assertRaises(FileNotFoundError):
            await asyncio.to_thread(blocking_client)
        # The real network, from a thread, still works as ever (time waits for the thread).
        with socket.create_server(("127.0.0.1", 0)) as real:
            port = real.getsockname()[1]

            def real_round_trip() -> bytes:
                with socket.create_connection(("127.0.0.1", port)) as client:
                    conn, _ = real.accept()
                    with conn:
                        client.sendall(b"real")
                        return conn.recv(4)

            self.assertEqual(await asyncio.to_thread(real_round_trip), b"real")
        server.close()
        await server.wait_closed()

    @configure(network="real")
    async def test_real_network_stays_the_default_per_test(self) -> None:
        """network='real' (here per test) uses real sockets: the loop has no network."""
        loop = asyncio.get_running_loop()
        self.assertIsNone(loop._atk_net)  # type: ignore[attr-defined]


class TestVirtualNetworkObject(unittest.TestCase):
    """VirtualNetwork on its own: arguments, attach, repr."""

    def test_bad_arguments(self) -> None:
        """Each option is checked, naming it."""
        with self.assertRaisesRegex(ValueError, "^latency needs a finite, non-negative number; got -1$"):
            VirtualNetwork(latency=-1)
        with self.assertRaisesRegex(ValueError, "^bandwidth needs"):
            VirtualNetwork(bandwidth=0)
        with self.assertRaisesRegex(ValueError, "^buffer_size needs"):
            VirtualNetwork(buffer_size=0)

    def test_attach_needs_a_virtual_loop_once(self) -> None:
        """attach() refuses a plain loop, and a second attach."""
        network = VirtualNetwork()
        plain = asyncio.SelectorEventLoop()
        self.addCleanup(plain.close)
        with self.assertRaisesRegex(TypeError, "virtual_event_loop"):
            network.attach(plain)
        loop = virtual_event_loop()
        self.addCleanup(loop.close)
        network.attach(loop)
        with self.assertRaisesRegex(RuntimeError, "already attached"):
            VirtualNetwork().attach(loop)
        network.detach()
        self.assertIsNone(loop._atk_net)  # type: ignore[attr-defined]
        self.assertRegex(repr(network), r"^<VirtualNetwork hosts=1 servers=0 connections=0 latency=0.0 ")

    def test_standalone_on_a_virtual_loop(self) -> None:
        """Attached to a virtual_event_loop, it serves asyncio.run-style code."""
        loop = virtual_event_loop()
        self.addCleanup(loop.close)
        network = VirtualNetwork(latency=1.0)
        network.attach(loop)

        async def main() -> bytes:
            server = await asyncio.start_server(echo, "localhost", 8080)
            reader, writer = await asyncio.open_connection("localhost", 8080)
            writer.write(b"hi")
            data = await reader.readexactly(2)
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()
            await asyncio.sleep(10)  # the handler sees EOF and ends (3.10-3.11 do not wait for it)
            return data

        self.assertEqual(loop.run_until_complete(main()), b"hi")
        self.assertGreaterEqual(loop.time(), 4.0)  # connect (2 s) + round trip (2 s)


if __name__ == "__main__":
    unittest.main()
