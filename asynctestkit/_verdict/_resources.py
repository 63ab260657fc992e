"""Resources a test left open: servers, connections, sockets, subprocesses, executors, threads.

`Resources` watches one test from its start to its verdict. What it costs a
test that opens nothing is the install and the uninstall: three class
attributes swapped (``socket.socket.__init__``, ``subprocess.Popen.__init__``,
``threading.Thread.start``) and six of the test's loop's methods shadowed on
the instance (``create_server``, ``create_unix_server``,
``create_connection``, ``create_unix_connection``,
``create_datagram_endpoint``, ``subprocess_exec``/``subprocess_shell``,
reached by ``asyncio.start_server``, ``open_connection`` and
``create_subprocess_exec``). Each of them, when called, notes the object it
made (held weakly: a resource nobody holds is Python's to finalize, with its
own ``ResourceWarning``) and the user's line that made it. Nothing is
scanned: at the verdict only what was noted is looked at, plus the loop's
own table of live socket transports (``_transports``, 3.10-3.15), which
holds the connections a server accepted.

What is the loop's or a library's plumbing is not the test's: a socket or a
thread whose maker (the first frame above ``socket.py``/``threading.py``) is
asyncio's, unittest's or asynctestkit's own belongs to a transport or to the
loop (the default executor, the child watcher's threads), and so is left out.
Sockets and threads are noted only when made on the loop's thread or on a
thread the test started: a library's thread that was there before the test
may open and close what it likes.

Zero false positives is the rule: a resource counts as left open only when
it certainly is at the verdict (the last cleanup, after ``asyncTearDown``
and every other cleanup): a transport that is not closing, a server with
listening sockets, a socket with a file descriptor, a process that has not
exited, a thread alive after a short join (``_JOIN`` real seconds in all, and
only when one is found alive). An executor shut down, even with
``wait=False``, is not open; the loop's default executor is the runner's to
shut down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures.thread
import contextlib
import functools
import socket
import subprocess
import sys
import threading
import time
import types
import weakref
from typing import TYPE_CHECKING, Any, final

from ._report import Site, creation_site, format_frames, is_plumbing

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import FrameType

__all__ = ("KINDS", "Resources", "describe_wait_closed", "format_resources", "resource_kinds")

# The kinds of resources, as `check_resources` names them.
KINDS = frozenset({"servers", "connections", "sockets", "subprocesses", "executors", "threads"})



def resource_kinds(value: object) -> frozenset[str]:
    """Return the kinds a ``check_resources`` value turns on.

    Raises:
        TypeError: not a bool nor a collection of strings.
        ValueError: a kind that is not one of `KINDS`.
    """
    if value is True:
        return KINDS
    if value is False:
        return frozenset()
    if isinstance(value, (str, bytes)) or not isinstance(value, (set, frozenset, list, tuple)):
        raise TypeError("not True, False or a set of kinds")
    unknown = sorted(map(repr, set(value) - KINDS))
    if unknown:
        raise ValueError(f"unknown kind {', '.join(unknown)}; the kinds are {', '.join(sorted(KINDS))}")
    return frozenset(value)


def format_resources(found: list[str]) -> str:
    """The verdict's section for the resources a test left open."""
    return (
        f"Resources left open at the end of the test ({len(found)}); close them in the test, "
        "asyncTearDown or a cleanup (check_resources turns this check off, or names the kinds "
        "to check):\n" + "\n".join(found)
    )


# Real seconds, in all, that threads found alive at the verdict (and processes
# found running) get to end: one that has just delivered its result to the
# test may not have returned from its target yet.
_JOIN = 0.1

_SOCKET_FILE = socket.__file__
_THREADING_FILE = threading.__file__
_SUBPROCESS_FILE = subprocess.__file__
_EXECUTOR_FILE = concurrent.futures.thread.__file__
_EXECUTOR_WORKER = concurrent.futures.thread._worker

_socket_init = socket.socket.__init__
_popen_init = subprocess.Popen.__init__
_thread_start = threading.Thread.start

# The test whose resources are noted now (a test run inside a test nests).
_current: Resources | None = None
_get_ident = threading.get_ident
_getframe = sys._getframe


def _maker(frame: FrameType | None, own_file: str) -> FrameType | None:
    """The first frame above ``own_file``'s own (socket.py's accept(), say)."""
    while frame is not None and frame.f_code.co_filename == own_file:
        frame = frame.f_back
    return frame


def _noting_socket_init(self: socket.socket, *args: Any, **kwargs: Any) -> None:
    _socket_init(self, *args, **kwargs)
    watching = _current
    if watching is not None and watching.sockets_on:
        watching.note_socket(self, _getframe(1))


def _noting_popen_init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
    _popen_init(self, *args, **kwargs)
    watching = _current
    if watching is not None and watching.subprocesses_on:
        watching.note_popen(self, _getframe(1))


def _noting_thread_start(self: threading.Thread) -> None:
    watching = _current
    if watching is not None:
        watching.note_thread(self, _getframe(1))
    _thread_start(self)


_CLASS_PATCHES: tuple[tuple[type, str, Callable[..., Any]], ...] = (
    (socket.socket, "__init__", _noting_socket_init),
    (subprocess.Popen, "__init__", _noting_popen_init),
    (threading.Thread, "start", _noting_thread_start),
)
_ORIGINALS = {(cls, name): vars(cls)[name] for cls, name, _ in _CLASS_PATCHES}


async def _noting_server(self: Resources, name: str, *args: Any, **kwargs: Any) -> Any:
    frame = _getframe(1)
    server = await self.originals[name](*args, **kwargs)
    self.servers.append((weakref.ref(server), creation_site(frame)))
    return server


async def _noting_endpoint(self: Resources, name: str, *args: Any, **kwargs: Any) -> Any:
    frame = _getframe(1)
    transport, protocol = await self.originals[name](*args, **kwargs)
    self.transports.append((weakref.ref(transport), creation_site(frame), name))
    return transport, protocol


_SHADOWS = {
    "create_server": _noting_server,
    "create_unix_server": _noting_server,
    "create_connection": _noting_endpoint,
    "create_unix_connection": _noting_endpoint,
    "create_datagram_endpoint": _noting_endpoint,
    "subprocess_exec": _noting_endpoint,
    "subprocess_shell": _noting_endpoint,
}


@final
class Resources:
    """Note what one test opens; at its verdict, say what it left open.

    Args:
        loop: The test's loop.
        kinds: The kinds to check (a subset of `KINDS`); empty: install nothing.
        baseline: The loop is a class's: its live transports now are not the test's.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, kinds: frozenset[str], *, baseline: bool) -> None:
        self.loop = loop
        self.kinds = kinds
        self.sockets_on = "sockets" in kinds
        self.subprocesses_on = "subprocesses" in kinds
        self.originals: dict[str, Callable[..., Any]] = {}
        self.servers: list[tuple[weakref.ref[Any], Site]] = []
        self.transports: list[tuple[weakref.ref[Any], Site, str]] = []
        # Held strongly until the verdict: one the test dropped unclosed is
        # reported there, not by a ResourceWarning in whatever runs next.
        self.sockets: list[tuple[socket.socket, Site]] = []
        self.popens: list[tuple[subprocess.Popen[Any], Site]] = []
        # What the verdict found open, closed once reported (see `close_left_open`).
        self._left: list[Callable[[], object]] = []
        self.threads: list[tuple[weakref.ref[threading.Thread], Site]] = []
        self._owner = _get_ident()
        self._thread_ids: set[int] = set()
        self._previous: Resources | None = None
        self._installed = False
        self._baseline: set[int] = set()
        if baseline:
            self._baseline = {id(t) for t in _live_transports(loop)}

    def install(self) -> None:
        """Start noting; undone by `uninstall`."""
        global _current
        if not self.kinds:
            return
        self._previous = _current
        if _current is None:
            for cls, name, patch in _CLASS_PATCHES:
                setattr(cls, name, patch)
        _current = self
        self._installed = True
        loop = self.loop
        try:
            instance = vars(loop)
        except TypeError:  # pragma: no cover - a loop without __dict__ (uvloop)
            return
        for name, shadow in _SHADOW_METHODS.items():
            original = getattr(loop, name, None)
            if original is None:  # pragma: no cover - create_unix_* off POSIX
                continue
            self.originals[name] = original
            instance[name] = types.MethodType(shadow, self)

    def uninstall(self) -> None:
        """Stop noting and put back what `install` changed (idempotent)."""
        global _current
        if not self._installed:
            return
        self._installed = False
        _current = self._previous
        if _current is None:
            for cls, name, _ in _CLASS_PATCHES:
                setattr(cls, name, _ORIGINALS[cls, name])
        instance = vars(self.loop)
        for name in self.originals:
            instance.pop(name, None)

    # -- noting -------------------------------------------------------------

    def _ours(self) -> bool:
        ident = _get_ident()
        return ident == self._owner or ident in self._thread_ids

    def note_socket(self, sock: socket.socket, frame: FrameType | None) -> None:
        """A socket was made (socket(), accept(), socketpair()...) while the test ran."""
        maker = _maker(frame, _SOCKET_FILE)
        if maker is None or is_plumbing(maker.f_code.co_filename) or not self._ours():
            return  # a transport's, or the loop's own
        self.sockets.append((sock, creation_site(maker)))

    def note_popen(self, popen: subprocess.Popen[Any], frame: FrameType | None) -> None:
        """A ``subprocess.Popen`` was made while the test ran."""
        maker = _maker(frame, _SUBPROCESS_FILE)
        if maker is None or is_plumbing(maker.f_code.co_filename) or not self._ours():
            return  # asyncio's subprocess transport's (noted as the transport)
        self.popens.append((popen, creation_site(maker)))

    def note_thread(self, thread: threading.Thread, frame: FrameType | None) -> None:
        """A thread is being started while the test runs."""
        if not self._ours():
            return
        maker = _maker(frame, _THREADING_FILE)
        if maker is None:  # pragma: no cover - Thread.start from nowhere
            return
        filename = maker.f_code.co_filename
        if filename == _EXECUTOR_FILE:
            # An executor's worker: the user's line is the submit() or
            # run_in_executor() that started it.
            pass
        elif is_plumbing(filename) or getattr(thread, "_asynctestkit_ignore", False):
            return
        self.threads.append((weakref.ref(thread), creation_site(maker)))
        if self.sockets_on or self.subprocesses_on:
            _note_ident(self._thread_ids, thread)

    # -- the verdict ------------------------------------------------------------

    def findings(self) -> list[str]:
        """Return one line block per resource left open, for the kinds checked."""
        kinds = self.kinds
        found: list[str] = []
        open_fds: set[int] = set()
        servers = [(s, site) for ref, site in self.servers if (s := ref()) is not None and s.sockets]
        for server, _ in servers:
            open_fds.update(sock.fileno() for sock in server.sockets)
        if "servers" in kinds:
            for server, site in servers:
                found.append(_entry(f"server {_server_name(server)} still serving", site))
                self._left.append(server.close)
        if "connections" in kinds or "subprocesses" in kinds:
            found.extend(self._transport_findings(open_fds))
        if "sockets" in kinds:
            for sock, site in self.sockets:
                if sock.fileno() != -1 and sock.fileno() not in open_fds:
                    found.append(_entry(f"socket {_socket_name(sock)} not closed", site))
                    self._left.append(sock.close)
        threads = self._live_threads() if {"threads", "executors", "subprocesses"} & kinds else []
        if "subprocesses" in kinds:
            for popen, site in self.popens:
                if _running(popen):
                    found.append(_entry(
                        f"subprocess pid {popen.pid} ({_args(popen.args)}) still running; "
                        "wait() for it, or kill() and wait()", site,
                    ))
                    self._left.append(functools.partial(_kill, popen))
        if "executors" in kinds:
            found.extend(_executor_findings(threads, self._left))
        if "threads" in kinds:
            found.extend(
                _entry(f"thread {_thread_name(t)} still running{_stack_of(t)}", site)
                for t, site in threads if t._target is not _EXECUTOR_WORKER  # type: ignore[attr-defined]
            )
        return found

    def close_left_open(self) -> None:
        """Close what `findings` reported (not threads): nothing else reports it again later."""
        left, self._left = self._left, []
        for close in left:
            with contextlib.suppress(Exception):
                close()
        self.sockets = []
        self.popens = []

    def _transport_findings(self, open_fds: set[int]) -> list[str]:
        found: list[str] = []
        noted: dict[int, tuple[Site, str]] = {}
        for ref, site, how in self.transports:
            transport = ref()
            if transport is not None:
                noted[id(transport)] = (site, how)
                if how.startswith("subprocess") and "subprocesses" in self.kinds:
                    if transport.get_returncode() is None and not transport.is_closing():
                        pid = transport.get_pid()
                        proc = getattr(transport, "_proc", None)
                        args = _args(getattr(proc, "args", "?"))
                        found.append(_entry(
                            f"subprocess pid {pid} ({args}) still running; await its wait() "
                            "(or kill() it, then wait())", site,
                        ))
                        self._left.append(functools.partial(_close_subprocess, transport))
        if "connections" not in self.kinds:
            return found
        seen: set[int] = set()
        candidates = [t for ref, _, how in self.transports if not how.startswith("subprocess")
                      if (t := ref()) is not None]
        for transport in [*candidates, *_live_transports(self.loop)]:
            if id(transport) in seen or id(transport) in self._baseline:
                continue
            seen.add(id(transport))
            if transport.is_closing():
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.fileno() in open_fds:
                continue
            site, how = noted.get(id(transport), ((), ""))
            what = _connection_name(transport)
            if not site:
                server = getattr(transport, "_server", None)
                what += f", accepted by server {_server_name(server)}" if server is not None else ""
            found.append(_entry(f"{what} not closed; close() it (and await wait_closed())", site))
            self._left.append(transport.close)
        return found

    def _live_threads(self) -> list[tuple[threading.Thread, Site]]:
        default = getattr(getattr(self.loop, "_default_executor", None), "_threads", ())
        live = []
        for ref, site in self.threads:
            thread = ref()
            if thread is None or thread in default or not thread.is_alive():
                continue
            if thread._target is _EXECUTOR_WORKER:  # type: ignore[attr-defined]
                executor = thread._args[0]()  # type: ignore[attr-defined]  # a weakref (3.10-3.15)
                if executor is None or executor._shutdown:
                    continue  # shut down (maybe wait=False): its work ends by itself
            live.append((thread, site))
        if live:
            deadline = time.monotonic() + _JOIN
            for thread, _ in live:
                if thread._target is not _EXECUTOR_WORKER:  # type: ignore[attr-defined]
                    thread.join(max(deadline - time.monotonic(), 0))
            live = [(t, site) for t, site in live if t.is_alive()]
        return live


def _note_ident(idents: set[int], thread: threading.Thread) -> None:
    """Add ``thread``'s id to ``idents`` as it starts: what it opens is the test's too.

    An instance attribute shadows ``run`` (a subclass's too); the thread's id
    stays its own while it lives.
    """
    run = thread.run

    def noting_run() -> None:
        idents.add(_get_ident())
        del thread.run  # the cycle thread -> noting_run -> thread ends here
        run()

    thread.run = noting_run  # type: ignore[method-assign]


def _bind(shadow: Callable[..., Any], name: str) -> Callable[..., Any]:
    async def method(self: Resources, *args: Any, **kwargs: Any) -> Any:
        return await shadow(self, name, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


def _live_transports(loop: asyncio.AbstractEventLoop) -> list[Any]:
    """The loop's live socket transports (BaseSelectorEventLoop._transports, 3.10-3.15)."""
    table = getattr(loop, "_transports", None)
    if table is None:
        return []
    with contextlib.suppress(RuntimeError):  # changed size while copied: a thread closed one
        return list(table.values())
    return []  # pragma: no cover


def _running(popen: subprocess.Popen[Any]) -> bool:
    if popen.poll() is not None:
        return False
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(_JOIN)
        return False
    return True


def _kill(popen: subprocess.Popen[Any]) -> None:
    popen.kill()
    popen.wait()


def _close_subprocess(transport: Any) -> None:
    popen = getattr(transport, "_proc", None)  # BaseSubprocessTransport._proc (3.10-3.15)
    transport.close()  # kills it
    if popen is not None:
        popen.wait()  # reaped: no "still running" warning when it is collected


def _entry(what: str, site: Site) -> str:
    lines = [f"- {what}"]
    if site:
        lines.append("    opened at (innermost first):")
        lines.extend(format_frames(site))
    return "\n".join(lines)


def _server_name(server: Any) -> str:
    try:
        names = [_address(s.getsockname()) for s in server.sockets]
    except (OSError, AttributeError):  # pragma: no cover - closed meanwhile
        names = []
    return f"on {', '.join(names)}" if names else repr(server)


def _address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return repr(address) if address else "(unnamed)"


def _socket_name(sock: socket.socket) -> str:
    family = getattr(sock.family, "name", str(sock.family))
    try:
        text = f"{family} {_address(sock.getsockname())}"
    except OSError:  # pragma: no cover - not bound yet on some platforms
        text = family
    with contextlib.suppress(OSError):
        text += f" -> {_address(sock.getpeername())}"
    return text


def _connection_name(transport: Any) -> str:
    kind = "datagram endpoint" if isinstance(transport, asyncio.DatagramTransport) else "connection"
    local = transport.get_extra_info("sockname")
    peer = transport.get_extra_info("peername")
    text = f"{kind} {_address(local)}"
    if peer:
        text += f" -> {_address(peer)}"
    return text


def _args(args: Any) -> str:
    if isinstance(args, (list, tuple)):
        args = " ".join(map(str, args))
    text = str(args)
    return text if len(text) <= 60 else text[:57] + "..."


def _thread_name(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    name = getattr(target, "__qualname__", None)
    kind = "daemon " if thread.daemon else ""
    return f"{thread.name!r} ({kind}{'running ' + name + '()' if name else type(thread).__name__})"


def _stack_of(thread: threading.Thread) -> str:
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:  # pragma: no cover - ended just now
        return ""
    frames = []
    while frame is not None and len(frames) < 3:
        code = frame.f_code
        if not is_plumbing(code.co_filename) and code.co_filename != _THREADING_FILE:
            frames.append((code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    if not frames:
        return ""
    return "; now at (innermost first):\n" + "\n".join(format_frames(frames, "      "))


def _executor_findings(
    threads: Iterable[tuple[threading.Thread, Site]], left: list[Callable[[], object]]
) -> list[str]:
    by_executor: dict[int, tuple[Any, list[threading.Thread], Site]] = {}
    for thread, site in threads:
        if thread._target is not _EXECUTOR_WORKER:  # type: ignore[attr-defined]
            continue
        executor = thread._args[0]()  # type: ignore[attr-defined]
        if executor is None:  # pragma: no cover - collected meanwhile
            continue
        if id(executor) not in by_executor:
            left.append(functools.partial(executor.shutdown, wait=False))
        entry = by_executor.setdefault(id(executor), (executor, [], site))
        entry[1].append(thread)
    return [
        _entry(
            f"executor {type(executor).__name__} with {len(workers)} live thread(s) not shut down; "
            "call its shutdown() (or use it in a with block); its first thread started at the "
            "line below",
            site,
        )
        for executor, workers, site in by_executor.values()
    ]


def describe_wait_closed(server: Any, loop: asyncio.AbstractEventLoop) -> list[str]:
    """Say what a ``Server.wait_closed()`` waits for: the server's connections still open (3.12+).

    Reads the transports' ``_server`` (selector transports, 3.10-3.15) from
    the loop's table of live transports.
    """
    lines = []
    for transport in _live_transports(loop):
        if getattr(transport, "_server", None) is server and not transport.is_closing():
            lines.append(
                f"the server's connection {_connection_name(transport)} is still open; "
                "close the other end (the client) or this transport, or call "
                "server.close_clients() (3.13+)"
            )
    return lines


_SHADOW_METHODS = {name: _bind(shadow, name) for name, shadow in _SHADOWS.items()}
