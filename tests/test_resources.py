"""check_resources: servers, connections, sockets, subprocesses, executors and threads left open."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import socket
import subprocess
import sys
import threading
import unittest
from typing import Any

from asynctestkit import AsyncTestCase, ClockedTestCase, configure
from tests._support import assert_refused, only_failure, run_test

HEAD = r"(?m)^Resources left open at the end of the test \((\d+)\); close them in the test"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]
PY312 = sys.version_info >= (3, 12)


def report(test: unittest.TestCase, case: unittest.TestCase, count: int) -> str:
    """Run ``case``; return its one failure, which lists ``count`` resources."""
    text = only_failure(test, run_test(case))
    match = __import__("re").search(HEAD, text)
    test.assertIsNotNone(match, text)
    assert match is not None
    test.assertEqual(int(match.group(1)), count, text)
    return text


def passes(test: unittest.TestCase, case: unittest.TestCase) -> None:
    result = run_test(case)
    test.assertTrue(result.wasSuccessful(), result.failures + result.errors)
    test.assertEqual(result.testsRun, 1)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.read()
    finally:
        writer.close()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


class _Inner:
    """Test classes run by the tests below (not collected themselves)."""

    class Servers(AsyncTestCase):
        async def test_leaves_a_server(self) -> None:
            await asyncio.start_server(echo, "127.0.0.1", 0)  # the server left open

        async def test_closes_it_in_a_cleanup(self) -> None:
            server = await asyncio.start_server(echo, "127.0.0.1", 0)
            self.addAsyncCleanup(server.wait_closed)
            self.addCleanup(server.close)

        async def test_leaves_a_connection(self) -> None:
            server = await asyncio.start_server(echo, "127.0.0.1", 0)
            self.addCleanup(server.close)  # wait_closed() would wait for the connection (3.12+)
            host, port = server.sockets[0].getsockname()[:2]
            self.streams = await asyncio.open_connection(host, port)  # the connection left open

        async def test_closes_without_waiting(self) -> None:
            server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
            host, port = server.sockets[0].getsockname()[:2]
            _, writer = await asyncio.open_connection(host, port)
            writer.close()  # closing, not closed yet: not left open
            server.close()

    class Sockets(AsyncTestCase):
        async def test_leaves_sockets(self) -> None:
            self.sock = socket.socket()  # a socket left open
            self.pair = socket.socketpair()

        async def test_drops_one_unclosed(self) -> None:
            socket.socket()  # dropped at once: still the test's, reported here

        async def test_closes_them(self) -> None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
            a, b = socket.socketpair()
            a.close()
            b.close()

        async def test_in_a_thread_it_started(self) -> None:
            made: list[socket.socket] = []
            thread = threading.Thread(target=lambda: made.append(socket.socket()))  # in the thread
            thread.start()
            thread.join()
            self.made = made

        @configure(check_resources=False)
        async def test_turned_off(self) -> None:
            self.sock = socket.socket()  # closed by the test that runs this one

        @configure(check_resources=frozenset({"threads"}))
        async def test_other_kinds_only(self) -> None:
            self.sock = socket.socket()
            self.addCleanup(self.sock.close)  # (the verdict runs after the cleanups)

    class Processes(AsyncTestCase):
        slow_callback_duration = None  # Popen.wait() blocks the loop while Python starts

        async def test_leaves_a_popen(self) -> None:
            self.proc = subprocess.Popen(SLEEPER)  # a process left running

        async def test_waits_for_its_popen(self) -> None:
            proc = subprocess.Popen([sys.executable, "-c", "pass"])
            proc.wait()

        async def test_leaves_an_asyncio_process(self) -> None:
            self.proc = await asyncio.create_subprocess_exec(*SLEEPER)  # left running

        async def test_waits_for_its_asyncio_process(self) -> None:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "print('hi')", stdout=asyncio.subprocess.PIPE
            )
            out, _ = await proc.communicate()
            self.assertEqual(out.strip(), b"hi")

    class Threads(AsyncTestCase):
        slow_callback_duration = None  # Thread.start() waits for the thread, long under load

        async def test_leaves_a_thread(self) -> None:
            self.stop = threading.Event()  # set by the test that runs this one, after it
            threading.Thread(target=self.stop.wait, name="lingering").start()  # left running

        async def test_thread_that_answers_then_ends(self) -> None:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            threading.Thread(target=loop.call_soon_threadsafe, args=(future.set_result, 1)).start()
            self.assertEqual(await future, 1)  # not joined: it ends on its own

        async def test_leaves_an_executor(self) -> None:
            self.executor = concurrent.futures.ThreadPoolExecutor(2)
            await asyncio.get_running_loop().run_in_executor(self.executor, int)  # its first thread

        async def test_shuts_its_executors(self) -> None:
            loop = asyncio.get_running_loop()
            with concurrent.futures.ThreadPoolExecutor(2) as executor:
                await loop.run_in_executor(executor, int)
            self.executor = concurrent.futures.ThreadPoolExecutor(2)
            await loop.run_in_executor(self.executor, int)
            self.executor.shutdown(wait=False)
            await asyncio.to_thread(int)  # the default executor: the runner shuts it down
            await loop.run_in_executor(None, int)

    class Clocked(ClockedTestCase):
        async def test_leaves_a_server(self) -> None:
            self.server = await asyncio.start_server(echo, "127.0.0.1", 0)

        async def test_fails_and_leaves_a_socket(self) -> None:
            self.sock = socket.socket()
            self.fail("the real cause")


def _line(fragment: str) -> str:
    """A regex for the report lines naming this file and the source line holding ``fragment``."""
    import re

    return r'File ".*test_resources\.py", line \d+, in \w+\n\s+.*' + re.escape(fragment)


class ServersAndConnectionsTest(unittest.TestCase):
    """A server still serving and a connection not closed fail the test, named with their line."""

    def test_a_server_left_serving(self) -> None:
        """The server, its address and the start_server() line."""
        text = report(self, _Inner.Servers("test_leaves_a_server"), 1)
        self.assertRegex(text, r"(?m)^- server on 127\.0\.0\.1:\d+ still serving; close\(\) it")
        self.assertRegex(text, _line("await asyncio.start_server(echo"))

    def test_a_server_closed_in_a_cleanup_passes(self) -> None:
        """Cleanups run before the verdict."""
        passes(self, _Inner.Servers("test_closes_it_in_a_cleanup"))

    def test_a_connection_left_open(self) -> None:
        """The client's connection, local and peer addresses, and the open_connection() line."""
        text = report(self, _Inner.Servers("test_leaves_a_connection"), 1)
        self.assertRegex(text, r"(?m)^- connection 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ not closed")
        self.assertRegex(text, _line("self.streams = await asyncio.open_connection"))

    def test_a_connection_closing_is_not_left_open(self) -> None:
        """writer.close() without wait_closed(): closed one iteration later, not a leak."""
        passes(self, _Inner.Servers("test_closes_without_waiting"))

    def test_on_the_virtual_clock_too(self) -> None:
        """ClockedTestCase reports the same."""
        text = report(self, _Inner.Clocked("test_leaves_a_server"), 1)
        self.assertRegex(text, r"(?m)^- server on 127\.0\.0\.1:\d+ still serving")


class SocketsTest(unittest.TestCase):
    """A socket.socket the test made and did not close."""

    def test_sockets_left_open(self) -> None:
        """Each socket, by family and address, with its line; socketpair() counts two."""
        text = report(self, _Inner.Sockets("test_leaves_sockets"), 3)
        self.assertRegex(text, r"(?m)^- socket AF_INET 0\.0\.0\.0:0 not closed$")
        self.assertRegex(text, _line("self.sock = socket.socket()"))
        self.assertEqual(len(__import__("re").findall(r"self\.pair = socket\.socketpair\(\)", text)), 2)

    def test_a_socket_dropped_unclosed(self) -> None:
        """Dropped, it is reported by its test (not by a ResourceWarning in a later one)."""
        text = report(self, _Inner.Sockets("test_drops_one_unclosed"), 1)
        self.assertRegex(text, _line("socket.socket()  # dropped at once"))

    def test_closed_sockets_pass(self) -> None:
        """Closed with a with block or close()."""
        passes(self, _Inner.Sockets("test_closes_them"))

    def test_made_in_a_thread_the_test_started(self) -> None:
        """What a thread the test started opens is the test's."""
        text = report(self, _Inner.Sockets("test_in_a_thread_it_started"), 1)
        self.assertRegex(text, r"lambda: made\.append\(socket\.socket\(\)\)")

    def test_turned_off(self) -> None:
        """check_resources=False: nothing is checked."""
        case = _Inner.Sockets("test_turned_off")
        passes(self, case)
        self.assertNotEqual(case.sock.fileno(), -1)  # not closed by the verdict either
        case.sock.close()

    def test_only_the_kinds_named(self) -> None:
        """check_resources={"threads"}: a socket is not checked."""
        passes(self, _Inner.Sockets("test_other_kinds_only"))

    def test_a_failing_test_reports_once(self) -> None:
        """The test's failure first, the socket in the same report."""
        result = run_test(_Inner.Clocked("test_fails_and_leaves_a_socket"))
        self.assertEqual((len(result.failures), len(result.errors)), (1, 0))
        self.assertRegex(result.failures[0][1], r"(?s)AssertionError: the real cause\n.*- socket AF_INET")

    def test_nothing_stays_patched(self) -> None:
        """After a test, socket, subprocess and threading are the standard library's again."""
        before = (socket.socket.__init__, subprocess.Popen.__init__, threading.Thread.start)
        run_test(_Inner.Sockets("test_closes_them"))
        self.assertEqual(before, (socket.socket.__init__, subprocess.Popen.__init__, threading.Thread.start))
        self.assertEqual(socket.socket.__init__.__module__, "socket")


class SubprocessesTest(unittest.TestCase):
    """A process the test started and did not wait for."""

    def test_a_popen_left_running(self) -> None:
        """Its pid, its command and the Popen line; it is killed after the report."""
        case = _Inner.Processes("test_leaves_a_popen")
        text = report(self, case, 1)
        self.assertRegex(text, r"(?m)^- subprocess pid \d+ \(.*time\.sleep\(30\)\) still running; wait\(\)")
        self.assertRegex(text, _line("self.proc = subprocess.Popen(SLEEPER)"))
        self.assertIsNotNone(case.proc.returncode)  # killed and reaped

    def test_a_popen_waited_for_passes(self) -> None:
        """wait() (or communicate()) ends it."""
        passes(self, _Inner.Processes("test_waits_for_its_popen"))

    def test_an_asyncio_process_left_running(self) -> None:
        """asyncio.create_subprocess_exec(): its line, and it is killed and reaped."""
        case = _Inner.Processes("test_leaves_an_asyncio_process")
        text = report(self, case, 1)
        self.assertRegex(text, r"(?m)^- subprocess pid \d+ \(.*\) still running; await its wait\(\)")
        self.assertRegex(text, _line("self.proc = await asyncio.create_subprocess_exec(*SLEEPER)"))
        self.assertIsNotNone(case.proc.returncode)

    def test_an_asyncio_process_waited_for_passes(self) -> None:
        """communicate() waits for it."""
        passes(self, _Inner.Processes("test_waits_for_its_asyncio_process"))


class ThreadsAndExecutorsTest(unittest.TestCase):
    """A thread still running, an executor not shut down."""

    def test_a_thread_left_running(self) -> None:
        """Its name, its target and the start() line."""
        case = _Inner.Threads("test_leaves_a_thread")
        try:
            text = report(self, case, 1)
        finally:
            case.stop.set()
        self.assertRegex(text, r"(?m)^- thread 'lingering' \(running Event\.wait\(\)\) still running")
        self.assertRegex(text, _line('threading.Thread(target=self.stop.wait, name="lingering").start()'))

    def test_a_thread_that_answers_then_ends_passes(self) -> None:
        """A thread that delivered its answer and is returning is given a moment to end."""
        for _ in range(5):
            passes(self, _Inner.Threads("test_thread_that_answers_then_ends"))

    def test_an_executor_left_open(self) -> None:
        """The executor, its live threads, and the line that started the first one."""
        case = _Inner.Threads("test_leaves_an_executor")
        text = report(self, case, 1)
        self.assertRegex(text, r"(?m)^- executor ThreadPoolExecutor with 1 live thread\(s\) not shut down")
        self.assertRegex(text, _line("await asyncio.get_running_loop().run_in_executor(self.executor, int)"))
        self.assertTrue(case.executor._shutdown)  # shut down after the report

    def test_an_executor_from_before_the_test_is_not_the_tests(self) -> None:
        """A module's executor whose first worker starts during the test is not the test's leak."""
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # made before the test
        self.addCleanup(executor.shutdown)

        class Test(AsyncTestCase):
            async def test_it(self) -> None:
                await asyncio.wrap_future(executor.submit(int))

        self.assertEqual(len(executor._threads), 0)  # type: ignore[attr-defined]
        passes(self, Test("test_it"))
        self.assertEqual(len(executor._threads), 1)  # type: ignore[attr-defined]  # started in the test
        self.assertFalse(executor._shutdown)  # type: ignore[attr-defined]  # and left running

    def test_executors_shut_down_pass(self) -> None:
        """A with block, shutdown(wait=False), and the loop's default executor."""
        passes(self, _Inner.Threads("test_shuts_its_executors"))

    def test_a_library_thread_from_before_the_test_is_not_the_tests(self) -> None:
        """A daemon thread started before the test that opens a socket during it is left alone."""
        stop = threading.Event()
        go = threading.Event()
        opened: list[socket.socket] = []

        def library() -> None:
            go.wait()
            opened.append(socket.socket())
            stop.wait()
            opened[0].close()

        thread = threading.Thread(target=library, daemon=True)
        thread.start()

        class Case(AsyncTestCase):
            async def test_it(self) -> None:
                go.set()
                while not opened:
                    await asyncio.sleep(0.001)

        try:
            passes(self, Case("test_it"))
        finally:
            stop.set()
            thread.join()


@unittest.skipUnless(PY312, "Server.wait_closed() waits for the server's connections on 3.12+")
class WaitClosedTest(unittest.TestCase):
    """A wait_closed() that waits for a connection the test left open says so."""

    def test_the_report_names_the_connection_and_its_line(self) -> None:
        """The watchdog's report: what wait_closed() waits for, and the other end's line."""

        class Case(AsyncTestCase):
            timeout = 0.3

            async def test_it(self) -> None:
                server = await asyncio.start_server(echo, "127.0.0.1", 0)
                self.addAsyncCleanup(server.wait_closed)
                self.addCleanup(server.close)
                host, port = server.sockets[0].getsockname()[:2]
                self.streams = await asyncio.open_connection(host, port)  # never closed

        text = only_failure(self, run_test(Case("test_it")))
        self.assertRegex(
            text,
            r"(?m)^    Server\.wait_closed\(\) waits until every connection the server accepted is "
            r"closed \(3\.12\+\); 1 still open:\n"
            r"    - the server's connection 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ is still open; "
            r"its other end, in this test, is not closed, opened at",
        )
        self.assertRegex(text, _line("self.streams = await asyncio.open_connection(host, port)"))


class OptionTest(unittest.TestCase):
    """check_resources takes True, False or a set of kinds, checked when the class is made (its tests error)."""

    def test_unknown_kind(self) -> None:
        with assert_refused(self, ValueError, r"^Bad\.check_resources must be True \(every kind\).*unknown kind 'sokets'"):
            type("Bad", (AsyncTestCase,), {"check_resources": {"sokets"}})

    def test_wrong_type(self) -> None:
        with assert_refused(self, TypeError, r"^Bad\.check_resources must be .*got 'sockets' \(str\)"):
            type("Bad", (AsyncTestCase,), {"check_resources": "sockets"})


@unittest.skipUnless(importlib.util.find_spec("aiohttp"), "aiohttp is not installed")
class AiohttpTest(unittest.TestCase):
    """A real library used properly leaves nothing open; a session not closed is reported."""

    def test_a_session_closed_properly_passes(self) -> None:
        import aiohttp
        from aiohttp import web

        class Case(AsyncTestCase):
            async def test_it(self) -> None:
                app = web.Application()

                async def hello(request: Any) -> Any:
                    return web.Response(text="hi")

                app.router.add_get("/", hello)
                runner = web.AppRunner(app)
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                self.addAsyncCleanup(runner.cleanup)
                port = runner.addresses[0][1]
                async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/") as response:
                    self.assertEqual(await response.text(), "hi")

        passes(self, Case("test_it"))


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(importlib.util.find_spec("websockets"), "websockets is not installed")
class WebsocketsTest(unittest.TestCase):
    """A websockets server and client closed the usual way leave nothing open."""

    def test_serve_and_connect_pass(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.asyncio.server import serve

        class Case(AsyncTestCase):
            async def test_it(self) -> None:
                async def echo_ws(websocket: Any) -> None:
                    async for message in websocket:
                        await websocket.send(message)

                async with serve(echo_ws, "127.0.0.1", 0) as server:
                    port = next(iter(server.sockets)).getsockname()[1]
                    async with connect(f"ws://127.0.0.1:{port}") as websocket:
                        await websocket.send("hi")
                        self.assertEqual(await websocket.recv(), "hi")

        passes(self, Case("test_it"))


@unittest.skipUnless(importlib.util.find_spec("aiosqlite"), "aiosqlite is not installed")
class AiosqliteTest(unittest.TestCase):
    """aiosqlite runs each connection on a thread: closed, it passes; left open, it is named."""

    def test_closed_passes_and_open_is_reported(self) -> None:
        import aiosqlite

        class Case(AsyncTestCase):
            async def test_closes(self) -> None:
                async with aiosqlite.connect(":memory:") as db:
                    await db.execute("select 1")

            async def test_leaves_open(self) -> None:
                self.db = await aiosqlite.connect(":memory:")  # never closed

        passes(self, Case("test_closes"))
        case = Case("test_leaves_open")
        text = report(self, case, 1)
        self.assertRegex(text, r"(?m)^- thread .* still running")
        self.assertRegex(text, _line("self.db = await aiosqlite.connect"))
        # aiosqlite's way to end the thread; stop() asks for the running loop.
        # Its answer is awaited: the thread answers on that loop, which must
        # still be open then (or the thread prints "Event loop is closed").
        async def stop() -> None:
            stopped = case.db.stop()
            if stopped is not None:
                await stopped

        asyncio.run(stop())


class SharedLoopTest(unittest.TestCase):
    """On a loop the class shares, a connection may outlive its test (a client's pool)."""

    def test_connections_are_the_classs(self) -> None:
        class Case(AsyncTestCase):
            loop_scope = "class"

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.server = await asyncio.start_server(hang_up, "127.0.0.1", 0)

            @classmethod
            async def asyncTearDownClass(cls) -> None:
                cls.writer.close()
                cls.server.close()

            async def test_opens_a_pooled_connection(self) -> None:
                host, port = self.server.sockets[0].getsockname()[:2]
                _, type(self).writer = await asyncio.open_connection(host, port)

            async def test_leaves_a_socket(self) -> None:
                self.sock = socket.socket()

        suite = unittest.TestSuite([Case("test_opens_a_pooled_connection"), Case("test_leaves_a_socket")])
        result = unittest.TestResult()
        suite.run(result)
        self.assertEqual(len(result.errors), 0, result.errors)
        self.assertEqual(len(result.failures), 1, result.failures)  # the socket, still checked
        self.assertIn("test_leaves_a_socket", result.failures[0][0].id())
        self.assertRegex(result.failures[0][1], r"(?m)^- socket AF_INET")


class WaitClosedReportTest(AsyncTestCase):
    """The task report of a Server.wait_closed() lists the server's open connections (every version)."""

    async def test_format_tasks_explains_wait_closed(self) -> None:
        from asynctestkit._report import format_tasks

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)  # the other end
        for _ in range(5):  # let the server accept it
            await asyncio.sleep(0)
        # An open server's wait_closed() waits on 3.10-3.11 too (until close()).
        waiting = self.create_task(server.wait_closed(), name="closer")
        await asyncio.sleep(0)
        text = format_tasks([waiting], "Tasks")
        self.assertRegex(
            text,
            r"(?m)^    Server\.wait_closed\(\) waits until every connection the server accepted is "
            r"closed \(3\.12\+\); 1 still open:\n"
            r"    - the server's connection 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ is still open; its other "
            r"end, in this test, is not closed, opened at \(innermost first\):\n"
            r'        File ".*test_resources\.py", line \d+, in test_format_tasks_explains_wait_closed\n'
            r"        _, writer = await asyncio\.open_connection\(host, port\)  # the other end",
        )
        writer.close()
        await writer.wait_closed()
        server.close()
        await waiting
