"""A user's test classes as mypy --strict must accept them on every Python (not a test module).

Checked by the package's mypy runs (tox's mypy env, .ci/run) with
``--python-version`` 3.10 and the newest supported version: on 3.13+
typeshed declares ``IsolatedAsyncioTestCase.loop_factory``, and our own
declaration must let a class assign a loop class to it.
"""

from __future__ import annotations

import asyncio

from asynctestkit import AsyncTestCase, ClockedTestCase, configure


class SelectorLoopTest(AsyncTestCase):
    loop_factory = asyncio.SelectorEventLoop
    timeout = 5
    check_timers = False
    slow_callback_duration = None

    @configure(timeout=1)
    async def test_it(self) -> None:
        await asyncio.sleep(0)


class FunctionLoopTest(AsyncTestCase):
    @staticmethod
    def loop_factory() -> asyncio.AbstractEventLoop:
        return asyncio.SelectorEventLoop()


class Clocked(ClockedTestCase):
    autojump = False
    clock_budget = None
    loop_scope = "class"

    async def test_it(self) -> None:
        await self.clock.advance(1)
        self.assertEqual(self.clock_elapsed, 1)
