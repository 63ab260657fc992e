"""One end of an in-memory TCP connection: an asyncio transport on the virtual clock.

Each direction of a connection is modelled as a real socket pair is:

* ``write()`` appends to the transport's buffer (``get_write_buffer_size()``),
  as asyncio's socket transport does when the kernel will not take more;
* the buffer moves into the *network* while the peer's window has room: the
  bytes in flight plus the bytes the peer has received but not read (its
  reading paused, or a socket read with ``sock_recv``) never exceed the
  network's ``buffer_size`` (the kernel's send and receive buffers together);
* each chunk arrives at a loop timer: after the link's transmission time
  (``bandwidth``), its latency and, under a schedule seed, jitter. Arrival
  times never decrease within one direction, and each timer delivers the
  *oldest* chunk in flight, so however a seed orders timers due at one instant,
  the bytes of one stream arrive in order;
* a slow reader keeps bytes in its queue, the window closes, the writer's
  buffer grows past the high-water mark and its protocol is told
  ``pause_writing()``: ``drain()`` waits in virtual time until the reader reads.

Every protocol callback runs in the end's own context (a server's connection
runs in a copy of the server's context, with its host set; see
`_network.current_host`), never the writer's: tasks a handler starts belong
to the handler's host, which is how ``crash(host)`` finds them.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import socket
import sys
from asyncio.protocols import _feed_data_to_buffered_proto  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any, final

from .._report import creation_site

if TYPE_CHECKING:
    import contextvars
    from collections.abc import Callable

    from ._network import VirtualNetwork

__all__ = ("Endpoint", "Site", "VirtualSocket", "call_protocol", "connection_reset", "refused", "site_here")

# Where a connection or server was opened: up to three of the user's frames.
Site = tuple[tuple[str, int, str], ...]

# Socket options whose default is the network's buffer size.
_BUFFER_OPTIONS = frozenset({(socket.SOL_SOCKET, socket.SO_SNDBUF), (socket.SOL_SOCKET, socket.SO_RCVBUF)})
# Markers in a direction's flight queue besides bytes.
_FIN = "FIN"
_RST = "RST"
# asyncio's socket transport warns after this many writes to a lost connection.
_LOG_THRESHOLD = 5


def refused(call: str, why: str) -> RuntimeError:
    """The error for a call the virtual network cannot honour."""
    return RuntimeError(
        f"{call}: {why}. With network = 'virtual' every connection of the test's loop "
        "is in memory, and nothing falls back to the real network: pass host and port "
        "(or path) instead, or run this test with network = 'real'"
    )


def call_protocol(transport: Any, message: str, method: Callable[..., object], *args: Any) -> None:
    """Call a protocol's ``method(*args)`` for ``transport``, as asyncio's transports do.

    A failure goes to the loop's exception handler with ``message`` (only
    SystemExit and KeyboardInterrupt propagate).
    """
    try:
        method(*args)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        transport._loop.call_exception_handler({
            "message": message, "exception": exc, "transport": transport, "protocol": transport._protocol,
        })


def connection_reset() -> ConnectionResetError:
    """The error a reset connection gives its peer, as Linux words it."""
    return ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")


@final
class VirtualSocket:
    """What ``transport.get_extra_info("socket")`` and ``Server.sockets`` give: no file descriptor.

    It answers what libraries ask of a socket (addresses, family, type, socket
    options) and refuses IO: the bytes go through the transport.
    """

    __slots__ = ("_buffer", "_local", "_options", "_peer", "family", "proto", "type")

    def __init__(
        self, local: tuple[Any, ...], peer: tuple[Any, ...] | None, kind: int = socket.SOCK_STREAM,
        family: int = socket.AF_INET,
    ) -> None:
        self._local = local
        self._peer = peer
        self.family = family
        self.type = kind
        self.proto = socket.IPPROTO_TCP if kind == socket.SOCK_STREAM else socket.IPPROTO_UDP
        self._options: dict[tuple[int, int], Any] = {}
        self._buffer = 0

    def __repr__(self) -> str:
        peer = f" raddr={self._peer}" if self._peer is not None else ""
        return f"<VirtualSocket laddr={self._local}{peer}>"

    def getsockname(self) -> tuple[Any, ...]:
        """The local address."""
        return self._local

    def getpeername(self) -> tuple[Any, ...]:
        """The peer's address; OSError(ENOTCONN) for a listening socket."""
        if self._peer is None:
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        return self._peer

    def fileno(self) -> int:
        """-1: there is no file descriptor."""
        return -1

    def setsockopt(self, level: int, option: int, value: Any, *rest: Any) -> None:
        """Record the option (it changes nothing on the virtual network)."""
        self._options[level, option] = value

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> Any:
        """The value set, else 0 (the buffer sizes: the network's ``buffer_size``)."""
        default = self._buffer if (level, option) in _BUFFER_OPTIONS else 0
        return self._options.get((level, option), default)

    def setblocking(self, flag: bool) -> None:
        """Accepted and ignored."""

    def gettimeout(self) -> float:
        """0.0: non-blocking, as a transport's socket is."""
        return 0.0

    def settimeout(self, value: float | None) -> None:
        """Accepted and ignored."""


class Endpoint(asyncio.Transport):
    """One end of a virtual TCP connection: an asyncio ``Transport``.

    Made by `VirtualNetwork`, never by users. Its peer is the other end.
    """

    # asyncio.start_tls() and loop.start_tls() check this flag.
    _start_tls_compatible = True

    def __init__(
        self,
        network: VirtualNetwork,
        loop: Any,
        host: str,
        local: Any,
        remote: Any,
        context: contextvars.Context,
        site: Site,
        family: int = socket.AF_INET,
    ) -> None:
        super().__init__()
        self._net = network
        self._loop = loop
        self.host = host
        self.peer_host = ""
        self.local = local
        self.remote = remote
        self._ctx = context
        self.site = site
        self._peer: Endpoint = self  # set by pair()
        self._protocol: Any = None
        self._buffered = False
        self._server: Any = None
        self._sock = VirtualSocket(local, remote, family=family)
        self._sock._buffer = network.buffer_size
        self._extra: dict[str, Any] = {"peername": remote, "sockname": local, "socket": self._sock}
        # Incoming: received, not yet given to the protocol (reading paused).
        self._queue: collections.deque[Any] = collections.deque()
        self.queued = 0
        # Outgoing: asyncio's buffer, then the network's flight queue of
        # [chunk, timer or None while held by a partition].
        self._sendbuf = bytearray()
        self._flight: collections.deque[list[Any]] = collections.deque()
        self.in_flight = 0
        self._tx_free = 0.0  # when the link is free to send the next chunk (bandwidth)
        self._last_arrival = 0.0
        self._high = 64 * 1024
        self._low = 16 * 1024
        self._writing_paused = False
        self._reading_paused = False
        self._closing = False  # close() or abort() called, or reset
        self._eof_sent = False  # write_eof() called (FIN queued once the buffer is empty)
        self.eof_received = False
        self._lost = False  # connection_lost() scheduled
        self._lost_writes = 0
        self.reset_by: str | None = None
        # Readers by sock_recv (the socket API rather than a protocol).
        self._recv_waiter: asyncio.Future[None] | None = None
        self._send_waiter: asyncio.Future[None] | None = None
        # Set when connection_made has run (create_connection returns then).
        self.made_waiter: asyncio.Future[None] | None = None
        # The real socket sock_connect() connected virtually: closed with the transport.
        self.real_sock: Any = None

    # -- wiring ----------------------------------------------------------

    def __repr__(self) -> str:
        state = "closed" if self._lost else "closing" if self._closing else "open"
        return f"<virtual transport {self.local} -> {self.remote} {state}>"

    def pair(self, peer: Endpoint) -> None:
        self._peer = peer
        peer._peer = self
        self.peer_host = peer.host
        peer.peer_host = self.host

    def start(self, protocol: Any, server: Any = None) -> None:
        """Give the end its protocol and call connection_made (soon, in its context)."""
        self.set_protocol(protocol)
        self._server = server
        if server is not None:
            server._attach(self)
        self._loop.call_soon(self._connection_made, context=self._ctx)

    def start_socket(self) -> None:
        """Use the end through the socket API (sock_recv/sock_sendall): no protocol yet."""
        self._reading_paused = True

    def _connection_made(self) -> None:
        waiter, self.made_waiter = self.made_waiter, None
        if self._lost:
            if waiter is not None and not waiter.done():
                waiter.set_exception(connection_reset())
            return
        self._reading_paused = False
        try:
            self._protocol.connection_made(self)
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.connection_made() call failed.")
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._queue and not self._reading_paused:
            self._drain_queue()

    # -- BaseTransport ---------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._net._closed_one(self)
        if not self._sendbuf:
            self._send_fin()
            self._lose(None)
        # else: the FIN follows the buffer (_pump), then connection_lost.

    def abort(self) -> None:
        self._reset_local(None)

    # -- ReadTransport ---------------------------------------------------

    def is_reading(self) -> bool:
        return not self._reading_paused and not self._closing

    def pause_reading(self) -> None:
        if self._closing or self._reading_paused:
            return
        self._reading_paused = True

    def resume_reading(self) -> None:
        if self._closing or not self._reading_paused:
            return
        self._reading_paused = False
        if self._queue:
            self._loop.call_soon(self._drain_queue, context=self._ctx)

    # -- WriteTransport --------------------------------------------------

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._maybe_pause_protocol()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def get_write_buffer_size(self) -> int:
        return len(self._sendbuf)

    def write(self, data: Any) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._eof_sent:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        if self._closing:
            # asyncio's socket transport drops writes to a lost connection,
            # and logs it after a few.
            self._lost_writes += 1
            return
        self._sendbuf += data
        self._pump()
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        if self._closing or self._eof_sent:
            return
        self._eof_sent = True
        if not self._sendbuf:
            self._send_fin()

    def can_write_eof(self) -> bool:
        return True

    # -- flow control toward the protocol --------------------------------

    def _maybe_pause_protocol(self) -> None:
        if self._protocol is None:
            return
        if not self._writing_paused and len(self._sendbuf) > self._high:
            self._writing_paused = True
            call_protocol(self, "protocol.pause_writing() failed", self._protocol.pause_writing)

    def _maybe_resume_protocol(self) -> None:
        if self._writing_paused and len(self._sendbuf) <= self._low:
            self._writing_paused = False
            self._loop.call_soon(self._resume_writing, context=self._ctx)

    def _resume_writing(self) -> None:
        if self._lost or self._writing_paused:
            return
        call_protocol(self, "protocol.resume_writing() failed", self._protocol.resume_writing)

    # -- sending ---------------------------------------------------------

    def _pump(self) -> None:
        """Move bytes from the buffer into the network while the peer's window has room."""
        buf = self._sendbuf
        if buf:
            window = self._net.buffer_size - self.in_flight - self._peer.queued
            if window <= 0:
                return
            if len(buf) <= window:
                chunk = bytes(buf)
                buf.clear()
            else:
                chunk = bytes(buf[:window])
                del buf[:window]
            self.in_flight += len(chunk)
            self._send(chunk, len(chunk))
            if buf:
                return
            waiter = self._send_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if self._writing_paused:
                self._maybe_resume_protocol()
            if self._closing and not self._lost:
                self._send_fin()
                self._lose(None)
            elif self._eof_sent:
                self._send_fin()

    def _send_fin(self) -> None:
        if not self._lost and self._peer is not self:
            self._send(_FIN, 0)

    def _send(self, chunk: Any, size: int) -> None:
        net = self._net
        link = net._link(self.host, self.peer_host)
        entry: list[Any] = [chunk, None]
        self._flight.append(entry)
        if link.cut:
            return  # held until heal(); see release()
        entry[1] = self._schedule(link, size)

    def _schedule(self, link: Any, size: int) -> asyncio.Handle:
        loop = self._loop
        now = loop.time()
        when = now
        if link.bandwidth and size:
            start = self._tx_free if self._tx_free > now else now
            when = self._tx_free = start + size / link.bandwidth
        when += link.delay()
        if when < self._last_arrival:
            when = self._last_arrival  # never overtakes an earlier chunk
        self._last_arrival = when
        if when <= now and self._net._soon:
            # No delay and no seed to order it: a callback, not a timer (a
            # long exchange at one instant is progress, not runaway timers).
            return loop.call_soon(self._arrive, context=self._peer._ctx)  # type: ignore[no-any-return]
        return loop.call_at(when, self._arrive, context=self._peer._ctx)  # type: ignore[no-any-return]

    def hold(self) -> None:
        """A partition cut the link: keep what is in flight until `release`."""
        for entry in self._flight:
            if entry[1] is not None:
                entry[1].cancel()
                entry[1] = None

    def release(self) -> None:
        """The link is whole again: send on what was held, in order, from now."""
        link = self._net._link(self.host, self.peer_host)
        for entry in self._flight:
            if entry[1] is None:
                chunk = entry[0]
                entry[1] = self._schedule(link, len(chunk) if isinstance(chunk, bytes) else 0)

    def _arrive(self) -> None:
        # A timer: the oldest chunk in flight reaches the peer (in its context).
        chunk = self._flight.popleft()[0]
        peer = self._peer
        if self._lost and not self._flight:
            self._net._forget(self)
        if chunk is _RST:
            peer._reset_remote()
            return
        if chunk is _FIN:
            peer._receive_fin()
            return
        self.in_flight -= len(chunk)
        if peer._lost:
            return  # the peer closed: dropped on the floor
        if peer._reading_paused or peer._queue or peer._protocol is None:
            peer._queue.append(chunk)
            peer.queued += len(chunk)
            peer._wake_reader()
            return
        peer._deliver(chunk)
        if self._sendbuf:
            self._pump()

    # -- receiving -------------------------------------------------------

    def _deliver(self, chunk: bytes) -> None:
        try:
            if self._buffered:
                _feed_data_to_buffered_proto(self._protocol, chunk)
            else:
                self._protocol.data_received(chunk)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _drain_queue(self) -> None:
        queue = self._queue
        peer = self._peer
        while queue and not self._reading_paused and not self._lost:
            chunk = queue.popleft()
            if chunk is _FIN:
                self._eof()
                continue
            self.queued -= len(chunk)
            self._deliver(chunk)
        if peer._sendbuf:
            peer._pump()

    def _receive_fin(self) -> None:
        if self._lost:
            return
        if self._reading_paused or self._queue or self._protocol is None:
            self._queue.append(_FIN)
            self._wake_reader()
            return
        self._eof()

    def _eof(self) -> None:
        self.eof_received = True
        if self._protocol is None:
            return
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if not keep_open:
            self.close()

    # -- resets and the end ----------------------------------------------

    def _reset_local(self, exc: BaseException | None) -> None:
        """abort(), or a reset this end makes: drop the buffers, RST the peer, lose the connection."""
        if self._lost:
            return
        self._closing = True
        self._net._closed_one(self)
        self._sendbuf.clear()
        self._queue.clear()
        self.queued = 0
        if self._peer is not self:
            self._send(_RST, 0)
        self._lose(exc)

    def _reset_remote(self) -> None:
        """The peer's RST arrives: what was not read is lost; ConnectionResetError."""
        if not self._lost:
            self.reset_by = self.peer_host
            self.reset_now(connection_reset())

    def reset_now(self, exc: BaseException) -> None:
        """Lose the connection at once with ``exc`` (this end's host crashed)."""
        if self._lost:
            return
        self._closing = True
        self._net._closed_one(self)
        self._sendbuf.clear()
        self._queue.clear()
        self.queued = 0
        for entry in self._flight:
            if entry[1] is not None:
                entry[1].cancel()
        self._flight.clear()
        self.in_flight = 0
        self._lose(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        # asyncio's SSLProtocol calls it on its transport on a fatal error.
        self._reset_local(exc)

    def drop(self) -> None:
        """Forget the connection without a callback (the test or its loop is over)."""
        for entry in self._flight:
            if entry[1] is not None:
                entry[1].cancel()
        self._flight.clear()
        self.in_flight = 0
        self._sendbuf.clear()
        self._queue.clear()
        self.queued = 0
        self._closing = self._lost = True
        self._wake_reader()

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if not isinstance(exc, OSError):
            self._loop.call_exception_handler({
                "message": message, "exception": exc, "transport": self, "protocol": self._protocol,
            })
        self._reset_local(exc)

    def _lose(self, exc: BaseException | None) -> None:
        self._lost = True
        self._wake_reader()
        self._loop.call_soon(self._connection_lost, exc, context=self._ctx)

    def _connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol is not None:
                self._protocol.connection_lost(exc)
        finally:
            server, self._server = self._server, None
            if server is not None:
                server._detach(self)
            self._net._forget(self)
            sock, self.real_sock = self.real_sock, None
            if sock is not None:
                sock.close()
            self._protocol = None

    # -- the socket API (sock_recv, sock_sendall) ------------------------

    def _wake_reader(self) -> None:
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def recv(self, nbytes: int) -> bytes:
        """Read up to ``nbytes`` (b"" at EOF): for ``loop.sock_recv``."""
        while True:
            queue = self._queue
            if queue:
                chunk = queue[0]
                if chunk is _FIN:
                    self.eof_received = True
                    return b""
                if len(chunk) > nbytes:
                    queue[0] = chunk[nbytes:]
                    chunk = chunk[:nbytes]
                else:
                    queue.popleft()
                self.queued -= len(chunk)
                if self._peer._sendbuf:
                    self._peer._pump()
                return bytes(chunk)
            if self._lost:
                if self.reset_by is not None:
                    raise connection_reset()
                return b""
            self._recv_waiter = self._loop.create_future()
            try:
                await self._recv_waiter
            finally:
                self._recv_waiter = None

    async def send_all(self, data: bytes) -> None:
        """Write ``data`` and wait until the network took all of it: for ``loop.sock_sendall``."""
        if self._lost:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        self.write(data)
        while self._sendbuf and not self._lost:
            self._send_waiter = self._loop.create_future()
            try:
                await self._send_waiter
            finally:
                self._send_waiter = None

    def describe(self) -> str:
        """One line for reports: addresses, hosts, bytes buffered each way, who reads."""
        parts = [f"{self.host} {_addr(self.local)} -> {self.peer_host} {_addr(self.remote)}"]
        if self._sendbuf:
            parts.append(f"{len(self._sendbuf)} bytes buffered to send")
        if self.in_flight:
            parts.append(f"{self.in_flight} bytes in flight")
        if self.queued:
            parts.append(f"{self.queued} bytes received, unread (reading paused)")
        if self._closing:
            parts.append("closing")
        elif self.eof_received:
            parts.append("peer sent EOF")
        reader = _waiting_reader(self._protocol)
        if reader:
            parts.append(reader)
        return ", ".join(parts)


def _addr(address: Any) -> str:
    if isinstance(address, str):
        return address or "(unnamed)"
    return f"{address[0]}:{address[1]}"


def _waiting_reader(protocol: Any) -> str:
    # asyncio's StreamReaderProtocol keeps its reader; the reader's _waiter is
    # set while a task waits in read() (3.10-3.15).
    reader = getattr(protocol, "_stream_reader", None)
    if reader is None:
        wr = getattr(protocol, "_stream_reader_wr", None)
        reader = wr() if wr is not None else None
    waiter = getattr(reader, "_waiter", None)
    if waiter is not None and not waiter.done():
        return "a task waits to read"
    return ""


def site_here() -> Site:
    """The user's lines that opened a connection or server (for leak reports)."""
    return creation_site(sys._getframe(1))
