"""A small service under test for hours of virtual time, in a fraction of a second.

A fake server, scripted in virtual time, goes down and comes back; the client
must notice, back off, reconnect and account for its downtime with
``time.monotonic()``, exactly.
"""

from __future__ import annotations

import asyncio
import logging
import unittest

from asynctestkit import ClockedTestCase
from examples.keepalive import KeepaliveClient

HOUR = 3600.0


class FakeServer:
    """Answers pings at once while up; while down, refuses connections and goes silent."""

    def __init__(self) -> None:
        self.up = True
        self.open = 0

    def outage(self, start: float, end: float) -> None:
        """Go down at virtual time ``start``, come back at ``end``."""
        loop = asyncio.get_running_loop()
        loop.call_at(start, setattr, self, "up", False)
        loop.call_at(end, setattr, self, "up", True)

    async def connect(self) -> FakeConnection:
        if not self.up:
            raise ConnectionRefusedError("server down")
        self.open += 1
        return FakeConnection(self)


class FakeConnection:
    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.pings = 0

    async def send(self, message: str) -> None:
        self.pings += 1

    async def recv(self) -> str:
        if not self.server.up:
            await asyncio.Event().wait()  # silence: the pong never comes
        return "pong"

    async def close(self) -> None:
        self.server.open -= 1


class TestKeepalive(ClockedTestCase):
    # These tests simulate up to three days; the default budget is one.
    clock_budget = 7 * 24 * HOUR

    async def asyncSetUp(self) -> None:
        self.server = FakeServer()
        self.client = KeepaliveClient(self.server.connect, interval=30, pong_timeout=10, max_backoff=60)
        self.task = self.create_task(self.client.run())  # cancelled and awaited at the end

    async def test_a_day_without_trouble(self) -> None:
        await asyncio.sleep(24 * HOUR + 1)
        stats = self.client.stats
        self.assertEqual((stats.connects, stats.pings, stats.missed_pongs), (1, 2880, 0))
        self.assertEqual(stats.downtime, 0)
        self.assertEqual(self.clock.now, 24 * HOUR + 1)

    async def test_an_outage_is_detected_and_survived(self) -> None:
        self.server.outage(start=1 * HOUR + 5, end=1 * HOUR + 305)
        with self.assertLogs("examples.keepalive", "INFO") as logs:
            await asyncio.sleep(2 * HOUR)
        stats = self.client.stats
        # Down at 3605 s. The ping at 3630 s gets no pong: the client gives up on
        # it at 3640 s, then tries at once and backs off 1, 2, 4, 8, 16, 32, 60,
        # 60, 60 s: tries at 3640, 3641, 3643, 3647, 3655, 3671, 3703, 3763,
        # 3823, 3883 fail; the one at 3943 s (server back at 3905 s) succeeds.
        self.assertEqual(stats.outages, [(3640.0, 3943.0)])
        self.assertEqual(stats.downtime, 303.0)
        self.assertEqual((stats.connects, stats.failed_connects, stats.missed_pongs), (2, 10, 1))
        self.assertIn("connection lost", logs.output[0])
        self.assertTrue(self.client.connected.is_set())
        self.assertEqual(self.server.open, 1)  # the dead connection was closed

    async def test_three_flaky_nights(self) -> None:
        nights = [(day * 24 * HOUR + 2 * HOUR + 5, day * 24 * HOUR + 2 * HOUR + 605) for day in range(3)]
        for down, up in nights:  # down 02:00:05-02:10:05 every night
            self.server.outage(down, up)
        with self.assertLogs("examples.keepalive", "INFO"):
            await asyncio.sleep(3 * 24 * HOUR)
        stats = self.client.stats
        self.assertEqual((stats.connects, stats.missed_pongs), (4, 3))
        self.assertEqual(stats.outages[0], (2 * HOUR + 40, 2 * HOUR + 643))
        self.assertEqual(len(stats.outages), len(nights))
        for (down, up), (lost, back) in zip(nights, stats.outages, strict=True):
            self.assertLessEqual(lost - down, 30 + 10)  # noticed within a ping and its timeout
            self.assertLessEqual(back - up, 60)  # back within max_backoff
        self.assertEqual(stats.downtime, sum(back - lost for lost, back in stats.outages))
        self.assertEqual(self.clock.now, 3 * 24 * HOUR)

    async def test_reconnects_wait_for_the_server(self) -> None:
        self.task.cancel()
        self.server.up = False
        client = KeepaliveClient(self.server.connect)
        with self.assertLogs("examples.keepalive", "INFO"):
            task = self.create_task(client.run())
            await asyncio.sleep(300)
            self.assertFalse(client.connected.is_set())
            self.server.up = True
            await asyncio.wait_for(client.connected.wait(), timeout=60)
        # Tries at 0, 1, 3, 7, 15, 31, 63, 123, 183, 243, 303: connected at 303 s.
        self.assertEqual(self.clock.now, 303)
        self.assertEqual(client.stats.failed_connects, 10)
        task.cancel()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    unittest.main()
