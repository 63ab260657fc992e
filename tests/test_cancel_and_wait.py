"""Tasks the toolkit cancels (leaked, owned, left on a class's loop) end, even if they swallow one cancellation."""

from __future__ import annotations

import asyncio
import unittest

from asynctestkit import AsyncTestCase, ClockedTestCase
from tests._support import only_failure, run_test


async def swallows_the_first_cancellation(ended: list[str]) -> None:
    """Catch one CancelledError and carry on, as 3.10-3.11's wait_for() can (gh-86296)."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        pass
    try:
        while True:
            await asyncio.sleep(0.01)
    finally:
        ended.append("ended")


class TestLeakedTask(unittest.TestCase):
    """The verdict cancels a leaked task again until it ends."""

    def test_leak_is_reported_and_the_task_ends(self) -> None:
        """The test fails with the leak report (no hang, no budget error), and the task is gone."""
        for base in (AsyncTestCase, ClockedTestCase):
            ended: list[str] = []

            class Test(base):  # type: ignore[valid-type, misc]
                timeout = 10.0
                record = ended

                async def test_it(self) -> None:
                    asyncio.ensure_future(swallows_the_first_cancellation(self.record))  # noqa: RUF006
                    await asyncio.sleep(0)

            with self.subTest(base=base.__name__):
                text = only_failure(self, run_test(Test("test_it")))
                self.assertRegex(text, r"(?m)^Tasks still pending at the end of the test")
                self.assertNotIn("Livelock", text)
                # No hang: a reaping that waited for the task would end in the watchdog's report.
                self.assertNotIn("longer than its timeout", text)
                self.assertEqual(ended, ["ended"])


class TestOwnedTask(unittest.TestCase):
    """create_task(): the task is cancelled again until it ends."""

    def test_owned_task_ends(self) -> None:
        """An owned task that swallows the first cancellation still ends; the test passes."""
        ended: list[str] = []

        class Test(ClockedTestCase):
            async def test_it(self) -> None:
                self.create_task(swallows_the_first_cancellation(ended))
                await asyncio.sleep(0)

        result = run_test(Test("test_it"))
        self.assertEqual(result.failures + result.errors, [])
        self.assertEqual(ended, ["ended"])


class TestClassLoopShutdown(unittest.TestCase):
    """Closing a class's loop cancels its tasks again until they end."""

    def test_class_task_ends_at_shutdown(self) -> None:
        """A task from asyncSetUpClass that swallows one cancellation does not hang tearDownClass."""
        ended: list[str] = []

        class Test(AsyncTestCase):
            loop_scope = "class"
            timeout = 10.0

            @classmethod
            async def asyncSetUpClass(cls) -> None:
                cls.task = asyncio.create_task(swallows_the_first_cancellation(ended))

            async def test_it(self) -> None:
                await asyncio.sleep(0)

        result = unittest.TestResult()
        unittest.defaultTestLoader.loadTestsFromTestCase(Test).run(result)
        # No hang: a shutdown that waited for the task would fail on the class's timeout.
        self.assertEqual(result.failures + result.errors, [])
        self.assertEqual(ended, ["ended"])


if __name__ == "__main__":
    unittest.main()
