"""A listening server on the virtual network: what ``loop.create_server()`` returns.

It behaves as ``asyncio.Server`` does on the running Python: ``sockets``,
``is_serving``, ``start_serving``, ``serve_forever``, ``close``,
``close_clients``/``abort_clients`` and ``wait_closed``, which on 3.12+ waits
for every connection the server accepted to end (gh-79033) and on 3.10-3.11
returns at once after ``close()``, as asyncio's does there.
"""

from __future__ import annotations

import asyncio
import contextvars
from asyncio import sslproto
from typing import TYPE_CHECKING, Any, final

from .._compat import PY311, SERVER_WAITS_FOR_CLIENTS

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._network import VirtualNetwork
    from ._stream import Endpoint, Site, VirtualSocket

__all__ = ("VirtualServer", "ssl_protocol")


def ssl_protocol(
    loop: Any, protocol: Any, sslcontext: Any, waiter: Any, server_side: bool,
    server_hostname: str | None, handshake_timeout: Any, shutdown_timeout: Any,
) -> Any:
    # asyncio's own TLS layer, as _make_ssl_transport builds it; 3.11 added
    # ssl_shutdown_timeout (gh-88177, the rewritten SSLProtocol).
    options: dict[str, Any] = {"ssl_handshake_timeout": handshake_timeout}
    if PY311:
        options["ssl_shutdown_timeout"] = shutdown_timeout
    elif shutdown_timeout is not None:  # pragma: no cover - 3.10 refuses it as asyncio does
        raise TypeError("ssl_shutdown_timeout is not supported before Python 3.11")
    return sslproto.SSLProtocol(loop, protocol, sslcontext, waiter, server_side, server_hostname, **options)



@final
class VirtualServer(asyncio.AbstractServer):
    """A server listening on virtual addresses; made by ``loop.create_server()``."""

    def __init__(
        self,
        network: VirtualNetwork,
        loop: asyncio.AbstractEventLoop,
        host: str,
        addresses: list[tuple[Any, ...]],
        sockets: list[VirtualSocket],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        ssl: Any,
        ssl_options: dict[str, Any],
        site: Site,
    ) -> None:
        self._net = network
        self._loop = loop
        self.host = host
        self.addresses = addresses
        self._sockets: list[VirtualSocket] | None = sockets
        self._protocol_factory = protocol_factory
        self._ssl = ssl
        self._ssl_options = ssl_options
        self.site = site
        self._context = contextvars.copy_context()
        self._serving = False
        self._serving_forever_fut: asyncio.Future[None] | None = None
        self._waiters: list[asyncio.Future[None]] | None = []
        self._clients: set[Endpoint] = set()
        # A real socket given as sock= (it only named the address): closed with the server.
        self.real_sock: Any = None
        self._backlog: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<VirtualServer sockets={tuple(self.sockets)!r}>"

    @property
    def sockets(self) -> tuple[VirtualSocket, ...]:
        """The listening sockets' stand-ins (empty once closed)."""
        return () if self._sockets is None else tuple(self._sockets)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    # -- connections -----------------------------------------------------

    def accept(self, make: Callable[[], None]) -> None:
        """Run ``make`` (which builds the connection) now if serving, else once serving starts."""
        if self._serving:
            make()
        else:
            self._backlog.append(make)

    def connection_context(self) -> contextvars.Context:
        """The context a new connection's callbacks run in: a copy of the server's."""
        return self._context.copy()

    def _start_connection(self, end: Endpoint) -> None:
        """Make the protocol of a server's new connection (in the connection's context) and start it."""
        loop = self._loop
        try:
            protocol = end._ctx.run(self._protocol_factory)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            loop.call_exception_handler({"message": "Error on transport creation for incoming connection",
                                         "exception": exc})
            end.abort()
            return
        if self._ssl:
            options = self._ssl_options
            protocol = ssl_protocol(loop, protocol, self._ssl, None, True, None,
                                    options.get("ssl_handshake_timeout"),
                                    options.get("ssl_shutdown_timeout"))
        end.start(protocol, self)

    def _attach(self, end: Endpoint) -> None:
        self._clients.add(end)

    def _detach(self, end: Endpoint) -> None:
        self._clients.discard(end)
        if not self._clients and self._sockets is None:
            self._wakeup()

    def _wakeup(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # -- serving ---------------------------------------------------------

    async def start_serving(self) -> None:
        self._start_serving()
        # Like asyncio's: give the loop a chance to run what accepting scheduled.
        await asyncio.sleep(0)

    def _start_serving(self) -> None:
        if self._serving or self._sockets is None:
            return
        self._serving = True
        backlog, self._backlog = self._backlog, []
        for make in backlog:
            make()

    async def serve_forever(self) -> None:
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    def close(self) -> None:
        if self._sockets is None:
            return
        self._sockets = None
        self._serving = False
        self._net._unlisten(self)
        sock, self.real_sock = self.real_sock, None
        if sock is not None:
            sock.close()
        for make in self._backlog:
            make.refuse()  # type: ignore[attr-defined]
        self._backlog = []
        fut = self._serving_forever_fut
        if fut is not None and not fut.done():
            fut.cancel()
            self._serving_forever_fut = None
        if not self._clients:
            self._wakeup()

    def close_clients(self) -> None:
        """Close every connection the server accepted (3.13's ``Server.close_clients``)."""
        for end in list(self._clients):
            end.close()

    def abort_clients(self) -> None:
        """Abort every connection the server accepted (3.13's ``Server.abort_clients``)."""
        for end in list(self._clients):
            end.abort()

    async def wait_closed(self) -> None:
        if SERVER_WAITS_FOR_CLIENTS:
            waiters = self._waiters
            if waiters is None:
                return
        else:
            # 3.10-3.11 return at once once close() was called (gh-79033).
            waiters = self._waiters
            if self._sockets is None or waiters is None:
                return
        waiter = self._loop.create_future()
        waiters.append(waiter)
        await waiter

    def describe(self) -> str:
        """One line for reports."""
        where = ", ".join(f"{a[0]}:{a[1]}" for a in self.addresses)
        return f"server on {self.host} {where} ({len(self._clients)} open connections)"
