"""Datagram endpoints on the virtual network: what ``loop.create_datagram_endpoint()`` returns.

A datagram leaves at ``sendto()`` and arrives, at a loop timer after the
link's delay, at whatever endpoint is bound to its address *then*. Unlike a
stream, datagrams may be lost and reordered, as on a real network: a link's
``drop``, ``duplicate`` and ``reorder`` chances (see
`VirtualNetwork.set_link`) are drawn from the network's random source (the
schedule seed's, under a seed). A partition drops what crosses it. A
datagram to an address nobody is bound to is dropped; a *connected* sender
(``remote_addr``) then gets ``error_received(ConnectionRefusedError)``, as
Linux reports the ICMP port-unreachable.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import socket
from typing import TYPE_CHECKING, Any, final

from ._stream import VirtualSocket, call_protocol, refused, site_here

if TYPE_CHECKING:
    from ._network import VirtualNetwork
    from ._stream import Site

__all__ = ("DatagramEndpoint", "create_datagram_endpoint", "is_address")


@final
class DatagramEndpoint(asyncio.DatagramTransport):
    """A bound UDP endpoint of the virtual network (an asyncio ``DatagramTransport``)."""

    def __init__(
        self, network: VirtualNetwork, loop: Any, host: str, local: tuple[Any, ...],
        remote: tuple[Any, ...] | None, protocol: Any, context: contextvars.Context, site: Site,
    ) -> None:
        super().__init__()
        self._net = network
        self._loop = loop
        self.host = host
        self.local = local
        self.remote = remote
        self._protocol = protocol
        self._ctx = context
        self.site = site
        self._closing = False
        self._extra = {
            "sockname": local, "peername": remote,
            "socket": VirtualSocket(local, remote, socket.SOCK_DGRAM),
        }
        self.sent = 0
        self.received = 0

    def __repr__(self) -> str:
        return f"<virtual datagram transport {self.local} closing={self._closing}>"

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._net._unbind_datagram(self)
        self._loop.call_soon(self._connection_lost, None, context=self._ctx)

    def abort(self) -> None:
        self.close()

    def drop(self) -> None:
        """Forget the endpoint without a callback (the test or its loop is over)."""
        self._closing = True
        self._net._unbind_datagram(self)

    def _connection_lost(self, exc: BaseException | None) -> None:
        self._protocol.connection_lost(exc)

    def sendto(self, data: Any, addr: Any = None) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self.remote is not None:
            if addr not in (None, self.remote):
                raise ValueError(f"Invalid address: must be None or {self.remote}")
            addr = self.remote
        elif addr is None:
            raise OSError(errno.EDESTADDRREQ, "Destination address required")
        if self._closing:
            return
        net = self._net
        ip, dst = net.resolve(addr[0])
        key = (ip, net.port_number(addr[1]))
        self.sent += 1
        if dst is None:
            return  # no such host: lost
        link = net._link(self.host, dst.name)
        if link.cut or not dst.up:
            return
        rng = link.rng
        if link.drop and rng.random() < link.drop:
            return
        copies = 2 if link.duplicate and rng.random() < link.duplicate else 1
        payload = bytes(data)
        for _ in range(copies):
            delay = link.delay()
            if link.reorder and rng.random() < link.reorder:
                # Held back by one to two more latencies (at least 1 ms): later ones overtake it.
                delay += max(link.latency, 0.001) * (1 + rng.random())
            self._loop.call_later(delay, self._arrive, key, payload)

    def _arrive(self, key: tuple[Any, ...], payload: bytes) -> None:
        target = self._net._datagram_listener(key)
        if target is None or target._closing:
            if self.remote is not None and not self._closing:
                self._loop.call_soon(self._refused, context=self._ctx)
            return
        target.received += 1
        target._ctx.run(target._deliver, payload, self.local)

    def _deliver(self, payload: bytes, addr: tuple[Any, ...]) -> None:
        call_protocol(
            self, "Fatal error: protocol.datagram_received() call failed.",
            self._protocol.datagram_received, payload, addr,
        )

    def _refused(self) -> None:
        if not self._closing:
            self._protocol.error_received(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))

    def describe(self) -> str:
        """One line for reports."""
        peer = f" -> {self.remote[0]}:{self.remote[1]}" if self.remote else ""
        return (
            f"datagram endpoint on {self.host} {self.local[0]}:{self.local[1]}{peer} "
            f"({self.sent} sent, {self.received} received)"
        )


def is_address(name: str) -> bool:
    """Whether ``name`` is an IPv4 or IPv6 address (not a host name)."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
    except OSError:
        return False
    return True


async def create_datagram_endpoint(
    net: VirtualNetwork, loop: Any, protocol_factory: Any, local_addr: Any = None, remote_addr: Any = None,
    *, family: int = 0, proto: int = 0, flags: int = 0, reuse_address: Any = None, reuse_port: Any = None,
    allow_broadcast: Any = None, sock: Any = None,
) -> tuple[DatagramEndpoint, Any]:
    """``loop.create_datagram_endpoint()`` on the virtual network (UDP; sock= is refused)."""
    if sock is not None:
        raise refused("loop.create_datagram_endpoint(sock=...)", "a real socket cannot be made virtual")
    site = site_here()
    remote: tuple[Any, ...] | None = None
    if remote_addr is not None:
        ip, _ = net.resolve(remote_addr[0])
        remote = (ip, net.port_number(remote_addr[1]))
    if local_addr is not None:
        name = local_addr[0]
        if isinstance(name, str) and name and not is_address(name):
            net.add_host(name)  # binding to a new name declares the host, as servers do
        ip, host = net.resolve(name, passive=True)
        if host is None:
            raise OSError(errno.EADDRNOTAVAIL, f"Cannot assign requested address: {local_addr!r}")
        port = net.port_number(local_addr[1])
    else:
        host = net._current()
        ip, port = host.ip, 0
    key_ip = host.ip if ip in ("0.0.0.0", "::") else ip
    if not port:
        port = net._free_datagram_port(host)
    if (key_ip, port) in net._datagrams:
        raise OSError(errno.EADDRINUSE, f"[Errno 98] Address already in use: {(ip, port)!r}")
    protocol = protocol_factory()
    context = contextvars.copy_context()
    end = DatagramEndpoint(net, loop, host.name, (ip, port), remote, protocol, context, site)
    net._datagrams[key_ip, port] = end
    waiter = loop.create_future()

    def made() -> None:
        protocol.connection_made(end)
        if not waiter.done():
            waiter.set_result(None)

    loop.call_soon(made, context=context)
    await waiter
    return end, protocol
