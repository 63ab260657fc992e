"""Class-scoped loops: one loop (and clock) for every test of a class.

Placeholder interface used by ``_case.py``; see issue "Class-scoped async setup".
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

__all__ = (
    "add_async_class_cleanup",
    "enter_async_class_context",
    "initial_context",
    "lend_loop",
    "set_up_class",
    "tear_down_class",
)


def set_up_class(cls: Any) -> None:
    """Start the class's loop and run asyncSetUpClass on it (loop_scope == "class")."""
    if getattr(cls, "loop_scope", "test") == "class":
        raise NotImplementedError("loop_scope = 'class' is not implemented yet")


def tear_down_class(cls: Any) -> None:
    """Run asyncTearDownClass on the class's loop."""


def lend_loop(case: Any) -> asyncio.AbstractEventLoop:
    """Return the class's loop for one test."""
    raise NotImplementedError


def initial_context(case: Any) -> contextvars.Context:
    """Return the context a test of the class starts in."""
    return contextvars.copy_context()


def add_async_class_cleanup(cls: Any, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Add a class cleanup whose awaitable result is awaited on the class's loop."""
    raise NotImplementedError


async def enter_async_class_context(cls: Any, cm: AbstractAsyncContextManager[Any]) -> Any:
    """Enter ``cm`` for the class; exit it as a class cleanup."""
    raise NotImplementedError
