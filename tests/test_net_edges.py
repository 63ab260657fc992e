"""Edge cases of the virtual network's transports, servers and datagram endpoints."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import unittest
from typing import Any

from asynctestkit import ClockedTestCase, VirtualNetwork
from tests import test_net_api as api
from tests import test_net_datagrams as datagrams


class Sink(api.Sink):
    """test_net_api's recording protocol, which also records flow control."""

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")


class Collector(datagrams.Collector):
    """test_net_datagrams' protocol, which also counts connection_lost calls."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 0

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.lost += 1

class EdgeCase(ClockedTestCase):
    network = "virtual"

    async def asyncSetUp(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.caught: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda loop, context: self.caught.append(context))
        self.accepted: list[Sink] = []

        def factory() -> Sink:
            self.accepted.append(Sink())
            return self.accepted[-1]

        self.server: Any = await self.loop.create_server(factory, "localhost", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def asyncTearDown(self) -> None:
        for sink in self.accepted:
            if hasattr(sink, "transport"):
                sink.transport.abort()
        self.server.close()
        await self.server.wait_closed()
        await asyncio.sleep(1)

    async def pair(self, protocol: Any = Sink) -> tuple[Any, Any, Sink]:
        transport, client = await self.loop.create_connection(protocol, "localhost", self.port)
        self.addCleanup(transport.abort)
        await asyncio.sleep(0)
        return transport, client, self.accepted[-1]


class TestTransportEdges(EdgeCase):
    """The transport API on closing transports, full buffers and failing protocols."""

    async def test_repr_follows_the_state(self) -> None:
        """repr() says open, then closing while buffered bytes wait, then closed."""
        transport, client, peer = await self.pair()
        self.assertIn("open", repr(transport))
        self.assertEqual(transport.get_extra_info("socket").gettimeout(), 0.0)
        peer.transport.pause_reading()
        transport.write(b"x" * (self.network.buffer_size + 10))
        await asyncio.sleep(1)
        self.assertEqual(transport.get_write_buffer_size(), 10)
        transport.close()
        self.assertTrue(transport.is_closing())
        self.assertIn("closing", repr(transport))
        self.assertFalse(transport.is_reading())
        peer.transport.resume_reading()
        self.assertIsNone(await client.lost)
        self.assertIn("closed", repr(transport))

    async def test_close_with_a_full_buffer_sends_all_then_eof(self) -> None:
        """close() while the peer's window is full: every byte arrives, then EOF, then connection_lost."""
        transport, client, peer = await self.pair()
        peer.transport.pause_reading()
        size = self.network.buffer_size + 5000
        transport.write(b"y" * size)
        await asyncio.sleep(1)
        transport.close()
        await asyncio.sleep(1)
        self.assertEqual(client.events, ["made"])  # still sending what was buffered
        self.assertEqual(len(peer.data), 0)
        peer.transport.resume_reading()
        self.assertIsNone(await client.lost)
        await asyncio.sleep(1)
        self.assertEqual(len(peer.data), size)
        self.assertEqual(peer.events, ["made", "eof"])

    async def test_write_eof_with_a_full_buffer_follows_the_data(self) -> None:
        """write_eof() with bytes buffered: EOF after them; write() afterwards is refused; the other way stays open."""
        transport, client, peer = await self.pair()
        peer.transport.pause_reading()
        size = self.network.buffer_size + 7
        transport.write(b"z" * size)
        await asyncio.sleep(1)
        transport.write_eof()
        transport.write_eof()  # twice: no second EOF
        with self.assertRaisesRegex(RuntimeError, r"Cannot call write\(\) after write_eof\(\)"):
            transport.write(b"late")
        peer.transport.resume_reading()
        await asyncio.sleep(1)
        self.assertEqual(len(peer.data), size)
        self.assertEqual(peer.events, ["made", "eof"])
        peer.transport.write(b"back")
        await asyncio.sleep(1)
        self.assertEqual(client.data, b"back")
        self.assertFalse(transport.is_closing())

    async def test_pause_and_resume_reading_on_a_closing_transport(self) -> None:
        """pause_reading()/resume_reading() after close() change nothing and do not raise."""
        transport, client, peer = await self.pair()
        self.assertTrue(transport.is_reading())
        transport.close()
        transport.pause_reading()
        transport.resume_reading()
        self.assertFalse(transport.is_reading())
        self.assertIsNone(await client.lost)
        await asyncio.sleep(1)
        self.assertEqual(peer.events, ["made", "eof"])

    async def test_failing_pause_and_resume_writing_are_reported(self) -> None:
        """A protocol whose pause_writing()/resume_writing() raise: the loop's handler hears of both, bytes still flow."""
        transport, client, peer = await self.pair()

        def broken() -> None:
            raise ValueError("flow control")

        client.pause_writing = broken  # type: ignore[method-assign]
        client.resume_writing = broken  # type: ignore[method-assign]
        transport.set_write_buffer_limits(high=10, low=0)
        peer.transport.pause_reading()
        size = self.network.buffer_size + 100
        transport.write(b"w" * size)
        self.assertEqual([c["message"] for c in self.caught], ["protocol.pause_writing() failed"])
        peer.transport.resume_reading()
        await asyncio.sleep(1)
        self.assertEqual([c["message"] for c in self.caught],
                         ["protocol.pause_writing() failed", "protocol.resume_writing() failed"])
        self.assertIsInstance(self.caught[1]["exception"], ValueError)
        self.assertEqual(len(peer.data), size)
        self.assertFalse(transport.is_closing())

    async def test_lowering_the_high_water_mark_pauses_at_once(self) -> None:
        """set_write_buffer_limits() below what is buffered calls pause_writing(); reading resumes it."""
        transport, client, peer = await self.pair()
        peer.transport.pause_reading()
        transport.write(b"v" * (self.network.buffer_size + 1000))
        await asyncio.sleep(1)
        self.assertEqual(client.events, ["made"])
        transport.set_write_buffer_limits(high=500)
        self.assertEqual(client.events, ["made", "pause"])
        peer.transport.resume_reading()
        await asyncio.sleep(1)
        self.assertEqual(client.events, ["made", "pause", "resume"])
        self.assertEqual(transport.get_write_buffer_size(), 0)

    async def test_abort_drops_the_buffer_and_resets_the_peer(self) -> None:
        """abort() with bytes buffered: they are dropped, the peer gets ConnectionResetError, abort twice is harmless."""
        transport, client, peer = await self.pair()
        peer.transport.pause_reading()
        transport.write(b"a" * (self.network.buffer_size + 50))
        await asyncio.sleep(1)
        transport.abort()
        transport.abort()
        self.assertEqual(transport.get_write_buffer_size(), 0)
        self.assertIsNone(await client.lost)
        self.assertIsInstance(await peer.lost, ConnectionResetError)
        self.assertEqual(len(peer.data), 0)

    async def test_failing_connection_made_fails_create_connection(self) -> None:
        """connection_made() that raises: create_connection() raises it, the handler hears, the server's end is reset."""

        class Broken(Sink):
            def connection_made(self, transport: Any) -> None:
                raise ValueError("no thanks")

        with self.assertRaisesRegex(ValueError, "no thanks"):
            await self.loop.create_connection(Broken, "localhost", self.port)
        self.assertEqual(self.caught[0]["message"], "Fatal error: protocol.connection_made() call failed.")
        self.assertIsInstance(await self.accepted[-1].lost, ConnectionResetError)

    async def test_failing_eof_received_resets(self) -> None:
        """eof_received() that raises is reported and the connection is reset."""
        transport, client, peer = await self.pair()

        def broken() -> bool:
            raise ValueError("eof")

        peer.eof_received = broken  # type: ignore[method-assign]
        transport.write_eof()
        self.assertIsInstance(await client.lost, ConnectionResetError)
        self.assertEqual(self.caught[0]["message"], "Fatal error: protocol.eof_received() call failed.")
        self.assertIsInstance(await peer.lost, ValueError)

    async def test_bytes_to_a_closed_peer_are_dropped(self) -> None:
        """Bytes that arrive after the peer closed are dropped; the writer still reads the peer's EOF."""
        self.network.set_link(latency=0.05)
        transport, client, peer = await self.pair()
        await asyncio.sleep(0.1)
        transport.write(b"too late")
        peer.transport.close()
        self.assertIsNone(await peer.lost)
        await asyncio.sleep(1)
        self.assertEqual(peer.data, b"")
        self.assertEqual(client.events, ["made", "eof"])

    async def test_connections_report_what_is_buffered(self) -> None:
        """network.connections() names bytes buffered, unread and a closing end."""
        transport, client, peer = await self.pair()
        peer.transport.pause_reading()
        transport.write(b"r" * (self.network.buffer_size + 3))
        await asyncio.sleep(1)
        lines = "\n".join(self.network.connections())
        self.assertIn("3 bytes buffered to send", lines)
        self.assertIn(f"{self.network.buffer_size} bytes received, unread (reading paused)", lines)
        transport.close()
        self.assertIn("closing", "\n".join(self.network.connections()))
        peer.transport.resume_reading()
        await client.lost


class TestStreamEdges(EdgeCase):
    """What asyncio streams see at the edges: abort during drain."""

    async def test_abort_during_a_pending_drain(self) -> None:
        """abort() while drain() waits: the drain ends, the next one raises ConnectionResetError."""
        reader, writer = await asyncio.open_connection("localhost", self.port)
        await asyncio.sleep(0)
        self.accepted[-1].transport.pause_reading()
        writer.write(b"d" * (self.network.buffer_size + 200_000))
        drain = asyncio.ensure_future(writer.drain())
        await asyncio.sleep(1)
        self.assertFalse(drain.done())
        writer.transport.abort()
        await asyncio.wait_for(drain, 1)
        with self.assertRaises(ConnectionResetError):
            await writer.drain()
        self.assertIsInstance(await self.accepted[-1].lost, ConnectionResetError)
        self.assertEqual(await reader.read(), b"")


class TestSocketApiEdges(EdgeCase):
    """sock_sendall and sock_recv against a full window and an orderly close."""

    async def sock(self) -> tuple[socket.socket, Sink]:
        sock = socket.socket()
        sock.setblocking(False)
        self.addCleanup(sock.close)
        await self.loop.sock_connect(sock, ("localhost", self.port))
        await asyncio.sleep(0)
        return sock, self.accepted[-1]

    async def test_sendall_waits_for_a_reader(self) -> None:
        """sock_sendall() of more than the window waits until the peer reads, then all of it arrives."""
        sock, peer = await self.sock()
        peer.transport.pause_reading()
        size = self.network.buffer_size + 1234
        send = asyncio.ensure_future(self.loop.sock_sendall(sock, b"s" * size))
        await asyncio.sleep(1)
        self.assertFalse(send.done())
        peer.transport.resume_reading()
        await asyncio.wait_for(send, 1)
        await asyncio.sleep(1)
        self.assertEqual(len(peer.data), size)

    async def test_recv_reads_everything_then_eof(self) -> None:
        """sock_recv() of more than the window: reading reopens it; after the peer closes, b"" (not an error)."""
        sock, peer = await self.sock()
        size = self.network.buffer_size + 4321
        peer.transport.write(b"q" * size)
        peer.transport.close()
        got = 0
        while chunk := await self.loop.sock_recv(sock, 65536):
            got += len(chunk)
        self.assertEqual(got, size)
        self.assertEqual(await self.loop.sock_recv(sock, 10), b"")

    async def test_blocking_socket_refused_in_debug_mode(self) -> None:
        """In debug mode sock_connect() of a blocking socket raises ValueError, as asyncio's does."""
        sock = socket.socket()
        self.addCleanup(sock.close)
        self.loop.set_debug(True)
        try:
            with self.assertRaisesRegex(ValueError, "non-blocking"):
                await self.loop.sock_connect(sock, ("localhost", self.port))
        finally:
            self.loop.set_debug(False)


class TestServerEdges(EdgeCase):
    """Server lifecycle calls beyond the common path."""

    async def test_get_loop_and_start_serving_later(self) -> None:
        """start_serving=False: is_serving() is False and connections wait; start_serving() lets them in."""
        self.assertIs(self.server.get_loop(), self.loop)
        self.assertTrue(self.server.is_serving())
        sinks: list[Sink] = []

        def factory() -> Sink:
            sinks.append(Sink())
            return sinks[-1]

        server: Any = await self.loop.create_server(factory, "localhost", 0, start_serving=False)
        self.addAsyncCleanup(server.wait_closed)
        self.addCleanup(server.close)
        self.assertFalse(server.is_serving())
        port = server.sockets[0].getsockname()[1]
        transport, _ = await self.loop.create_connection(Sink, "localhost", port)
        self.addCleanup(transport.abort)
        transport.write(b"early")
        await asyncio.sleep(1)
        self.assertEqual(sinks, [])
        await server.start_serving()
        await server.start_serving()  # again: no effect
        self.assertTrue(server.is_serving())
        await asyncio.sleep(0)
        self.assertEqual(len(sinks), 1)
        self.assertEqual(sinks[0].data, b"early")

    async def test_close_refuses_queued_connections(self) -> None:
        """close() of a server not yet serving resets the connections it queued."""
        server: Any = await self.loop.create_server(Sink, "localhost", 0, start_serving=False)
        port = server.sockets[0].getsockname()[1]
        _, client = await self.loop.create_connection(Sink, "localhost", port)
        server.close()
        self.assertIsInstance(await client.lost, ConnectionResetError)
        self.assertFalse(server.is_serving())
        self.assertEqual(server.sockets, ())
        await server.wait_closed()

    async def test_failing_protocol_factory(self) -> None:
        """A server's protocol factory that raises: reported, and the client's connection is reset."""

        def factory() -> Sink:
            raise ValueError("factory")

        server: Any = await self.loop.create_server(factory, "localhost", 0)
        self.addAsyncCleanup(server.wait_closed)
        self.addCleanup(server.close)
        port = server.sockets[0].getsockname()[1]
        exc: BaseException | None
        try:  # the reset may come before or after the connection is made
            _, client = await self.loop.create_connection(Sink, "localhost", port)
            exc = await client.lost
        except ConnectionResetError as error:
            exc = error
        self.assertIsInstance(exc, ConnectionResetError)
        self.assertEqual(self.caught[0]["message"], "Error on transport creation for incoming connection")
        self.assertIsInstance(self.caught[0]["exception"], ValueError)

    async def test_wait_closed_before_close_waits_for_close(self) -> None:
        """wait_closed() called on a serving server returns only after close()."""
        server: Any = await self.loop.create_server(Sink, "localhost", 0)
        waiting = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(1)
        self.assertFalse(waiting.done())
        server.close()
        await asyncio.wait_for(waiting, 1)

    async def test_close_clients_gives_eof(self) -> None:
        """close_clients() closes each accepted connection in order: the client reads EOF, not a reset."""
        transport, client, peer = await self.pair()
        self.server.close_clients()
        self.assertIsNone(await peer.lost)
        await asyncio.sleep(0)
        self.assertEqual(client.events, ["made", "eof"])
        self.assertFalse(transport.is_closing())

    async def test_create_server_arguments(self) -> None:
        """create_server() skips hosts of another family, takes a VirtualSocket as sock=, refuses others by name."""
        server: Any = await self.loop.create_server(Sink, ["127.0.0.1", "::1"], 0, family=socket.AF_INET6)
        self.addCleanup(server.close)
        self.assertEqual([s.family for s in server.sockets], [socket.AF_INET6])
        first: Any = await self.loop.create_server(Sink, "localhost", 0)
        vsock = first.sockets[0]
        first.close()
        again: Any = await self.loop.create_server(Sink, sock=vsock)
        self.addCleanup(again.close)
        self.assertEqual(again.sockets[0].getsockname(), vsock.getsockname())
        with self.assertRaisesRegex(TypeError, r"^loop\.create_server\(sock=\.\.\.\): a socket\.socket is expected"):
            await self.loop.create_server(Sink, sock=object())


class TestDatagramEdges(ClockedTestCase):
    """Datagram endpoints: closing, unknown addresses and failing protocols."""

    network = "virtual"

    async def endpoint(self, **kwargs: Any) -> tuple[Any, Collector]:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(Collector, **kwargs)
        self.addCleanup(transport.close)
        return transport, protocol

    async def test_closed_endpoint(self) -> None:
        """sendto() on a closed endpoint still checks its arguments, then drops; abort() is close(); lost once."""
        server, server_proto = await self.endpoint(local_addr=("127.0.0.1", 5353))
        client, proto = await self.endpoint()
        self.assertIn("closing=False", repr(client))
        self.assertEqual(client.get_write_buffer_size(), 0)
        self.assertIs(client.get_protocol(), proto)
        client.abort()
        client.close()
        self.assertTrue(client.is_closing())
        self.assertIn("closing=True", repr(client))
        with self.assertRaisesRegex(TypeError, "bytes-like"):
            client.sendto("text", ("127.0.0.1", 5353))
        client.sendto(b"gone", ("127.0.0.1", 5353))
        await asyncio.sleep(1)
        self.assertEqual(server_proto.got, [])
        self.assertEqual(proto.lost, 1)
        other = Collector()
        server.set_protocol(other)
        self.assertIs(server.get_protocol(), other)

    async def test_unknown_address_and_late_refusal(self) -> None:
        """A datagram to an address of no host is lost silently; a sender closed before the refusal hears nothing."""
        client, proto = await self.endpoint()
        client.sendto(b"void", ("10.255.255.1", 9))
        self.network.set_link(latency=0.05)
        connected, cproto = await self.endpoint(remote_addr=("127.0.0.1", 9999))
        connected.sendto(b"nobody")
        connected.close()
        await asyncio.sleep(1)
        self.assertEqual((proto.got, proto.errors, cproto.errors), ([], [], []))

    async def test_failing_datagram_received_is_reported(self) -> None:
        """datagram_received() that raises reaches the loop's handler; the endpoint keeps receiving."""
        caught: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: caught.append(context))
        server, proto = await self.endpoint(local_addr=("127.0.0.1", 5000))
        calls: list[bytes] = []

        def broken(data: bytes, addr: Any) -> None:
            calls.append(data)
            raise ValueError("bad datagram")

        proto.datagram_received = broken  # type: ignore[method-assign]
        client, _ = await self.endpoint(remote_addr=("127.0.0.1", 5000))
        client.sendto(b"1")
        client.sendto(b"2")
        await asyncio.sleep(1)
        self.assertEqual(calls, [b"1", b"2"])
        self.assertEqual(caught[0]["message"], "Fatal error: protocol.datagram_received() call failed.")
        self.assertFalse(server.is_closing())

    async def test_binding_an_address_of_no_host(self) -> None:
        """local_addr of an IP no host has: OSError(EADDRNOTAVAIL), as a real bind gives."""
        loop = asyncio.get_running_loop()
        with self.assertRaises(OSError) as caught:
            await loop.create_datagram_endpoint(Collector, local_addr=("10.255.255.2", 0))
        self.assertEqual(caught.exception.errno, errno.EADDRNOTAVAIL)


class TestTLSEdges(ClockedTestCase):
    """ssl=True on the client uses the system's default context."""

    network = "virtual"
    # Loading the system's CA store blocks the loop, truly: tens of ms of CPU,
    # past 0.1 s on a loaded machine. Not what these tests are about.
    slow_callback_duration = None

    async def test_ssl_true_checks_against_the_system_cas(self) -> None:
        """ssl=True refuses the test certificate (not signed by a system CA); the failed connection is aborted."""
        server_ctx, _ = VirtualNetwork.tls_contexts()
        server = await asyncio.start_server(lambda r, w: None, "localhost", 8443, ssl=server_ctx)
        self.addAsyncCleanup(server.wait_closed)
        self.addCleanup(server.close)
        with self.assertRaises(ssl.SSLCertVerificationError):
            await asyncio.open_connection("localhost", 8443, ssl=True)
        await asyncio.sleep(1)
        self.assertEqual(self.network.connections(), [])


if __name__ == "__main__":
    unittest.main()
