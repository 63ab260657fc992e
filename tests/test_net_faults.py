"""Faults on the virtual network: partitions, crashes, resets, jitter under a seed; and its reports."""

from __future__ import annotations

import asyncio
import contextlib
import unittest
from typing import Any

from asynctestkit import ClockedTestCase, DeadlockError, VirtualNetwork, virtual_event_loop


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1000):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


class TestPartitions(ClockedTestCase):
    """partition() holds traffic and makes connects wait; heal() lets it through."""

    network = "virtual"

    async def asyncSetUp(self) -> None:
        with self.network.host("server"):
            self.server = await asyncio.start_server(echo, "server", 7000)

    async def asyncTearDown(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def test_data_is_held_until_heal(self) -> None:
        """Bytes sent across a partition arrive, in order, once it heals."""
        with self.network.host("client"):
            reader, writer = await asyncio.open_connection("server", 7000)
        self.network.partition("client", "server")
        writer.write(b"one ")
        writer.write(b"two")
        with self.assertRaises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(100), 30)
        self.assertEqual(self.clock_elapsed, 30)
        self.network.heal()
        self.assertEqual(await reader.readexactly(7), b"one two")
        await closed(writer)

    async def test_connect_across_a_partition_times_out(self) -> None:
        """A connection attempt across a cut waits connect_timeout, then TimeoutError."""
        self.network.partition("localhost")  # cut off from every other host
        with self.assertRaises(TimeoutError):
            await asyncio.open_connection("server", 7000)
        self.assertEqual(self.clock_elapsed, self.network.connect_timeout)

    async def test_connect_waiting_for_heal_goes_through(self) -> None:
        """A connect that waits across a cut completes once heal() is called."""
        self.network.partition("localhost", "server")
        connecting = asyncio.ensure_future(asyncio.open_connection("server", 7000))
        await asyncio.sleep(5)
        self.assertFalse(connecting.done())
        self.network.heal("server")
        _, writer = await connecting
        self.assertEqual(self.clock_elapsed, 5)
        await closed(writer)


class TestCrashes(ClockedTestCase):
    """crash() resets a host's connections, closes its servers, cancels its tasks; restart() undoes it."""

    network = "virtual"

    async def test_crash_resets_peers_and_cancels_handlers(self) -> None:
        """The peer sees ConnectionResetError; handler tasks of any kind are cancelled."""
        started: list[asyncio.Task[Any]] = []
        cancelled: list[str] = []

        async def worker(name: str) -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(name)
                raise

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            started.append(asyncio.ensure_future(worker("ensure_future")))
            started.append(asyncio.Task(worker("Task()")))
            await worker("handler")

        with self.network.host("db"):
            server = await asyncio.start_server(handler, "db", 5432)
        reader, writer = await asyncio.open_connection("db", 5432)
        await asyncio.sleep(1)
        self.network.crash("db")
        with self.assertRaises(ConnectionResetError):
            await reader.read(10)
        await asyncio.sleep(0)
        self.assertEqual(sorted(cancelled), ["Task()", "ensure_future", "handler"])
        self.assertTrue(all(t.cancelled() for t in started))
        self.assertFalse(server.is_serving())
        await closed(writer)
        # Down: connects wait; restarted with no server yet: refused.
        connecting = asyncio.ensure_future(asyncio.open_connection("db", 5432))
        await asyncio.sleep(10)
        self.assertFalse(connecting.done())
        self.network.restart("db")
        with self.assertRaises(ConnectionRefusedError):
            await connecting
        with self.network.host("db"):
            server = await asyncio.start_server(echo, "db", 5432)
        reader, writer = await asyncio.open_connection("db", 5432)
        writer.write(b"back")
        self.assertEqual(await reader.readexactly(4), b"back")
        await closed(writer)
        server.close()
        await server.wait_closed()
        await asyncio.sleep(1)  # the handler ends (3.10-3.11's wait_closed does not wait for it)

    async def test_run_on_tasks_are_the_hosts(self) -> None:
        """A task started with run_on(host) is cancelled when that host crashes; others are not."""
        a = self.network.run_on("a", asyncio.sleep(100))
        b = self.network.run_on("b", asyncio.sleep(100))
        await asyncio.sleep(1)
        self.network.crash("a")
        await asyncio.sleep(0)
        self.assertTrue(a.cancelled())
        self.assertFalse(b.done())
        b.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await b

    async def test_reset_one_connection(self) -> None:
        """reset(writer) resets both ends of that connection only."""
        server = await asyncio.start_server(echo, "localhost", 0)
        port = server.sockets[0].getsockname()[1]
        r1, w1 = await asyncio.open_connection("localhost", port)
        r2, w2 = await asyncio.open_connection("localhost", port)
        self.network.reset(w1)
        with self.assertRaises(ConnectionResetError):
            await r1.read(10)
        w2.write(b"ok")
        self.assertEqual(await r2.readexactly(2), b"ok")
        await closed(w1)
        await closed(w2)
        server.close()
        await server.wait_closed()
        await asyncio.sleep(1)  # the handlers end (3.10-3.11's wait_closed does not wait for them)
        with self.assertRaisesRegex(ValueError, "^reset\\(\\) needs a transport"):
            self.network.reset(object())


class TestSeededNetwork(unittest.TestCase):
    """Under a schedule seed, jitter and the order across connections are the seed's; one stream's never."""

    def run_race(self, seed: int | None, jitter: float = 0.01) -> tuple[list[str], list[float]]:
        loop = virtual_event_loop(seed=seed)
        self.addCleanup(loop.close)
        network = VirtualNetwork(latency=0.01, jitter=jitter)
        network.attach(loop)
        order: list[str] = []
        arrivals: list[float] = []

        async def collect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(100):
                order.append(data.decode())
                arrivals.append(loop.time())
            writer.close()
            await writer.wait_closed()

        async def main() -> None:
            server = await asyncio.start_server(collect, "localhost", 1)
            writers = [(await asyncio.open_connection("localhost", 1))[1] for _ in range(4)]
            for i, writer in enumerate(writers):
                writer.write(f"{i}".encode())
            for writer in writers:
                await writer.drain()
            await asyncio.sleep(1)
            for writer in writers:
                await closed(writer)
            server.close()
            await server.wait_closed()
            await asyncio.sleep(1)

        loop.run_until_complete(main())
        return order, arrivals

    def test_same_seed_same_run(self) -> None:
        """A seed replays: the same order and the same arrival times."""
        self.assertEqual(self.run_race(7), self.run_race(7))

    def test_seeds_explore_the_order_between_connections(self) -> None:
        """Different seeds deliver independent connections' bytes in different orders."""
        orders = {tuple(self.run_race(seed, jitter=0)[0]) for seed in range(20)}
        self.assertGreater(len(orders), 1)
        unseeded = {tuple(self.run_race(None, jitter=0)[0]) for _ in range(3)}
        self.assertEqual(unseeded, {("0", "1", "2", "3")})

    def test_one_stream_is_never_reordered(self) -> None:
        """With jitter, the chunks of one connection still arrive in the order written."""
        for seed in range(10):
            loop = virtual_event_loop(seed=seed)
            self.addCleanup(loop.close)
            network = VirtualNetwork(latency=0.01, jitter=0.5)
            network.attach(loop)

            async def main() -> bytes:
                got = bytearray()
                done = asyncio.Event()

                async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                    got.extend(await reader.read())
                    writer.close()
                    done.set()

                server = await asyncio.start_server(sink, "localhost", 1)
                _, writer = await asyncio.open_connection("localhost", 1)
                for i in range(50):
                    writer.write(b"%03d," % i)
                    await asyncio.sleep(0.001)
                writer.write_eof()
                await done.wait()
                await closed(writer)
                server.close()
                await server.wait_closed()
                return bytes(got)

            expected = b"".join(b"%03d," % i for i in range(50))
            self.assertEqual(loop.run_until_complete(main()), expected)


class TestReports(unittest.TestCase):
    """What is left open fails the test, naming the line; a deadlock names open connections."""

    def test_leaked_server_and_connection_fail_the_test(self) -> None:
        """A server and a connection left open are reported with the lines that opened them."""

        class Inner(ClockedTestCase):
            network = "virtual"
            check_tasks = False

            async def test_leaks(self) -> None:
                server = await asyncio.start_server(echo, "localhost", 0)  # LEAK-SERVER
                port = server.sockets[0].getsockname()[1]
                self.writer = (await asyncio.open_connection("localhost", port))[1]  # LEAK-CONN

        result = unittest.TestResult()
        Inner("test_leaks").run(result)
        self.assertEqual(len(result.failures), 1, result.errors)
        text = result.failures[0][1]
        self.assertIn("Virtual network: left open at the end of the test", text)
        self.assertRegex(text, r"server on localhost 127\.0\.0\.1:\d+ .*opened at:\n.*test_leaks\n.*# LEAK-SERVER")
        self.assertRegex(text, r"connection localhost 127\.0\.0\.1:\d+ -> .*opened at:\n.*test_leaks\n.*# LEAK-CONN")
        self.assertNotIn("Timers still pending", text)

    def test_clean_test_passes(self) -> None:
        """Closing what was opened passes, with latency left in flight at the end."""

        class Inner(ClockedTestCase):
            network = "virtual"

            async def test_clean(self) -> None:
                async def bye(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                    writer.close()

                self.network.set_link(latency=0.1)
                server = await asyncio.start_server(bye, "localhost", 0)
                port = server.sockets[0].getsockname()[1]
                reader, writer = await asyncio.open_connection("localhost", port)
                self.assertEqual(await reader.read(), b"")
                writer.close()  # its FIN is still in flight when the test ends
                await writer.wait_closed()
                server.close()

        result = unittest.TestResult()
        Inner("test_clean").run(result)
        self.assertEqual((result.failures, result.errors), ([], []), [t for _, t in result.failures])

    def test_deadlock_report_names_open_connections(self) -> None:
        """A read nothing will ever answer is a deadlock whose report shows the connection."""

        class Inner(ClockedTestCase):
            network = "virtual"
            check_tasks = False

            async def test_stuck(self) -> None:
                async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                    await reader.read()

                server = await asyncio.start_server(silent, "localhost", 0)
                port = server.sockets[0].getsockname()[1]
                reader, self.writer = await asyncio.open_connection("localhost", port)
                self.writer.write(b"request")
                await reader.read(10)

        result = unittest.TestResult()
        Inner("test_stuck").run(result)
        text = "".join(t for _, t in result.errors + result.failures)
        self.assertIn(DeadlockError.__name__, text)
        self.assertIn("Virtual network:", text)
        self.assertRegex(text, r"localhost 127\.0\.0\.1:\d+ -> localhost 127\.0\.0\.1:\d+, a task waits to read")


if __name__ == "__main__":
    unittest.main()


class TestWatchdogReport(unittest.TestCase):
    """The watchdog's report of a hung test names the open connections."""

    def test_watchdog_report_names_open_connections(self) -> None:
        """A read held in real time past the timeout: the report shows who waits to read."""

        class Inner(ClockedTestCase):
            network = "virtual"
            timeout = 0.2
            check_tasks = False

            async def test_hung(self) -> None:
                async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                    await reader.read()

                server = await asyncio.start_server(silent, "localhost", 0)
                port = server.sockets[0].getsockname()[1]
                reader, self.writer = await asyncio.open_connection("localhost", port)
                with self.clock.hold():  # time waits in real time: the watchdog ends it
                    await reader.read(10)

        result = unittest.TestResult()
        Inner("test_hung").run(result)
        text = "".join(t for _, t in result.errors + result.failures)
        self.assertIn("ran longer than its timeout", text)
        self.assertIn("Virtual network:", text)
        self.assertRegex(text, r"localhost 127\.0\.0\.1:\d+ -> localhost 127\.0\.0\.1:\d+, a task waits to read")
