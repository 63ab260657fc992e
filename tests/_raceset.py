"""Order-dependent bugs in ordinary-looking code, and correct programs, as ClockedTestCase classes.

Not collected by itself (no ``test_`` prefix): ``tests/test_explain_set.py``
runs each class under ``ASYNCTESTKIT_EXPLORE``. Every bug's test passes under
the default order; each fails under some order asyncio allows. The correct
programs rely only on what asyncio promises (FIFO ``call_soon``, fair locks,
a thread's callbacks in posting order) or on margins of 4x, and pass under
every seed.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import ClassVar

from asynctestkit import ClockedTestCase

PY312 = sys.version_info >= (3, 12)


# -- the code under test: bugs ------------------------------------------------


class Server:
    """Serves requests; shutdown() gives in-flight requests a grace period, then aborts them."""

    def __init__(self) -> None:
        self.inflight: set[asyncio.Task[None]] = set()
        self.completed: list[str] = []

    async def _handle(self, name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)  # the request's work
        self.completed.append(name)

    def submit(self, name: str, seconds: float) -> None:
        task = asyncio.get_running_loop().create_task(self._handle(name, seconds))
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def shutdown(self, grace: float) -> None:
        _, pending = await asyncio.wait(self.inflight, timeout=grace)
        for task in pending:
            task.cancel()


class Outbox:
    """Sends queued messages, retrying every second; close() stops the sender."""

    def __init__(self) -> None:
        self.queued: list[str] = []
        self.sent: list[str] = []
        self.closed = False

    async def run(self) -> None:
        while not self.closed:
            self.sent.extend(self.queued)
            self.queued.clear()
            await asyncio.sleep(1)

    def put(self, message: str) -> None:
        self.queued.append(message)

    def close(self) -> None:
        self.closed = True  # (the messages still queued are dropped)


class Backend:
    async def get(self, key: str) -> str:
        await asyncio.sleep(2.0)
        return key.upper()


class Client:
    """Reads through a backend with a 2 s timeout; counts the calls in flight."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.pending = 0

    async def get(self, key: str) -> str | None:
        self.pending += 1
        try:
            value = await asyncio.wait_for(self.backend.get(key), 2.0)
        except asyncio.TimeoutError:
            self.pending -= 1
            return None
        return value  # the success path forgets `self.pending -= 1`


class LoadingCache:
    """Loads a key on first use (check, then load across an await)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.loads = 0

    async def get(self, key: str) -> str:
        if key not in self.data:
            self.loads += 1
            await asyncio.sleep(1)  # the load
            self.data[key] = key.upper()
        return self.data[key]


class Store:
    def __init__(self) -> None:
        self.value = 0

    async def get(self) -> int:
        await asyncio.sleep(0.1)
        return self.value

    async def set(self, value: int) -> None:
        await asyncio.sleep(0.1)
        self.value = value


async def increment(store: Store, after: float) -> None:
    if after:
        await asyncio.sleep(after)
    value = await store.get()
    await store.set(value + 1)  # read-modify-write across awaits


class Window:
    """Allows `limit` calls per window; a timer resets the count every `period` seconds."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.count = 0
        self._timer = asyncio.get_running_loop().call_later(period, self._reset)

    def _reset(self) -> None:
        self.count = 0
        self._timer = asyncio.get_running_loop().call_later(self.period, self._reset)

    def try_acquire(self) -> bool:
        if self.count < self.limit:
            self.count += 1
            return True
        return False

    def close(self) -> None:
        self._timer.cancel()


class Worker:
    """Starts its consumer, then makes the queue the consumer reads."""

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._consume())
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.seen: list[str] = []

    async def _consume(self) -> None:
        while True:
            item = await self.queue.get()  # eager start: no queue yet
            self.seen.append(item)


# -- the bugs' tests ------------------------------------------------------------


class Bugs(ClockedTestCase):
    """Each test passes under the default order and fails under some allowed order."""

    schedule_eager: ClassVar[bool] = False

    async def test_grace_period(self) -> None:
        server = Server()
        server.submit("report", 10)
        await asyncio.sleep(5)
        await server.shutdown(grace=5)
        self.assertEqual(server.completed, ["report"])

    async def test_outbox_close(self) -> None:
        outbox = Outbox()
        sender = asyncio.get_running_loop().create_task(outbox.run())
        await asyncio.sleep(2.5)
        outbox.put("invoice")
        await asyncio.sleep(0.5)
        outbox.close()
        await sender
        self.assertEqual(outbox.sent, ["invoice"])

    async def test_wait_for_at_the_deadline(self) -> None:
        client = Client(Backend())
        await client.get("k")
        self.assertEqual(client.pending, 0)

    async def test_check_then_act(self) -> None:
        cache = LoadingCache()
        first = asyncio.get_running_loop().create_task(cache.get("k"))
        await asyncio.sleep(0)
        await asyncio.sleep(1)
        self.assertEqual(await cache.get("k"), "K")
        await first
        self.assertEqual(cache.loads, 1)

    async def test_lost_update(self) -> None:
        store = Store()
        await asyncio.gather(increment(store, 0), increment(store, 0.1))
        self.assertEqual(store.value, 2)

    async def test_window_boundary(self) -> None:
        window = Window(limit=2, period=1)
        self.addCleanup(window.close)
        self.assertTrue(window.try_acquire() and window.try_acquire())
        await asyncio.sleep(1)
        self.assertTrue(window.try_acquire())

    async def test_eager_start(self) -> None:
        worker = Worker()
        worker.start()
        worker.queue.put_nowait("a")
        await asyncio.sleep(1)
        worker.task.cancel()
        self.assertEqual(worker.seen, ["a"])


class EagerBugs(Bugs):
    schedule_eager = True


BUGS: tuple[tuple[str, bool, bool], ...] = (
    # (test name, needs schedule_eager, needs 3.12+)
    ("test_grace_period", False, False),
    ("test_outbox_close", False, False),
    ("test_wait_for_at_the_deadline", False, False),
    ("test_check_then_act", False, False),
    ("test_lost_update", False, False),
    ("test_window_boundary", False, False),
    ("test_eager_start", True, True),
)


# -- correct programs -------------------------------------------------------------


class Correct(ClockedTestCase):
    """Programs that rely only on asyncio's promises or on 4x margins: pass under every seed."""

    schedule_eager: ClassVar[bool] = False

    async def test_lock_is_fair(self) -> None:
        lock = asyncio.Lock()
        order: list[int] = []

        async def worker(i: int) -> None:
            async with lock:
                order.append(i)
                await asyncio.sleep(1)

        await asyncio.gather(*(worker(i) for i in range(5)))
        self.assertEqual(order, list(range(5)))

    async def test_semaphore_is_fair(self) -> None:
        slots = asyncio.Semaphore(2)
        order: list[int] = []

        async def worker(i: int) -> None:
            async with slots:
                order.append(i)
                await asyncio.sleep(1)

        await asyncio.gather(*(worker(i) for i in range(6)))
        self.assertEqual(order, list(range(6)))

    async def test_condition_wakes_in_order(self) -> None:
        cond = asyncio.Condition()
        order: list[int] = []
        ready = 0

        async def waiter(i: int) -> None:
            nonlocal ready
            async with cond:
                ready += 1
                await cond.wait()
                order.append(i)

        tasks = [asyncio.get_running_loop().create_task(waiter(i)) for i in range(4)]
        while ready < 4:
            await asyncio.sleep(0.01)
        async with cond:
            cond.notify_all()
        await asyncio.gather(*tasks)
        self.assertEqual(order, list(range(4)))

    async def test_call_soon_is_fifo(self) -> None:
        loop = asyncio.get_running_loop()
        order: list[int] = []
        done = loop.create_future()
        for i in range(10):
            loop.call_soon(order.append, i)
        loop.call_soon(done.set_result, None)
        await done
        self.assertEqual(order, list(range(10)))

    async def test_four_times_margins(self) -> None:
        async def work(seconds: float) -> str:
            await asyncio.sleep(seconds)
            return "done"

        # A request taking 1 s under a 4 s timeout; a 1 s heartbeat under a 4 s watchdog.
        self.assertEqual(await asyncio.wait_for(work(1), 4), "done")
        beats: list[float] = []

        async def heartbeat() -> None:
            while True:
                beats.append(self.clock.now)
                await asyncio.sleep(1)

        beat = asyncio.get_running_loop().create_task(heartbeat())
        for _ in range(5):
            await asyncio.sleep(4)
            self.assertGreater(beats[-1], self.clock.now - 4)
        beat.cancel()

    async def test_threads_post_in_order(self) -> None:
        loop = asyncio.get_running_loop()
        got: list[int] = []
        done = loop.create_future()

        def produce() -> None:
            for i in range(20):
                loop.call_soon_threadsafe(got.append, i)
            loop.call_soon_threadsafe(done.set_result, None)

        thread = threading.Thread(target=produce)
        thread.start()
        await done
        thread.join()
        self.assertEqual(got, list(range(20)))
        results = await asyncio.gather(*(asyncio.to_thread(pow, i, 2) for i in range(4)))
        self.assertEqual(results, [0, 1, 4, 9])

    async def test_queue_keeps_order(self) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=2)
        got: list[int] = []

        async def produce() -> None:
            for i in range(8):
                await queue.put(i)
                await asyncio.sleep(0.5)

        async def consume() -> None:
            for _ in range(8):
                got.append(await queue.get())
                await asyncio.sleep(0.3)

        await asyncio.gather(produce(), consume())
        self.assertEqual(got, list(range(8)))

    async def test_grace_period_done_right(self) -> None:
        server = Server()
        server.submit("report", 10)
        await asyncio.sleep(5)
        await server.shutdown(grace=20)  # 4x the 5 s still to go
        self.assertEqual(server.completed, ["report"])

    async def test_single_flight_cache(self) -> None:
        loads = 0
        futures: dict[str, asyncio.Future[str]] = {}

        async def load(key: str) -> str:
            nonlocal loads
            loads += 1
            await asyncio.sleep(1)
            return key.upper()

        async def get(key: str) -> str:
            if key not in futures:
                futures[key] = asyncio.get_running_loop().create_task(load(key))
            return await futures[key]

        first = asyncio.get_running_loop().create_task(get("k"))
        await asyncio.sleep(0)
        await asyncio.sleep(1)
        self.assertEqual(await get("k"), "K")
        self.assertEqual(await first, "K")
        self.assertEqual(loads, 1)


class EagerCorrect(Correct):
    schedule_eager = True


CORRECT: tuple[str, ...] = tuple(name for name in vars(Correct) if name.startswith("test_"))

