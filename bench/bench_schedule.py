"""Measure exploration: seeded against unseeded loops, and ClockedTestCase against simloop.

Run from the repository root::

    python bench/bench_schedule.py

1. **What a seed costs.** The three workloads of ``bench_clock.py``
   (sequential sleeps, many tasks with random sleeps, ``wait_for``
   timeouts) run on ``virtual_event_loop()`` and on
   ``virtual_event_loop(seed=...)`` in interleaved rounds; each keeps its
   minimum over the rounds, in CPU time of this thread
   (``time.thread_time()``), which the load of other processes disturbs far
   less than the wall clock. Target: a seeded run costs at most 1.3x the
   unseeded one. (That ``seed=None`` costs nothing is ``bench_clock.py``'s
   business: the unseeded loop runs the same code as before seeds existed.)

2. **Seeds per second, as users run them.** The same small scenarios
   (correct programs, so every seed runs) explored as a `ClockedTestCase`
   with ``explore = N`` (each seed a whole test: setUp, the test, the
   checks, cleanups) and with ``simloop.explore(workload, range(N))``, in
   the same process. Target: at least 3x simloop's seeds per second.
   simloop is never a dependency: install it only in the benchmark's own
   environment (``pip install simloop``, 3.12+); without it this part is
   skipped with a message.

The script exits with status 1 if a ratio misses its target.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import math
import os
import sys
import time
import unittest
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_clock import many_tasks, sequential_sleeps, timeouts

from asynctestkit import ClockedTestCase
from asynctestkit._virtual._factory import virtual_event_loop

TARGET = 1.3
SIMLOOP_TARGET = 3.0
REPEATS = 7
SEEDS = 200


def run_once(make_loop: Callable[[], asyncio.AbstractEventLoop], main: Callable[[], Any]) -> float:
    """Run ``main()`` on a fresh loop; return the CPU seconds this thread spent on it."""
    loop = make_loop()
    try:
        gc.collect()
        t0 = time.thread_time()
        loop.run_until_complete(main())
        return time.thread_time() - t0
    finally:
        loop.close()


# -- scenarios explored by both tools (correct programs: every seed passes) ------


async def grace_period() -> None:
    """A 10 s request, shutdown at t=5 with a 20 s grace period: the request completes."""
    done: list[str] = []

    async def handle() -> None:
        await asyncio.sleep(10)
        done.append("request")

    task = asyncio.get_running_loop().create_task(handle())
    await asyncio.sleep(5)
    _, pending = await asyncio.wait({task}, timeout=20)
    assert not pending and done == ["request"], done


async def producer_consumer() -> None:
    """A bounded queue between a producer and a consumer keeps the order."""
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=2)
    got: list[int] = []

    async def produce() -> None:
        for i in range(8):
            await queue.put(i)
            await asyncio.sleep(0.5)

    async def consume() -> None:
        for _ in range(8):
            got.append(await queue.get())
            await asyncio.sleep(0.3)

    await asyncio.gather(produce(), consume())
    assert got == list(range(8)), got


async def timeout_margins() -> None:
    """Requests of 1 s under 4 s timeouts, five at once."""

    async def request(i: int) -> int:
        await asyncio.sleep(1)
        return i

    results = await asyncio.gather(*(asyncio.wait_for(request(i), 4) for i in range(5)))
    assert results == list(range(5)), results


SCENARIOS = [
    ("grace period (wait with timeout)", grace_period),
    ("producer/consumer queue", producer_consumer),
    ("5 requests under wait_for", timeout_margins),
]


def clocked_seeds_per_second(workload: Callable[[], Any], seeds: int) -> float:
    class Explore(ClockedTestCase):
        explore = seeds

        async def test_it(self) -> None:
            await workload()

    result = unittest.TestResult()
    t0 = time.perf_counter()
    Explore("test_it").run(result)
    elapsed = time.perf_counter() - t0
    assert result.wasSuccessful(), result.failures + result.errors
    return seeds / elapsed


def simloop_seeds_per_second(simloop: Any, workload: Callable[[], Any], seeds: int) -> float:
    t0 = time.perf_counter()
    report = simloop.explore(workload, range(seeds))
    elapsed = time.perf_counter() - t0
    ran = seeds if report is None else report.seed + 1
    return ran / elapsed


def main() -> int:
    workloads = [
        ("20,000 sequential sleep(1)", sequential_sleeps),
        ("2,000 tasks x 20 random sleeps", many_tasks),
        ("10,000 wait_for(..., 5) timeouts", timeouts),
    ]
    plain = [math.inf] * len(workloads)
    seeded = [math.inf] * len(workloads)
    for round_ in range(REPEATS):
        seeded_loop = functools.partial(virtual_event_loop, seed=round_)
        for i, (_, workload) in enumerate(workloads):
            plain[i] = min(plain[i], run_once(virtual_event_loop, workload))
            seeded[i] = min(seeded[i], run_once(seeded_loop, workload))
    print(f"Python {sys.version.split()[0]}: seeded / unseeded virtual loop (target <= {TARGET})")
    missed = []
    for (label, _), base, cost in zip(workloads, plain, seeded, strict=True):
        ratio = cost / base
        verdict = "ok" if ratio <= TARGET else "MISSED"
        print(f"  {label}: {base * 1e3:.1f} ms unseeded, {cost * 1e3:.1f} ms seeded, {ratio:.2f}x {verdict}")
        if ratio > TARGET:
            missed.append(label)

    for name in [n for n in os.environ if n.startswith("ASYNCTESTKIT_")]:
        del os.environ[name]
    try:
        import simloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        print("simloop is not installed: the seeds/s comparison is skipped (pip install simloop, 3.12+, "
              "in the benchmark's own environment)")
        simloop = None
    versus = f" vs simloop {simloop.__version__} (explore(), target >= {SIMLOOP_TARGET}x)" if simloop else ""
    print(f"Seeds per second exploring {SEEDS} seeds: ClockedTestCase (explore = {SEEDS}){versus}")
    for label, workload in SCENARIOS:
        ours = max(clocked_seeds_per_second(workload, SEEDS) for _ in range(3))
        if simloop is None:
            print(f"  {label}: {ours:.0f} seeds/s")
            continue
        theirs = max(simloop_seeds_per_second(simloop, workload, SEEDS) for _ in range(3))
        ratio = ours / theirs
        verdict = "ok" if ratio >= SIMLOOP_TARGET else "MISSED"
        print(f"  {label}: {ours:.0f} seeds/s vs {theirs:.0f} seeds/s, {ratio:.1f}x {verdict}")
        if ratio < SIMLOOP_TARGET:
            missed.append(label)
    if missed:
        print(f"{len(missed)} target(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
