"""Measure patch_time against unittest.mock.patch and the real time functions.

Run from the repository root::

    python bench/bench_timepatch.py

It imports trivial generated modules until about 1,500 modules are imported,
then measures, in the same run:

* enter+exit of ``patch_time(clock)`` with no targets against one
  ``mock.patch("module.attr", value)`` enter+exit (target: at most 3x);
* the same again with about 3,000 modules imported (target: the patch_time
  cost does not grow with ``sys.modules``; allowed 1.3x for noise);
* enter+exit with ``targets`` naming a generated 50-module package (reported);
* a patched ``time.monotonic()`` call against the real one, on the owner
  thread (target: at most 5x) and on another thread (target: at most 3x).

Every figure is the minimum over several repeats, which resists noise from
other processes. The script exits with status 1 when a ratio misses its
target, so CI may run it. The whole run takes a few seconds.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asynctestkit._faketime._timepatch import patch_time
from asynctestkit._virtual._clock import VirtualClock

REAL_MONOTONIC = time.monotonic
REAL_PERF_COUNTER = time.perf_counter
PACKAGE = "atkbench_pkg"
PACKAGE_SIZE = 50

_MODULE = "VALUE = 1\n\n\ndef f(x):\n    return x + VALUE\n"
_SUBMODULE = '''"""A generated module of the kind patch_time targets."""
import time
from time import monotonic

LIMIT = {i}
NAMES = ["a", "b", "c"]


def deadline(budget, clock=time.monotonic):
    return clock() + budget


class Cache{i}:
    timer = time.monotonic

    def __init__(self, ttl, timer=time.monotonic):
        self.ttl = ttl
        self.timer = timer

    def expired(self, born):
        return self.timer() - born > self.ttl

    @staticmethod
    def helper(x):
        return x * LIMIT
'''


def generate(root: Path, count: int) -> list[str]:
    """Write ``count`` trivial modules and the 50-module package under ``root``."""
    names = [f"atkbench_m{i:04d}" for i in range(count)]
    for name in names:
        (root / f"{name}.py").write_text(_MODULE)
    package = root / PACKAGE
    package.mkdir()
    imports = "".join(f"from . import sub{i:02d}\n" for i in range(PACKAGE_SIZE))
    (package / "__init__.py").write_text(imports)
    for i in range(PACKAGE_SIZE):
        (package / f"sub{i:02d}.py").write_text(_SUBMODULE.format(i=i))
    return names


def import_until(names: list[str], total: int) -> None:
    """Import generated modules until ``sys.modules`` holds ``total`` entries."""
    for name in names:
        if len(sys.modules) >= total:
            return
        if name not in sys.modules:
            __import__(name)


def per_op(stmt: Callable[[], object], number: int, repeat: int = 7) -> float:
    """Return the best time of one call of ``stmt``, in seconds."""
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number


def per_call(func: Callable[[], object], number: int = 200_000, repeat: int = 9) -> float:
    """Return the best time of one ``func()`` call as user code makes it, in seconds."""
    timer = timeit.Timer("f()", globals={"f": func})
    return min(timer.repeat(number=number, repeat=repeat)) / number


def enter_exit_costs(clock: VirtualClock, mock_target: str) -> tuple[float, float, float]:
    """Return (mock.patch, patch_time, patch_time with targets) enter+exit, in seconds."""

    def with_mock() -> None:
        with mock.patch(mock_target, 2):
            pass

    def with_patch_time() -> None:
        with patch_time(clock):
            pass

    def with_targets() -> None:
        with patch_time(clock, targets=[PACKAGE]):
            pass

    # Interleaved, so a burst of noise hits all three alike.
    best = [float("inf")] * 3
    for _ in range(5):
        best[0] = min(best[0], per_op(with_mock, 2000, repeat=1))
        best[1] = min(best[1], per_op(with_patch_time, 2000, repeat=1))
        best[2] = min(best[2], per_op(with_targets, 50, repeat=1))
    return best[0], best[1], best[2]


def call_costs() -> tuple[float, float, float, float]:
    """Return (real, patched) monotonic and perf_counter call costs, in seconds."""
    best = [float("inf")] * 4
    for _ in range(3):
        best[0] = min(best[0], per_call(REAL_MONOTONIC, repeat=3))
        best[1] = min(best[1], per_call(time.monotonic, repeat=3))
        best[2] = min(best[2], per_call(REAL_PERF_COUNTER, repeat=3))
        best[3] = min(best[3], per_call(time.perf_counter, repeat=3))
    return best[0], best[1], best[2], best[3]


def main() -> int:
    """Run the benchmark, print the figures; return 1 when a target is missed."""
    sys.dont_write_bytecode = True
    root = Path(tempfile.mkdtemp(prefix="atkbench_"))
    sys.path.insert(0, str(root))
    try:
        return run(root)
    finally:
        sys.path.remove(str(root))
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path) -> int:
    """Generate, import and measure; see the module docstring."""
    started = time.perf_counter()
    names = generate(root, 3000)
    __import__(PACKAGE)
    clock = VirtualClock(autojump=False)
    failures: list[str] = []
    rows: list[tuple[str, str, str]] = []

    def check(label: str, value: float, limit: float) -> None:
        ok = value <= limit
        rows.append((label, f"{value:.2f}x", f"<= {limit}x {'ok' if ok else 'MISSED'}"))
        if not ok:
            failures.append(f"{label}: {value:.2f}x > {limit}x")

    import_until(names, 1500)
    count_small = len(sys.modules)
    mock_small, tp_small, targets_small = enter_exit_costs(clock, f"{names[0]}.VALUE")
    import_until(names, 3000)
    count_large = len(sys.modules)
    mock_large, tp_large, targets_large = enter_exit_costs(clock, f"{names[0]}.VALUE")

    with patch_time(clock):
        mono, mono_patched, perf, perf_patched = call_costs()
        other: list[tuple[float, float, float, float]] = []
        thread = threading.Thread(target=lambda: other.append(call_costs()))
        thread.start()
        thread.join()
    o_mono, o_mono_patched, o_perf, o_perf_patched = other[0]

    us = 1e6
    ns = 1e9
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")
    print(f"\nenter+exit, per operation (min of repeats), {PACKAGE_SIZE}-module target package:")
    print(f"  {'':34} {count_small:>5} modules {count_large:>5} modules")
    for label, small, large in (
        ("mock.patch('mod.attr', value)", mock_small, mock_large),
        ("patch_time(clock)", tp_small, tp_large),
        (f"patch_time(clock, targets=[{PACKAGE}])", targets_small, targets_large),
    ):
        print(f"  {label:34} {small * us:>8.2f} us  {large * us:>8.2f} us")
    print("\none call, per call (min of repeats):")
    for label, real, patched in (
        ("time.monotonic(), owner thread", mono, mono_patched),
        ("time.monotonic(), other thread", o_mono, o_mono_patched),
        ("time.perf_counter(), owner thread", perf, perf_patched),
        ("time.perf_counter(), other thread", o_perf, o_perf_patched),
    ):
        print(f"  {label:34} real {real * ns:6.1f} ns  patched {patched * ns:6.1f} ns")

    check(f"patch_time / mock.patch at {count_small} modules", tp_small / mock_small, 3.0)
    check(f"patch_time / mock.patch at {count_large} modules", tp_large / mock_large, 3.0)
    check(f"patch_time at {count_large} / at {count_small} modules", tp_large / tp_small, 1.3)
    check(
        f"targets=[{PACKAGE}] at {count_large} / at {count_small} modules",
        targets_large / targets_small,
        1.3,
    )
    rows.append(
        (f"targets=[{PACKAGE}] / mock.patch", f"{targets_large / mock_large:.1f}x", "(reported)")
    )
    check("patched / real monotonic(), owner thread", mono_patched / mono, 5.0)
    check("patched / real monotonic(), other thread", o_mono_patched / o_mono, 3.0)
    check("patched / real perf_counter(), owner thread", perf_patched / perf, 5.0)
    check("patched / real perf_counter(), other thread", o_perf_patched / o_perf, 3.0)

    print("\nratios:")
    for label, value, verdict in rows:
        print(f"  {label:50} {value:>7}  {verdict}")
    print(f"\ntotal run time {time.perf_counter() - started:.1f} s")
    if failures:
        print("\nMISSED:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
