"""An async blob-storage client and the code that uses it (tested in test_mocking.py)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit


class BlobClient:
    """A minimal client for an S3-like HTTP blob store.

    Use it as an async context manager: ``async with BlobClient(url, token=t) as c``.
    The tests never reach the network: they replace it with a mock.
    """

    def __init__(self, endpoint: str, *, token: str) -> None:
        self.endpoint = urlsplit(endpoint)
        self.token = token
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def __aenter__(self) -> BlobClient:
        host, port = self.endpoint.hostname or "localhost", self.endpoint.port or 80
        self._streams = await asyncio.open_connection(host, port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            writer.close()
            await writer.wait_closed()
            self._streams = None

    async def download(self, key: str) -> bytes:
        return await self._request("GET", key)

    async def upload(self, key: str, data: bytes) -> None:
        await self._request("PUT", key, data)

    async def exists(self, key: str) -> bool:
        try:
            await self._request("HEAD", key)
        except FileNotFoundError:
            return False
        return True

    async def list(self, prefix: str = "") -> AsyncIterator[str]:
        """Yield the keys under ``prefix``, a page of listing at a time."""
        marker = ""
        while True:
            page = json.loads(await self._request("GET", f"?prefix={quote(prefix)}&marker={quote(marker)}"))
            for key in page["keys"]:
                yield key
            if not page["truncated"]:
                return
            marker = page["keys"][-1]

    async def _request(self, method: str, path: str, body: bytes = b"") -> bytes:
        if self._streams is None:
            raise RuntimeError("use the client in `async with`")
        reader, writer = self._streams
        writer.write(
            f"{method} /{path} HTTP/1.1\r\nHost: {self.endpoint.hostname}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await reader.readexactly(length) if method != "HEAD" else b""
        if status == 404:
            raise FileNotFoundError(path)
        if status >= 400:
            raise ConnectionError(f"{method} {path}: HTTP {status}")
        return data


def open_client() -> BlobClient:
    """The client configured from the environment."""
    return BlobClient(os.environ["BLOB_ENDPOINT"], token=os.environ["BLOB_TOKEN"])


async def load_report(key: str) -> dict[str, Any]:
    """Download a JSON report."""
    async with open_client() as client:
        return json.loads(await client.download(key))  # type: ignore[no-any-return]


async def mirror(source: BlobClient, target: BlobClient, prefix: str, *, timeout: float = 30.0) -> list[str]:
    """Copy the blobs under ``prefix`` that ``target`` lacks; return the keys copied.

    A download that takes longer than ``timeout`` seconds is skipped.
    """
    copied = []
    async for key in source.list(prefix):
        if await target.exists(key):
            continue
        try:
            data = await asyncio.wait_for(source.download(key), timeout)
        except asyncio.TimeoutError:
            continue
        await target.upload(key, data)
        copied.append(key)
    return copied
