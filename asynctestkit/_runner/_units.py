"""The tests of a run as a flat list, grouped into units; shards; the durations file.

A *unit* is what one process runs from start to end: a whole module when it
has module fixtures (``setUpModule``/``tearDownModule``), else one class
(``setUpClass``, ``asyncSetUpClass`` and a class's shared loop stay
together). Units are the grain of ``-j`` and of shards.

Shards (``--shard I/N``, or ``TEST_TOTAL_SHARDS``/``TEST_SHARD_INDEX``) split
the units: without recorded durations by a hash of the unit's name (stable:
adding a test moves no other unit); with a durations file by greedy
longest-first bin packing, the same on every machine given the same file.
Each unit lands in exactly one shard, so the shards together run every test
exactly once.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import unittest
import zlib
from dataclasses import dataclass, field
from typing import Any, final

__all__ = (
    "Unit", "balanced_shards", "flatten", "hashed_shard", "load_durations", "make_units", "save_durations",
)

# Where the test case classes that wrap other tests live.
_STDLIB_CASES = ("unittest.", "doctest")

# Seconds assumed for a test the durations file does not know, when it knows none.
_UNKNOWN_TEST_SECONDS = 0.01


def flatten(suite: Any) -> list[Any]:
    """Return the tests of ``suite`` (nested suites opened) in the order they run."""
    tests: list[Any] = []
    stack = [iter([suite])]
    while stack:
        for item in stack[-1]:
            if isinstance(item, unittest.TestSuite):
                stack.append(iter(item))
                break
            tests.append(item)
        else:
            stack.pop()
    return tests


@final
@dataclass
class Unit:
    """Tests that run in one process, in order: ``indices`` into the flat list."""

    key: str
    indices: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def weight(self, durations: dict[str, float], default: float) -> float:
        """The unit's expected seconds: the recorded durations, ``default`` for a new test."""
        return sum(durations.get(test_id, default) for test_id in self.ids)


def unit_key(test: Any) -> str:
    """The name of the unit ``test`` belongs to."""
    cls = type(test)
    module = cls.__module__
    if isinstance(test, unittest.TestCase) and not module.startswith(_STDLIB_CASES):
        mod = sys.modules.get(module)
        if mod is not None and (hasattr(mod, "setUpModule") or hasattr(mod, "tearDownModule")):
            return module
        return f"{module}.{cls.__qualname__}"
    # A module that failed to import (_FailedTest), a FunctionTestCase, a
    # doctest: each on its own (they share a class, not fixtures).
    return f"{module}.{cls.__qualname__}:{test.id()}"


def make_units(tests: list[Any]) -> list[Unit]:
    """Group the flat list into units, in the order each unit's first test appears."""
    units: dict[str, Unit] = {}
    for index, test in enumerate(tests):
        key = unit_key(test)
        unit = units.get(key)
        if unit is None:
            unit = units[key] = Unit(key)
        unit.indices.append(index)
        unit.ids.append(test.id())
    return list(units.values())


def hashed_shard(unit: Unit, total: int) -> int:
    """The 0-based shard of ``unit`` among ``total``, by a stable hash of its name."""
    return zlib.crc32(unit.key.encode("utf-8")) % total


def default_seconds(durations: dict[str, float]) -> float:
    """What a test not in ``durations`` is assumed to take: the median of the others."""
    return statistics.median(durations.values()) if durations else _UNKNOWN_TEST_SECONDS


def balanced_shards(units: list[Unit], total: int, durations: dict[str, float]) -> list[list[Unit]]:
    """Split ``units`` into ``total`` shards of near-equal recorded time (greedy, longest first).

    Each shard keeps its units in their original order.
    """
    default = default_seconds(durations)
    order = {unit.key: position for position, unit in enumerate(units)}
    loads = [0.0] * total
    shards: list[list[Unit]] = [[] for _ in range(total)]
    for unit in sorted(units, key=lambda u: (-u.weight(durations, default), u.key)):
        shard = min(range(total), key=lambda i: (loads[i], i))
        loads[shard] += unit.weight(durations, default)
        shards[shard].append(unit)
    for shard_units in shards:
        shard_units.sort(key=lambda u: order[u.key])
    return shards


def load_durations(path: str) -> dict[str, float]:
    """Read a durations file (``{"durations": {test id: seconds}}``); {} if there is none yet.

    Raises:
        ValueError: the file exists but is not a durations file.
    """
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"--durations-file {path!r}: expected a JSON file written by an earlier run; "
            f"got {exc}. Delete it and run once to record it again"
        ) from None
    durations = data.get("durations") if isinstance(data, dict) else None
    if not isinstance(durations, dict):
        raise ValueError(
            f"--durations-file {path!r}: expected an object with a \"durations\" mapping; "
            "delete it and run once to record it again"
        )
    return {str(k): float(v) for k, v in durations.items() if isinstance(v, (int, float))}


def save_durations(path: str, measured: dict[str, float]) -> None:
    """Merge ``measured`` into the durations file at ``path`` (tests other shards ran are kept)."""
    try:
        durations = load_durations(path)
    except ValueError:
        durations = {}
    durations.update({k: round(v, 6) for k, v in measured.items()})
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as file:
        json.dump({"version": 1, "durations": dict(sorted(durations.items()))}, file, indent=1)
        file.write("\n")
    os.replace(tmp, path)
