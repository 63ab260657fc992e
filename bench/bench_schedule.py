"""Measure what a schedule seed costs: the clock workloads seeded against unseeded, in one run.

Run from the repository root::

    python bench/bench_schedule.py

The three workloads of ``bench_clock.py`` (sequential sleeps, many tasks with
random sleeps, ``wait_for`` timeouts) run on ``virtual_event_loop()`` and on
``virtual_event_loop(seed=...)`` in interleaved rounds; each keeps its
minimum over the rounds. Both sides do the same work in the same process, so
the figure is the CPU time of this thread (``time.thread_time()``), which the
load of other processes on a shared machine disturbs far less than the wall
clock. The target: a seeded run costs at most 1.3x the unseeded one. (That
``seed=None`` costs nothing is ``bench_clock.py``'s business: the unseeded
loop runs the same code as before seeds existed.) The script exits with
status 1 if a ratio misses its target.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_clock import many_tasks, sequential_sleeps, timeouts

from asynctestkit._virtual._factory import virtual_event_loop

TARGET = 1.3
REPEATS = 7


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
    if missed:
        print(f"{len(missed)} target(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
