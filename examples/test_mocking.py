"""Mocking an async service client: autospec, side effects, asserting awaits, held awaits.

``autospec(BlobClient)`` is a strict mock of the client: its async methods are
``AsyncMock`` (so ``assert_awaited_*`` work), calls are checked against the real
signatures, ``async with client`` gives the mock itself, and the async generator
``list()`` yields the items you give it.
"""

from __future__ import annotations

import asyncio
import unittest
from unittest.mock import call

from asynctestkit import (
    AsyncContextManagerMock,
    AsyncIteratorMock,
    AwaitOrder,
    ClockedTestCase,
    ControlledAsyncMock,
    autospec,
    latency,
    wait_awaited,
)
from examples import blobstore
from examples.blobstore import BlobClient, load_report, mirror

KEYS = ["2024/01.csv", "2024/02.csv", "2024/03.csv"]


class TestMirror(ClockedTestCase):
    def setUp(self) -> None:
        self.source = autospec(BlobClient, name="source", returns={"list": KEYS, "download": b"a,b\n1,2\n"})
        self.target = autospec(BlobClient, name="target", returns={"exists": False})

    async def test_copies_every_missing_blob(self) -> None:
        copied = await mirror(self.source, self.target, "2024/")
        self.assertEqual(copied, KEYS)
        self.source.list.assert_called_once_with("2024/")
        self.assertEqual(self.source.download.await_count, 3)
        self.target.upload.assert_has_awaits([call(key, b"a,b\n1,2\n") for key in KEYS])
        self.assertEqual(self.clock.now, 0.0)  # mocks answer at once

    async def test_skips_blobs_the_target_has(self) -> None:
        # A list side effect: one result per await, in order.
        self.target.exists.side_effect = [True, False, True]
        self.assertEqual(await mirror(self.source, self.target, "2024/"), ["2024/02.csv"])
        self.source.download.assert_awaited_once_with("2024/02.csv")
        self.target.upload.assert_awaited_once_with("2024/02.csv", b"a,b\n1,2\n")

    async def test_checks_before_it_downloads(self) -> None:
        order = AwaitOrder(exists=self.target.exists, download=self.source.download, upload=self.target.upload)
        await mirror(self.source, self.target, "2024/01")
        # self.source.list yields KEYS whatever the prefix: three round trips.
        order.assert_order(*["exists", "download", "upload"] * 3)

    async def test_a_side_effect_function_serves_each_key(self) -> None:
        blobs = {"2024/01.csv": b"jan", "2024/02.csv": b"feb", "2024/03.csv": b"mar"}

        async def download(key: str) -> bytes:
            await asyncio.sleep(len(blobs[key]) / 3)  # one second per 3 bytes
            return blobs[key]

        self.source.download.side_effect = download
        await mirror(self.source, self.target, "2024/")
        self.assertEqual(self.target.upload.await_args_list, [call(k, v) for k, v in blobs.items()])
        self.assertEqual(self.clock.now, 3.0)

    async def test_a_slow_download_is_skipped_after_the_timeout(self) -> None:
        self.source.download.side_effect = latency(45.0, b"huge")
        self.assertEqual(await mirror(self.source, self.target, "2024/", timeout=30), [])
        self.target.upload.assert_not_awaited()
        self.assertEqual(self.clock.now, 90.0)  # three downloads given up after 30 s each

    async def test_a_listing_that_breaks_midway(self) -> None:
        listing = AsyncIteratorMock(KEYS, raises=ConnectionResetError("peer closed"), at=2)
        self.source.list.side_effect = lambda prefix: listing
        with self.assertRaises(ConnectionResetError):
            await mirror(self.source, self.target, "2024/")
        listing.assert_consumed()
        self.assertEqual(self.target.upload.await_count, 2)  # what was copied stays copied

    async def test_autospec_checks_signatures_and_names(self) -> None:
        with self.assertRaisesRegex(TypeError, "missing a required argument: 'key'"):
            await self.source.download()
        with self.assertRaises(AttributeError):
            self.source.downlaod  # noqa: B018 (a typo is an error, not a new mock)


class TestHeldAwaits(ClockedTestCase):
    """ControlledAsyncMock holds each await until the test says how it ends."""

    async def asyncSetUp(self) -> None:
        self.source = autospec(BlobClient, name="source", returns={"list": KEYS[:1]})
        self.target = autospec(BlobClient, name="target", returns={"exists": False})
        self.download = ControlledAsyncMock()
        self.source.download.side_effect = self.download  # keeps autospec's signature check

    async def test_cancelled_in_the_middle_of_a_download(self) -> None:
        task = self.create_task(mirror(self.source, self.target, ""))
        pending = await self.download.wait_awaited()
        self.assertEqual(pending.args, ("2024/01.csv",))
        task.cancel()
        await pending.wait_cancelled()
        self.target.upload.assert_not_awaited()

    async def test_released_later(self) -> None:
        task = self.create_task(mirror(self.source, self.target, ""))
        pending = await self.download.wait_awaited()
        await asyncio.sleep(20)  # 20 s into the download, nothing uploaded yet
        self.target.upload.assert_not_awaited()
        pending.release(b"late")
        await wait_awaited(self.target.upload, call("2024/01.csv", b"late"))
        self.assertEqual(await task, ["2024/01.csv"])
        self.assertEqual(self.clock.now, 20.0)


class TestPatching(ClockedTestCase):
    """self.patch / patch_object / patch_dict: autospecced and undone after the test."""

    async def test_load_report_with_a_patched_factory(self) -> None:
        client = autospec(BlobClient, returns={"download": b'{"rows": 3}'})
        open_client = self.patch("examples.blobstore.open_client", return_value=client)
        self.assertEqual(await load_report("daily.json"), {"rows": 3})
        open_client.assert_called_once_with()
        client.download.assert_awaited_once_with("daily.json")
        client.__aexit__.assert_awaited_once()  # the connection was closed

    async def test_connection_refused(self) -> None:
        session = AsyncContextManagerMock(enter_raises=ConnectionRefusedError)
        self.patch("examples.blobstore.open_client", return_value=session)
        with self.assertRaises(ConnectionRefusedError):
            await load_report("daily.json")
        self.assertEqual((session.enter_count, session.exit_count), (1, 0))

    async def test_configuration_from_the_environment(self) -> None:
        self.patch_dict("os.environ", BLOB_ENDPOINT="http://blobs.test:9000", BLOB_TOKEN="t0k3n")
        download = self.patch_object(BlobClient, "download", return_value=b"{}")
        client = blobstore.open_client()
        self.assertEqual((client.endpoint.hostname, client.endpoint.port, client.token), ("blobs.test", 9000, "t0k3n"))
        self.assertEqual(await client.download("k"), b"{}")
        download.assert_awaited_once_with(client, "k")  # patched on the class: self is passed

    def test_patches_are_undone(self) -> None:
        self.assertFalse(hasattr(blobstore.open_client, "assert_called"))


if __name__ == "__main__":
    unittest.main()
