"""VirtualNetwork: hosts, names, links and faults, in memory and on the virtual clock.

A network is attached to one virtual loop (`VirtualNetwork.attach`, done by
``ClockedTestCase`` with ``network = "virtual"``). The loop then hands it
every TCP and Unix-socket call it gets (``create_connection``,
``create_server``, ``getaddrinfo``, ...; see `_hooks.py`), so code that opens
connections runs unchanged, in memory: no real socket, no real time. Bytes
travel as loop timers (`_stream.py`), so the clock's autojump is what moves
them along; nothing else in the loop changes.

Hosts. ``localhost`` (``127.0.0.1``) is always there. Binding a server to a
name that is not known yet adds a host of that name (with an address in
10.0.0.0/8); ``add_host()`` declares one up front. Connecting to a name no host
has raises ``socket.gaierror``, as a real resolver does. Code runs "on" a host
inside ``with network.host(name):`` (and every task started there, which
inherits the context), or with ``network.run_on(name, coro)``; a server's
connections run on the server's host. Everything else runs on ``localhost``.

Faults, all from the test: ``set_link()`` (latency, jitter, bandwidth per
link, host or network), ``partition()``/``heal()`` (traffic across the cut is
held, new connections wait, and time out after ``connect_timeout``),
``crash()``/``restart()`` (the host's connections reset, its servers close,
and every task running on its behalf is cancelled), ``reset()`` (one
connection). Under a schedule seed, jitter is drawn from the seed, and chunks
of independent connections due at one instant arrive in the seed's order
(never the bytes of one stream: see `_stream.Endpoint._arrive`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import functools
import ipaddress
import random
import socket
import ssl
from typing import TYPE_CHECKING, Any, final

from .._compat import STREAM_HANDLER_CANCEL_RAISES, task_context
from .._report import format_frames
from ._calls import CALLS
from ._datagram import DatagramEndpoint
from ._server import VirtualServer
from ._stream import Endpoint, Site

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterable, Iterator

__all__ = ("VirtualNetwork", "current_host")

# The host a piece of code runs on: set by VirtualNetwork.host() and run_on(),
# and in the context of each server's connections. None: localhost.
current_host: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "asynctestkit_network_host", default=None
)

_LOCALHOST = "localhost"
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})
_LOOPBACK = frozenset({"127.0.0.1", "::1"})
_UNSET: Any = object()  # set_link(): an option not given
_FIRST_PORT = 32768  # Linux's first ephemeral port
_SERVICES = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ssh": 22, "smtp": 25}


@final
class _Link:
    """What one pair of hosts sees: delay, bandwidth, and whether a partition cuts it."""

    __slots__ = ("bandwidth", "cut", "drop", "duplicate", "jitter", "latency", "reorder", "rng")

    def __init__(self, values: dict[str, Any], cut: bool, rng: Any) -> None:
        self.latency: float = values["latency"]
        self.jitter: float = values["jitter"]
        self.bandwidth: float | None = values["bandwidth"]
        self.drop: float = values.get("drop", 0.0)
        self.duplicate: float = values.get("duplicate", 0.0)
        self.reorder: float = values.get("reorder", 0.0)
        self.cut = cut
        self.rng = rng

    def delay(self) -> float:
        if self.jitter:
            return self.latency + float(self.rng.random()) * self.jitter
        return self.latency


@final
class _Host:
    __slots__ = ("ip", "name", "next_port", "up")

    def __init__(self, name: str, ip: str) -> None:
        self.name = name
        self.ip = ip
        self.up = True
        self.next_port = _FIRST_PORT


class _Pending:
    """A connection waiting in a server's backlog until it serves."""

    __slots__ = ("refuse", "start")

    def __init__(self, start: Any, refuse: Any) -> None:
        self.start = start
        self.refuse = refuse

    def __call__(self) -> None:
        self.start()


def _check_seconds(name: str, value: Any, *, none: bool = False) -> None:
    if value is None and none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        0 <= value < float("inf")
    ):
        raise ValueError(f"{name} needs a finite, non-negative number; got {value!r}")


@final
class VirtualNetwork:
    """An in-memory network on the virtual clock: TCP and Unix sockets, names, latency and faults.

    With ``network = "virtual"`` on a `ClockedTestCase` (or
    ``@configure(network="virtual")``), ``self.network`` is the test's
    network and every connection and server the test's loop makes lives on
    it. Elsewhere, attach one to a loop made by `virtual_event_loop`.

    Args:
        latency: Seconds each chunk of bytes takes from one host to another
            (one way). 0.
        jitter: Up to this many more seconds, drawn per chunk (from the
            loop's schedule seed under a seed); never reorders one stream. 0.
        bandwidth: Bytes per second one direction of a link carries
            (``None``: unlimited).
        buffer_size: Bytes the kernel holds per direction of a connection
            (in flight plus received, unread): past it, a writer's transport
            buffers, and past its high-water mark ``drain()`` waits. 256 KiB.
        connect_timeout: Virtual seconds a connection attempt to a host that
            is cut off or down waits before ``TimeoutError``. 127 (Linux's
            default SYN retries).

    Example:
        >>> class TestClient(ClockedTestCase):
        ...     network = "virtual"
        ...     async def test_echo(self):
        ...         server = await asyncio.start_server(echo, "localhost", 0)
        ...         port = server.sockets[0].getsockname()[1]
        ...         reader, writer = await asyncio.open_connection("localhost", port)
    """

    # The loop's network calls (the loop's hooks read it; see _calls.py).
    calls = CALLS

    def __init__(
        self,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        bandwidth: float | None = None,
        buffer_size: int = 256 * 1024,
        connect_timeout: float = 127.0,
    ) -> None:
        _check_seconds("latency", latency)
        _check_seconds("jitter", jitter)
        _check_seconds("connect_timeout", connect_timeout)
        _check_bandwidth(bandwidth)
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"buffer_size needs a positive int of bytes; got {buffer_size!r}")
        self.buffer_size = buffer_size
        self.connect_timeout = float(connect_timeout)
        self._default = (float(latency), float(jitter), bandwidth)
        self._host_settings: dict[str, dict[str, Any]] = {}
        self._link_settings: dict[frozenset[str], dict[str, Any]] = {}
        self._cuts: set[frozenset[str]] = set()
        self._links: dict[tuple[str, str], _Link] = {}
        self._rng: Any = random.Random(0)
        self._soon = True
        self._loop: Any = None
        self._hosts: dict[str, _Host] = {}
        self._by_ip: dict[str, _Host] = {}
        self._next_ip = 2
        self._listeners: dict[tuple[Any, ...], VirtualServer] = {}
        self._servers: list[VirtualServer] = []
        self._ends: dict[Endpoint, None] = {}  # open ends, in the order they were made
        self._socks: dict[int, tuple[Any, Endpoint]] = {}
        self._datagrams: dict[tuple[Any, ...], DatagramEndpoint] = {}  # id(real socket) -> its virtual end
        self._blocked: list[asyncio.Future[None]] = []  # connects waiting for heal/restart
        self.add_host(_LOCALHOST, "127.0.0.1")

    def __repr__(self) -> str:
        latency, jitter, bandwidth = self._default
        return (
            f"<VirtualNetwork hosts={len(self._hosts)} servers={len(self._servers)} "
            f"connections={len(self._ends)} latency={latency!r} jitter={jitter!r} "
            f"bandwidth={bandwidth!r} partitions={len(self._cuts)}>"
        )

    # -- the loop --------------------------------------------------------

    def attach(self, target: asyncio.AbstractEventLoop) -> None:
        """Make ``loop`` (a `virtual_event_loop`) open its connections and servers here.

        Raises:
            TypeError: ``loop`` is not a virtual loop.
            RuntimeError: this network or that loop already has a partner.
        """
        loop: Any = target
        if not hasattr(loop, "_atk_net"):
            raise TypeError(
                f"VirtualNetwork.attach() needs a loop made by virtual_event_loop(); got {loop!r}"
            )
        if self._loop is not None or loop._atk_net is not None:
            raise RuntimeError("VirtualNetwork.attach(): the network or the loop is already attached")
        rng = getattr(loop, "_atk_rng", None)
        # Under a seed, jitter is the seed's too (one draw keeps the loop's own sequence).
        self._rng = random.Random(rng.random()) if rng is not None else random.Random(0)
        # Unseeded, what arrives at once is a callback; seeded, a timer the seed orders.
        self._soon = rng is None
        self._links.clear()
        self._loop = loop
        loop._atk_net = self

    def detach(self) -> None:
        """Give the loop back its real network (idempotent)."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop._atk_net = None

    # -- hosts -----------------------------------------------------------

    def add_host(self, name: str, ip: str | None = None) -> str:
        """Declare a host: its name resolves to ``ip`` (a new 10.x address if omitted).

        Returns:
            The host's address.

        Raises:
            ValueError: the name or the address is taken by another host.
        """
        key = name.lower().rstrip(".")
        if key in self._hosts:
            if ip is None or self._hosts[key].ip == ip:
                return self._hosts[key].ip
            raise ValueError(f"add_host(): {name!r} is already {self._hosts[key].ip}; got ip={ip!r}")
        if ip is None:
            while True:
                n = self._next_ip
                self._next_ip += 1
                ip = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
                if ip not in self._by_ip:
                    break
        else:
            ipaddress.ip_address(ip)  # ValueError for a non-address
            if ip in self._by_ip:
                raise ValueError(f"add_host(): {ip} is already {self._by_ip[ip].name!r}'s address")
        host = _Host(key, ip)
        self._hosts[key] = host
        self._by_ip[ip] = host
        return ip

    @contextlib.contextmanager
    def host(self, name: str) -> Iterator[None]:
        """Run the block, and every task started in it, on host ``name`` (declared if new).

        Connections opened there leave from that host; ``crash(name)``
        cancels those tasks. Example::

            with self.network.host("follower"):
                follower = asyncio.create_task(run_follower())
        """
        self.add_host(name)
        token = current_host.set(name.lower().rstrip("."))
        try:
            yield
        finally:
            current_host.reset(token)

    def run_on(
        self, name: str, coro: Coroutine[Any, Any, Any], *, task_name: str | None = None
    ) -> asyncio.Task[Any]:
        """Start ``coro`` as a task on host ``name`` (see `host`); return the task."""
        with self.host(name):
            return asyncio.get_running_loop().create_task(coro, name=task_name)

    def _current(self) -> _Host:
        name = current_host.get()
        return self._hosts[_LOCALHOST if name is None else name]

    # -- links and faults --------------------------------------------------

    def set_link(
        self,
        a: str | None = None,
        b: str | None = None,
        *,
        latency: float | None = None,
        jitter: float | None = None,
        bandwidth: float | None = _UNSET,
        drop: float | None = None,
        duplicate: float | None = None,
        reorder: float | None = None,
    ) -> None:
        """Set latency (s), jitter (s) or bandwidth (bytes/s) for the link a-b, host a, or everything.

        ``set_link(latency=0.05)`` changes the network's default;
        ``set_link("db", latency=0.2)`` every link of host ``db``;
        ``set_link("api", "db", bandwidth=1e6)`` that one link (both ways).
        Applies to bytes sent from now on.

        Datagrams (UDP) only: ``drop``, ``duplicate`` and ``reorder`` are
        the chances (0 to 1) that a datagram is lost, delivered twice, or
        held back one to two latencies so that later ones overtake it.
        Streams never lose, duplicate or reorder bytes.
        """
        _check_seconds("latency", latency, none=True)
        _check_seconds("jitter", jitter, none=True)
        settings: dict[str, Any] = {}
        if latency is not None:
            settings["latency"] = float(latency)
        if jitter is not None:
            settings["jitter"] = float(jitter)
        for name, chance in (("drop", drop), ("duplicate", duplicate), ("reorder", reorder)):
            if chance is not None:
                if isinstance(chance, bool) or not isinstance(chance, (int, float)) or not 0 <= chance <= 1:
                    raise ValueError(f"{name} needs a chance from 0 to 1; got {chance!r}")
                settings[name] = float(chance)
        if bandwidth is not _UNSET:
            _check_bandwidth(bandwidth)
            settings["bandwidth"] = bandwidth
        if a is None:
            old: dict[str, Any] = dict(zip(("latency", "jitter", "bandwidth"), self._default, strict=False))
            old.update(settings)
            self._default = (old["latency"], old["jitter"], old["bandwidth"])
            self._host_settings.setdefault("", {}).update(
                {k: v for k, v in settings.items() if k in ("drop", "duplicate", "reorder")}
            )
        elif b is None:
            self._host_settings.setdefault(self._name(a), {}).update(settings)
        else:
            self._link_settings.setdefault(frozenset((self._name(a), self._name(b))), {}).update(settings)
        self._links.clear()

    def partition(self, side_a: str | Iterable[str], side_b: str | Iterable[str] | None = None) -> None:
        """Cut every link between ``side_a`` and ``side_b`` (hosts or collections of hosts).

        Without ``side_b``, cut ``side_a`` off from every other host.
        Bytes in flight across the cut are held (and arrive after `heal`),
        new connections across it wait and time out after
        ``connect_timeout``; a writer's buffer fills and ``drain()`` waits.
        """
        first = self._names(side_a)
        second = self._names(side_b) if side_b is not None else set(self._hosts) - first
        for a in first:
            for b in second:
                if a != b:
                    self._cuts.add(frozenset((a, b)))
        self._links.clear()
        for end in self._ends:
            if frozenset((end.host, end.peer_host)) in self._cuts:
                end.hold()

    def heal(
        self, side_a: str | Iterable[str] | None = None, side_b: str | Iterable[str] | None = None
    ) -> None:
        """Undo partitions: all of them, those of ``side_a``, or those between the two sides."""
        if side_a is None:
            healed = set(self._cuts)
        else:
            first = self._names(side_a)
            second = self._names(side_b) if side_b is not None else None
            healed = {
                cut for cut in self._cuts
                if cut & first and (second is None or cut & second)
            }
        self._cuts -= healed
        self._links.clear()
        for end in list(self._ends):
            if frozenset((end.host, end.peer_host)) in healed:
                end.release()
        self._wake_blocked()

    def crash(self, name: str) -> None:
        """Crash host ``name``: its connections reset, its servers close, its tasks are cancelled.

        Peers see ``ConnectionResetError``; connecting to the host waits
        (and times out) until `restart`. Every task running on its behalf is
        cancelled: tasks started inside ``host(name)`` or ``run_on(name, ...)``
        and those a connection to one of its servers started (handlers,
        however made: ``create_task``, ``asyncio.Task(...)``, eagerly).
        """
        host = self._hosts[self._name(name)]
        host.up = False
        for server in [s for s in self._servers if s.host == host.name]:
            server.close()
        down = ConnectionAbortedError(errno.ECONNABORTED, f"host {host.name!r} crashed")
        for end in list(self._ends):
            if end.host == host.name:
                end._reset_local(down)
        for endpoint in list(self._datagrams.values()):
            if endpoint.host == host.name:
                endpoint.close()
        self._cancel_tasks(host.name)

    def restart(self, name: str) -> None:
        """Bring host ``name`` back up: reachable again, with no server until one is started."""
        self._hosts[self._name(name)].up = True
        self._wake_blocked()

    def reset(self, connection: Any) -> None:
        """Reset one connection: ``connection`` is a transport, a StreamWriter or their socket's address.

        Both ends see ``ConnectionResetError``.
        """
        end = self._find(connection)
        exc = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        peer = end._peer
        end.reset_now(exc)
        if peer is not end:
            peer.reset_now(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))

    @staticmethod
    def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
        """Return (server, client) SSL contexts on a shipped, TEST-ONLY certificate.

        The certificate is valid for ``localhost``, ``127.0.0.1``, ``::1``,
        ``server``, ``db``, ``api``, ``cache``, ``leader``, ``follower``,
        ``primary``, ``replica``, ``example.com``, ``*.example.com``,
        ``test.internal`` and ``*.test.internal``; the client context
        trusts only its test CA and checks host names. Its
        private key is published in asynctestkit: never use it outside tests.

        Example:
            >>> server_ctx, client_ctx = VirtualNetwork.tls_contexts()
            >>> server = await asyncio.start_server(handle, "db", 5432, ssl=server_ctx)
            >>> r, w = await asyncio.open_connection("db", 5432, ssl=client_ctx)
        """
        from ._testcert import tls_contexts  # loaded only by tests that use TLS

        return tls_contexts()

    def connections(self) -> list[str]:
        """One line per open connection end: hosts, addresses, bytes buffered, who waits to read."""
        return [end.describe() for end in self._ends]

    def servers(self) -> list[VirtualServer]:
        """The servers listening now."""
        return [s for s in self._servers if s.is_serving() or s.sockets]

    # -- internals: links --------------------------------------------------

    def _name(self, name: str) -> str:
        key = name.lower().rstrip(".")
        if key not in self._hosts:
            raise ValueError(f"no host named {name!r} on this network; known: {sorted(self._hosts)}")
        return key

    def _names(self, side: str | Iterable[str]) -> set[str]:
        names = [side] if isinstance(side, str) else list(side)
        return {self._name(n) for n in names}

    def _link(self, a: str, b: str) -> _Link:
        link = self._links.get((a, b))
        if link is None:
            latency, jitter, bandwidth = self._default
            values: dict[str, Any] = {"latency": latency, "jitter": jitter, "bandwidth": bandwidth}
            values.update(self._host_settings.get("", {}))
            for name in (a, b):
                values.update(self._host_settings.get(name, {}))
            values.update(self._link_settings.get(frozenset((a, b)), {}))
            link = _Link(values, frozenset((a, b)) in self._cuts, self._rng)
            self._links[a, b] = link
        return link

    def _reachable_now(self, src: _Host, dst: _Host | None) -> bool:
        return dst is not None and dst.up and src.up and frozenset((src.name, dst.name)) not in self._cuts

    def _wake_blocked(self) -> None:
        blocked, self._blocked = self._blocked, []
        for fut in blocked:
            if not fut.done():
                fut.set_result(None)

    def _cancel_tasks(self, name: str) -> None:
        loop = self._loop
        if loop is None:
            return
        me = asyncio.current_task(loop) if loop.is_running() else None
        for task in asyncio.all_tasks(loop):
            if task is me or task.done():
                continue
            ctx = task_context(task, loop)
            if ctx is not None and ctx.get(current_host) == name:
                if STREAM_HANDLER_CANCEL_RAISES:  # pragma: no cover - some 3.12 releases
                    _spare_stream_callback(task)
                task.cancel(f"host {name!r} crashed")

    # -- internals: bookkeeping ----------------------------------------------

    def _closed_one(self, end: Endpoint) -> None:
        """An end was closed or reset: it stays listed until connection_lost."""

    def _forget(self, end: Endpoint) -> None:
        # Listed until lost and nothing of it is in flight (its timers are the network's).
        if not end._flight:
            self._ends.pop(end, None)

    def _unlisten(self, server: VirtualServer) -> None:
        for key in [k for k, s in self._listeners.items() if s is server]:
            del self._listeners[key]
        with contextlib.suppress(ValueError):
            self._servers.remove(server)

    def _find(self, connection: Any) -> Endpoint:
        transport = getattr(connection, "transport", connection)
        while transport is not None and not isinstance(transport, Endpoint):
            # An SSL transport: asyncio's _SSLProtocolTransport keeps its protocol's.
            proto = getattr(transport, "_ssl_protocol", None)
            transport = getattr(proto, "_transport", None)
        if isinstance(transport, Endpoint):
            return transport
        if isinstance(connection, tuple):
            for end in self._ends:
                if end.local == connection:
                    return end
        raise ValueError(
            "reset() needs a transport, a StreamWriter or a connection's local address "
            f"on this network; got {connection!r}"
        )

    # -- internals: names and ports -----------------------------------------

    def resolve(self, host: Any, *, passive: bool = False) -> tuple[str, _Host | None]:
        """(address, host) for a name or address; socket.gaierror for an unknown name."""
        if host is None or host in _WILDCARDS:
            bound = self._current()
            return ("0.0.0.0" if passive else bound.ip), bound
        if isinstance(host, bytes):
            host = host.decode("idna")
        if not isinstance(host, str):
            raise TypeError(f"host must be a str; got {host!r}")
        if host == "::1":
            return "::1", self._hosts[_LOCALHOST]
        try:
            ip = str(ipaddress.ip_address(host))
        except ValueError:
            entry = self._hosts.get(host.lower().rstrip("."))
            if entry is None:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            return entry.ip, entry
        return ip, self._by_ip.get(ip)

    @staticmethod
    def port_number(port: Any) -> int:
        if port is None:
            return 0
        if isinstance(port, bytes):
            port = port.decode()
        if isinstance(port, str):
            if port.isdigit():
                port = int(port)
            elif port in _SERVICES:
                return _SERVICES[port]
            else:
                raise socket.gaierror(socket.EAI_SERVICE, "Servname not supported for ai_socktype")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise OverflowError("getsockaddrarg: port must be 0-65535.")
        return port

    def _free_port(self, host: _Host, family: Any = None) -> int:
        while True:
            port = host.next_port
            host.next_port = port + 1 if port < 60999 else _FIRST_PORT
            if (host.ip, port) not in self._listeners:
                return port

    def _free_datagram_port(self, host: _Host) -> int:
        while True:
            port = host.next_port
            host.next_port = port + 1 if port < 60999 else _FIRST_PORT
            if (host.ip, port) not in self._datagrams:
                return port

    def _datagram_listener(self, key: tuple[Any, ...]) -> DatagramEndpoint | None:
        endpoint = self._datagrams.get(key)
        if endpoint is None and key[0] in _LOOPBACK:
            endpoint = self._datagrams.get(("::1" if key[0] == "127.0.0.1" else "127.0.0.1", key[1]))
        return endpoint

    def _unbind_datagram(self, endpoint: DatagramEndpoint) -> None:
        for key in [k for k, e in self._datagrams.items() if e is endpoint]:
            del self._datagrams[key]

    def listener(self, key: tuple[Any, ...]) -> VirtualServer | None:
        """The server listening at ``key`` ((address, port), or ("unix", path))."""
        server = self._listeners.get(key)
        if server is None and key[0] in _LOOPBACK:
            # localhost is dual-stack: ::1 reaches 127.0.0.1's listeners and back.
            server = self._listeners.get(("::1" if key[0] == "127.0.0.1" else "127.0.0.1", key[1]))
        return server

    # -- reports ---------------------------------------------------------

    def report(self) -> str:
        """What is open on the network, for deadlock and watchdog reports ("" if nothing)."""
        lines = [s.describe() for s in self._servers]
        lines += [end.describe() for end in self._ends]
        lines += [d.describe() for d in self._datagrams.values()]
        cuts = sorted("-".join(sorted(c)) for c in self._cuts)
        down = sorted(h.name for h in self._hosts.values() if not h.up)
        if not lines and not cuts and not down:
            return ""
        head = "Virtual network"
        if cuts:
            head += f" (partitioned: {', '.join(cuts)})"
        if down:
            head += f" (down: {', '.join(down)})"
        return head + ":\n" + "\n".join(f"  {line}" for line in lines)

    def leaks(self) -> str:
        """The leak report for what the test left open (servers, connections); "" if nothing.

        Each is named with the line that opened it. Everything reported is
        then closed (aborted), so no timer of the network outlives the test.
        """
        lines: list[str] = []
        for server in list(self._servers):
            lines.append(f"  {server.describe()}, opened at:")
            lines += format_frames(server.site) or ["      (unknown)"]
            server.close()
        seen: set[Endpoint] = set()
        for end in list(self._ends):
            if end in seen:
                continue
            seen.add(end)
            seen.add(end._peer)
            if not end._closing and not end._peer._closing:
                opener = end if end.site else end._peer
                lines.append(f"  connection {end.describe()}, opened at:")
                lines += format_frames(opener.site) or ["      (unknown)"]
        for endpoint in self._datagrams.values():
            lines.append(f"  {endpoint.describe()}, opened at:")
            lines += format_frames(endpoint.site) or ["      (unknown)"]
        self.shut_down()
        if not lines:
            return ""
        return (
            "Virtual network: left open at the end of the test (close servers with "
            "`server.close(); await server.wait_closed()`, connections with "
            "`writer.close(); await writer.wait_closed()`, datagram endpoints with "
            "`transport.close()`):\n" + "\n".join(lines)
        )

    def shut_down(self) -> None:
        """Close every server and drop every connection, silently: no callback, no timer left.

        Called after the leak report, and when the loop closes.
        """
        for server in list(self._servers):
            server.close()
        for end in list(self._ends):
            end.drop()
        self._ends.clear()
        for endpoint in list(self._datagrams.values()):
            endpoint.drop()
        for fut in self._blocked:
            fut.cancel()
        self._blocked.clear()

    # -- the loop's calls (see _calls) -------------------------------------

    def _bound_host(self, local_addr: Any) -> _Host:
        if local_addr is None:
            return self._current()
        _ip, host = self.resolve(local_addr[0])
        if host is None:
            raise OSError(errno.EADDRNOTAVAIL, f"Cannot assign requested address: {local_addr!r}")
        return host

    async def open(
        self, loop: Any, key: tuple[Any, ...], dst: _Host | None, src: _Host, site: Site,
        family: int = socket.AF_INET, local_port: int = 0,
    ) -> Endpoint:
        """Connect from ``src`` to the listener at ``key``; return the client's end (not started)."""
        address = key if key[0] != "unix" else key[1]
        if not self._reachable_now(src, dst):
            await self._wait_reachable(loop, src, dst, address)
        assert dst is not None
        link = self._link(src.name, dst.name)
        await _after(loop, link.delay())  # the SYN travels
        server = self.listener(key)
        if server is None or not dst.up:
            await _after(loop, link.delay())
            raise OSError(errno.ECONNREFUSED, f"Connect call failed {address}")
        if key[0] == "unix":
            client = Endpoint(self, loop, src.name, "", key[1], contextvars.copy_context(), site,
                              socket.AF_UNIX)
            srv_end = Endpoint(self, loop, dst.name, key[1], "", server.connection_context(), (),
                               socket.AF_UNIX)
        else:
            port = local_port or self._free_port(src)
            # A connection to a loopback address leaves from it; else from the host's address.
            local: tuple[Any, ...] = (key[0] if key[0] in _LOOPBACK else src.ip, port)
            remote: tuple[Any, ...] = key
            if family == socket.AF_INET6:
                local, remote = (*local, 0, 0), (*key, 0, 0)
            client = Endpoint(self, loop, src.name, local, remote, contextvars.copy_context(), site, family)
            srv_end = Endpoint(self, loop, dst.name, remote, local, server.connection_context(), (), family)
        srv_end._ctx.run(current_host.set, dst.name)
        client.pair(srv_end)
        self._ends[client] = None
        self._ends[srv_end] = None

        def start() -> None:
            server._start_connection(srv_end)

        def refuse() -> None:
            srv_end.reset_now(ConnectionRefusedError(errno.ECONNREFUSED, "server closed"))
            client._reset_remote()

        server.accept(_Pending(start, refuse))
        await _after(loop, link.delay())  # the SYN-ACK comes back
        return client

    async def _wait_reachable(self, loop: Any, src: _Host, dst: _Host | None, address: Any) -> None:
        deadline = loop.time() + self.connect_timeout
        while not self._reachable_now(src, dst):
            left = deadline - loop.time()
            if left <= 0:
                raise OSError(errno.ETIMEDOUT, f"Connect call failed {address}")
            fut = loop.create_future()
            self._blocked.append(fut)
            timer = loop.call_later(left, _settle, fut)
            try:
                await fut
            finally:
                timer.cancel()
                with contextlib.suppress(ValueError):
                    self._blocked.remove(fut)


def _spare_stream_callback(task: asyncio.Task[Any]) -> None:  # pragma: no cover - some 3.12
    # See _compat.STREAM_HANDLER_CANCEL_RAISES: the handler's end callback, run
    # only if the task was not cancelled (as later releases do).
    for callback, _ in list(getattr(task, "_callbacks", None) or ()):
        if getattr(callback, "__qualname__", "") == "StreamReaderProtocol.connection_made.<locals>.callback":
            task.remove_done_callback(callback)
            task.add_done_callback(functools.partial(_unless_cancelled, callback))


def _unless_cancelled(callback: Any, task: asyncio.Task[Any]) -> None:  # pragma: no cover - some 3.12
    if not task.cancelled():
        callback(task)


def _check_bandwidth(bandwidth: Any) -> None:
    if bandwidth is None:
        return
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) or not (
        0 < bandwidth < float("inf")
    ):
        raise ValueError(
            f"bandwidth needs a positive, finite number of bytes per second, or None; got {bandwidth!r}"
        )


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _after(loop: Any, delay: float) -> None:
    """Wait ``delay`` virtual seconds on a bare timer (no task, no sleep())."""
    fut = loop.create_future()
    timer = loop.call_later(delay, _settle, fut)
    try:
        await fut
    finally:
        timer.cancel()
