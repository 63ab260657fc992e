"""Resources a test left open: servers, connections, sockets, subprocesses, executors, threads.

`Resources` watches one test from its start to its verdict. What it costs a
test that opens nothing is four class attributes swapped in and back
(``socket.socket.__init__``, ``subprocess.Popen.__init__``, asyncio's
``BaseSubprocessTransport.__init__`` and ``threading.Thread.start``) and one
look at three empty lists. Each of them, when called during the test,
notes what it made and the user's line that made it (the first frame that is
not asyncio's, unittest's, the standard library maker's or asynctestkit's:
the ``asyncio.start_server``, ``open_connection`` or ``subprocess.Popen``
line). asyncio's servers and connections are made of sockets, so one patch
sees them all: at the verdict, an open socket is named by what holds it, the
loop's table of socket transports (``_transports``) or its selector's
listening readers (``_accept_connection``), 3.10-3.15.

Zero false positives is the rule, so a resource counts as left open only when
it certainly is at the verdict (the last cleanup, after ``asyncTearDown``
and every other cleanup):

- a socket with a file descriptor, unless a transport holds it and is closing
  (``writer.close()`` without ``wait_closed()`` is closed, one loop iteration
  later);
- a connection a server accepted is the server handler's, closed when its
  client goes (on 3.10-3.11 ``Server.wait_closed()`` does not wait for it): it
  is never reported on its own. Sockets made by a callback of the loop are
  not noted at all;
- a process that has not exited (peeked at with ``waitid(WNOWAIT)`` where the
  process is asyncio's, which reaps it itself);
- a thread the test started, alive after a short join (`_JOIN` real seconds
  in all, spent only when one is found alive); the thread a library had
  before the test and the loop's default executor (the runner shuts it down)
  are not the test's, nor is what asyncio or asynctestkit start;
- an executor the test made whose workers live and that nobody shut down
  (one dropped is shut down by its weakref callback; one shut down with
  ``wait=False`` finishes by itself). An executor made before the test (a
  module's) is not the test's, even when its first worker starts during it.

Sockets and threads are noted only on the loop's thread or a thread the test
started: a library's thread that was there before the test may open and
close what it likes. What is reported is then closed (a server, a
connection, a socket, an executor) or killed (a process): no
``ResourceWarning`` later, in whatever test runs next.
"""

from __future__ import annotations

import asyncio
import asyncio.base_subprocess
import concurrent.futures.thread
import contextlib
import functools
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, final

from .._report import EXPLAINERS, Site, creation_site, format_frames, is_plumbing, runs_callbacks

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterable
    from types import FrameType

__all__ = ("KINDS", "Resources", "command", "describe_wait_closed", "format_resources", "resource_kinds")

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
    if not isinstance(value, (set, frozenset, list, tuple)):
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


# Real seconds, in all, that threads found alive at the verdict (and
# processes found running) get to end: one that has just delivered its
# result to the test may not have returned from its target yet, and on a
# loaded machine may wait a while for the CPU to do so. Spent only when a
# thread is found alive, that is, by a test that fails anyway or nearly so.
_JOIN = 0.5

_SOCKET_FILE = socket.__file__
_THREADING_FILE = threading.__file__
_SUBPROCESS_FILE = subprocess.__file__
_EXECUTOR_FILE = concurrent.futures.thread.__file__
_EXECUTOR_WORKER = concurrent.futures.thread._worker
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)
_SubprocessTransport: Any = asyncio.base_subprocess.BaseSubprocessTransport

_socket_init = socket.socket.__init__
_popen_init = subprocess.Popen.__init__
_transport_init = _SubprocessTransport.__init__
_thread_start = threading.Thread.start
_executor_init = concurrent.futures.ThreadPoolExecutor.__init__

# The test whose resources are noted now (a test run inside a test nests).
_current: Resources | None = None
_get_ident = threading.get_ident
_getframe = sys._getframe


def _maker(frame: FrameType | None, own_file: str) -> FrameType | None:
    """The first frame above ``own_file``'s own (socket.py's accept(), say)."""
    while frame is not None and frame.f_code.co_filename == own_file:
        frame = frame.f_back
    return frame


def _user_site(frame: FrameType | None) -> Site | None:
    """The user's site of a call from ``frame``; None when the loop itself made the call."""
    up = frame
    while up is not None:
        code = up.f_code
        if not is_plumbing(code.co_filename):
            return creation_site(frame)
        if runs_callbacks(code):
            # Below the loop's frame that runs a callback, before any user
            # frame: the loop made it itself (a server accepting a connection).
            return None
        up = up.f_back
    return None  # pragma: no cover - a thread of the toolkit's own


def _noting_socket_init(self: socket.socket, *args: Any, **kwargs: Any) -> None:
    _socket_init(self, *args, **kwargs)
    watching = _current
    if watching is not None:
        watching.note(watching.sockets, self, _maker(_getframe(1), _SOCKET_FILE))


def _noting_popen_init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
    _popen_init(self, *args, **kwargs)
    watching = _current
    if watching is not None:
        maker = _maker(_getframe(1), _SUBPROCESS_FILE)
        if maker is not None and not maker.f_code.co_filename.startswith(_ASYNCIO_DIR):
            watching.note(watching.popens, self, maker)  # asyncio's: noted as its transport


def _noting_transport_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _transport_init(self, *args, **kwargs)
    watching = _current
    if watching is not None:
        watching.note(watching.processes, self, _getframe(1))


def _noting_executor_init(self: concurrent.futures.ThreadPoolExecutor, *args: Any, **kwargs: Any) -> None:
    _executor_init(self, *args, **kwargs)
    watching = _current
    if watching is not None and watching._ours():
        watching.executors.append(weakref.ref(self))


def _noting_thread_start(self: threading.Thread) -> None:
    watching = _current
    if watching is not None:
        watching.note_thread(self, _maker(_getframe(1), _THREADING_FILE))
    _thread_start(self)


_CLASS_PATCHES: tuple[tuple[type, str, Callable[..., Any]], ...] = (
    (socket.socket, "__init__", _noting_socket_init),
    (subprocess.Popen, "__init__", _noting_popen_init),
    (_SubprocessTransport, "__init__", _noting_transport_init),
    (threading.Thread, "start", _noting_thread_start),
    (concurrent.futures.ThreadPoolExecutor, "__init__", _noting_executor_init),
)
_UNPATCHES = tuple((cls, name, vars(cls)[name]) for cls, name, _ in _CLASS_PATCHES)


@final
class Resources:
    """Note what one test opens; at its verdict, say what it left open.

    Args:
        loop: The test's loop.
        kinds: The kinds to check (a subset of `KINDS`); empty: note nothing.
        shared: The loop is a class's (``loop_scope = "class"``): a client's
            pool may keep a connection a test opened for the next test, so
            connections are the class's business, not checked per test.
    """

    __slots__ = (
        "_installed", "_left", "_owner", "_patience", "_previous", "_reaping", "_thread_ids", "executors",
        "kinds", "loop",
        "popens", "processes", "sockets", "threads",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, kinds: frozenset[str], *, shared: bool = False
    ) -> None:
        self.loop = loop
        self.kinds = kinds - {"connections"} if shared else kinds
        # Held strongly until the verdict: a socket or a process the test
        # dropped unclosed is reported there, not by a ResourceWarning in
        # whatever runs next. Threads are the threading module's to hold.
        self.sockets: list[tuple[Any, Site]] = []
        self.popens: list[tuple[Any, Site]] = []
        self.processes: list[tuple[Any, Site]] = []
        self.threads: list[tuple[Any, Site]] = []
        # The thread pools made while the test runs: only their workers are its.
        self.executors: list[weakref.ref[concurrent.futures.ThreadPoolExecutor]] = []
        self._owner = _get_ident()
        self._thread_ids: set[int] = set()
        self._previous: Resources | None = None
        self._installed = False
        # What the verdict found open, closed once reported (`close_left_open`).
        self._left: list[Callable[[], object]] = []
        self._reaping: list[Any] = []  # asyncio's processes killed: wait until reaped
        self._patience = _JOIN

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

    def uninstall(self) -> None:
        """Stop noting and put back what `install` changed (idempotent)."""
        global _current
        if not self._installed:
            return
        self._installed = False
        _current = self._previous
        if _current is None:
            for cls, name, original in _UNPATCHES:
                setattr(cls, name, original)

    # -- noting -------------------------------------------------------------

    def _ours(self) -> bool:
        ident = _get_ident()
        return ident == self._owner or ident in self._thread_ids

    def note(self, into: list[tuple[Any, Site]], thing: object, maker: FrameType | None) -> None:
        """Note ``thing``, made from ``maker``, unless the loop itself or a stranger made it."""
        if not self._ours():
            return
        site = _user_site(maker)
        if site is not None:
            into.append((thing, site))

    def note_thread(self, thread: threading.Thread, maker: FrameType | None) -> None:
        """A thread is being started while the test runs."""
        if maker is None or not self._ours() or getattr(thread, "_asynctestkit_ignore", False):
            return
        if maker.f_code.co_filename == _EXECUTOR_FILE:
            # An executor's worker: the test's only if the test made the
            # executor; the user's line is the submit() or run_in_executor()
            # that started it.
            executor = thread._args[0]()  # type: ignore[attr-defined]  # a weakref (3.10-3.15)
            if not any(ref() is executor for ref in self.executors):
                return
            site: Site | None = creation_site(maker)
        else:
            site = None if is_plumbing(maker.f_code.co_filename) else creation_site(maker)
        if site is None:
            return  # asyncio's or the toolkit's own (a child watcher, a timer)
        self.threads.append((thread, site))
        _note_ident(self._thread_ids, thread)

    # -- the verdict ------------------------------------------------------------

    def findings(self, *, patient: bool = True) -> list[str]:
        """Return one text block per resource left open, for the kinds checked.

        ``patient=False`` (after the watchdog stopped the test, whose steps
        left share a short grace): a thread or a process is not waited for.
        """
        self._patience = _JOIN if patient else 0.0
        if not (self.sockets or self.popens or self.processes or self.threads):
            return []
        kinds = self.kinds
        found: list[str] = []
        found.extend(self._socket_findings())
        if "subprocesses" in kinds:
            found.extend(self._process_findings())
        threads = self._live_threads() if {"threads", "executors"} & kinds else []
        if "executors" in kinds:
            found.extend(_executor_findings(threads, self._left))
        if "threads" in kinds:
            found.extend(
                _entry(f"thread {_thread_name(t)} still running{_stack_of(t)}", site)
                for t, site in threads if getattr(t, "_target", None) is not _EXECUTOR_WORKER
            )
        return found

    def close_left_open(self) -> Coroutine[Any, Any, None] | None:
        """Close what `findings` reported (not threads): nothing reports it again later.

        Returns:
            A coroutine to await on the loop when asyncio's processes were
            killed (until their watcher reaps them), else None.
        """
        left, self._left = self._left, []
        for close in left:
            with contextlib.suppress(Exception):
                close()
        self.sockets = []
        self.popens = []
        self.processes = []
        self.threads = []
        reaping, self._reaping = self._reaping, []
        return _reap(reaping, self._patience * 4 or 0.05) if reaping else None

    def _socket_findings(self) -> list[str]:
        kinds = self.kinds
        transports: Any = getattr(self.loop, "_transports", None) or {}
        servers = _listening(self.loop)
        found: list[str] = []
        # What the verdict closes: the server ends of the connections and
        # servers it reports go too (their handlers' writers would warn later).
        closing_servers: list[Any] = []
        closing_ends: set[Any] = set()
        for sock, site in self.sockets:
            fd = sock.fileno()
            if fd == -1:
                continue
            transport = transports.get(fd)
            server = servers.get(fd)
            if transport is not None:
                if transport.is_closing() or "connections" not in kinds:
                    continue
                found.append(_entry(
                    f"{_connection_name(transport)} not closed; close() it (and await wait_closed())",
                    site,
                ))
                self._left.append(transport.close)
                closing_ends.add(_peer_key(transport.get_extra_info("sockname")))
            elif server is not None:
                if "servers" not in kinds:
                    continue
                found.append(_entry(
                    f"server on {_address(sock.getsockname())} still serving; close() it "
                    "and await wait_closed()", site,
                ))
                self._left.append(server.close)
                closing_servers.append(server)
            elif "sockets" in kinds:
                found.append(_entry(f"socket {_socket_name(sock)} not closed", site))
                self._left.append(sock.close)
        if closing_servers or closing_ends:
            for transport in list(transports.values()):
                if getattr(transport, "_server", None) in closing_servers or (
                    _peer_key(transport.get_extra_info("peername")) in closing_ends
                ):
                    self._left.append(transport.close)
        return found

    def _process_findings(self) -> list[str]:
        found: list[str] = []
        for popen, site in self.popens:
            if _running(popen, self._patience):
                found.append(_entry(
                    f"subprocess pid {popen.pid} ({command(popen.args)}) still running; "
                    "wait() for it, or kill() it and wait()", site,
                ))
                self._left.append(functools.partial(_kill, popen))
        for transport, site in self.processes:
            if transport.is_closing() or not _alive(transport.get_pid()):
                continue
            popen = getattr(transport, "_proc", None)  # BaseSubprocessTransport._proc (3.10-3.15)
            found.append(_entry(
                f"subprocess pid {transport.get_pid()} ({command(getattr(popen, 'args', '?'))}) still "
                "running; await its wait() (or kill() it, then await wait())", site,
            ))
            self._left.append(transport.close)  # kills it
            self._reaping.append(transport)
        return found

    def _live_threads(self) -> list[tuple[threading.Thread, Site]]:
        default = getattr(getattr(self.loop, "_default_executor", None), "_threads", ())
        live = []
        for thread, site in self.threads:
            if thread in default or not thread.is_alive():
                continue
            if getattr(thread, "_target", None) is _EXECUTOR_WORKER:
                executor = thread._args[0]()  # a weakref (3.10-3.15)
                if executor is None or executor._shutdown:
                    continue  # shut down (maybe wait=False): its work ends by itself
            live.append((thread, site))
        if live:
            deadline = time.monotonic() + self._patience
            for thread, _ in live:
                if getattr(thread, "_target", None) is not _EXECUTOR_WORKER:
                    thread.join(max(deadline - time.monotonic(), 0))
            live = [(t, site) for t, site in live if t.is_alive()]
        return live


def _note_ident(idents: set[int], thread: threading.Thread) -> None:
    """Add ``thread``'s id to ``idents`` as it starts: what it opens is the test's too.

    An instance attribute shadows ``run`` (a subclass's too) until it runs.
    """
    run = thread.run

    def noting_run() -> None:
        idents.add(_get_ident())
        del thread.run  # the cycle thread -> noting_run -> thread ends here
        run()

    with contextlib.suppress(AttributeError, TypeError):  # a class that refuses it: not noted
        thread.run = noting_run  # type: ignore[method-assign]


def _listening(loop: asyncio.AbstractEventLoop) -> dict[int, Any]:
    """The loop's listening sockets by fd, with their servers (BaseSelectorEventLoop, 3.10-3.15).

    ``_start_serving`` adds ``_accept_connection(protocol_factory, sock,
    sslcontext, server, ...)`` as the socket's reader.
    """
    selector = getattr(loop, "_selector", None)
    servers: dict[int, Any] = {}
    if selector is None:
        return servers
    with contextlib.suppress(Exception):
        for key in selector.get_map().values():
            reader = key.data[0] if isinstance(key.data, tuple) else None
            callback = getattr(reader, "_callback", None)
            args: tuple[Any, ...] = getattr(reader, "_args", ())
            if getattr(callback, "__name__", "") == "_accept_connection" and len(args) > 3:
                servers[key.fd] = args[3]
    return servers


def _running(popen: subprocess.Popen[Any], patience: float) -> bool:
    if popen.poll() is not None:
        return False
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(patience)
        return False
    return True


def _alive(pid: int | None) -> bool:
    """Whether child ``pid`` has not exited, without reaping it (asyncio's watcher will)."""
    if pid is None:
        return False
    waitid = getattr(os, "waitid", None)
    if waitid is None:  # pragma: no cover - Windows: ask the OS another way
        return True
    try:
        return waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False  # reaped already


async def _reap(transports: list[Any], timeout: float) -> None:
    # BaseSubprocessTransport._wait() (3.10-3.15): until the process is reaped.
    waits = [asyncio.ensure_future(t._wait()) for t in transports]
    await asyncio.wait(waits, timeout=timeout)
    for wait in waits:
        wait.cancel()


def _kill(popen: subprocess.Popen[Any]) -> None:
    popen.kill()
    popen.wait()


def _entry(what: str, site: Site) -> str:
    lines = [f"- {what}"]
    if site:
        lines.append("    opened at (innermost first):")
        lines.extend(format_frames(site))
    return "\n".join(lines)


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
    text = f"{kind} {_address(transport.get_extra_info('sockname'))}"
    peer = transport.get_extra_info("peername")
    if peer:
        text += f" -> {_address(peer)}"
    return text


def command(args: Any) -> str:
    """A process's command, short: the program's name (not its path), then its arguments."""
    if isinstance(args, (list, tuple)) and args:
        args = " ".join([os.path.basename(str(args[0])), *map(str, args[1:])])
    text = str(args)
    return text if len(text) <= 80 else text[:77] + "..."


def _thread_name(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    name = getattr(target, "__qualname__", None)
    kind = "daemon " if thread.daemon else ""
    return f"{thread.name!r} ({kind}{'running ' + name + '()' if name else type(thread).__name__})"


def _stack_of(thread: threading.Thread) -> str:
    frame = sys._current_frames().get(thread.ident or -1)
    frames: list[tuple[str, int, str]] = []
    while frame is not None and len(frames) < 3:
        code = frame.f_code
        if not is_plumbing(code.co_filename):
            frames.append((code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    if not frames:
        return ""
    return ", now at (innermost first):\n" + "\n".join(format_frames(frames, "      "))


def _executor_findings(
    threads: Iterable[tuple[threading.Thread, Site]], left: list[Callable[[], object]]
) -> list[str]:
    by_executor: dict[int, tuple[Any, list[threading.Thread], Site]] = {}
    for thread, site in threads:
        if getattr(thread, "_target", None) is not _EXECUTOR_WORKER:
            continue
        executor = thread._args[0]()  # type: ignore[attr-defined]
        if executor is None:  # pragma: no cover - collected meanwhile
            continue
        if id(executor) not in by_executor:
            left.append(functools.partial(executor.shutdown, wait=False))
        by_executor.setdefault(id(executor), (executor, [], site))[1].append(thread)
    return [
        _entry(
            f"executor {type(executor).__name__} with {len(workers)} live thread(s) not shut "
            "down; call its shutdown() (or use it in a with block); its first thread was "
            "started by the line below",
            site,
        )
        for executor, workers, site in by_executor.values()
    ]


def describe_wait_closed(server: Any, loop: asyncio.AbstractEventLoop) -> list[str]:
    """Say what a ``Server.wait_closed()`` waits for: the server's connections still open (3.12+).

    Reads the transports' ``_server`` (selector transports, 3.10-3.15) from
    the loop's table of live transports, and where the test opened each
    connection's other end, when it did.
    """
    table: Any = getattr(loop, "_transports", None) or {}
    transports = list(table.values())
    ends = {
        _peer_key(t.get_extra_info("sockname")): t for t in transports if getattr(t, "_server", None) is None
    }
    sites = {id(sock): site for sock, site in (_current.sockets if _current is not None else ())}
    lines = []
    for transport in transports:
        if getattr(transport, "_server", None) is not server or transport.is_closing():
            continue
        text = f"    - the server's {_connection_name(transport)} is still open"
        other = ends.get(_peer_key(transport.get_extra_info("peername")))
        sock = getattr(other, "_sock", None)
        site = sites.get(id(sock)) if sock is not None else None
        if other is not None:
            text += "; its other end, in this test, is not closed"
        if site:
            text += ", opened at (innermost first):\n" + "\n".join(format_frames(site, "        "))
        lines.append(text)
    return lines


def _peer_key(address: Any) -> Any:
    return tuple(address[:2]) if isinstance(address, tuple) else address


def _explain_wait_closed(task: asyncio.Task[Any]) -> list[str]:
    """For a task in ``Server.wait_closed()``: the connections it waits for."""
    coro: Any = task.get_coro()
    for _ in range(50):
        frame = getattr(coro, "cr_frame", None)
        if frame is None:
            return []
        if frame.f_code.co_name == "wait_closed":
            server = frame.f_locals.get("self")
            if isinstance(server, asyncio.base_events.Server):
                open_ = describe_wait_closed(server, task.get_loop())
                if open_:
                    return [
                        "    Server.wait_closed() waits until every connection the server "
                        f"accepted is closed (3.12+); {len(open_)} still open:",
                        *open_,
                    ]
            return []
        coro = getattr(coro, "cr_await", None)
    return []  # pragma: no cover - a chain that long


EXPLAINERS.append(_explain_wait_closed)
