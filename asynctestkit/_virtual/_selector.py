"""A selector wrapper: the base of the virtual loop's selectors and of the hygiene checks' timer.

The loop's selector is where asyncio waits, so it is where the virtual loop
counts real file descriptors and where the hygiene checks time iterations.
It imports nothing of the package: both parts build on it.
"""

from __future__ import annotations

import selectors
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ("DelegatingSelector",)


class DelegatingSelector(selectors.BaseSelector):
    """A selector that hands every call to the one it wraps; subclasses watch some."""

    def __init__(self, inner: selectors.BaseSelector) -> None:
        self._inner = inner

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return self._inner.select(timeout)
