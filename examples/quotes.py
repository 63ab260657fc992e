"""Fetch prices from a quote service concurrently (tested in test_concurrency.py)."""

from __future__ import annotations

import asyncio
from typing import Protocol


class QuoteService(Protocol):
    async def price(self, symbol: str) -> float: ...


async def prices(service: QuoteService, symbols: list[str]) -> dict[str, float]:
    """Fetch every price at once; the first failure propagates (the others keep running)."""
    values = await asyncio.gather(*(service.price(s) for s in symbols))
    return dict(zip(symbols, values, strict=True))


async def available_prices(
    service: QuoteService, symbols: list[str]
) -> tuple[dict[str, float], dict[str, BaseException]]:
    """Fetch every price at once; return the prices and, apart, the failures."""
    results = await asyncio.gather(*(service.price(s) for s in symbols), return_exceptions=True)
    found: dict[str, float] = {}
    failed: dict[str, BaseException] = {}
    for symbol, result in zip(symbols, results, strict=True):
        if isinstance(result, BaseException):
            failed[symbol] = result
        else:
            found[symbol] = result
    return found, failed


async def all_or_nothing(service: QuoteService, symbols: list[str]) -> dict[str, float]:
    """Fetch every price in a TaskGroup (3.11+): one failure cancels the rest.

    Raises:
        ExceptionGroup: every failure, once the other fetches are cancelled.
    """
    async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined,unused-ignore]
        tasks = {s: group.create_task(service.price(s)) for s in symbols}
    return {s: t.result() for s, t in tasks.items()}
