"""Measure what a schedule seed costs: the clock workloads seeded against unseeded, in one run.

Run from the repository root::

    python bench/bench_schedule.py

The three workloads of ``bench_clock.py`` (sequential sleeps, many tasks with
random sleeps, ``wait_for`` timeouts) run on ``virtual_event_loop()`` and on
``virtual_event_loop(seed=...)`` in interleaved rounds; each keeps its
minimum over the rounds. The target: a seeded run costs at most 1.3x the
unseeded one. (That ``seed=None`` costs nothing is ``bench_clock.py``'s
business: its figures are the same as before seeds existed.) The script exits
with status 1 if a ratio misses its target.
"""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_clock import REPEATS, many_tasks, run_once, sequential_sleeps, timeouts

from asynctestkit._loop import virtual_event_loop

TARGET = 1.3


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
