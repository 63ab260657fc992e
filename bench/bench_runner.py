"""Measure ``python -m asynctestkit``: -j 2 against serial, and its per-test cost against unittest.

Run from the repository root::

    python bench/bench_runner.py [--repeats R] [--skip-suite]

Two measurements, each the minimum real time over R interleaved repeats
(which resists noise from other processes), every run a fresh process:

1. **Parallel speed-up**: the toolkit's own suite (``discover -s tests -t .``)
   by ``python -m asynctestkit`` serial and with ``-j 2``, in the same run.
   Target on a 2-core machine: ``-j 2`` at least 1.6x faster.
2. **Per-test overhead**: a generated tree of trivial tests, at two sizes,
   run by ``python -m unittest`` and ``python -m asynctestkit`` (serial);
   the per-test cost is the slope (the difference in time over the
   difference in tests), so interpreter start-up is left out, and printed
   as a ratio to unittest's. The fixed start-up cost is printed too.

It prints the figures and exits with status 1 if the speed-up target is
missed (only when the machine has at least 2 CPUs).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SPEEDUP = 1.6
SIZES = (200, 20000)
CLASSES = 20


def timed(args: list[str], cwd: Path) -> float:
    """Run ``python ARGS`` in ``cwd``; return its real seconds (it must pass)."""
    path = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    env = dict(os.environ, PYTHONPATH=path)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed


def write_trivial_tree(directory: Path, tests: int) -> None:
    """Write ``tests`` trivial tests in CLASSES classes, one module per class."""
    per_class = tests // CLASSES
    for c in range(CLASSES):
        methods = "".join(f"    def test_{i:05d}(self):\n        pass\n" for i in range(per_class))
        (directory / f"test_m{c:02d}.py").write_text(
            f"import unittest\n\n\nclass T{c}(unittest.TestCase):\n{methods}", encoding="utf-8"
        )


def suite_speedup(repeats: int) -> tuple[float, float]:
    """Best serial and ``-j 2`` seconds for the toolkit's own suite."""
    args = ["-m", "asynctestkit", "discover", "-s", "tests", "-t", ".", "-q"]
    serial, parallel = [], []
    for _ in range(repeats):
        serial.append(timed(args, ROOT))
        parallel.append(timed([*args, "-j", "2"], ROOT))
    return min(serial), min(parallel)


def per_test(repeats: int) -> dict[str, tuple[float, float]]:
    """Per-test seconds (slope) and fixed seconds of each command on trivial tests."""
    commands = {
        "python -m unittest": ["-m", "unittest", "discover", "-s", ".", "-t", ".", "-q"],
        "python -m asynctestkit": ["-m", "asynctestkit", "discover", "-s", ".", "-t", ".", "-q"],
    }
    best: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as small, tempfile.TemporaryDirectory() as large:
        trees = {SIZES[0]: Path(small), SIZES[1]: Path(large)}
        for size, tree in trees.items():
            write_trivial_tree(tree, size)
        for _ in range(repeats):
            for name, args in commands.items():
                for size, tree in trees.items():
                    seconds = timed(args, tree)
                    best[name, size] = min(best.get((name, size), seconds), seconds)
    figures = {}
    for name in commands:
        slope = (best[name, SIZES[1]] - best[name, SIZES[0]]) / (SIZES[1] - SIZES[0])
        figures[name] = (slope, best[name, SIZES[0]] - slope * SIZES[0])
    return figures


def main() -> None:
    """Measure, print, and exit 1 if the -j 2 target is missed on a machine with 2+ CPUs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-suite", action="store_true", help="only the per-test overhead")
    options = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, best of {options.repeats}")
    figures = per_test(options.repeats)
    base = figures["python -m unittest"][0]
    for name, (slope, fixed) in figures.items():
        ratio = slope / base
        print(f"  {name:24} {slope * 1e6:8.1f} us/test ({ratio:.2f}x unittest), start-up {fixed:.3f} s")
    if options.skip_suite:
        return
    serial, parallel = suite_speedup(options.repeats)
    speedup = serial / parallel
    print(f"  own suite: serial {serial:.2f} s, -j 2 {parallel:.2f} s: {speedup:.2f}x "
          f"(target {TARGET_SPEEDUP}x)")
    if (os.cpu_count() or 1) >= 2 and speedup < TARGET_SPEEDUP:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
