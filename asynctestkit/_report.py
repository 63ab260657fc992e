"""The task report: each task, where it waits, what it awaits, where it was created.

Shared by the virtual loop's `DeadlockError`, the hygiene checks and the
watchdog, so a test that hangs, leaks or deadlocks always explains itself the
same way. Creation sites come from a cheap task factory (a few frames, no
`traceback.extract_stack`), which is what asyncio's debug mode is mostly used
for, at a fraction of its cost.
"""

from __future__ import annotations

import asyncio
import linecache
import os
import sys
import traceback
import unittest
from typing import TYPE_CHECKING, Any

from ._compat import FACTORY_TASKS_NAMED_NONE

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterable
    from types import FrameType

__all__ = (
    "creation_site",
    "format_frames",
    "format_tasks",
    "format_thread",
    "is_plumbing",
    "recording_task_factory",
    "shown_coroutine",
    "tracking_task_factory",
)

# Frames from these directories are plumbing, not the user's code.
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)
_UNITTEST_DIR = os.path.dirname(unittest.__file__)
_OWN_DIR = os.path.dirname(__file__)
_PLUMBING = (_ASYNCIO_DIR, _UNITTEST_DIR, _OWN_DIR)
_SITE_DEPTH = 3

Site = tuple[tuple[str, int, str], ...]


def creation_site(frame: FrameType | None) -> Site:
    """Return up to three (file, line, function) of the user's frames from ``frame`` up.

    Plumbing frames (asyncio, unittest, asynctestkit) below the user's code
    are skipped; the first plumbing frame above it ends the walk, so a task
    made in a test names the test, not the test runner that called it.
    """
    site: list[tuple[str, int, str]] = []
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        if not filename.startswith(_PLUMBING):
            site.append((filename, frame.f_lineno, code.co_name))
            if len(site) == _SITE_DEPTH:
                break
        elif site:
            break
        frame = frame.f_back
    return tuple(site)


def tracking_task_factory(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
) -> asyncio.Task[Any]:
    """Create a task and remember where the user's code created it.

    Install with ``loop.set_task_factory(tracking_task_factory)``; the
    keyword arguments (``name``, ``context``, ``eager_start``) are whatever the
    running Python passes to factories.
    """
    task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
    # C tasks accept new attributes on 3.10-3.13; a long name keeps clear of users'.
    task._asynctestkit_site = creation_site(sys._getframe(1))  # type: ignore[attr-defined]
    if FACTORY_TASKS_NAMED_NONE and "name" not in kwargs:
        _keep_name_on_none(task)
    return task


def recording_task_factory(
    record: Callable[[asyncio.Task[Any]], object],
) -> Callable[..., asyncio.Task[Any]]:
    """Return a `tracking_task_factory` that also passes each task it makes to ``record``.

    The hygiene checks record the tasks made during a test, to look at each
    one at the end (see `Hygiene.unretrieved`). The body is
    `tracking_task_factory`'s, not a call to it: one Python call per task,
    and the creation site is still one frame up.

    Args:
        record: Called with each new task, e.g. a list's ``append``.

    Returns:
        A task factory for ``loop.set_task_factory()``.
    """

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
    ) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
        task._asynctestkit_site = creation_site(sys._getframe(1))  # type: ignore[attr-defined]
        if FACTORY_TASKS_NAMED_NONE and "name" not in kwargs:
            _keep_name_on_none(task)
        record(task)
        return task

    return factory


def _keep_name_on_none(task: asyncio.Task[Any]) -> None:
    # Shadow set_name once, for the call create_task() makes right after the
    # factory returns; the shadow removes itself, breaking the cycle.
    def set_name(value: object) -> None:
        del task.set_name
        if value is not None:
            task.set_name(value)

    task.set_name = set_name  # type: ignore[method-assign]


def _frames_of(coro: object) -> list[tuple[str, int, str]]:
    """Follow a coroutine's await chain down to where it is suspended."""
    frames: list[tuple[str, int, str]] = []
    seen = 0
    while coro is not None and seen < 50:
        seen += 1
        frame = (
            getattr(coro, "cr_frame", None)
            or getattr(coro, "gi_frame", None)
            or getattr(coro, "ag_frame", None)
        )
        if frame is not None and not frame.f_code.co_filename.startswith(_OWN_DIR):
            frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
        coro = (
            getattr(coro, "cr_await", None)
            or getattr(coro, "gi_yieldfrom", None)
            or getattr(coro, "ag_await", None)
        )
    return frames


def _line(filename: str, lineno: int, name: str) -> str:
    text = linecache.getline(filename, lineno).strip()
    where = f'File "{filename}", line {lineno}, in {name}'
    return f"{where}\n        {text}" if text else where


def is_plumbing(filename: str) -> bool:
    """Whether ``filename`` is asyncio's, unittest's or asynctestkit's, not the user's."""
    return filename.startswith(_PLUMBING)


def format_frames(frames: Iterable[tuple[str, int, str]], indent: str = "      ") -> list[str]:
    """Format (file, line, function) triples, traceback style, one entry per frame."""
    return [f"{indent}{_line(*f)}" for f in frames]


def shown_coroutine(coro: Any) -> Any:
    """Look through asynctestkit's own wrapper coroutines to the user's."""
    while True:
        code = getattr(coro, "cr_code", None)
        inner = getattr(coro, "cr_await", None)
        if code is None or inner is None or not code.co_filename.startswith(_OWN_DIR):
            return coro
        coro = inner


def _describe(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    shown = shown_coroutine(coro)
    coro_name = getattr(shown, "__qualname__", None) or repr(shown)
    lines = [f"- task {task.get_name()!r} running {coro_name}()"]
    if task.done():
        lines.append("    done")
    else:
        frames = _frames_of(coro)
        if frames:
            lines.append("    waiting at (outermost first):")
            lines.extend(format_frames(frames))
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is not None:
            lines.append(f"    awaiting {_describe_awaited(waiter)}")
    site: Site | None = getattr(task, "_asynctestkit_site", None)
    if site:
        lines.append("    created at (innermost first):")
        lines.extend(format_frames(site))
    elif site is None:
        lines.append("    created at: unknown (made before the test's loop tracked tasks)")
    return "\n".join(lines)


def _describe_awaited(fut: asyncio.Future[Any]) -> str:
    if isinstance(fut, asyncio.Task):
        return f"task {fut.get_name()!r}"
    return repr(fut)


def format_tasks(tasks: Iterable[asyncio.Task[Any]], title: str) -> str:
    """Format a report of ``tasks`` under ``title``, one block per task, by name."""
    blocks = [_describe(t) for t in sorted(tasks, key=lambda t: t.get_name())]
    if not blocks:
        return f"{title}: none"
    return f"{title} ({len(blocks)}):\n" + "\n".join(blocks)


def format_thread(thread_id: int) -> str:
    """Format the current Python stack of thread ``thread_id`` (for a stuck loop)."""
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return f"thread {thread_id}: no Python stack (it has ended)"
    stack = "".join(traceback.format_stack(frame))
    return f"the loop's thread is running (most recent call last):\n{stack}"
