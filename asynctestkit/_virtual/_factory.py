"""`virtual_event_loop()`: the public factory that makes the plain or the seeded virtual loop.

Its own module so the two loops need not import each other: the seeded loop
builds on the plain one, and this module picks between them.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

from ._clock import VirtualClock
from ._loop import _VirtualEventLoop

if TYPE_CHECKING:
    from ._clock import _Driver

__all__ = ("virtual_event_loop",)


def virtual_event_loop(
    clock: VirtualClock | None = None,
    *,
    seed: int | None = None,
    jitter: float = 0.1,
    eager_tasks: bool = False,
    io_grace: float = 0.005,
) -> asyncio.AbstractEventLoop:
    """Return a new event loop whose time is ``clock`` (a new `VirtualClock` if omitted).

    The loop is a ``SelectorEventLoop``; ``loop.clock`` is its clock. Pass the
    function itself as a loop factory: ``asyncio.run(main(),
    loop_factory=virtual_event_loop)`` (3.12+), ``asyncio.Runner(loop_factory=
    virtual_event_loop)`` (3.11+), or ``loop_factory = virtual_event_loop`` on
    an `AsyncTestCase`.

    With a ``seed``, the loop makes reproducibly, from ``random.Random(seed)``,
    the choices real asyncio leaves open: the order of timers due at the same
    instant, how late each timer fires, whether outside
    events (other threads' callbacks, executor results, real IO) ready with
    timers due at the same instant go before or after them, and with
    ``eager_tasks`` whether the loop starts its tasks eagerly. It never reorders what
    asyncio promises: FIFO ``call_soon``, done callbacks in order, fair
    queues and locks. See the guide, docs/exploring.md.

    Args:
        clock: The clock to run on; a clock drives one open loop at a time.
        seed: ``None`` (the default): the one deterministic order, at no cost.
            An int: perturb as above; the same seed, the same order.
        jitter: With a seed, on half the seeds, each timer fires up to
            ``jitter`` x its own delay late (never early), independently;
            on the others deadlines are exact and ties are shuffled. 0.1
            (10%); ``0``: never late.
        eager_tasks: With a seed, on 3.12+, start the loop's tasks eagerly
            (as ``asyncio.eager_task_factory`` does) or lazily: one choice
            per loop, as the seed says.
            Ignored before 3.12, which has no eager start.
        io_grace: Real seconds to wait for real IO (sockets, pipes) before
            autojump moves time, while any real file descriptor is registered.
            ``0`` jumps at once.

    Returns:
        The new loop, not yet running and not set as current.

    Raises:
        TypeError: ``clock`` is not a `VirtualClock`.
        ValueError: ``clock`` already drives an open loop; ``io_grace`` or
            ``jitter`` is negative or not finite.

    Example:
        >>> loop = virtual_event_loop()
        >>> loop.run_until_complete(asyncio.sleep(3600))  # returns at once
        >>> loop.time()
        3600.0
    """
    if clock is None:
        clock = VirtualClock()
    elif not isinstance(clock, VirtualClock):
        raise TypeError(f"virtual_event_loop() needs a VirtualClock; got {clock!r}")
    if isinstance(io_grace, bool) or not isinstance(io_grace, (int, float)) or not (
        math.isfinite(io_grace) and io_grace >= 0
    ):
        raise ValueError(f"io_grace needs a finite, non-negative number of seconds; got {io_grace!r}")
    if seed is not None:
        # Imported here: the seeded loop is only loaded when a seed asks for it.
        from ._schedule import seeded_event_loop

        return seeded_event_loop(clock, float(io_grace), seed, jitter, eager_tasks)
    driver: _Driver = _VirtualEventLoop(clock, float(io_grace))
    assert isinstance(driver, asyncio.AbstractEventLoop)
    return driver
