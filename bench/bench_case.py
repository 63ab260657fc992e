"""Measure the per-test cost of AsyncTestCase and ClockedTestCase against IsolatedAsyncioTestCase.

Run from the repository root::

    python bench/bench_case.py [--tests N] [--repeats R]

In one process it builds N trivial async tests (``await asyncio.sleep(0)``)
on each of:

* ``unittest.IsolatedAsyncioTestCase`` (which always runs asyncio's debug mode);
* `AsyncTestCase` with every hygiene check on (the defaults);
* `ClockedTestCase` (the virtual clock and the time patch too);

and runs each suite into a ``unittest.TestResult``, the three interleaved,
R times. Each figure is the minimum over the repeats (which resists noise
from other processes), divided by N: the whole per-test cost, from
``TestCase.run`` to the loop's close.

Then, reported without a target, what a test pays per callback: one test of
20,000 ``await asyncio.sleep(0)`` on ``IsolatedAsyncioTestCase`` (debug
mode), on `AsyncTestCase` with every check on and with the slow-callback
check off, against the same loop run by ``asyncio.run`` (no test case),
per iteration. Targets, as ratios to plain
``IsolatedAsyncioTestCase``: AsyncTestCase under 0.3 (every hygiene check
on, the resources check and the slow-callback sampler included),
ClockedTestCase under 0.45. The script prints the figures, then exits with status 1 if a
target is missed, so CI may run it. The whole run takes a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asynctestkit import AsyncTestCase, ClockedTestCase

TARGETS = {"AsyncTestCase": 0.3, "ClockedTestCase": 0.45}


async def _trivial(self: unittest.TestCase) -> None:
    await asyncio.sleep(0)


def make_suite(base: type[unittest.TestCase], n: int) -> unittest.TestSuite:
    """Return a suite of ``n`` trivial async tests on a fresh subclass of ``base``."""
    namespace = {f"test_{i:04d}": _trivial for i in range(n)}
    cls = type(f"Bench{base.__name__}", (base,), namespace)
    return unittest.defaultTestLoader.loadTestsFromTestCase(cls)


def time_suite(base: type[unittest.TestCase], n: int) -> float:
    """Return the real seconds one run of ``n`` trivial tests on ``base`` takes, per test."""
    suite = make_suite(base, n)
    result = unittest.TestResult()
    gc.collect()
    start = time.perf_counter()
    suite.run(result)
    elapsed = time.perf_counter() - start
    if not result.wasSuccessful() or result.testsRun != n:
        problems = result.errors + result.failures
        raise SystemExit(f"{base.__name__}: the benchmark tests failed:\n{problems[0][1]}")
    return elapsed / n


ITERATIONS = 20_000


async def _iterations(self: unittest.TestCase | None) -> None:
    for _ in range(ITERATIONS):
        await asyncio.sleep(0)


def time_iterations(base: type[unittest.TestCase] | None, **options: object) -> float:
    """Return the real seconds one `sleep(0)` iteration takes in one test on ``base`` (None: asyncio.run)."""
    gc.collect()
    if base is None:
        start = time.perf_counter()
        asyncio.run(_iterations(None))
        return (time.perf_counter() - start) / ITERATIONS
    cls = type(f"Bench{base.__name__}", (base,), {"test_it": _iterations, **options})
    result = unittest.TestResult()
    start = time.perf_counter()
    cls("test_it").run(result)
    elapsed = time.perf_counter() - start
    if not result.wasSuccessful():
        problems = result.errors + result.failures
        raise SystemExit(f"{base.__name__}: the benchmark test failed:\n{problems[0][1]}")
    return elapsed / ITERATIONS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=500, help="tests per suite (500)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats (5)")
    args = parser.parse_args()
    bases: list[type[unittest.TestCase]] = [
        unittest.IsolatedAsyncioTestCase, AsyncTestCase, ClockedTestCase,
    ]
    best = {base.__name__: float("inf") for base in bases}
    time_suite(AsyncTestCase, 20)  # warm up imports and caches
    for _ in range(args.repeats):
        for base in bases:
            best[base.__name__] = min(best[base.__name__], time_suite(base, args.tests))
    plain = best["IsolatedAsyncioTestCase"]
    print(f"Python {sys.version.split()[0]}, {args.tests} trivial tests x {args.repeats} repeats (min)")
    missed = []
    for name, per_test in best.items():
        ratio = per_test / plain
        target = TARGETS.get(name)
        verdict = "" if target is None else f"  (target < {target}: {'ok' if ratio < target else 'MISSED'})"
        print(f"  {name:<24} {per_test * 1e3:7.3f} ms/test  {ratio:5.2f}x{verdict}")
        if target is not None and ratio >= target:
            missed.append(name)
    loops: dict[str, tuple[type[unittest.TestCase] | None, dict[str, object]]] = {
        "asyncio.run, no test case": (None, {}),
        "IsolatedAsyncioTestCase": (unittest.IsolatedAsyncioTestCase, {}),
        "AsyncTestCase": (AsyncTestCase, {}),
        "  slow_callback_duration=None": (AsyncTestCase, {"slow_callback_duration": None}),
    }
    per_iteration = {name: float("inf") for name in loops}
    for _ in range(args.repeats):
        for name, (case, options) in loops.items():
            per_iteration[name] = min(per_iteration[name], time_iterations(case, **options))
    bare = per_iteration["asyncio.run, no test case"]
    print(f"per sleep(0) iteration, one test of {ITERATIONS:,}:")
    for name, seconds in per_iteration.items():
        print(f"  {name:<30} {seconds * 1e6:6.2f} us  {seconds / bare:5.2f}x")
    if missed:
        print(f"missed target: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
