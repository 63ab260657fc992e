"""The test of `Server.shutdown`, kept out of discovery: exploring it finds the grace period's race.

``test_schedule_exploration.py`` runs it. Run it yourself to see the
failure, its explanation and the lines that replay it::

    ASYNCTESTKIT_EXPLORE=100 python -m unittest examples.shutdown_checks
"""

from __future__ import annotations

import asyncio
import unittest

from asynctestkit import ClockedTestCase
from examples.shutdown import Server


class TestShutdown(ClockedTestCase):
    async def test_a_request_ending_with_the_grace_period_completes(self) -> None:
        """A 10 s request, shutdown at t=5 with 5 s of grace: the request completes."""
        server = Server()
        server.submit("report", 10)
        await asyncio.sleep(5)
        await server.shutdown(grace=5)
        self.assertEqual(server.completed, ["report"])


if __name__ == "__main__":
    unittest.main()
