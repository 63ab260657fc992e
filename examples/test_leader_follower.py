"""A leader/follower pair where the leader's host crashes and restarts (examples/replication.py).

``crash("leader")`` resets the leader's connections, closes its server and
cancels every task working for it (the replication handlers); the follower
sees its connection reset and retries with backoff until the leader's host
restarts and serves again, then resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import unittest

from asynctestkit import ClockedTestCase
from examples.replication import Follower, Leader


class TestLeaderCrash(ClockedTestCase):
    network = "virtual"

    async def asyncSetUp(self) -> None:
        self.network.set_link(latency=0.01)
        self.leader = Leader()
        with self.network.host("leader"):
            await self.leader.start("leader", 7000)
        self.follower = Follower("leader", 7000)
        self.following = self.network.run_on("follower", self.follower.run())

    async def asyncTearDown(self) -> None:
        self.following.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await self.following
        await self.leader.stop()
        await asyncio.sleep(1)  # the leader's handlers see the follower go

    async def test_follower_catches_up_after_leader_restart(self) -> None:
        self.leader.set("a", "1")
        self.leader.set("b", "2")
        await self.follower.wait_for(2)
        self.assertEqual(self.follower.data, {"a": "1", "b": "2"})

        self.network.crash("leader")
        crashed_at = self.clock.now
        # While the leader is down, writes pile up in its (surviving) log.
        self.leader.set("c", "3")
        await asyncio.sleep(20)
        self.assertEqual(self.follower.applied, 2)

        self.network.restart("leader")
        with self.network.host("leader"):
            await self.leader.start("leader", 7000)
        await self.follower.wait_for(3)
        self.assertEqual(self.follower.data, {"a": "1", "b": "2", "c": "3"})
        self.assertEqual(self.follower.connections, 2)
        # Back within one backoff step (8 s) after the restart at 20 s.
        self.assertLess(self.clock.now - crashed_at, 20 + 8 + 1)

    async def test_crash_cancels_the_leaders_handlers_only(self) -> None:
        self.leader.set("a", "1")
        await self.follower.wait_for(1)
        handlers = [t for t in asyncio.all_tasks() if "_replicate" in repr(t.get_coro())]
        self.assertEqual(len(handlers), 1)
        self.network.crash("leader")
        await asyncio.sleep(0)
        self.assertTrue(handlers[0].cancelled())
        self.assertFalse(self.following.done())  # the follower's host is up
        self.network.restart("leader")


if __name__ == "__main__":
    unittest.main()
