"""An event bus tested without sleeping: run_until_idle runs every ready task, time stands still."""

from __future__ import annotations

import asyncio
import unittest
from unittest.mock import AsyncMock

from asynctestkit import ClockedTestCase
from examples.bus import EventBus


class TestEventBus(ClockedTestCase):
    def setUp(self) -> None:
        self.bus = EventBus()

    async def test_handlers_run_after_publish(self) -> None:
        audit, mailer = AsyncMock(), AsyncMock()
        self.bus.subscribe("order.paid", audit)
        self.bus.subscribe("order.paid", mailer)
        self.assertEqual(self.bus.publish("order.paid", {"id": 7}), 2)
        audit.assert_not_awaited()  # publish does not wait for the handlers
        await self.run_until_idle()
        audit.assert_awaited_once_with({"id": 7})
        mailer.assert_awaited_once_with({"id": 7})
        self.assertEqual(self.clock.now, 0)  # no sleep, no time passed

    async def test_chains_of_events_run_to_the_end(self) -> None:
        seen = []

        async def on_paid(order: dict) -> None:
            seen.append(("paid", order["id"]))
            self.bus.publish("order.ship", order)

        async def on_ship(order: dict) -> None:
            seen.append(("ship", order["id"]))
            self.bus.publish("mail.send", f"order {order['id']} shipped")

        async def on_mail(text: str) -> None:
            seen.append(("mail", text))

        self.bus.subscribe("order.paid", on_paid)
        self.bus.subscribe("order.ship", on_ship)
        self.bus.subscribe("mail.send", on_mail)
        self.bus.publish("order.paid", {"id": 7})
        await self.run_until_idle()
        self.assertEqual(seen, [("paid", 7), ("ship", 7), ("mail", "order 7 shipped")])

    async def test_a_failing_handler_breaks_no_one_else(self) -> None:
        broken = AsyncMock(side_effect=KeyError("customer"))
        fine = AsyncMock()
        self.bus.subscribe("order.paid", broken)
        self.bus.subscribe("order.paid", fine)
        with self.assertLogs("examples.bus", "ERROR"):
            self.bus.publish("order.paid", {"id": 7})
            await self.run_until_idle()
        fine.assert_awaited_once()
        self.assertEqual([(t, type(e)) for t, e in self.bus.errors], [("order.paid", KeyError)])

    async def test_unsubscribe(self) -> None:
        handler = AsyncMock()
        unsubscribe = self.bus.subscribe("tick", handler)
        self.bus.publish("tick", 1)
        unsubscribe()
        self.assertEqual(self.bus.publish("tick", 2), 0)
        await self.run_until_idle()
        handler.assert_awaited_once_with(1)

    async def test_drain_waits_for_slow_handlers(self) -> None:
        async def slow(event: int) -> None:
            await asyncio.sleep(event)

        self.bus.subscribe("job", slow)
        for seconds in (30, 10, 20):
            self.bus.publish("job", seconds)
        await self.run_until_idle()  # they all started and now sleep
        self.assertEqual(self.clock.now, 0)
        await self.bus.drain()
        self.assertEqual(self.clock.now, 30)


if __name__ == "__main__":
    unittest.main()
