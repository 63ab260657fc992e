"""The loop's network calls, answered by a `VirtualNetwork` (``CALLS``, read by the loop's hooks).

Each function takes the network and the loop, then the arguments of the
asyncio method of the same name, which it mirrors: same checks, same errors,
same results. What cannot be made virtual (a real socket connected to the
real network, passed as ``sock=``) is refused at once with an error naming
the call: nothing falls back to the real network.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

from ._datagram import create_datagram_endpoint, is_address
from ._server import VirtualServer, ssl_protocol
from ._stream import Endpoint, VirtualSocket, refused, site_here

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._network import VirtualNetwork

__all__ = ("CALLS",)

_INET = (socket.AF_INET, socket.AF_INET6)


def _ssl_context(ssl: Any, server_side: bool) -> Any:
    if ssl is True:
        import ssl as _ssl

        if server_side:  # pragma: no cover - asyncio refuses it too
            raise ValueError("Server side SSL needs a valid SSLContext")
        return _ssl.create_default_context()
    return ssl


async def _wire_client(
    net: VirtualNetwork, loop: Any, end: Endpoint, protocol_factory: Callable[[], Any],
    ssl: Any, server_hostname: str | None, handshake_timeout: Any, shutdown_timeout: Any,
) -> tuple[Any, Any]:
    protocol = protocol_factory()
    waiter = loop.create_future()
    if ssl:
        ssl_proto = ssl_protocol(loop, protocol, _ssl_context(ssl, False), waiter, False,
                                  server_hostname, handshake_timeout, shutdown_timeout)
        end.start(ssl_proto)
        try:
            await waiter
        except BaseException:
            end.abort()
            raise
        return ssl_proto._app_transport, protocol
    end.made_waiter = waiter
    end.start(protocol)
    try:
        await waiter
    except BaseException:
        end.abort()
        raise
    return end, protocol


def _check_ssl_args(ssl: Any, server_hostname: Any, host: Any, hs: Any, sd: Any) -> Any:
    if server_hostname is not None and not ssl:
        raise ValueError("server_hostname is only meaningful with ssl")
    if server_hostname is None and ssl:
        if not host:
            raise ValueError("You must set server_hostname when using ssl without a host")
        server_hostname = host
    if hs is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if sd is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    return server_hostname


async def create_connection(
    net: VirtualNetwork, loop: Any, protocol_factory: Callable[[], Any], host: Any = None, port: Any = None,
    *, ssl: Any = None, family: int = 0, proto: int = 0, flags: int = 0, sock: Any = None,
    local_addr: Any = None, server_hostname: Any = None, ssl_handshake_timeout: Any = None,
    ssl_shutdown_timeout: Any = None, happy_eyeballs_delay: Any = None, interleave: Any = None,
    all_errors: bool = False,
) -> tuple[Any, Any]:
    server_hostname = _check_ssl_args(ssl, server_hostname, host, ssl_handshake_timeout, ssl_shutdown_timeout)
    site = site_here()
    if sock is not None:
        if host is not None or port is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        if local_addr is not None:
            raise ValueError("local_addr and sock can not be specified at the same time")
        entry = net._socks.pop(id(sock), None)
        if entry is None or entry[0] is not sock:
            raise refused("loop.create_connection(sock=...)",
                          f"{sock!r} is not a socket connected on the virtual network "
                          "(connect it with loop.sock_connect() first)")
        end = entry[1]
        end.real_sock = sock
        return await _wire_client(net, loop, end, protocol_factory, ssl, server_hostname,
                                  ssl_handshake_timeout, ssl_shutdown_timeout)
    if host is None and port is None:
        raise ValueError("host and port was not specified and no sock specified")
    end = await _connect(net, loop, host, port, family, local_addr, site)
    return await _wire_client(net, loop, end, protocol_factory, ssl, server_hostname,
                              ssl_handshake_timeout, ssl_shutdown_timeout)


async def _connect(net: VirtualNetwork, loop: Any, host: Any, port: Any, family: int,
                   local_addr: Any, site: Any) -> Endpoint:
    ip, dst = net.resolve(host)
    number = net.port_number(port)
    src = net._bound_host(local_addr)
    local_port = net.port_number(local_addr[1]) if local_addr is not None else 0
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    if family and family != fam:
        raise socket.gaierror(socket.EAI_ADDRFAMILY, "Address family for hostname not supported")
    return await net.open(loop, (ip, number), dst, src, site, fam, local_port)


async def create_server(
    net: VirtualNetwork, loop: Any, protocol_factory: Callable[[], Any], host: Any = None, port: Any = None,
    *, family: int = 0, flags: int = socket.AI_PASSIVE, sock: Any = None, backlog: int = 100,
    ssl: Any = None, reuse_address: Any = None, reuse_port: Any = None, keep_alive: Any = None,
    ssl_handshake_timeout: Any = None, ssl_shutdown_timeout: Any = None, start_serving: bool = True,
) -> VirtualServer:
    import ssl as _ssl

    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
        raise TypeError(f"ssl argument must be an SSLContext or None; got {ssl!r}")
    if ssl_handshake_timeout is not None and ssl is None:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and ssl is None:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    site = site_here()
    if sock is not None:
        if host is not None or port is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        host, port = _listening_address(sock, "loop.create_server(sock=...)")
        # A VirtualSocket (another server's) has nothing to close.
        sock_to_close = None if isinstance(sock, VirtualSocket) else sock
    else:
        sock_to_close = None
    hosts = [host] if host is None or isinstance(host, (str, bytes)) else list(host)
    number = net.port_number(port)
    current = net._current()
    keys: list[tuple[Any, ...]] = []
    sockets: list[VirtualSocket] = []
    bound_host = current
    for name in hosts:
        if isinstance(name, str) and name and name not in ("localhost",) and not is_address(name):
            net.add_host(name)  # binding to a new name declares the host
        ip, bound = net.resolve(name, passive=True)
        if bound is None:
            raise OSError(99, f"error while attempting to bind on address {(ip, number)!r}: "
                              "cannot assign requested address")
        bound_host = bound
        key_ip = bound.ip if ip in ("0.0.0.0", "::") else ip
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        if family and family != fam:
            continue
        if not number:
            number = net._free_port(bound)
        if (key_ip, number) in net._listeners or any(k == (key_ip, number) for k in keys):
            raise OSError(98, f"error while attempting to bind on address {(ip, number)!r}: "
                              "address already in use")
        keys.append((key_ip, number))
        local = (ip, number) if fam == socket.AF_INET else (ip, number, 0, 0)
        sockets.append(VirtualSocket(local, None, family=fam))
    options = {"ssl_handshake_timeout": ssl_handshake_timeout, "ssl_shutdown_timeout": ssl_shutdown_timeout}
    server = VirtualServer(net, loop, bound_host.name, keys, sockets, protocol_factory, ssl, options, site)
    server.real_sock = sock_to_close
    return await _listen(net, server, keys, start_serving)


def _listening_address(sock: Any, call: str) -> tuple[Any, Any]:
    if isinstance(sock, VirtualSocket):
        address = sock.getsockname()
        return address[0], address[1]
    if not isinstance(sock, socket.socket):
        raise TypeError(f"{call}: a socket.socket is expected; got {sock!r}")
    if sock.family == getattr(socket, "AF_UNIX", None):
        return "unix", sock.getsockname()
    if sock.family not in _INET or sock.type != socket.SOCK_STREAM:
        raise refused(call, f"{sock!r} is not a TCP socket")
    try:
        sock.getpeername()
    except OSError:
        address = sock.getsockname()
        if not address[1]:
            raise refused(call, f"{sock!r} is not bound (bind it to an address first)") from None
        # A bound socket only names the address: the listener is virtual; the
        # real socket (which no one reaches) is closed with the server.
        return address[0], address[1]
    raise refused(call, f"{sock!r} is connected to the real network")


async def create_unix_connection(
    net: VirtualNetwork, loop: Any, protocol_factory: Callable[[], Any], path: Any = None, *,
    ssl: Any = None, sock: Any = None, server_hostname: Any = None,
    ssl_handshake_timeout: Any = None, ssl_shutdown_timeout: Any = None,
) -> tuple[Any, Any]:
    if ssl and server_hostname is None:
        raise ValueError("you have to pass server_hostname when using ssl")
    server_hostname = _check_ssl_args(ssl, server_hostname, None, ssl_handshake_timeout, ssl_shutdown_timeout)
    if sock is not None:
        raise refused("loop.create_unix_connection(sock=...)", "a real socket cannot be made virtual")
    if path is None:
        raise ValueError("no path and sock were specified")
    site = site_here()
    src = net._current()
    end = await net.open(loop, ("unix", _path(path)), src, src, site)
    return await _wire_client(net, loop, end, protocol_factory, ssl, server_hostname,
                              ssl_handshake_timeout, ssl_shutdown_timeout)


async def create_unix_server(
    net: VirtualNetwork, loop: Any, protocol_factory: Callable[[], Any], path: Any = None, *,
    sock: Any = None, backlog: int = 100, ssl: Any = None, ssl_handshake_timeout: Any = None,
    ssl_shutdown_timeout: Any = None, start_serving: bool = True, cleanup_socket: bool = True,
) -> VirtualServer:
    if sock is not None:
        raise refused("loop.create_unix_server(sock=...)", "a real socket cannot be made virtual")
    if path is None:
        raise ValueError("path was not specified, and no sock specified")
    site = site_here()
    key = ("unix", _path(path))
    if key in net._listeners:
        raise OSError(98, f"Address {key[1]!r} is already in use")
    host = net._current()
    options = {"ssl_handshake_timeout": ssl_handshake_timeout, "ssl_shutdown_timeout": ssl_shutdown_timeout}
    sockets = [VirtualSocket(key[1], None, family=socket.AF_UNIX)]  # type: ignore[arg-type]
    server = VirtualServer(net, loop, host.name, [key], sockets, protocol_factory, ssl, options, site)
    server.real_sock = None
    return await _listen(net, server, [key], start_serving)


async def _listen(net: Any, server: VirtualServer, keys: list[Any], start_serving: bool) -> VirtualServer:
    """Put ``server`` in the network's listeners under each of ``keys``; serve at once if asked."""
    for key in keys:
        net._listeners[key] = server
    net._servers.append(server)
    if start_serving:
        server._start_serving()
        await asyncio.sleep(0)
    return server


def _path(path: Any) -> str:
    import os

    return os.fsdecode(os.fspath(path))


async def getaddrinfo(
    net: VirtualNetwork, loop: Any, host: Any, port: Any, *, family: int = 0, type: int = 0,
    proto: int = 0, flags: int = 0,
) -> list[tuple[Any, ...]]:
    ip, _ = net.resolve(host, passive=bool(flags & socket.AI_PASSIVE))
    number = net.port_number(port)
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    if family not in (0, fam):
        raise socket.gaierror(socket.EAI_ADDRFAMILY, "Address family for hostname not supported")
    address: tuple[Any, ...] = (ip, number) if fam == socket.AF_INET else (ip, number, 0, 0)
    kinds = [type] if type else [socket.SOCK_STREAM, socket.SOCK_DGRAM]
    out = []
    for kind in kinds:
        number_proto = proto or (socket.IPPROTO_TCP if kind == socket.SOCK_STREAM else socket.IPPROTO_UDP)
        out.append((socket.AddressFamily(fam), socket.SocketKind(kind), number_proto, "", address))
    await asyncio.sleep(0)
    return out


async def getnameinfo(net: VirtualNetwork, loop: Any, sockaddr: Any, flags: int = 0) -> tuple[str, str]:
    ip, port = sockaddr[0], sockaddr[1]
    host = net._by_ip.get(ip)
    name = ip if host is None or flags & socket.NI_NUMERICHOST else host.name
    await asyncio.sleep(0)
    return name, str(port)


async def sock_connect(net: VirtualNetwork, loop: Any, sock: Any, address: Any) -> None:
    if not isinstance(sock, socket.socket) or sock.family not in _INET or sock.type != socket.SOCK_STREAM:
        raise refused("loop.sock_connect()", f"only TCP sockets can be connected virtually; got {sock!r}")
    if loop.get_debug() and sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")
    site = site_here()
    end = await _connect(net, loop, address[0], address[1], sock.family, None, site)
    end.start_socket()
    net._socks[id(sock)] = (sock, end)


def _socket_end(net: VirtualNetwork, sock: Any, call: str) -> Endpoint:
    entry = net._socks.get(id(sock))
    if entry is None or entry[0] is not sock:
        raise refused(call, f"{sock!r} is not connected on the virtual network")
    return entry[1]


async def sock_recv(net: VirtualNetwork, loop: Any, sock: Any, nbytes: int) -> bytes:
    return await _socket_end(net, sock, "loop.sock_recv()").recv(nbytes)


async def sock_recv_into(net: VirtualNetwork, loop: Any, sock: Any, buf: Any) -> int:
    view = memoryview(buf).cast("B")
    data = await _socket_end(net, sock, "loop.sock_recv_into()").recv(len(view))
    view[:len(data)] = data
    return len(data)


async def sock_sendall(net: VirtualNetwork, loop: Any, sock: Any, data: Any) -> None:
    end = _socket_end(net, sock, "loop.sock_sendall()")
    await end.send_all(bytes(data))


def _local_pair(sock: Any) -> bool:
    """Whether ``sock`` is an unnamed Unix socket (``socket.socketpair()``): in-process, not a network."""
    if not isinstance(sock, socket.socket) or sock.family != getattr(socket, "AF_UNIX", None):
        return False
    try:
        return not sock.getsockname() and not sock.getpeername()
    except OSError:
        return False


def _or_local_pair(name: str, where: int, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call``, except for a ``socket.socketpair()`` end: the loop's real method (real, local IO)."""
    real = getattr(asyncio.SelectorEventLoop, name)

    async def choose(net: VirtualNetwork, loop: Any, *args: Any, **kwargs: Any) -> Any:
        sock = args[where] if len(args) > where else kwargs.get("sock")
        if sock is not None and id(sock) not in net._socks and _local_pair(sock):
            return await real(loop, *args, **kwargs)
        return await call(net, loop, *args, **kwargs)

    return choose


def _refuse(call: str, why: str) -> Callable[..., Any]:
    async def refuse(net: VirtualNetwork, loop: Any, *args: Any, **kwargs: Any) -> Any:
        raise refused(call, why)

    return refuse


CALLS: dict[str, Callable[..., Any]] = {
    "create_connection": _or_local_pair("create_connection", 99, create_connection),
    "create_server": create_server,
    "create_unix_connection": _or_local_pair("create_unix_connection", 99, create_unix_connection),
    "create_unix_server": create_unix_server,
    "getaddrinfo": getaddrinfo,
    "getnameinfo": getnameinfo,
    "sock_connect": sock_connect,
    "sock_recv": _or_local_pair("sock_recv", 0, sock_recv),
    "sock_recv_into": _or_local_pair("sock_recv_into", 0, sock_recv_into),
    "sock_sendall": _or_local_pair("sock_sendall", 0, sock_sendall),
    "sock_accept": _refuse("loop.sock_accept()", "accepting on a real socket is not virtual; "
                           "use loop.create_server() or asyncio.start_server()"),
    "sock_sendto": _refuse("loop.sock_sendto()", "use loop.create_datagram_endpoint()"),
    "sock_recvfrom": _refuse("loop.sock_recvfrom()", "use loop.create_datagram_endpoint()"),
    "sock_recvfrom_into": _refuse("loop.sock_recvfrom_into()", "use loop.create_datagram_endpoint()"),
    "create_datagram_endpoint": create_datagram_endpoint,
    "connect_accepted_socket": _or_local_pair("connect_accepted_socket", 1, _refuse(
        "loop.connect_accepted_socket()", "a real accepted socket is connected to the real network")),
}
