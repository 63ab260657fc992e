"""Tests for virtual_event_loop: how virtual time moves around outside work, real IO and deadlocks."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import warnings
from collections.abc import Callable
from typing import Any, TypeVar
from unittest import mock

from asynctestkit import DeadlockError, LivelockError, VirtualClock, virtual_event_loop
from asynctestkit._virtual import _loop
from tests._support import run_virtual

T = TypeVar("T")


run = run_virtual


class TestFactory(unittest.TestCase):
    def test_time_is_the_clock(self) -> None:
        """The loop's time() is its clock's, and loop.clock is that clock."""
        clock = VirtualClock(start=42)
        loop = virtual_event_loop(clock)
        try:
            self.assertIs(loop.clock, clock)  # type: ignore[attr-defined]
            self.assertEqual(loop.time(), 42.0)
            clock.jump(1)
            self.assertEqual(loop.time(), 43.0)
            self.assertIsInstance(loop, asyncio.SelectorEventLoop)
            self.assertRegex(repr(loop), r"^<_VirtualEventLoop running=False closed=False debug=\w+ clock=<VirtualClock ")
        finally:
            loop.close()

    def test_new_clock_by_default(self) -> None:
        """Without a clock each loop gets a new VirtualClock at 0."""
        a, b = virtual_event_loop(), virtual_event_loop()
        try:
            self.assertIsNot(a.clock, b.clock)  # type: ignore[attr-defined]
            self.assertEqual(a.time(), 0.0)
        finally:
            a.close()
            b.close()

    def test_bad_arguments(self) -> None:
        """A clock that is not a VirtualClock, or a bad io_grace, is refused."""
        with self.assertRaisesRegex(TypeError, r"^virtual_event_loop\(\) needs a VirtualClock; got 1$"):
            virtual_event_loop(1)  # type: ignore[arg-type]
        for bad in (-1, float("nan"), float("inf"), True):
            with self.subTest(io_grace=bad), self.assertRaisesRegex(
                ValueError, rf"^io_grace needs a finite, non-negative number of seconds; got {bad!r}$"
            ):
                virtual_event_loop(io_grace=bad)

    def test_one_open_loop_per_clock(self) -> None:
        """A clock drives one open loop; the refused loop is closed, not leaked."""
        clock = VirtualClock()
        first = virtual_event_loop(clock)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            with self.assertRaisesRegex(ValueError, r"already drives .*; a clock drives one open loop at a time"):
                virtual_event_loop(clock)
        first.close()
        second = virtual_event_loop(clock)  # fine once the first is closed
        second.close()

    def test_runner_loop_factory(self) -> None:
        """virtual_event_loop works as asyncio.Runner's loop_factory (3.11+)."""
        if sys.version_info < (3, 11):
            self.skipTest("asyncio.Runner is new in 3.11")

        async def main() -> float:
            await asyncio.sleep(3600)
            return asyncio.get_running_loop().time()

        with asyncio.Runner(loop_factory=virtual_event_loop) as runner:
            self.assertEqual(runner.run(main()), 3600.0)

    def test_asyncio_run_loop_factory(self) -> None:
        """virtual_event_loop works as asyncio.run's loop_factory (3.12+)."""
        if sys.version_info < (3, 12):
            self.skipTest("asyncio.run(loop_factory=...) is new in 3.12")

        async def main() -> float:
            await asyncio.sleep(86400)
            return asyncio.get_running_loop().time()

        self.assertEqual(asyncio.run(main(), loop_factory=virtual_event_loop), 86400.0)  # type: ignore[call-arg]

    def test_scheduled_view(self) -> None:
        """loop._scheduled still lists the armed timer handles (the hygiene checks read it)."""
        loop = virtual_event_loop()
        try:
            handle = loop.call_later(5, lambda: None)
            self.assertEqual(loop._scheduled, [handle])  # type: ignore[attr-defined]
            handle.cancel()
            self.assertEqual(loop._scheduled, [handle])  # type: ignore[attr-defined]
            later = loop.call_later(7, lambda: None)
            self.assertEqual(loop._atk_next_when(), 7.0)  # type: ignore[attr-defined]
            self.assertEqual(loop._scheduled, [later])  # type: ignore[attr-defined]
        finally:
            loop.close()
        self.assertEqual(loop._scheduled, [])  # type: ignore[attr-defined]


class TestSelector(unittest.TestCase):
    def test_counts_real_file_descriptors(self) -> None:
        """The wrapped selector counts the fds registered besides the loop's own and delegates."""
        loop = virtual_event_loop()
        a, b = socket.socketpair()
        try:
            selector: Any = loop._selector  # type: ignore[attr-defined]
            self.assertEqual(selector._others, 0)
            loop.add_reader(a, lambda: None)
            loop.add_writer(a, lambda: None)  # the same fd: modify(), still one
            self.assertEqual(selector._others, 1)
            self.assertEqual(selector.get_key(a).events, 3)
            self.assertEqual(len(selector.select(0)), 1)  # writable
            loop.remove_writer(a)
            loop.remove_reader(a)
            self.assertEqual(selector._others, 0)
            self.assertEqual(len(selector.get_map()), 1)  # the self-pipe
        finally:
            a.close()
            b.close()
            loop.close()


class TestTimerOrder(unittest.TestCase):
    def test_call_soon_call_at_call_later(self) -> None:
        """call_soon runs first, then timers by deadline, call_at and call_later alike, FIFO on ties."""
        clock = VirtualClock()
        order: list[tuple[str, float]] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            done = loop.create_future()

            def note(name: str) -> None:
                order.append((name, loop.time()))

            loop.call_later(2, note, "later 2")
            loop.call_at(1, note, "at 1")
            loop.call_later(1, note, "later 1")
            loop.call_soon(note, "soon")
            loop.call_at(2, note, "at 2")
            loop.call_later(0, note, "later 0")
            loop.call_at(3, done.set_result, None)
            await done

        run(clock, main)
        self.assertEqual(
            order,
            [("soon", 0.0), ("later 0", 0.0), ("at 1", 1.0), ("later 1", 1.0), ("later 2", 2.0), ("at 2", 2.0)],
        )

    def test_fifo_among_many_equal_deadlines(self) -> None:
        """A thousand timers due at one instant fire in the order they were armed."""
        clock = VirtualClock()
        fired: list[int] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for i in range(1000):
                loop.call_at(5, fired.append, i)
            await asyncio.sleep(6)

        run(clock, main)
        self.assertEqual(fired, list(range(1000)))

    def test_cancelled_timers_do_not_move_time(self) -> None:
        """Time never jumps to a cancelled timer's deadline."""
        clock = VirtualClock()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            handles = [loop.call_later(d, lambda: None) for d in (1, 2, 3)]
            for h in handles:
                h.cancel()
            await asyncio.sleep(10)

        run(clock, main)
        self.assertEqual(clock.now, 10.0)

    def test_mass_cancellation_is_swept(self) -> None:
        """Thousands of cancelled timers (wait_for that succeeded) are dropped, not fired."""
        clock = VirtualClock()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            head = loop.call_later(1, lambda: None)  # keeps the cancelled ones off the head
            for _ in range(500):
                fut = loop.create_future()
                loop.call_soon(fut.set_result, 1)
                await asyncio.wait_for(fut, 100)
            self.assertEqual(clock.pending_timers(), [head])
            self.assertLess(len(loop._scheduled), 110)  # type: ignore[attr-defined]
            await asyncio.sleep(2)

        run(clock, main)
        self.assertEqual(clock.now, 2.0)


class TestBatching(unittest.TestCase):
    """Callbacks made ready by callbacks run in one _run_once call, exactly as asyncio orders them.

    Each scenario runs on a plain SelectorEventLoop and on a virtual loop and must
    record the same events.
    """

    def both(self, scenario: Callable[[asyncio.AbstractEventLoop], list[object]]) -> None:
        results = []
        for factory in (asyncio.SelectorEventLoop, virtual_event_loop):
            loop = factory()
            try:
                results.append(scenario(loop))
            finally:
                loop.close()
        self.assertEqual(results[1], results[0])

    def test_stop_ends_the_iteration(self) -> None:
        """loop.stop() in a callback: what it schedules runs only in the next run_forever()."""

        def scenario(loop: asyncio.AbstractEventLoop) -> list[object]:
            events: list[object] = []

            def first() -> None:
                events.append("first")
                loop.stop()
                loop.call_soon(events.append, "scheduled by first")

            loop.call_soon(first)
            loop.run_forever()
            events.append("run_forever returned")
            loop.call_soon(loop.stop)
            loop.run_forever()
            return events

        self.both(scenario)

    def test_tasks_interleave_in_the_same_order(self) -> None:
        """Three tasks yielding with sleep(0) take turns exactly as on a plain loop."""

        def scenario(loop: asyncio.AbstractEventLoop) -> list[object]:
            events: list[object] = []

            async def worker(name: str) -> None:
                for i in range(4):
                    events.append((name, i))
                    await asyncio.sleep(0)

            async def main() -> None:
                await asyncio.gather(worker("a"), worker("b"), worker("c"))

            loop.run_until_complete(main())
            return events

        self.both(scenario)

    def test_real_io_is_polled_between_callbacks(self) -> None:
        """With a real fd registered, a busy task does not starve IO: the reader runs early."""

        def scenario(loop: asyncio.AbstractEventLoop) -> list[object]:
            a, b = socket.socketpair()
            events: list[object] = []
            spins = [0]

            def readable() -> None:
                a.recv(16)
                events.append(("readable after spins", spins[0]))
                loop.remove_reader(a)

            async def spin() -> None:
                for _ in range(1000):
                    spins[0] += 1
                    if spins[0] == 3:
                        b.send(b"x")  # arrives while the task keeps the loop busy
                    await asyncio.sleep(0)

            try:
                loop.add_reader(a, readable)
                loop.run_until_complete(spin())
            finally:
                a.close()
                b.close()
            return events

        self.both(scenario)


class TestCallbackErrors(unittest.TestCase):
    """A callback that raises is reported to the exception handler exactly as asyncio does."""

    def report(self, factory: Callable[[], asyncio.AbstractEventLoop], debug: bool) -> dict[str, Any]:
        loop = factory()
        contexts: list[dict[str, Any]] = []
        try:
            loop.set_debug(debug)
            loop.set_exception_handler(lambda _loop, context: contexts.append(context))

            def boom(value: int) -> None:
                raise ValueError(value)

            loop.call_soon(boom, 42)
            loop.call_soon(loop.stop)
            loop.run_forever()
        finally:
            loop.close()
        self.assertEqual(len(contexts), 1)
        context = contexts[0]
        return {
            "message": context["message"],
            "exception": repr(context["exception"]),
            "handle": type(context["handle"]).__name__,
            "source_traceback": "source_traceback" in context,
        }

    def test_same_report_as_a_plain_loop(self) -> None:
        """Message, exception and handle match asyncio's Handle._run, debug off and on."""
        for debug in (False, True):
            with self.subTest(debug=debug):
                plain = self.report(asyncio.SelectorEventLoop, debug)
                virtual = self.report(virtual_event_loop, debug)
                self.assertRegex(plain["message"], r"^Exception in callback ")
                self.assertEqual(virtual, plain)

    def test_keyboard_interrupt_propagates(self) -> None:
        """KeyboardInterrupt in a callback leaves run_forever(), as on a plain loop."""
        loop = virtual_event_loop()
        try:
            def interrupt() -> None:
                raise KeyboardInterrupt

            loop.call_soon(interrupt)
            with self.assertRaises(KeyboardInterrupt):
                loop.run_forever()
        finally:
            loop.close()


class TestOutsideWork(unittest.TestCase):
    def test_to_thread_under_wait_for(self) -> None:
        """A timeout never fires while its thread works: the loop waits in real time."""
        clock = VirtualClock()

        async def main() -> str:
            await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.05), 1)
            return "done"

        self.assertEqual(run(clock, main), "done")
        self.assertLess(clock.now, 1)

    def test_run_in_executor_then_jump(self) -> None:
        """Once the executor future lands, time goes on jumping."""
        clock = VirtualClock()

        async def main() -> float:
            loop = asyncio.get_running_loop()
            sleeper = asyncio.create_task(asyncio.sleep(0.5))
            value = await asyncio.wait_for(loop.run_in_executor(None, lambda: (time.sleep(0.02), 7)[1]), 1)
            self.assertEqual(value, 7)
            self.assertFalse(sleeper.done())
            await sleeper
            await asyncio.sleep(100)
            return loop.time()

        self.assertEqual(run(clock, main), 100.5)

    def test_call_soon_threadsafe_under_hold(self) -> None:
        """A thread started under hold() calls back after real time; wait_for(.., 5) does not time out."""
        clock = VirtualClock()

        async def main() -> int:
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[int] = loop.create_future()

            def worker() -> None:
                time.sleep(0.02)
                loop.call_soon_threadsafe(fut.set_result, 5)

            with clock.hold():
                thread = threading.Thread(target=worker)
                thread.start()
                value = await asyncio.wait_for(fut, 5)
            thread.join()
            return value

        self.assertEqual(run(clock, main), 5)
        self.assertEqual(clock.now, 0.0)

    def test_queued_threadsafe_callback_runs_before_any_jump(self) -> None:
        """A callback already queued by call_soon_threadsafe runs before time jumps."""
        clock = VirtualClock()
        seen: list[float] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            thread = threading.Thread(target=loop.call_soon_threadsafe, args=(lambda: seen.append(loop.time()),))
            thread.start()
            thread.join()  # queued now, from another thread
            await asyncio.sleep(10)

        run(clock, main)
        self.assertEqual(seen, [0.0])
        self.assertEqual(clock.now, 10.0)

    def test_shutdown_with_runner_is_clean(self) -> None:
        """The runner's shutdown of the default executor is never taken for a deadlock."""

        async def main() -> float:
            await asyncio.to_thread(time.sleep, 0.01)
            await asyncio.sleep(5)
            return asyncio.get_running_loop().time()

        if sys.version_info >= (3, 12):
            self.assertEqual(asyncio.run(main(), loop_factory=virtual_event_loop), 5.0)  # type: ignore[call-arg]
        elif sys.version_info >= (3, 11):
            with asyncio.Runner(loop_factory=virtual_event_loop) as runner:
                self.assertEqual(runner.run(main()), 5.0)
        else:
            loop = virtual_event_loop()
            try:
                self.assertEqual(loop.run_until_complete(main()), 5.0)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()


class TestRealIO(unittest.TestCase):
    def test_subprocess_under_wait_for(self) -> None:
        """A real subprocess completes under wait_for(..., 5): no early timeout."""
        clock = VirtualClock()

        async def main() -> bytes:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import time; time.sleep(0.1); print('hi')", stdout=subprocess.PIPE
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 5)
            self.assertEqual(proc.returncode, 0)
            return out

        self.assertEqual(run(clock, main).strip(), b"hi")
        self.assertLess(clock.now, 5)

    def test_localhost_server_in_the_same_loop(self) -> None:
        """A client round trip to a server on 127.0.0.1 in the same loop, under wait_for."""
        clock = VirtualClock()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write((await reader.readline()).upper())
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        async def main() -> bytes:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]

            async def client() -> bytes:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"ping\n")
                reply = await reader.readline()
                writer.close()
                await writer.wait_closed()
                return reply

            try:
                return await asyncio.wait_for(client(), 5)
            finally:
                server.close()
                await server.wait_closed()

        self.assertEqual(run(clock, main), b"PING\n")
        self.assertLess(clock.now, 5)

    def test_peer_in_a_thread_under_hold(self) -> None:
        """A blocking peer in a thread answers after a real delay; hold() keeps the timeout honest."""
        clock = VirtualClock()
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def peer() -> None:
            conn, _ = listener.accept()
            with conn:
                data = conn.recv(100)
                time.sleep(0.05)
                conn.sendall(data[::-1])

        async def main() -> bytes:
            thread = threading.Thread(target=peer)
            thread.start()
            with clock.hold():
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"abc")
                reply = await asyncio.wait_for(reader.readexactly(3), 5)
            writer.close()
            await writer.wait_closed()
            thread.join()
            return reply

        try:
            self.assertEqual(run(clock, main), b"cba")
        finally:
            listener.close()
        self.assertEqual(clock.now, 0.0)

    def test_peer_answering_within_the_grace(self) -> None:
        """Real IO that arrives within io_grace is handled before time jumps."""
        clock = VirtualClock()
        a, b = socket.socketpair()

        async def main() -> float:
            loop = asyncio.get_running_loop()
            selector: Any = loop._selector  # type: ignore[attr-defined]
            real = selector._inner
            original = real.select
            got: asyncio.Future[float] = loop.create_future()
            loop.add_reader(a, lambda: got.done() or got.set_result(loop.time()))

            def select(timeout: float | None = None) -> Any:
                if timeout == 0.25:  # the grace: the peer answers now
                    b.send(b"x")
                return original(timeout)

            with mock.patch.object(real, "select", select):
                timer = asyncio.create_task(asyncio.sleep(0.3))
                result = await got
            loop.remove_reader(a)
            await timer
            return result

        try:
            self.assertEqual(run(clock, main, io_grace=0.25), 0.0)
        finally:
            a.close()
            b.close()
        self.assertEqual(clock.now, 0.3)

    def test_callback_queued_during_the_poll(self) -> None:
        """A callback queued while the loop polled real IO runs before time jumps."""
        clock = VirtualClock()
        a, b = socket.socketpair()
        seen: list[float] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            selector: Any = loop._selector  # type: ignore[attr-defined]
            real = selector._inner
            original = real.select
            loop.add_reader(a, lambda: None)
            queued = []

            def select(timeout: float | None = None) -> Any:
                if not queued:  # as if another thread queued it just now
                    queued.append(loop._ready.append(asyncio.Handle(  # type: ignore[attr-defined]
                        lambda: seen.append(loop.time()), (), loop)))
                return original(timeout)

            with mock.patch.object(real, "select", select):
                await asyncio.sleep(1)
            loop.remove_reader(a)

        try:
            run(clock, main, io_grace=0)
        finally:
            a.close()
            b.close()
        self.assertEqual(seen, [0.0])

    def test_io_grace_zero_jumps_at_once(self) -> None:
        """With io_grace=0 an open socket does not slow autojump down."""
        clock = VirtualClock()
        a, b = socket.socketpair()

        timeouts: list[float | None] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            real = loop._selector._inner  # type: ignore[attr-defined]
            original = real.select

            def select(timeout: float | None = None) -> Any:
                timeouts.append(timeout)
                return original(timeout)

            loop.add_reader(a, lambda: None)
            with mock.patch.object(real, "select", select):
                await asyncio.sleep(0.3)  # 0.3 * 1e9 is a hair under 300000000
                self.assertEqual(loop.time(), 0.3)
                for _ in range(50):
                    await asyncio.sleep(1)
            now: asyncio.Future[float] = loop.create_future()
            loop.call_at(loop.time(), lambda: now.set_result(loop.time()))
            self.assertEqual(await now, 50.3)
            loop.remove_reader(a)

        try:
            run(clock, main, io_grace=0)
        finally:
            a.close()
            b.close()
        self.assertEqual(clock.now, 50.3)
        # The socket was polled before each jump, never waited on: no real time spent.
        self.assertGreaterEqual(len(timeouts), 51)
        self.assertEqual(set(timeouts), {0})

    def test_real_fd_wakes_manual_mode(self) -> None:
        """In manual mode a registered fd can still wake the loop: no deadlock while it may."""
        clock = VirtualClock(autojump=False)
        a, b = socket.socketpair()

        async def main() -> bytes:
            loop = asyncio.get_running_loop()
            got: asyncio.Future[bytes] = loop.create_future()
            loop.add_reader(a, lambda: got.set_result(a.recv(10)))
            threading.Timer(0.02, b.send, (b"x",)).start()
            try:
                return await got
            finally:
                loop.remove_reader(a)

        try:
            self.assertEqual(run(clock, main), b"x")
        finally:
            a.close()
            b.close()

    @unittest.skipUnless(hasattr(signal, "SIGUSR1"), "needs SIGUSR1")
    def test_signal_handler(self) -> None:
        """A signal handler wakes the loop; adding and removing it keeps the fd count right."""
        clock = VirtualClock()

        async def main() -> str:
            loop = asyncio.get_running_loop()
            got: asyncio.Future[str] = loop.create_future()
            loop.add_signal_handler(signal.SIGUSR1, got.set_result, "signal")
            loop.add_signal_handler(signal.SIGUSR1, got.set_result, "signal")  # replaced, counted once
            with clock.hold():
                threading.Timer(0.02, signal.raise_signal, (signal.SIGUSR1,)).start()
                result = await got
            self.assertTrue(loop.remove_signal_handler(signal.SIGUSR1))
            self.assertFalse(loop.remove_signal_handler(signal.SIGUSR1))
            self.assertEqual(loop._selector._others, 0)  # type: ignore[attr-defined]
            return result

        if threading.current_thread() is not threading.main_thread():  # pragma: no cover
            self.skipTest("signal handlers need the main thread")
        self.assertEqual(run(clock, main), "signal")


class TestDeadlock(unittest.TestCase):
    def test_report(self) -> None:
        """Every task waiting with nothing to wake it: DeadlockError at once, with a task report."""
        clock = VirtualClock()

        async def stuck(fut: asyncio.Future[None]) -> None:
            await fut  # the line the report points at

        waits: list[float | None] = []

        async def main() -> None:
            loop = asyncio.get_running_loop()
            real = loop._selector._inner  # type: ignore[attr-defined]
            original = real.select

            def select(timeout: float | None = None) -> Any:
                waits.append(timeout)
                return original(timeout)

            fut: asyncio.Future[None] = loop.create_future()
            task = asyncio.create_task(stuck(fut), name="the-stuck-one")
            with mock.patch.object(real, "select", select):
                await task

        with self.assertRaises(DeadlockError) as caught:
            run(clock, main)
        # At once: the loop never waited in real time (for IO or anything) first.
        self.assertEqual([w for w in waits if w != 0], [])
        text = str(caught.exception)
        self.assertRegex(
            text.splitlines()[0],
            r"^Deadlock: every task waits and nothing can ever wake them \(no timer pending, "
            r"no outside work in flight, no real IO registered\)\.$",
        )
        self.assertIn("Virtual time: 0.0s.", text)
        self.assertIn("task 'the-stuck-one' running TestDeadlock.test_report.<locals>.stuck()", text)
        self.assertIn("await fut  # the line the report points at", text)
        self.assertRegex(text, r"created at \(innermost first\):\n.*test_loop\.py\", line \d+, in main")
        self.assertIn("awaiting <Future pending", text)
        self.assertNotIsInstance(caught.exception, LivelockError)

    def test_manual_mode_says_advance(self) -> None:
        """In manual mode a wait on a timer nothing advances fails, saying to call advance()."""
        clock = VirtualClock(autojump=False)

        async def main() -> None:
            await asyncio.sleep(5)

        with self.assertRaisesRegex(
            DeadlockError,
            r"^Deadlock in manual mode: every task waits, the next timer is at 5\.0s and nothing will "
            r"advance the clock\. Call `await clock\.advance\(\.\.\.\)`",
        ) as caught:
            run(clock, main)
        self.assertIn("await asyncio.sleep(5)", str(caught.exception))


class TestLivelock(unittest.TestCase):
    def test_runaway_timer(self) -> None:
        """A timer re-armed at the same instant forever fails with LivelockError, not a spin."""
        clock = VirtualClock()

        async def main() -> None:
            loop = asyncio.get_running_loop()

            def rearm() -> None:
                loop.call_at(loop.time(), rearm)

            loop.call_at(loop.time(), rearm)
            await loop.create_future()

        with mock.patch.object(_loop, "_RUNAWAY_LIMIT", 1000), self.assertRaisesRegex(
            LivelockError,
            r"^Runaway timers: timers fired 1000 times at virtual time 0\.0s without time moving",
        ) as caught:
            run(clock, main)
        self.assertIn("Pending tasks (1)", str(caught.exception))

    def test_many_timers_at_one_instant_are_not_runaway(self) -> None:
        """Many timers due at one instant, fired together, are not a runaway."""
        clock = VirtualClock()

        async def main() -> None:
            await asyncio.gather(*(asyncio.sleep(1) for _ in range(50)))

        with mock.patch.object(_loop, "_RUNAWAY_LIMIT", 3):
            run(clock, main)
        self.assertEqual(clock.now, 1.0)

    def test_budget_names_the_budget(self) -> None:
        """An endless sleep loop past budget= fails with LivelockError naming the budget."""
        clock = VirtualClock(budget=10)

        async def main() -> None:
            while True:
                await asyncio.sleep(1)

        with self.assertRaisesRegex(LivelockError, r"^Virtual-time budget exhausted: .* past the budget of 10s "):
            run(clock, main)

    def test_budget_with_io_open(self) -> None:
        """The budget holds on the slower path too (a real fd open)."""
        clock = VirtualClock(budget=3)
        a, b = socket.socketpair()

        async def main() -> None:
            asyncio.get_running_loop().add_reader(a, lambda: None)
            while True:
                await asyncio.sleep(1)

        try:
            with self.assertRaisesRegex(LivelockError, r"past the budget of 3s"):
                run(clock, main, io_grace=0.001)
        finally:
            a.close()
            b.close()


class TestDebugMode(unittest.TestCase):
    def test_a_jump_is_not_a_slow_callback(self) -> None:
        """With debug on, jumping 100 s inside a callback logs no "Executing ... took"."""
        clock = VirtualClock()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop.set_debug(True)
            loop.slow_callback_duration = 0.1
            loop.call_soon(clock.jump, 100)
            await clock.advance(100)
            await asyncio.sleep(1000)

        with self.assertNoLogs("asyncio", logging.WARNING):
            run(clock, main)
        self.assertEqual(clock.now, 1100.0)  # advance(100) counted from 0; the jump came inside it

    def test_slow_callbacks_are_timed_in_real_time(self) -> None:
        """A callback that blocks 0.15 s real is reported with real seconds."""
        clock = VirtualClock()

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop.set_debug(True)
            loop.slow_callback_duration = 0.1
            loop.call_soon(time.sleep, 0.15)
            loop.call_soon(time.sleep, 0.15).cancel()  # cancelled: never runs, never timed
            await asyncio.sleep(1)

        with self.assertLogs("asyncio", logging.WARNING) as logs:
            run(clock, main)
        slow = [r.getMessage() for r in logs.records if "took" in r.getMessage()]
        self.assertEqual(len(slow), 1, logs.output)
        seconds = float(re.fullmatch(r"Executing .* took (\d+\.\d+) seconds", slow[0]).group(1))  # type: ignore[union-attr]
        self.assertGreaterEqual(seconds, 0.15)
        self.assertLess(seconds, 1)

    def test_debug_handles_keep_their_source(self) -> None:
        """In debug mode timers and callbacks record where they were made, as asyncio's do."""
        loop = virtual_event_loop()
        try:
            loop.set_debug(True)
            timer = loop.call_later(1, lambda: None)
            soon = loop.call_soon(lambda: None)
            at = loop.call_at(2, lambda: None)
            for handle in (timer, soon, at):
                self.assertTrue(handle._source_traceback)  # type: ignore[attr-defined]
            loop.set_debug(False)
            self.assertIsNone(loop.call_later(1, lambda: None)._source_traceback)  # type: ignore[attr-defined]
        finally:
            loop.close()

    def test_closed_loop_refuses_callbacks(self) -> None:
        """A closed virtual loop refuses call_soon, call_later and call_at like asyncio's."""
        loop = virtual_event_loop()
        loop.close()
        for arm in (lambda: loop.call_soon(print), lambda: loop.call_later(1, print), lambda: loop.call_at(1, print)):
            with self.assertRaisesRegex(RuntimeError, r"^Event loop is closed$"):
                arm()
        other = virtual_event_loop()
        try:
            with self.assertRaisesRegex(TypeError, r"^when cannot be None$"):
                other.call_at(None, print)  # type: ignore[arg-type]
            with self.assertRaisesRegex(TypeError, r"^delay must not be None$"):
                other.call_later(None, print)  # type: ignore[arg-type]
        finally:
            other.close()

    def test_slow_watch_hook(self) -> None:
        """_atk_watch_slow reports callbacks past the threshold, in real seconds."""
        clock = VirtualClock()
        slow: list[float] = []

        async def main() -> None:
            loop: Any = asyncio.get_running_loop()
            loop._atk_watch_slow(0.03, lambda handle, seconds, usage: slow.append(seconds))
            loop.call_soon(time.sleep, 0.04)
            await asyncio.sleep(50)
            loop._atk_watch_slow(float("inf"), None)

        run(clock, main)
        self.assertEqual(len(slow), 1)
        self.assertGreaterEqual(slow[0], 0.04)


class TestThreads(unittest.TestCase):
    def test_nested_loops_in_threads_have_independent_clocks(self) -> None:
        """A virtual loop in a worker thread and one in the main thread keep their own time."""
        results: dict[str, float] = {}
        started = threading.Event()

        async def worker_main() -> None:
            started.set()
            for _ in range(3):
                await asyncio.to_thread(time.sleep, 0.005)
                await asyncio.sleep(1000)
            results["worker"] = asyncio.get_running_loop().time()

        def worker() -> None:
            if sys.version_info >= (3, 12):
                asyncio.run(worker_main(), loop_factory=virtual_event_loop)  # type: ignore[call-arg]
            elif sys.version_info >= (3, 11):
                with asyncio.Runner(loop_factory=virtual_event_loop) as runner:
                    runner.run(worker_main())
            else:
                loop = virtual_event_loop()
                try:
                    loop.run_until_complete(worker_main())
                    loop.run_until_complete(loop.shutdown_default_executor())
                finally:
                    loop.close()

        clock = VirtualClock()

        async def main() -> None:
            thread = threading.Thread(target=worker)
            with clock.hold():
                thread.start()
                await asyncio.to_thread(started.wait, 5)
            for _ in range(5):
                await asyncio.sleep(7)
            await asyncio.to_thread(thread.join, 5)
            results["main"] = clock.now

        run(clock, main)
        self.assertEqual(results, {"worker": 3000.0, "main": 35.0})


if __name__ == "__main__":
    unittest.main()
