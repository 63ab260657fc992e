"""The one jump decision: every virtual loop, seeded or not, waits for running threads alike."""

from __future__ import annotations

import ast
import asyncio
import threading
import time
import unittest
from pathlib import Path
from typing import Any
from unittest import mock

import asynctestkit
from asynctestkit import VirtualClock, virtual_event_loop
from asynctestkit._virtual import _jump, _threads
from tests._support import run_virtual

ROOT = Path(asynctestkit.__file__).parent


class TestSeededLoopWaitsForThreads(unittest.TestCase):
    """A seed orders ties and lands jumps late; it never jumps past a running thread."""

    def test_to_thread_beats_a_virtual_timeout_under_every_seed(self) -> None:
        """wait_for(to_thread(time.sleep, 0.02), 1) completes under 50 seeds, as in the default order."""

        async def main() -> float:
            await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.02), 1)
            return asyncio.get_running_loop().time()

        for seed in [None, *range(50)]:
            with self.subTest(seed=seed):
                clock = VirtualClock()
                # No TimeoutError: the thread's real 20 ms are not jumped past.
                now = run_virtual(clock, main, seed=seed)
                self.assertLess(now, 1.0)

    def test_without_jitter_too(self) -> None:
        """jitter=0 takes the same path: the thread is waited for."""

        async def main() -> None:
            await asyncio.wait_for(asyncio.to_thread(time.sleep, 0.02), 1)

        for seed in range(5):
            with self.subTest(seed=seed):
                run_virtual(VirtualClock(), main, seed=seed, jitter=0)

    def test_seeded_jumps_still_land_late(self) -> None:
        """Where no thread runs, a seeded sleep still lands up to jitter x late, never early."""

        async def main() -> float:
            await asyncio.sleep(10)
            return asyncio.get_running_loop().time()

        landed = {run_virtual(VirtualClock(), main, seed=seed, jitter=0.5) for seed in range(10)}
        self.assertTrue(all(10.0 <= t <= 15.0 for t in landed), landed)
        self.assertGreater(len(landed), 1)


class _Changing:
    """threading's registry as another thread sees it while threads start and end."""

    def __reversed__(self) -> Any:
        raise RuntimeError("dictionary changed size during iteration")


class TestRegistryReadWhileThreadsStart(unittest.TestCase):
    """threading's registry changing size under the loop's read is a look at the threads, not an error."""

    def test_a_virtual_sleep_still_jumps(self) -> None:
        """With every read of the registry racing a thread start, sleeps still end at their virtual time."""

        async def main() -> float:
            await asyncio.sleep(5)
            await asyncio.sleep(5)
            return asyncio.get_running_loop().time()

        with mock.patch.object(_threads, "_active_threads", _Changing()):
            self.assertEqual(_threads.last_thread(), _threads._IN_FLUX)
            self.assertEqual(run_virtual(VirtualClock(), main), 10.0)

    def test_a_thread_started_while_in_flux_is_waited_for(self) -> None:
        """A look that found no thread while the registry was in flux is no licence to skip the next.

        Thread counts are pinned equal, so only the last-started read could
        tell that a thread started; in flux at both reads, it cannot.
        """

        def work(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[str]) -> None:
            time.sleep(0.05)  # real work: the loop must wait for it
            loop.call_soon_threadsafe(fut.set_result, "done")

        async def main() -> str:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(1)  # a look that finds no thread of the loop's
            fut = loop.create_future()
            thread = threading.Thread(target=work, args=(loop, fut))
            thread.start()
            try:
                return await asyncio.wait_for(fut, 5)
            finally:
                thread.join()

        with mock.patch.object(_threads, "_active_threads", _Changing()), \
                mock.patch.object(_threads, "active_threads", lambda: 7), \
                mock.patch.object(_jump, "active_threads", lambda: 7):
            self.assertEqual(run_virtual(VirtualClock(), main), "done")


class TestImportsRunOneWay(unittest.TestCase):
    """Shared helpers live below the parts that use them: no cycle between parts or loops."""

    @staticmethod
    def imports(path: Path) -> set[str]:
        """The package modules ``path`` imports, as dotted names under asynctestkit."""
        package = ["asynctestkit", *path.relative_to(ROOT).parent.parts]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
        return found

    def test_virtual_imports_nothing_above_it(self) -> None:
        """_virtual imports only itself and the shared modules (_compat, _report), never _verdict or _testcase."""
        for path in sorted((ROOT / "_virtual").glob("*.py")):
            for name in self.imports(path):
                with self.subTest(module=path.name, imports=name):
                    self.assertRegex(name, r"^asynctestkit\.(_virtual\b|_compat$|_report$|_shield$)")

    def test_the_loops_do_not_import_each_other(self) -> None:
        """The plain loop knows neither the seeded loop nor the factory; the jump decision knows neither loop."""
        self.assertNotIn("asynctestkit._virtual._schedule", self.imports(ROOT / "_virtual" / "_loop.py"))
        self.assertNotIn("asynctestkit._virtual._factory", self.imports(ROOT / "_virtual" / "_loop.py"))
        source = (ROOT / "_virtual" / "_jump.py").read_text(encoding="utf-8")
        tree = ast.parse(source)
        runtime = [
            node for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module in ("_loop", "_schedule")
        ]
        self.assertEqual(runtime, [])

    def test_shared_report_imports_only_compat(self) -> None:
        """The task report sits below every part: it imports only _compat."""
        self.assertEqual(self.imports(ROOT / "_report.py"), {"asynctestkit._compat"})

    def test_factory_makes_both_loops(self) -> None:
        """virtual_event_loop() makes the plain loop, or the seeded one for a seed."""
        plain = virtual_event_loop()
        seeded = virtual_event_loop(seed=1)
        try:
            self.assertEqual(type(plain).__name__, "_VirtualEventLoop")
            self.assertEqual(type(seeded).__name__, "SeededEventLoop")
        finally:
            plain.close()
            seeded.close()


if __name__ == "__main__":
    unittest.main()
