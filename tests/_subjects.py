"""Real code for the mock tests to mock: a class with every kind of attribute, async protocols, functions."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator


class Connection:
    """A class with every kind of attribute autospec() must handle."""

    timeout = 5.0

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def describe(self, verbose: bool = False) -> str:
        return self.dsn

    async def fetch(self, key: str, *, limit: int = 10) -> bytes:
        return key.encode()

    async def rows(self, query: str) -> AsyncIterator[int]:
        yield len(query)

    @property
    def closed(self) -> bool:
        return False

    @classmethod
    async def connect(cls, dsn: str) -> Connection:
        return cls(dsn)

    @staticmethod
    async def ping(host: str) -> bool:
        return True

    @classmethod
    def from_env(cls) -> Connection:
        return cls("env")

    @staticmethod
    def parse(dsn: str) -> dict[str, str]:
        return {"dsn": dsn}

    async def __aenter__(self) -> Connection:  # typing.Self is 3.11+
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class Cursor:
    """An async iterator: __aiter__ returns self, __anext__ gives rows."""

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self) -> int:
        raise StopAsyncIteration


class Table:
    """An async iterable whose __aiter__ is an async generator."""

    async def __aiter__(self) -> AsyncIterator[int]:
        yield 1


async def fetch_user(user_id: int) -> dict[str, str]:
    return {"name": f"user{user_id}"}


def format_user(user: dict[str, str]) -> str:
    return user["name"].title()


async def stream_users(batch: int) -> AsyncIterator[dict[str, str]]:
    yield {"name": "real"}


FUNCTION_KINDS = ("describe", "fetch", "rows", "connect", "ping", "from_env", "parse")
COROUTINE_FUNCTIONS = {"fetch", "connect", "ping"}


def make_module() -> types.ModuleType:
    module = types.ModuleType("fake_users")
    module.fetch_user = fetch_user  # type: ignore[attr-defined]
    module.format_user = format_user  # type: ignore[attr-defined]
    module.stream_users = stream_users  # type: ignore[attr-defined]
    return module
